"""The poll flow: read feed state, fetch+parse+match in batches, store, refresh clusters."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from prefect import Task, flow, get_run_logger, task
from prefect.artifacts import acreate_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State, TaskRun
from prefect.logging.loggers import PrefectLogAdapter

from newswatch import pages, poll, run_console, runners, spool, warehouse
from newswatch.config import Config, load_config
from newswatch.models import FeedSource, FeedState
from newswatch.paths import resolve_db_path
from newswatch.prefect_args import as_is

# In a scheduled run's process under `newswatch serve`: no traceback on the terminal when
# serve stops the run (the run's API log keeps everything).
run_console.quiet_served_run()


@dataclass(frozen=True)
class PollSummary:
    poll_id: str
    reports: tuple[poll.FeedReport, ...]
    timings: dict[str, float]
    new_articles: int
    new_matches: int
    clusters: int
    store_message: str | None
    state_warning: str | None
    waiting_batches: int
    # Feeds a manual poll left alone while they back off: url -> (failures, next try).
    held_back: dict[str, tuple[int, datetime]] = field(default_factory=dict)


def transient_only(task: Task[Any, Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Retry a failed task unless the warehouse itself is unusable (not a DuckDB file, a newer
    schema, an unwritable folder): retrying those only repeats the error, slower."""
    del task, task_run
    exc = state.data
    return not (
        isinstance(exc, warehouse.WarehouseError) and not isinstance(exc, warehouse.WarehouseLocked)
    )


@task(
    name="read-feed-state",
    retries=2,
    retry_delay_seconds=[1, 5],
    retry_condition_fn=transient_only,
    cache_policy=NO_CACHE,
)
async def read_state(db_path: Path) -> poll.StateRead:
    # An unusable warehouse fails the poll here, before anything is fetched.
    def read() -> poll.StateRead:
        warehouse.check_usable(db_path)
        return poll.read_states(db_path)

    return await asyncio.to_thread(read)


@task(name="fetch-parse-match", cache_policy=NO_CACHE)
async def collect(
    config: Config,
    feeds: list[FeedSource],
    states: dict[str, FeedState],
    spool_dir: Path,
    poll_id: str,
    label: str,
    due_only: bool,
    on_feed_done: Callable[[poll.FeedReport], None] | None = None,
    processes: int | None = None,
) -> poll.BatchResult:
    return await poll.collect_batch(
        config,
        feeds,
        states,
        spool_dir=spool_dir,
        poll_id=poll_id,
        label=label,
        due_only=due_only,
        on_feed_done=on_feed_done,
        processes=processes,
    )


@task(
    name="store",
    retries=3,
    retry_delay_seconds=[2, 5, 15],
    retry_condition_fn=transient_only,
    cache_policy=NO_CACHE,
)
async def store(db_path: Path, spool_dir: Path) -> poll.StoreResult:
    return await asyncio.to_thread(poll.store, db_path, spool_dir)


@task(
    name="refresh-clusters",
    retries=2,
    retry_delay_seconds=[2, 10],
    retry_condition_fn=transient_only,
    cache_policy=NO_CACHE,
)
async def refresh(db_path: Path, retention_days: float | None, changed: bool = True) -> int:
    return await asyncio.to_thread(
        poll.refresh, db_path, retention_days=retention_days, changed=changed
    )


def _run_log_only(
    run_logger: logging.Logger | logging.LoggerAdapter[Any],
) -> logging.LoggerAdapter[Any]:
    """The run logger without the terminal: its lines reach the run's log (the API handler
    and whatever else the user attached to prefect.flow_runs) but not the console, where the
    progress display and the summary already show every failed feed."""
    quiet = logging.getLogger("prefect.flow_runs.newswatch_feeds")
    if quiet.propagate:  # once per process, after Prefect configured its logging
        for handler in logging.getLogger("prefect.flow_runs").handlers:
            quiet.addHandler(handler)
        quiet.propagate = False
    return PrefectLogAdapter(quiet, extra=getattr(run_logger, "extra", None) or {})


async def _collect_on_dask(
    config: Config,
    feeds: list[FeedSource],
    states: dict[str, FeedState],
    spool_dir: Path,
    poll_id: str,
    due_only: bool,
    batches: int,
) -> list[poll.BatchResult]:
    """One `collect` task per batch, submitted to the flow's Dask task runner.

    Each batch writes its own Parquet parts (label b<i>) into the shared spool folder and
    parses in its worker's process (Dask workers are the parallelism; they may not fork).
    """
    futures = [
        collect.submit(
            config,
            batch,
            {f.url: states[f.url] for f in batch if f.url in states},
            spool_dir,
            poll_id,
            f"b{i}",
            due_only,
            None,
            1,
        )
        for i, batch in enumerate(runners.split_batches(feeds, batches))
    ]
    # result() blocks: wait in a thread so the flow's event loop keeps serving Prefect.
    # (An async task's future resolves to its awaited value; Prefect types it as a coroutine.)
    return await asyncio.to_thread(lambda: [cast(poll.BatchResult, f.result()) for f in futures])


@flow(name="newswatch-poll", log_prints=False)
async def poll_flow(
    sources: str | None = None,
    db: str | None = None,
    due_only: bool = False,
    on_feed_done: Callable[[poll.FeedReport], None] | None = None,
    dask_batches: int = 0,
    poll_all: bool = False,
) -> PollSummary:
    """Poll the feeds of `sources` into the warehouse `db`.

    due_only (scheduled runs): only feeds whose next poll time has come. Otherwise (a poll
    by hand) every enabled feed, except failing ones still backing off (their server asked
    for a pause, or backoff says wait) - unless poll_all.
    """
    flow_start = time.monotonic()
    logger = get_run_logger()
    config = load_config(sources)
    if not dask_batches:
        poll.warm_up_shard_processes(len(config.feeds), config.path)
    db_path = resolve_db_path(db)
    spool_dir = poll.spool_root(db_path)
    started = poll.utcnow()
    poll_id = spool.new_poll_id(started)
    with poll.poll_lock(db_path):
        spool.discard_incomplete(spool_dir)
        state = await read_state(db_path)
        if state.warning:
            logger.warning(state.warning)
        held = {} if due_only or poll_all else poll.held_back_feeds(config, state.states, started)
        held_reports = []
        for feed in config.feeds:
            if feed.url in held:
                held_reports.append(poll.held_back_report(feed, *held[feed.url]))
                if on_feed_done is not None:
                    on_feed_done(held_reports[-1])
        feeds = [f for f in config.feeds if f.url not in held]
        if dask_batches:
            batches = await _collect_on_dask(
                config, feeds, state.states, spool_dir, poll_id, due_only, dask_batches
            )
        else:
            batches = [
                # as_is(): Prefect would otherwise walk all 1,000 feeds, their states and
                # the compiled topics looking for futures before the task starts.
                await collect(
                    as_is(config),
                    as_is(feeds),
                    as_is(state.states),
                    spool_dir,
                    poll_id,
                    "b0",
                    due_only,
                    on_feed_done,
                )
            ]
        manifest = poll.finish_poll(spool_dir, poll_id, started, poll.utcnow(), batches)
        batch = poll.BatchResult(
            reports=[r for b in batches for r in b.reports] + held_reports,
            timings=dict(manifest.timings),
            matched_articles=sum(b.matched_articles for b in batches),
        )
        stored = await store(db_path, spool_dir)
        if stored.message:
            logger.warning(stored.message)
        # Pages of new entries of feeds with `fetch_article`, after their entries are stored.
        await pages.fetch_article_pages(config, db_path, poll_id)
        refresh_start = time.monotonic()
        # Matches are stored only with new articles, so no new article means nothing changed.
        changed = stored.new_articles > 0
        clusters = (
            await refresh(db_path, config.retention_days, changed) if not stored.waiting else 0
        )
        refresh_s = time.monotonic() - refresh_start
    timings = {
        **batch.timings,
        "store_s": round(stored.seconds, 3),
        "refresh_s": round(refresh_s, 3),
    }
    summary = PollSummary(
        poll_id=poll_id,
        reports=tuple(batch.reports),
        timings=timings,
        new_articles=stored.new_articles,
        new_matches=stored.new_matches,
        clusters=clusters,
        store_message=stored.message,
        state_warning=state.warning,
        waiting_batches=stored.waiting,
        held_back=held,
    )
    new_by_feed: dict[str, list[int]] = {}
    for merged in stored.merged:
        for url, (articles, matches) in merged.by_feed.items():
            counts = new_by_feed.setdefault(url, [0, 0])
            counts[0] += articles
            counts[1] += matches
    await acreate_table_artifact(
        key="newswatch-poll",
        table=[
            {
                "feed": r.name,
                "url": r.url,
                "outcome": r.outcome,
                "http": r.http_status,
                "entries": r.entries,
                "new_articles": new_by_feed.get(r.url, [0, 0])[0],
                "new_matches": new_by_feed.get(r.url, [0, 0])[1],
                "error": r.error or "",
            }
            for r in batch.reports
        ],
        description=(
            f"Poll {poll_id}: {summary.new_articles} new articles, {summary.new_matches} new "
            f"topic matches, {batch.count('error')} failed feeds"
        ),
    )
    # One line per failed feed, so the run's log in the Prefect UI says which and why.
    feed_logger = _run_log_only(logger)
    for r in batch.reports:
        if r.outcome == "error":
            feed_logger.warning("feed %s failed: %s (%s)", r.name, r.error, r.url)
    logger.info(
        "poll %s: %d feeds, %d failed, %d skipped; %d new articles, %d new matches",
        poll_id,
        len(batch.reports),
        batch.count("error"),
        batch.count("skipped"),
        summary.new_articles,
        summary.new_matches,
    )
    # The flow's own time, without the Prefect API start-up around it (benchmarks report both).
    summary.timings["flow_s"] = round(time.monotonic() - flow_start, 3)
    return summary


async def run_poll(
    sources: str | None = None,
    db: str | None = None,
    due_only: bool = False,
    runner: str | None = None,
    dask_address: str | None = None,
    on_feed_done: Callable[[poll.FeedReport], None] | None = None,
    poll_all: bool = False,
) -> PollSummary:
    """Run the poll flow on the runner chosen in sources.yaml or on the command line."""
    settings = runners.resolve(load_config(sources).runner, kind=runner, address=dask_address)
    if settings.kind == "dask":
        flow_on_dask = poll_flow.with_options(task_runner=runners.dask_task_runner(settings))
        # Two batches per worker, so a slow batch does not leave a worker idle.
        return await flow_on_dask(
            sources=sources,
            db=db,
            due_only=due_only,
            dask_batches=2 * settings.workers,
            poll_all=poll_all,
        )
    return await poll_flow(
        sources=sources, db=db, due_only=due_only, on_feed_done=on_feed_done, poll_all=poll_all
    )
