"""Where the poll's fetch-and-parse batches run: in the flow's own process, or on a Dask cluster.

`runner: {kind: dask, address: tcp://host:8786 | null, workers: 2}` in sources.yaml (or
`newswatch poll --runner dask [--dask-address ADDR]`) sends each batch of feeds to a Dask
worker through Prefect's `prefect-dask` task runner; with no address a local cluster of
`workers` processes is started for the poll. A single writer (the flow) still stores the
results in DuckDB: every batch writes its own Parquet parts into the shared spool folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from newswatch.config import RunnerSettings
from newswatch.errors import RunnerError
from newswatch.models import FeedSource

RUNNER_KINDS = ("default", "dask")


def resolve(
    configured: RunnerSettings, kind: str | None = None, address: str | None = None
) -> RunnerSettings:
    """The runner for this poll: command-line choices override sources.yaml."""
    settings = configured
    if kind is not None:
        settings = replace(settings, kind=kind)
    if address is not None:
        settings = replace(settings, kind="dask", address=address)
    if settings.kind not in RUNNER_KINDS:
        raise RunnerError(f"unknown runner {settings.kind!r}; use one of {', '.join(RUNNER_KINDS)}")
    if settings.workers < 1:
        raise RunnerError("runner.workers must be at least 1")
    return settings


def dask_task_runner(settings: RunnerSettings) -> Any:
    """A prefect-dask DaskTaskRunner for an existing scheduler or a local cluster."""
    from prefect_dask.task_runners import DaskTaskRunner

    if settings.address:
        return DaskTaskRunner(address=settings.address)
    return DaskTaskRunner(
        cluster_kwargs={
            "n_workers": settings.workers,
            "threads_per_worker": 1,  # parsing is CPU-bound Python: one process per core
            "processes": True,
            "dashboard_address": None,  # no web dashboard port for a poll's short-lived cluster
        }
    )


def split_batches(feeds: Sequence[FeedSource], n: int) -> list[list[FeedSource]]:
    """At most `n` batches of near-equal size; all feeds of one host go to the same batch,
    so the per-host limit still holds when batches run on different machines."""
    by_host: dict[str, list[FeedSource]] = {}
    for feed in feeds:
        by_host.setdefault((urlsplit(feed.url).hostname or "").lower(), []).append(feed)
    n = max(1, min(n, len(by_host)))
    batches: list[list[FeedSource]] = [[] for _ in range(n)]
    for group in sorted(by_host.values(), key=len, reverse=True):
        min(batches, key=len).extend(group)
    return [b for b in batches if b]
