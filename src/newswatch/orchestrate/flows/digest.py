"""The digest flow: newswatch.orchestrate.pipeline.run_digest with its steps as Prefect tasks.

A failed send is recorded as `failed` and then fails the flow run (so Prefect shows it);
every run, skipped ones included, publishes a markdown artifact saying what happened.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import acreate_markdown_artifact
from prefect.cache_policies import NO_CACHE

from newswatch.config import load_config
from newswatch.errors import DigestFailed
from newswatch.orchestrate import pipeline, run_console
from newswatch.orchestrate.flows import as_is
from newswatch.orchestrate.pipeline import DigestSummary, resolve_smtp
from newswatch.paths import resolve_db_path, resolve_out_dir

__all__ = ["ARTIFACT_KEY", "DigestFailed", "DigestSummary", "digest_flow", "resolve_smtp"]

ARTIFACT_KEY = "newswatch-digest"

# In a scheduled run's process under `newswatch serve`: the same, for the process's life.
run_console.quiet_served_run()


# The pipeline's steps as Prefect tasks: names and retries here, what they do in the pipeline.
gather = task(
    name="gather-digest",
    retries=len(pipeline.GATHER_RETRY_DELAYS),
    retry_delay_seconds=pipeline.GATHER_RETRY_DELAYS,
    cache_policy=NO_CACHE,
)(pipeline.gather)

render = task(name="render-digest", cache_policy=NO_CACHE)(pipeline.render)


def _transient_failure(task: Any, task_run: Any, state: Any) -> bool:
    exc = getattr(state, "data", None)  # the engine hands over Failed(data=exception)
    return isinstance(exc, BaseException) and pipeline.send_retryable(exc)


send = task(
    name="send-digest",
    retries=len(pipeline.SEND_RETRY_DELAYS),
    retry_delay_seconds=pipeline.SEND_RETRY_DELAYS,
    retry_condition_fn=_transient_failure,
    cache_policy=NO_CACHE,
)(pipeline.send)


# as_is(): Prefect would otherwise walk every object inside these arguments looking for
# futures (975 stories and a 1,000-feed config: ~1.5 s of a digest run).
STEPS = pipeline.DigestSteps(
    gather=lambda db, config, on_date, sending: gather(db, as_is(config), on_date, sending),
    render=lambda plan, config: render(as_is(plan), as_is(config)),
    send=lambda db, plan, rendered, *rest: send(db, as_is(plan), as_is(rendered), *rest),
)


@flow(name="newswatch-digest")
async def digest_flow(
    sources: str | None = None,
    db: str | None = None,
    on_date: date | None = None,
    out: str | None = None,
    send_mail: bool = False,
    force: bool = False,
    to: list[str] | None = None,
) -> DigestSummary:
    try:
        summary = pipeline.run_digest(
            load_config(sources),
            resolve_db_path(db),
            resolve_out_dir(out),
            on_date=on_date,
            send_mail=send_mail,
            force=force,
            to=to,
            steps=STEPS,
            logger=get_run_logger(),
        )
    except DigestFailed as exc:
        await _publish(exc.summary)
        raise
    await _publish(summary)
    return summary


async def _publish(summary: DigestSummary) -> None:
    await acreate_markdown_artifact(
        key=ARTIFACT_KEY,
        markdown=pipeline.digest_markdown(summary),
        description=f"Digest for {summary.date}: {summary.status}",
    )
