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
import contextlib
import dataclasses
import gc
import logging
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING

from newswatch.clock import utc_now
from newswatch.config import Config, config_from_source, config_source
from newswatch.digest.cluster import assign_clusters
from newswatch.errors import WarehouseLocked
from newswatch.fetch.client import Resolver
from newswatch.fetch.stream import FetchRequest, fetch_stream
from newswatch.match.language import article_text, detect_feed_languages
from newswatch.match.topics import Matcher
from newswatch.models import FeedSource, FeedState, FetchResult, ParsedFeed, TopicMatch
from newswatch.orchestrate import runners
from newswatch.orchestrate.schedule import FeedDecider, policy_for_schedule
from newswatch.orchestrate.shards import SHARD_MIN_FEEDS
from newswatch.parse.feed import normalise_feed, read_feed
from newswatch.store import search, spool, warehouse
from newswatch.store.dbwait import db_wait_seconds

if TYPE_CHECKING:
    import duckdb

log = logging.getLogger("newswatch.poll")

# Fewer feeds than SHARD_MIN_FEEDS run in this process; see newswatch.orchestrate.shards.
# Fetched bodies allowed to wait for the parser, on top of the fetches in flight.
PARSE_BACKLOG = 16
CLUSTER_WINDOW = timedelta(days=3)


def spool_root(db_path: Path) -> Path:
    return db_path.parent / "spool" / db_path.stem


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
    except WarehouseLocked as exc:
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
    # Entries the feed listed that were not stored: (reason, count) pairs (ParsedFeed.skipped).
    skipped: tuple[tuple[str, int], ...] = ()
    # A problem with a body that still gave articles (ParsedFeed.warning): a cut-off body.
    warning: str | None = None


@dataclass
class BatchResult:
    reports: list[FeedReport] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    matched_articles: int = 0

    def count(self, *outcomes: str) -> int:
        return sum(1 for r in self.reports if r.outcome in outcomes)


def parse_and_match(
    body: bytes,
    feed_url: str,
    source: str,
    now: datetime,
    final_url: str | None,
    content_type: str | None,
    matcher: Matcher,
) -> tuple[ParsedFeed, list[list[TopicMatch]], StageCpu]:
    """Parse, normalise, detect the language of and match one body; returns the feed (each
    article with its language), its matches and the CPU seconds of each step."""
    # thread_time: parsing shares the process with the event loop (and Prefect's threads).
    t0 = time.thread_time()
    raw = read_feed(body, feed_url=feed_url, final_url=final_url, content_type=content_type)
    t1 = time.thread_time()
    if isinstance(raw, ParsedFeed):  # not a feed
        return raw, [], StageCpu(t1 - t0, 0.0, 0.0)
    parsed = normalise_feed(raw, feed_url=feed_url, source=source, now=now)
    t2 = time.thread_time()
    parsed = with_languages(parsed)
    t3 = time.thread_time()
    matches = [
        matcher.match(a.title, a.summary, a.content, language=a.language) for a in parsed.articles
    ]
    return parsed, matches, StageCpu(t1 - t0, t2 - t1, time.thread_time() - t3, t3 - t2)


def with_languages(parsed: ParsedFeed) -> ParsedFeed:
    """The feed with each article's language detected (judged together: one feed)."""
    if not parsed.articles:
        return parsed
    languages = detect_feed_languages([article_text(a.title, a.summary) for a in parsed.articles])
    articles = tuple(
        dataclasses.replace(a, language=lang)
        for a, lang in zip(parsed.articles, languages, strict=True)
    )
    return dataclasses.replace(parsed, articles=articles)


@dataclass
class StageCpu:
    """CPU seconds of the per-feed steps (summed over feeds when accumulated)."""

    parse: float = 0.0
    normalise: float = 0.0
    match: float = 0.0
    language: float = 0.0

    def add(self, other: StageCpu) -> None:
        self.parse += other.parse
        self.normalise += other.normalise
        self.match += other.match
        self.language += other.language


async def collect_batch(
    config: Config,
    feeds: Sequence[FeedSource],
    states: dict[str, FeedState],
    *,
    spool_dir: Path,
    poll_id: str,
    label: str = "b0",
    clock: Callable[[], datetime] = utc_now,
    resolver: Resolver | None = None,
    due_only: bool = False,
    processes: int | None = None,
    on_feed_done: Callable[[FeedReport], None] | None = None,
) -> BatchResult:
    """Fetch, parse, match and stage one batch of feeds. Never raises for a feed's failure.

    With `processes` > 1 (default: one per core) and enough feeds, the feeds are split by
    host into that many shards, each fetched, parsed and staged by its own process: fetching
    costs as much CPU as parsing, and one process would leave the other cores idle or
    waiting on it. `on_feed_done` is called with each feed's report as it finishes (skipped
    feeds first), e.g. to drive a progress display.
    """
    now = clock()
    policy = policy_for_schedule(config.schedule.poll, config.schedule.timezone, now)
    result = BatchResult()
    todo: list[FeedSource] = []
    for feed in feeds:
        state = states.get(feed.url, FeedState(url=feed.url))
        if not feed.enabled or (due_only and not FeedDecider(feed, state, policy, now).is_due()):
            reason = None if feed.enabled else "disabled"
            result.reports.append(
                FeedReport(feed.url, feed.name, "skipped", None, reason, 0, 0.0, 0)
            )
            if on_feed_done is not None:
                on_feed_done(result.reports[-1])
            continue
        todo.append(feed)
    wanted = processes if processes is not None else (os.cpu_count() or 1)
    if (
        wanted > 1
        and len(todo) >= SHARD_MIN_FEEDS
        and resolver is None  # an injected resolver or clock may not cross a process
        and clock is utc_now
    ):
        shards = await _collect_in_processes(
            config, todo, states, spool_dir, poll_id, label, wanted, on_feed_done
        )
        result.reports.extend(r for shard in shards for r in shard.reports)
        result.matched_articles = sum(shard.matched_articles for shard in shards)
        result.timings = _merged_timings([shard.timings for shard in shards])
        return result
    by_url = {f.url: f for f in todo}
    requests = [FetchRequest.for_state(states.get(f.url, FeedState(url=f.url))) for f in todo]
    writer = spool.SpoolWriter(spool_dir, poll_id, label)
    cpu = StageCpu()

    def record(
        fetched: FetchResult, parsed: ParsedFeed | None, matches: list[list[TopicMatch]]
    ) -> None:
        feed = by_url[fetched.feed_url]
        old = states.get(feed.url, FeedState(url=feed.url))
        outcome: str = fetched.outcome
        entries = 0
        error = fetched.error
        skipped: tuple[tuple[str, int], ...] = ()
        warning = None
        if parsed is not None:
            entries = len(parsed.articles)
            skipped = parsed.skipped
            warning = parsed.warning
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
        writer.add_fetch(fetched, entries, 0, skipped, warning)
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
                skipped,
                warning,
            )
        )
        if on_feed_done is not None:
            on_feed_done(result.reports[-1])

    # Fetching outruns parsing: without a bound every body of the poll would wait in memory
    # (4,000 feeds: +180 MB). A fetch holds a token from its start until its body is parsed.
    in_memory = asyncio.Semaphore(config.fetch.concurrency + PARSE_BACKLOG)

    def parse_one(fetched: FetchResult) -> None:
        feed = by_url[fetched.feed_url]
        assert fetched.body is not None
        try:
            parsed, matches, spent = parse_and_match(
                fetched.body,
                feed.url,
                feed.name,
                now,
                fetched.final_url,
                fetched.content_type,
                config.matcher,
            )
        except Exception as exc:  # a parser crash is this feed's error, never the poll's
            # The feed's failure line reaches the user and the run's log; the traceback is
            # for whoever debugs the parser.
            log.debug("parsing %s failed", feed.url, exc_info=True)
            record(_as_error(fetched, "parse", f"could not parse the feed: {exc}"), None, [])
            return
        cpu.add(spent)
        record(fetched, parsed, matches)

    t_start = time.monotonic()
    async for fetched in fetch_stream(
        requests,
        config.fetch,
        allow_hosts=config.allow_hosts,
        resolver=resolver,
        clock=clock,
        admit=in_memory.acquire,
    ):
        try:
            old = states.get(fetched.feed_url)
            unchanged = (
                fetched.outcome == "ok"
                and old is not None
                and old.body_sha256 is not None
                and fetched.body_sha256 == old.body_sha256
            )
            if fetched.outcome == "ok" and fetched.body and not unchanged:
                # Parsed here, between fetches: the loop's other fetches wait in their
                # sockets meanwhile, and the shard's cores are busy either way.
                parse_one(fetched)
            elif fetched.outcome == "ok" and not fetched.body:
                record(_as_error(fetched, "empty", "the server returned an empty body"), None, [])
            else:
                record(fetched, None, [])
        finally:
            in_memory.release()
    fetch_done = time.monotonic()
    t0 = time.monotonic()
    writer.close()
    _release_freed_memory()
    result.timings = {
        "fetch_s": round(fetch_done - t_start, 3),
        "parse_cpu_s": round(cpu.parse, 3),
        "normalise_cpu_s": round(cpu.normalise, 3),
        "match_cpu_s": round(cpu.match, 3),
        "language_cpu_s": round(cpu.language, 3),
        "spool_s": round(time.monotonic() - t0, 3),
        "collect_s": round(time.monotonic() - t_start, 3),
    }
    return result


# A manual poll respects backoff once a feed has failed this many times in a row.
HOLD_BACK_AFTER = 3
# Failures decided here, before any server was contacted.
LOCAL_FAILURES = frozenset({"refused_address", "url", "scheme"})


def held_back_feeds(
    config: Config, states: dict[str, FeedState], now: datetime
) -> dict[str, tuple[int, datetime]]:
    """Enabled feeds a manual poll leaves alone: url -> (consecutive failures, next try).

    Those whose server asked for a pause (429/503, Retry-After) and those failing
    HOLD_BACK_AFTER times in a row, while not yet due again. A feed that failed once or
    twice is tried again (its URL may just have been fixed), and so is one refused here
    before any server was contacted (an address not allowed, a bad URL): retrying costs
    nobody anything, and the user may just have changed sources.yaml."""
    policy = policy_for_schedule(config.schedule.poll, config.schedule.timezone, now)
    out = {}
    for feed in config.feeds:
        state = states.get(feed.url)
        if state is None or state.consecutive_failures == 0 or state.next_poll_at is None:
            continue
        if state.last_error_kind in LOCAL_FAILURES:
            continue
        asked_to_wait = state.last_http_status in (429, 503)
        if not asked_to_wait and state.consecutive_failures < HOLD_BACK_AFTER:
            continue
        if feed.enabled and not FeedDecider(feed, state, policy, now).is_due():
            out[feed.url] = (state.consecutive_failures, state.next_poll_at)
    return out


def held_back_report(feed: FeedSource, failures: int, next_try: datetime) -> FeedReport:
    # `error` carries why the feed was skipped; the progress display and summary show it.
    reason = (
        f"backing off after {failures} failure{'s' if failures != 1 else ''} "
        f"(or the server's Retry-After); next try {next_try:%Y-%m-%d %H:%M} UTC"
    )
    return FeedReport(feed.url, feed.name, "skipped", None, reason, 0, 0.0, 0)


async def _collect_in_processes(
    config: Config,
    feeds: Sequence[FeedSource],
    states: dict[str, FeedState],
    spool_dir: Path,
    poll_id: str,
    label: str,
    processes: int,
    on_feed_done: Callable[[FeedReport], None] | None,
) -> list[BatchResult]:
    """Run collect_batch on shards of `feeds` (split by host, so per-host limits hold), one
    process each, with the fetch concurrency split between them. Reports stream back as
    feeds finish; each shard stages its own Parquet parts (label <label>s<i>)."""
    shards = runners.split_batches(feeds, processes)
    share = max(1, -(-config.fetch.concurrency // len(shards)))
    # A config read from a file travels as that file's text: the shard finds it already
    # compiled in the fork server, instead of unpickling every feed and compiled topic.
    shard_config: Config | tuple[str, str] = config_source(config) or config
    # forkserver: never fork a process that runs an event loop and Prefect's threads.
    ctx = multiprocessing.get_context("forkserver")
    loop = asyncio.get_running_loop()
    children: list[tuple[multiprocessing.process.BaseProcess, Connection]] = []
    try:
        for i, shard in enumerate(shards):
            parent, child = ctx.Pipe(duplex=False)
            shard_states = {f.url: states[f.url] for f in shard if f.url in states}
            proc: multiprocessing.process.BaseProcess = ctx.Process(
                target=_shard_main,
                args=(
                    shard_config,
                    share,
                    shard,
                    shard_states,
                    spool_dir,
                    poll_id,
                    f"{label}s{i}",
                    child,
                ),
                name=f"newswatch-poll-shard-{i}",
                daemon=True,
            )
            proc.start()
            child.close()
            children.append((proc, parent))

        def report(item: FeedReport) -> None:
            if on_feed_done is not None:
                loop.call_soon_threadsafe(on_feed_done, item)

        drains = [asyncio.to_thread(_drain_shard, proc, conn, report) for proc, conn in children]
        return list(await asyncio.gather(*drains))
    finally:
        for proc, conn in children:
            conn.close()
            if proc.is_alive():
                proc.kill()
            proc.join()


def _shard_main(
    config_or_source: Config | tuple[str, str],
    concurrency: int,
    feeds: list[FeedSource],
    states: dict[str, FeedState],
    spool_dir: Path,
    poll_id: str,
    label: str,
    conn: Connection,
) -> None:
    """A shard process: collect its feeds, sending each report as it is made, then the result."""
    try:
        config = (
            config_or_source
            if isinstance(config_or_source, Config)
            else config_from_source(*config_or_source)
        )
        config = dataclasses.replace(
            config, fetch=dataclasses.replace(config.fetch, concurrency=concurrency)
        )
        # Everything alive now (the modules imported by the fork server, the config, the
        # feeds' states) lives as long as the shard: out of the collector's sight, a full
        # collection no longer walks it (~10% of a shard's parse CPU, measured here).
        gc.freeze()
        result = asyncio.run(
            collect_batch(
                config,
                feeds,
                states,
                spool_dir=spool_dir,
                poll_id=poll_id,
                label=label,
                processes=1,
                on_feed_done=lambda r: conn.send(("report", r)),
            )
        )
        result.reports = []  # already sent one by one
        conn.send(("done", result))
    except BaseException as exc:  # reported to the parent, which fails the poll loudly
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def _drain_shard(
    proc: multiprocessing.process.BaseProcess,
    conn: Connection,
    report: Callable[[FeedReport], None],
) -> BatchResult:
    reports: list[FeedReport] = []
    while True:
        try:
            kind, payload = conn.recv()
        except EOFError:
            proc.join()
            raise RuntimeError(
                f"poll worker {proc.name} ended without a result (exit code {proc.exitcode})"
            ) from None
        if kind == "report":
            reports.append(payload)
            report(payload)
        elif kind == "done":
            payload.reports = reports
            return payload  # type: ignore[no-any-return]
        else:
            raise RuntimeError(f"poll worker {proc.name} failed: {payload}")


def _merged_timings(parts: Sequence[dict[str, float]]) -> dict[str, float]:
    """Shards run side by side: wall times are the slowest shard's, CPU times add up."""
    merged: dict[str, float] = {}
    for timings in parts:
        for key, value in timings.items():
            if key.endswith("_cpu_s"):
                merged[key] = round(merged.get(key, 0.0) + value, 3)
            else:
                merged[key] = max(merged.get(key, 0.0), value)
    return merged


def _release_freed_memory() -> None:
    """Hand memory freed by the collect stage back to the OS before the merge needs its own.

    A 1,000-feed collect frees ~100 MB it no longer uses, which glibc and Arrow's allocator
    would otherwise keep, adding it to the poll's peak during the merge.
    """
    pa = sys.modules.get("pyarrow")  # never imported for this (see spool.COLUMNS)
    if pa is not None:
        with contextlib.suppress(Exception):  # an optimisation only
            pa.default_memory_pool().release_unused()
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
    feed_tags: Mapping[str, Sequence[str]] | None = None,
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
        feed_tags=None
        if feed_tags is None
        else {url: list(tags) for url, tags in feed_tags.items()},
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
    clock: Callable[[], datetime] = utc_now,
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
            search.prepare_search_index(con)
            for batch in batches:
                merged.append(warehouse.merge_batch(con, batch, clock()))
                spool.remove(batch)
    except WarehouseLocked as exc:
        left = len(batches) - len(merged)
        return StoreResult(
            tuple(merged),
            left,
            f"{exc}; {left} poll batch(es) kept in {spool_dir} and merged by the next poll",
            time.monotonic() - t0,
        )
    _release_freed_memory()
    return StoreResult(tuple(merged), 0, None, time.monotonic() - t0)


# -- 5. derived data ------------------------------------------------------------------


def _cluster_recent(con: duckdb.DuckDBPyConnection, now: datetime) -> int:
    """Recompute the story clusters of the matched articles of the last CLUSTER_WINDOW;
    returns how many stories they are."""
    with warehouse.scan_memory(con):
        assignment = assign_clusters(
            warehouse.cluster_rows_since(con, now - CLUSTER_WINDOW),
            lambda ids: warehouse.cluster_summaries(con, ids),
        )
    if assignment:
        warehouse.replace_clusters(con, assignment, now)
    return len(set(assignment.values()))


def recluster(
    db_path: Path,
    *,
    clock: Callable[[], datetime] = utc_now,
    wait_seconds: float | None = None,
) -> int:
    """Recompute the story clusters only (after `rematch` changed which articles match:
    clusters group matched articles); returns the number of recent stories."""
    wait = db_wait_seconds() if wait_seconds is None else wait_seconds
    with warehouse.connect(db_path, wait_seconds=wait, threads=warehouse.ALL_CORES) as con:
        warehouse.drop_unmatched_clusters(con)
        return _cluster_recent(con, clock())


def refresh(
    db_path: Path,
    *,
    clock: Callable[[], datetime] = utc_now,
    wait_seconds: float | None = None,
    retention_days: float | None = None,
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
    with warehouse.connect(db_path, wait_seconds=wait, threads=warehouse.ALL_CORES) as con:
        # The index first, then clustering with DuckDB's cache evicted and kept small: its
        # memory and the clustering's own in Python would otherwise add up.
        if changed or not search.has_search_index(con):
            search.refresh_search_index(con)
            _release_freed_memory()
        if changed:
            stories = _cluster_recent(con, now)
        else:
            stories = warehouse.cluster_count_since(con, since)
        if retention_days is not None:
            warehouse.prune_fetch_log(con, now - timedelta(days=retention_days))
    return stories
