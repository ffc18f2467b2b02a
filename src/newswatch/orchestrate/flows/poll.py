"""The poll flow: newswatch.orchestrate.pipeline.run_poll with its steps as Prefect tasks.

Names, retries and the artifact are declared here; what the poll does is in the pipeline.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prefect import Task, flow, get_run_logger, task
from prefect.artifacts import acreate_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State, TaskRun
from prefect.logging.loggers import PrefectLogAdapter

from newswatch.config import Config, load_config
from newswatch.fetch.pages import PageStepResult
from newswatch.models import FeedSource, FeedState
from newswatch.orchestrate import pipeline, poll, run_console, runners
from newswatch.orchestrate.flows import as_is
from newswatch.orchestrate.pipeline import PollSummary
from newswatch.paths import resolve_db_path

__all__ = ["PollSummary", "poll_flow", "run_poll"]

# In a scheduled run's process under `newswatch serve`: no traceback on the terminal when
# serve stops the run (the run's API log keeps everything).
run_console.quiet_served_run()


def transient_only(task: Task[Any, Any], task_run: TaskRun, state: State[Any]) -> bool:
    del task, task_run
    return isinstance(state.data, BaseException) and pipeline.warehouse_retryable(state.data)


def _retried(delays: list[float]) -> dict[str, Any]:
    return {
        "retries": len(delays),
        "retry_delay_seconds": delays,
        "retry_condition_fn": transient_only,
        "cache_policy": NO_CACHE,
    }


# The steps that wait on DuckDB are sync in the pipeline: their tasks run them in a thread,
# so the flow's event loop keeps serving Prefect meanwhile.
@task(name="read-feed-state", **_retried(pipeline.READ_STATE_RETRY_DELAYS))
async def read_state(db_path: Path) -> poll.StateRead:
    return await asyncio.to_thread(pipeline.read_state, db_path)


# The pipeline's steps as Prefect tasks: names and retries here, what they do in the pipeline.
collect = task(name="fetch-parse-match", cache_policy=NO_CACHE)(pipeline.collect)
# A batch on a Dask worker: the worker's process is the parallelism (no shards).
collect_one = task(name="fetch-parse-match", cache_policy=NO_CACHE)(pipeline.collect_batch_sync)


@task(name="store", **_retried(pipeline.STORE_RETRY_DELAYS))
async def store(db_path: Path, spool_dir: Path) -> poll.StoreResult:
    return await asyncio.to_thread(pipeline.store, db_path, spool_dir)


fetch_pages = task(name="fetch-article-pages", cache_policy=NO_CACHE)(pipeline.fetch_pages)


async def _fetch_pages_task(config: Config, db_path: Path, poll_id: str) -> PageStepResult:
    return await fetch_pages(as_is(config), db_path, poll_id)


@task(name="refresh-clusters", **_retried(pipeline.REFRESH_RETRY_DELAYS))
async def refresh(db_path: Path, retention_days: float | None, changed: bool) -> int:
    return await asyncio.to_thread(pipeline.refresh, db_path, retention_days, changed)


async def _collect_task(
    config: Config,
    feeds: list[FeedSource],
    states: dict[str, FeedState],
    spool_dir: Path,
    poll_id: str,
    due_only: bool,
    on_feed_done: Callable[[poll.FeedReport], None] | None,
) -> list[poll.BatchResult]:
    # as_is(): Prefect would otherwise walk all 1,000 feeds, their states and the compiled
    # topics looking for futures before the task starts (0.3-1.5 s).
    return await collect(
        as_is(config), as_is(feeds), as_is(states), spool_dir, poll_id, due_only, on_feed_done
    )


def _dask_collect(batches: int) -> pipeline.Collect:
    async def on_dask(
        config: Config,
        feeds: list[FeedSource],
        states: dict[str, FeedState],
        spool_dir: Path,
        poll_id: str,
        due_only: bool,
        on_feed_done: Callable[[poll.FeedReport], None] | None,
    ) -> list[poll.BatchResult]:
        futures = [
            collect_one.submit(
                config,
                batch,
                {f.url: states[f.url] for f in batch if f.url in states},
                spool_dir,
                poll_id,
                f"b{i}",
                due_only,
            )
            for i, batch in enumerate(runners.split_batches(feeds, batches))
        ]
        # result() blocks: wait in a thread so the flow's event loop keeps serving Prefect.
        return await asyncio.to_thread(lambda: [f.result() for f in futures])

    return on_dask


def _run_log_only(run_logger: Any) -> logging.LoggerAdapter[Any]:
    """The run logger without the terminal (the summary there shows every failed feed)."""
    quiet = logging.getLogger("prefect.flow_runs.newswatch_feeds")
    if quiet.propagate:  # once per process, after Prefect configured its logging
        for handler in logging.getLogger("prefect.flow_runs").handlers:
            quiet.addHandler(handler)
        quiet.propagate = False
    return PrefectLogAdapter(quiet, extra=getattr(run_logger, "extra", None) or {})


@flow(name="newswatch-poll", log_prints=False)
async def poll_flow(
    sources: str | None = None,
    db: str | None = None,
    due_only: bool = False,
    on_feed_done: Callable[[poll.FeedReport], None] | None = None,
    dask_batches: int = 0,
    poll_all: bool = False,
) -> PollSummary:
    """Poll the feeds of `sources` into the warehouse `db` (see pipeline.run_poll)."""
    logger = get_run_logger()
    steps = pipeline.PollSteps(
        read_state=read_state,
        collect=_dask_collect(dask_batches) if dask_batches else _collect_task,
        store=store,
        fetch_pages=_fetch_pages_task,
        refresh=refresh,
        shards=not dask_batches,
    )
    summary = await pipeline.run_poll(
        load_config(sources),
        resolve_db_path(db),
        due_only=due_only,
        poll_all=poll_all,
        on_feed_done=on_feed_done,
        steps=steps,
        logger=logger,
    )
    await acreate_table_artifact(
        key="newswatch-poll",
        table=pipeline.poll_table(summary),
        description=pipeline.poll_description(summary),
    )
    # A one-off command prints its summary table, failed feeds included: there the lines go to
    # the run's log only. Under `newswatch serve` nothing else would show a failing feed on
    # serve's terminal.
    served = bool(os.environ.get(run_console.SERVED_RUN_ENV))
    for line in pipeline.failed_feed_lines(summary):
        (logger if served else _run_log_only(logger)).warning(line)
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
    """The poll flow on the runner chosen in sources.yaml or on the command line."""
    settings = runners.resolve(load_config(sources).runner, kind=runner, address=dask_address)
    if settings.kind == "dask":
        on_dask = poll_flow.with_options(task_runner=runners.dask_task_runner(settings))
        # Two batches per worker, so a slow batch does not leave a worker idle.
        return await on_dask(
            sources=sources, db=db, due_only=due_only, dask_batches=2 * settings.workers,
            poll_all=poll_all,
        )  # fmt: skip
    return await poll_flow(
        sources=sources, db=db, due_only=due_only, on_feed_done=on_feed_done, poll_all=poll_all
    )
