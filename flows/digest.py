"""The digest flow: gather what was stored since the last digest, render it, write it, send it.

A failed send is recorded as `failed` and then fails the flow run (so Prefect shows it);
every run, skipped ones included, publishes a markdown artifact saying what happened.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import acreate_markdown_artifact
from prefect.cache_policies import NO_CACHE

from newswatch import delivery, run_console
from newswatch.config import Config, load_config
from newswatch.digest import count_line
from newswatch.mail import MailConfigError, SmtpSettings, draft_addresses, smtp_settings
from newswatch.paths import resolve_db_path, resolve_out_dir
from newswatch.poll import utcnow
from newswatch.prefect_args import as_is

ARTIFACT_KEY = "newswatch-digest"
# Transient SMTP failures (4xx, dropped connections) are tried again after these delays.
SEND_RETRY_DELAYS: list[float] = [2.0, 15.0]


@dataclass(frozen=True)
class DigestSummary:
    date: date
    subject: str
    stories: int
    articles: int
    files: delivery.DigestFiles
    status: str  # rendered | sent | failed | skipped
    message: str | None = None
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    # Wall seconds of the stages: gather_s, render_s, write_s (files and the digests row),
    # send_s, flow_s (the flow's own time, without Prefect's start-up around it).
    timings: dict[str, float] = field(default_factory=dict)


class DigestFailed(Exception):
    """The digest could not be sent (recorded as `failed`); carries the run's summary."""

    def __init__(self, summary: DigestSummary) -> None:
        super().__init__(summary.message or "the digest could not be sent")
        self.summary = summary


# In a scheduled run's process under `newswatch serve`: the same, for the process's life.
run_console.quiet_served_run()


@task(name="gather-digest", retries=2, retry_delay_seconds=[2, 10], cache_policy=NO_CACHE)
def gather(
    db_path: Path, config: Config, on_date: date | None, for_sending: bool
) -> delivery.DigestPlan:
    return delivery.gather(db_path, config, now=utcnow(), on_date=on_date, for_sending=for_sending)


@task(name="render-digest", cache_policy=NO_CACHE)
def render(plan: delivery.DigestPlan, config: Config) -> delivery.RenderedDigest:
    return delivery.render(plan, config, utcnow())


def _transient_failure(task: Any, task_run: Any, state: Any) -> bool:
    """Retry a send only when the server may take it later and nobody has it yet."""
    exc = getattr(state, "data", None)  # the engine hands over Failed(data=exception)
    return isinstance(exc, delivery.SendFailed) and exc.transient


@task(
    name="send-digest",
    retries=len(SEND_RETRY_DELAYS),
    retry_delay_seconds=SEND_RETRY_DELAYS,
    retry_condition_fn=_transient_failure,
    cache_policy=NO_CACHE,
)
def send(
    db_path: Path,
    plan: delivery.DigestPlan,
    rendered: delivery.RenderedDigest,
    files: delivery.DigestFiles,
    message: Any,
    smtp: SmtpSettings,
    digest_id: str,
) -> delivery.DeliveryResult:
    return delivery.deliver(
        db_path, plan, rendered, files, message, smtp, utcnow(), digest_id=digest_id
    )


def resolve_smtp(to: list[str] | None) -> SmtpSettings:
    """SMTP settings of this process: NEWSWATCH_SMTP_URL or the NEWSWATCH_SMTP_BLOCK block."""
    settings = smtp_settings(os.environ, recipients_override=to or ())
    if settings is None:
        raise MailConfigError(
            "sending needs NEWSWATCH_SMTP_URL or NEWSWATCH_SMTP_BLOCK (plus NEWSWATCH_MAIL_TO) "
            "in the environment of the process that runs the digest"
        )
    return settings


def _artifact_markdown(summary: DigestSummary, plan: delivery.DigestPlan, counts: str) -> str:
    w = plan.window
    lines = [
        f"# {summary.subject}",
        "",
        f"Status: **{summary.status}**" + (f" — {summary.message}" if summary.message else ""),
        "",
        f"Window (poll batches stored): {w.start:%Y-%m-%d %H:%M} → {w.end:%Y-%m-%d %H:%M} UTC",
        "",
        f"Stories: {summary.stories}, articles: {summary.articles}",
    ]
    if counts:
        lines += ["", f"Per topic: {counts}"]
    lines += [*(["", *summary.notes] if summary.notes else [])]
    lines += ["", f"Files: `{summary.files.html}`, `{summary.files.text}`"]
    return "\n".join(lines)


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
    flow_start = time.monotonic()
    timings: dict[str, float] = {}
    logger = get_run_logger()
    # SMTP settings (a password) are never a parameter: Prefect stores parameters. They are
    # resolved here, from the environment or the Secret block, by every caller alike.
    try:
        smtp = resolve_smtp(to) if send_mail else None
    except MailConfigError as exc:
        logger.error("cannot send the digest: %s", exc)  # one line, then the run fails
        raise
    config = load_config(sources)
    db_path = resolve_db_path(db)
    out_dir = resolve_out_dir(out)
    stage_start = time.monotonic()

    def stage_done(name: str) -> None:
        nonlocal stage_start
        now = time.monotonic()
        timings[name] = round(timings.get(name, 0.0) + now - stage_start, 3)
        stage_start = now

    # as_is(): Prefect would otherwise walk every object inside these arguments looking for
    # futures (975 stories and a 1,000-feed config: ~1.5 s of a digest run).
    plan = gather(db_path, as_is(config), on_date, send_mail)
    stage_done("gather_s")
    for warning in plan.warnings:
        logger.warning(warning)
    rendered = render(as_is(plan), as_is(config))
    stage_done("render_s")
    notes: list[str] = []
    if plan.too_old:
        notes.append(
            f"{plan.too_old} matched article{'s' if plan.too_old != 1 else ''} published more "
            f"than {plan.max_age_days} days before the window left out (digest.max_age_days)"
        )
    done = plan.already_delivered

    async def finish(
        files: delivery.DigestFiles, status: str, message: str | None
    ) -> DigestSummary:
        stage_done("send_s" if status in ("sent", "failed") else "write_s")
        timings["flow_s"] = round(time.monotonic() - flow_start, 3)
        summary = DigestSummary(
            date=plan.window.date,
            subject=rendered.subject,
            stories=rendered.digest.story_count,
            articles=rendered.digest.article_count,
            files=files,
            status=status,
            message=message,
            warnings=tuple(plan.warnings),
            notes=tuple(notes),
            timings=dict(timings),
        )
        await acreate_markdown_artifact(
            key=ARTIFACT_KEY,
            markdown=_artifact_markdown(summary, plan, count_line(rendered.digest)),
            description=f"Digest for {plan.window.date}: {status}",
        )
        return summary

    sender, draft_to = draft_addresses(os.environ, to or ())
    if done is not None and not (send_mail and force):
        sent_at = done.sent_at or done.created_at
        when = f" at {sent_at:%Y-%m-%d %H:%M} UTC" if sent_at else ""
        what = "was sent" if done.status == "sent" else "was probably sent (interrupted)"
        notes.append(
            f"the digest for {plan.window.date} {what}{when} (message {done.message_id}); "
            "its files are kept as they were"
        )
        if plan.waiting:
            notes.append(
                f"{plan.waiting} matched article{'s' if plan.waiting != 1 else ''} stored since "
                "then will be in the next digest"
            )
        files = delivery.write_files(
            rendered,
            out_dir,
            plan.window.date,
            delivery.draft_message(rendered, utcnow(), draft_to, sender),
            keep_existing=True,
        )
        if send_mail:
            skipped = (
                f"the digest for {plan.window.date} was already sent (message {done.message_id}); "
                "not sending again (use --force to send the same digest again)"
            )
            logger.info(skipped)
            return await finish(files, "skipped", skipped)
        return await finish(files, "rendered", None)

    if not send_mail:
        files = delivery.write_files(
            rendered,
            out_dir,
            plan.window.date,
            delivery.draft_message(rendered, utcnow(), draft_to, sender),
        )
        if db_path.exists():
            delivery.record_rendered(db_path, plan, rendered, files, utcnow())
        return await finish(files, "rendered", None)

    assert smtp is not None
    message = delivery.compose(rendered, smtp, utcnow())
    files = delivery.write_files(rendered, out_dir, plan.window.date, message)
    stage_done("write_s")
    digest_id = delivery.new_digest_id()
    try:
        result = send(db_path, as_is(plan), as_is(rendered), files, message, smtp, digest_id)
    except delivery.SendFailed as exc:
        logger.error(
            "sending the digest for %s failed (recorded as failed; the next run includes this "
            "window): %s",
            plan.window.date,
            exc,
        )
        summary = await finish(files, "failed", str(exc))
        raise DigestFailed(summary) from None
    logger.info("digest for %s sent (%s)", plan.window.date, result.message_id)
    return await finish(files, "sent", None)
