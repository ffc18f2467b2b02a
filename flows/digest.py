"""The digest flow: gather what matched since the last digest, render it, write it, send it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import acreate_markdown_artifact
from prefect.cache_policies import NO_CACHE

from newswatch import delivery
from newswatch.config import Config, load_config
from newswatch.mail import SmtpSettings
from newswatch.paths import resolve_db_path, resolve_out_dir
from newswatch.poll import utcnow


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


@task(name="gather-digest", retries=2, retry_delay_seconds=[2, 10], cache_policy=NO_CACHE)
def gather(
    db_path: Path, config: Config, on_date: date | None, for_sending: bool
) -> delivery.DigestPlan:
    return delivery.gather(db_path, config, now=utcnow(), on_date=on_date, for_sending=for_sending)


@task(name="render-digest", cache_policy=NO_CACHE)
def render(plan: delivery.DigestPlan, config: Config) -> delivery.RenderedDigest:
    return delivery.render(plan, config, utcnow())


@task(name="send-digest", cache_policy=NO_CACHE)
def send(
    db_path: Path,
    plan: delivery.DigestPlan,
    rendered: delivery.RenderedDigest,
    out_dir: Path,
    smtp: SmtpSettings,
) -> tuple[delivery.DeliveryResult, delivery.DigestFiles]:
    now = utcnow()
    message = delivery.compose(rendered, smtp, now)
    files = delivery.write_files(rendered, out_dir, plan.window.date, message)
    return delivery.deliver(db_path, plan, rendered, files, message, smtp, now), files


def _smtp_from_env() -> SmtpSettings:
    from newswatch.mail import smtp_settings_from_env

    settings = smtp_settings_from_env(os.environ)
    if settings is None:
        raise ValueError(
            "send_mail needs NEWSWATCH_SMTP_URL, NEWSWATCH_MAIL_FROM, NEWSWATCH_MAIL_TO"
        )
    return settings


@flow(name="newswatch-digest")
async def digest_flow(
    sources: str | None = None,
    db: str | None = None,
    on_date: date | None = None,
    out: str | None = None,
    send_mail: bool = False,
    force: bool = False,
    smtp: SmtpSettings | None = None,
) -> DigestSummary:
    logger = get_run_logger()
    if send_mail and smtp is None:
        # Scheduled runs (newswatch serve, prefect deploy) read SMTP settings from the
        # environment of the process running them: a password is never a stored parameter.
        smtp = _smtp_from_env()
    config = load_config(sources)
    db_path = resolve_db_path(db)
    out_dir = resolve_out_dir(out)
    plan = gather(db_path, config, on_date, send_mail)
    for warning in plan.warnings:
        logger.warning(warning)
    rendered = render(plan, config)

    def summary(files: delivery.DigestFiles, status: str, message: str | None) -> DigestSummary:
        return DigestSummary(
            date=plan.window.date,
            subject=rendered.subject,
            stories=rendered.digest.story_count,
            articles=len(plan.items),
            files=files,
            status=status,
            message=message,
            warnings=tuple(plan.warnings),
        )

    if send_mail and plan.already_delivered is not None and not force:
        files = delivery.write_files(rendered, out_dir, plan.window.date, None)
        done = plan.already_delivered
        skipped = (
            f"the digest for {plan.window.date} was already sent (message {done.message_id}); "
            "not sending again (use --force to send anyway)"
        )
        logger.info(skipped)
        return summary(files, "skipped", skipped)
    status: str
    message: str | None
    if send_mail:
        assert smtp is not None
        result, files = send(db_path, plan, rendered, out_dir, smtp)
        status, message = result.status, result.error
    else:
        files = delivery.write_files(
            rendered, out_dir, plan.window.date, delivery.draft_message(rendered, utcnow())
        )
        status, message = "rendered", None
        if db_path.exists():
            delivery.record_rendered(db_path, plan, rendered, files, utcnow())
    await acreate_markdown_artifact(
        key="newswatch-digest",
        markdown=(
            f"# {rendered.subject}\n\nStatus: **{status}**{f' — {message}' if message else ''}\n\n"
            f"Window: {plan.window.start:%Y-%m-%d %H:%M} → {plan.window.end:%Y-%m-%d %H:%M} UTC\n\n"
            f"Stories: {rendered.digest.story_count}, articles: {len(plan.items)}\n\n"
            f"Files: `{files.html}`, `{files.text}`"
        ),
        description=f"Digest for {plan.window.date}",
    )
    return summary(files, status, message)
