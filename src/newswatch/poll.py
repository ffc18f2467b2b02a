"""The stages of one poll, as plain functions the Prefect flow sequences.

1. `read_states`   - what we remember per feed (ETag, hash of the last body, health)
2. `collect_batch` - fetch a batch of feeds concurrently, parse what changed, match topics,
                     and stage the rows on disk (spool); parsing overlaps fetching
3. `finish_poll`   - mark the poll's staged batch complete
4. `store`         - merge every complete staged batch into DuckDB, one transaction each
5. `refresh`       - recompute story clusters for recent matched articles
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import fcntl
import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from newswatch import spool, warehouse
from newswatch.cluster import assign_clusters
from newswatch.config import Config
from newswatch.dbwait import db_wait_seconds
from newswatch.fetch import FetchRequest, Resolver, fetch_stream
from newswatch.models import FeedSource, FeedState, FetchResult, ParsedFeed, TopicMatch
from newswatch.parse import parse_feed
from newswatch.schedule import FeedDecider, policy_for_schedule
from newswatch.topics import Matcher

log = logging.getLogger("newswatch.poll")

# Below this many bodies, a process pool costs more to start than it saves.
POOL_MIN_FEEDS = 40
# Parsed-but-not-yet bodies allowed per parse worker, on top of the fetches in flight.
PARSE_BACKLOG_PER_WORKER = 8
CLUSTER_WINDOW = timedelta(days=3)


class PollAlreadyRunning(Exception):
    """Another poll holds this warehouse's poll lock."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def spool_root(db_path: Path) -> Path:
    return db_path.parent / "spool" / db_path.stem


@contextmanager
def poll_lock(db_path: Path) -> Iterator[None]:
    """Overlapping polls of one warehouse are refused (a second one would fetch everything twice)."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    path = db_path.parent / f".{db_path.name}.poll.lock"
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PollAlreadyRunning(f"another poll of {db_path} is running") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# -- 1. state -------------------------------------------------------------------------


@dataclass(frozen=True)
class StateRead:
    states: dict[str, FeedState]
    warning: str | None = None


def read_states(db_path: Path, wait_seconds: float | None = None) -> StateRead:
    if wait_seconds is None:
        wait_seconds = min(10.0, db_wait_seconds())
    if not db_path.exists():
        return StateRead({})
    try:
        with warehouse.connect(db_path, read_only=True, wait_seconds=wait_seconds) as con:
            if warehouse.schema_version(con) == 0:
                return StateRead({})
            return StateRead(warehouse.load_feed_states(con))
    except warehouse.WarehouseLocked as exc:
        # Without state every feed is fetched in full; nothing is lost, it only costs bandwidth.
        return StateRead({}, f"{exc}; polling without conditional requests")


# -- 2. collect -----------------------------------------------------------------------


@dataclass(frozen=True)
class FeedReport:
    url: str
    name: str
    outcome: str  # ok | unchanged | not_modified | error | skipped
    http_status: int | None
    error: str | None
    entries: int
    duration_ms: float
    bytes: int


@dataclass
class BatchResult:
    reports: list[FeedReport] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    matched_articles: int = 0

    def count(self, *outcomes: str) -> int:
        return sum(1 for r in self.reports if r.outcome in outcomes)


_worker_matcher: Matcher | None = None


def _init_worker(matcher: Matcher) -> None:
    global _worker_matcher
    _worker_matcher = matcher


def parse_and_match(
    body: bytes,
    feed_url: str,
    source: str,
    now: datetime,
    final_url: str | None,
    content_type: str | None,
    matcher: Matcher | None = None,
) -> tuple[ParsedFeed, list[list[TopicMatch]], float, float]:
    """Parse one body and match its articles; returns (feed, matches, parse_s, match_s) CPU times."""
    matcher = matcher or _worker_matcher
    assert matcher is not None
    # thread_time: in-process parsing shares the process with the event loop and Prefect's threads.
    t0 = time.thread_time()
    parsed = parse_feed(
        body,
        feed_url=feed_url,
        source=source,
        now=now,
        final_url=final_url,
        content_type=content_type,
    )
    t1 = time.thread_time()
    matches = [matcher.match(a.title, a.summary) for a in parsed.articles]
    return parsed, matches, t1 - t0, time.thread_time() - t1


def _make_pool(matcher: Matcher, workers: int) -> concurrent.futures.ProcessPoolExecutor:
    # forkserver: never fork a process that runs an event loop and Prefect's threads.
    ctx = multiprocessing.get_context("forkserver")
    return concurrent.futures.ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(matcher,)
    )


async def collect_batch(
    config: Config,
    feeds: Sequence[FeedSource],
    states: dict[str, FeedState],
    *,
    spool_dir: Path,
    poll_id: str,
    label: str = "b0",
    clock: Callable[[], datetime] = utcnow,
    resolver: Resolver | None = None,
    due_only: bool = False,
    parse_workers: int | None = None,
    on_feed_done: Callable[[FeedReport], None] | None = None,
) -> BatchResult:
    """Fetch, parse, match and stage one batch of feeds. Never raises for a feed's failure.

    `on_feed_done` is called with each feed's report as it finishes (skipped feeds first),
    e.g. to drive a progress display.
    """
    now = clock()
    policy = policy_for_schedule(config.schedule.poll, config.schedule.timezone, now)
    result = BatchResult()
    todo: list[FeedSource] = []
    for feed in feeds:
        state = states.get(feed.url, FeedState(url=feed.url))
        if not feed.enabled or (due_only and not FeedDecider(feed, state, policy, now).is_due()):
            result.reports.append(FeedReport(feed.url, feed.name, "skipped", None, None, 0, 0.0, 0))
            if on_feed_done is not None:
                on_feed_done(result.reports[-1])
            continue
        todo.append(feed)
    by_url = {f.url: f for f in todo}
    requests = [FetchRequest.for_state(states.get(f.url, FeedState(url=f.url))) for f in todo]
    writer = spool.SpoolWriter(spool_dir, poll_id, label)
    workers = parse_workers if parse_workers is not None else (os.cpu_count() or 1)
    pool = (
        _make_pool(config.matcher, workers) if workers > 1 and len(todo) >= POOL_MIN_FEEDS else None
    )
    loop = asyncio.get_running_loop()
    parse_cpu = match_cpu = 0.0
    pending: set[asyncio.Future[Any]] = set()

    def record(
        fetched: FetchResult, parsed: ParsedFeed | None, matches: list[list[TopicMatch]]
    ) -> None:
        feed = by_url[fetched.feed_url]
        old = states.get(feed.url, FeedState(url=feed.url))
        outcome: str = fetched.outcome
        entries = 0
        error = fetched.error
        if parsed is not None:
            entries = len(parsed.articles)
            if parsed.error:
                # A body that is not a feed is the feed's failure, recorded like an HTTP error.
                fetched = _as_error(fetched, "not_a_feed", parsed.error)
                outcome, error = "error", parsed.error
            else:
                writer.add_articles(parsed.articles, matches, now)
                result.matched_articles += sum(1 for m in matches if m)
        elif fetched.outcome == "ok":
            outcome = "unchanged"
        new_state = FeedDecider(feed, old, policy, now).after_fetch(fetched, entries)
        writer.add_feed_state(
            feed.name, parsed.title if parsed and not parsed.error else None, new_state, fetched
        )
        writer.add_fetch(fetched, entries, 0)
        result.reports.append(
            FeedReport(
                feed.url,
                feed.name,
                outcome,
                fetched.http_status,
                error,
                entries,
                fetched.duration_ms,
                fetched.bytes_received,
            )
        )
        if on_feed_done is not None:
            on_feed_done(result.reports[-1])

    # Fetching outruns parsing: without a bound every body of the poll would wait in memory
    # (4,000 feeds: +180 MB). A fetch holds a token from its start until its body is parsed.
    in_memory = asyncio.Semaphore(config.fetch.concurrency + PARSE_BACKLOG_PER_WORKER * workers)

    async def parse_one(fetched: FetchResult) -> None:
        try:
            await _parse_one(fetched)
        finally:
            in_memory.release()

    async def _parse_one(fetched: FetchResult) -> None:
        nonlocal parse_cpu, match_cpu
        feed = by_url[fetched.feed_url]
        assert fetched.body is not None
        args = (fetched.body, feed.url, feed.name, now, fetched.final_url, fetched.content_type)
        try:
            if pool is not None:
                parsed, matches, p, m = await loop.run_in_executor(pool, parse_and_match, *args)
            else:
                parsed, matches, p, m = parse_and_match(*args, matcher=config.matcher)
        except Exception as exc:  # a parser crash is this feed's error, never the poll's
            log.exception("parsing %s failed", feed.url)
            record(_as_error(fetched, "parse", f"could not parse the feed: {exc}"), None, [])
            return
        parse_cpu += p
        match_cpu += m
        record(fetched, parsed, matches)

    t_start = time.monotonic()
    try:
        async for fetched in fetch_stream(
            requests,
            config.fetch,
            allow_hosts=config.allow_hosts,
            resolver=resolver,
            clock=clock,
            admit=in_memory.acquire,
        ):
            old = states.get(fetched.feed_url)
            unchanged = (
                fetched.outcome == "ok"
                and old is not None
                and old.body_sha256 is not None
                and fetched.body_sha256 == old.body_sha256
            )
            if fetched.outcome == "ok" and fetched.body and not unchanged:
                task = asyncio.ensure_future(parse_one(fetched))
                pending.add(task)
                task.add_done_callback(pending.discard)
                continue
            in_memory.release()
            if fetched.outcome == "ok" and not fetched.body:
                record(_as_error(fetched, "empty", "the server returned an empty body"), None, [])
            else:
                record(fetched, None, [])
        fetch_done = time.monotonic()
        if pending:
            await asyncio.gather(*pending)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    t_end = time.monotonic()
    t0 = time.monotonic()
    writer.close()
    _release_freed_memory()
    result.timings = {
        "fetch_s": round(fetch_done - t_start, 3),
        "parse_wait_s": round(t_end - fetch_done, 3),
        "parse_cpu_s": round(parse_cpu, 3),
        "match_cpu_s": round(match_cpu, 3),
        "spool_s": round(time.monotonic() - t0, 3),
        "collect_s": round(time.monotonic() - t_start, 3),
    }
    return result


def _release_freed_memory() -> None:
    """Hand memory freed by the collect stage back to the OS before the merge needs its own.

    A 1,000-feed collect frees ~100 MB it no longer uses, which glibc and Arrow's allocator
    would otherwise keep, adding it to the poll's peak during the merge.
    """
    try:
        import pyarrow as pa

        pa.default_memory_pool().release_unused()
    except Exception:  # an optimisation only
        pass
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def _as_error(fetched: FetchResult, kind: str, message: str) -> FetchResult:
    from dataclasses import replace

    return replace(fetched, outcome="error", error_kind=kind, error=message, body=None)


# -- 3. finish ------------------------------------------------------------------------


def finish_poll(
    spool_dir: Path,
    poll_id: str,
    started_at: datetime,
    finished_at: datetime,
    batches: Sequence[BatchResult],
) -> spool.PollManifest:
    reports = [r for b in batches for r in b.reports if r.outcome != "skipped"]
    timings: dict[str, float] = {}
    for b in batches:
        for k, v in b.timings.items():
            timings[k] = round(timings.get(k, 0.0) + v, 3)
    manifest = spool.PollManifest(
        poll_id=poll_id,
        started_at=started_at.isoformat(),
        finished_at=finished_at.isoformat(),
        feeds=len(reports),
        feeds_ok=sum(1 for r in reports if r.outcome in ("ok", "unchanged")),
        feeds_not_modified=sum(1 for r in reports if r.outcome == "not_modified"),
        feeds_failed=sum(1 for r in reports if r.outcome == "error"),
        entries=sum(r.entries for r in reports),
        timings=timings,
    )
    spool.write_manifest(spool_dir, manifest)
    return manifest


# -- 4. store -------------------------------------------------------------------------


@dataclass(frozen=True)
class StoreResult:
    merged: tuple[warehouse.MergeResult, ...]
    waiting: int  # complete batches still spooled (the warehouse was locked)
    message: str | None = None
    seconds: float = 0.0

    @property
    def new_articles(self) -> int:
        return sum(m.new_articles for m in self.merged)

    @property
    def new_matches(self) -> int:
        return sum(m.new_matches for m in self.merged)


def store(
    db_path: Path,
    spool_dir: Path,
    *,
    clock: Callable[[], datetime] = utcnow,
    wait_seconds: float | None = None,
) -> StoreResult:
    """Merge all complete spooled batches, oldest first. A locked warehouse leaves them spooled."""
    t0 = time.monotonic()
    batches = spool.pending(spool_dir)
    if not batches:
        return StoreResult((), 0)
    merged = []
    try:
        wait = db_wait_seconds() if wait_seconds is None else wait_seconds
        with warehouse.connect(db_path, wait_seconds=wait) as con:
            warehouse.prepare_search_index(con)
            for batch in batches:
                merged.append(warehouse.merge_batch(con, batch, clock()))
                spool.remove(batch)
    except warehouse.WarehouseLocked as exc:
        left = len(batches) - len(merged)
        return StoreResult(
            tuple(merged),
            left,
            f"{exc}; {left} poll batch(es) kept in {spool_dir} and merged by the next poll",
            time.monotonic() - t0,
        )
    return StoreResult(tuple(merged), 0, None, time.monotonic() - t0)


# -- 5. derived data ------------------------------------------------------------------


def refresh(
    db_path: Path,
    *,
    clock: Callable[[], datetime] = utcnow,
    wait_seconds: float | None = None,
    retention_days: int | None = None,
    changed: bool = True,
) -> int:
    """Recompute story clusters of recent matched articles, rebuild the full-text index (it
    does not follow inserts) and prune old fetch logs; returns the number of recent stories.

    With `changed=False` (the poll stored no new article) clusters and index are still
    right, and rebuilding the index costs seconds per 10k articles: both are kept.
    """
    now = clock()
    since = now - CLUSTER_WINDOW
    wait = db_wait_seconds() if wait_seconds is None else wait_seconds
    with warehouse.connect(db_path, wait_seconds=wait) as con:
        if changed:
            recent = warehouse.articles_since(con, since, only_matched=True)
            assignment = assign_clusters(recent)
            if assignment:
                warehouse.replace_clusters(con, assignment, now)
            stories = len(set(assignment.values()))
        else:
            stories = warehouse.cluster_count_since(con, since)
        if changed or not warehouse.has_search_index(con):
            warehouse.refresh_search_index(con)
        if retention_days is not None:
            warehouse.prune_fetch_log(con, now - timedelta(days=retention_days))
    return stories
