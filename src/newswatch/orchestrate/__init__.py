"""Orchestration: the poll and the digest as sequences of steps, and their schedule.

`pipeline` runs a poll and a digest as plain functions, `poll` holds the poll's stages,
`rematch` re-applies changed topic rules to the stored articles,
`schedule` decides when each feed is due (pure), `runners` and `shard_preload` place the
work on processes or a Dask cluster, `health` reports each feed's health, `serve` runs
the flows on their schedules with Prefect, `run_console` keeps served runs quiet, and
`flows` wraps the pipeline in Prefect flows and tasks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from newswatch._lazy import exports

if TYPE_CHECKING:
    from newswatch.orchestrate.health import collect_health as collect_health
    from newswatch.orchestrate.pipeline import (
        DigestSummary as DigestSummary,
    )
    from newswatch.orchestrate.pipeline import (
        PollSummary as PollSummary,
    )
    from newswatch.orchestrate.pipeline import (
        run_digest as run_digest,
    )
    from newswatch.orchestrate.pipeline import (
        run_poll as run_poll,
    )
    from newswatch.orchestrate.schedule import (
        FeedDecider as FeedDecider,
    )
    from newswatch.orchestrate.schedule import (
        next_fire_times as next_fire_times,
    )
    from newswatch.orchestrate.schedule import (
        parse_spec as parse_spec,
    )

_API = {
    "DigestSummary": "pipeline",
    "FeedDecider": "schedule",
    "PollSummary": "pipeline",
    "collect_health": "health",
    "next_fire_times": "schedule",
    "parse_spec": "schedule",
    "run_digest": "pipeline",
    "run_poll": "pipeline",
}
__all__ = sorted(_API)
__getattr__, __dir__ = exports(__name__, _API)
