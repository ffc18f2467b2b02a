"""The stages of a digest run: plan the window, gather, render, write files, send exactly once.

Exactly once, in practice:
- the window starts where the last delivered digest ended, so a day whose send failed is
  carried into the next digest instead of being lost;
- a digest is recorded as `sending` (committed) before the SMTP transaction and `sent` after;
  a run that finds a `sending` row (a crash after SMTP may have accepted it) marks it
  `unknown` and treats it as delivered, with a warning: we choose at-most-once, because a
  duplicate mail is noise users learn to distrust, while the warning and `--force` let a
  person resend the rare lost one;
- a second run for the same local date does not send again unless forced.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from zoneinfo import ZoneInfo

from newswatch import resources, warehouse
from newswatch.config import Config
from newswatch.digest import Digest, DigestItem, build_digest, render_html, render_text, subject
from newswatch.health import feeds_health
from newswatch.mail import SmtpSettings, build_message, send_message
from newswatch.models import FeedHealth
from newswatch.schedule import resolve_timezone

DELIVERED = ("sent", "unknown")


@dataclass(frozen=True)
class DigestWindow:
    start: datetime
    end: datetime
    date: date
    timezone: str


def plan_window(
    *, now: datetime, timezone: str, on_date: date | None, last_delivered_end: datetime | None
) -> DigestWindow:
    """Which articles a digest covers (pure).

    An explicit date covers that local day. Otherwise: everything since the last delivered
    digest, or since local midnight when none was ever delivered.
    """
    tz = ZoneInfo(timezone)
    if on_date is not None:
        start = datetime.combine(on_date, time(0), tz).astimezone(UTC)
        end = min(datetime.combine(on_date + timedelta(days=1), time(0), tz).astimezone(UTC), now)
        return DigestWindow(start, max(start, end), on_date, timezone)
    today = now.astimezone(tz).date()
    midnight = datetime.combine(today, time(0), tz).astimezone(UTC)
    start = last_delivered_end if last_delivered_end is not None else midnight
    return DigestWindow(min(start, now), now, today, timezone)


@dataclass
class DigestPlan:
    window: DigestWindow
    items: list[DigestItem]
    feed_health: list[FeedHealth]
    volume: dict[str, list[tuple[date, int]]]
    already_delivered: warehouse.DigestRecord | None = None
    warnings: list[str] = field(default_factory=list)


def gather(
    db_path: Path,
    config: Config,
    *,
    now: datetime,
    on_date: date | None,
    for_sending: bool,
    wait_seconds: float = 30.0,
) -> DigestPlan:
    timezone = resolve_timezone(config.schedule.timezone).key
    if not db_path.exists():
        window = plan_window(now=now, timezone=timezone, on_date=on_date, last_delivered_end=None)
        health = feeds_health(config, None, now)
        return DigestPlan(
            window, [], health, {t: _days(window.date, {}) for t in config.topic_names}
        )
    warnings: list[str] = []
    with warehouse.connect(db_path, wait_seconds=wait_seconds, read_only=not for_sending) as con:
        if for_sending:
            for rec in warehouse.digests_with_status(con, "sending"):
                warehouse.update_digest(con, rec.id, status="unknown")
                warnings.append(
                    f"digest {rec.id} ({rec.digest_date}) was interrupted while sending; assuming it "
                    "was delivered (at-most-once). Use --force to send that window again."
                )
        delivered = warehouse.digests_with_status(con, *DELIVERED)
        last_end = delivered[0].window_end if delivered else None
        window = plan_window(
            now=now, timezone=timezone, on_date=on_date, last_delivered_end=last_end
        )
        same_day = next((d for d in delivered if d.digest_date == window.date), None)
        rows = warehouse.matched_articles_between(con, window.start, window.end)
        items = [DigestItem(a, m, c or a.id) for a, m, c in rows]
        volume_raw = warehouse.topic_volume(
            con, timezone, window.date - timedelta(days=6), window.date
        )
        health = feeds_health(config, con, now)
    volume = {t: _days(window.date, volume_raw.get(t, {})) for t in config.topic_names}
    return DigestPlan(window, items, health, volume, same_day, warnings)


def _days(last: date, counts: dict[date, int]) -> list[tuple[date, int]]:
    return [(d, counts.get(d, 0)) for d in (last - timedelta(days=i) for i in range(6, -1, -1))]


@dataclass(frozen=True)
class RenderedDigest:
    digest: Digest
    subject: str
    html: str
    text: str


def render(plan: DigestPlan, config: Config, now: datetime) -> RenderedDigest:
    digest = build_digest(
        plan.items,
        topics=config.topic_names,
        window_start=plan.window.start,
        window_end=plan.window.end,
        generated_at=now,
        timezone=plan.window.timezone,
        feed_health=plan.feed_health,
        volume=plan.volume,
        settings=config.digest,
    )
    templates = resources.templates_dir()
    return RenderedDigest(
        digest, subject(digest), render_html(digest, templates), render_text(digest, templates)
    )


@dataclass(frozen=True)
class DigestFiles:
    html: Path
    text: Path
    eml: Path | None


def write_files(
    rendered: RenderedDigest, out_dir: Path, on: date, message: EmailMessage | None
) -> DigestFiles:
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"digest-{on.isoformat()}"
    html = stem.with_suffix(".html")
    text = stem.with_suffix(".txt")
    html.write_text(rendered.html, encoding="utf-8")
    text.write_text(rendered.text, encoding="utf-8")
    eml = None
    if message is not None:
        eml = stem.with_suffix(".eml")
        eml.write_bytes(bytes(message))
    return DigestFiles(html, text, eml)


def compose(rendered: RenderedDigest, settings: SmtpSettings, now: datetime) -> EmailMessage:
    domain = settings.sender.rpartition("@")[2] or "newswatch.local"
    return build_message(
        subject=rendered.subject,
        html=rendered.html,
        text=rendered.text,
        sender=settings.sender,
        recipients=settings.recipients,
        date=now,
        message_id=make_msgid("digest", domain=domain),
    )


def draft_message(
    rendered: RenderedDigest, now: datetime, recipients: Sequence[str] = ()
) -> EmailMessage:
    """A complete .eml for a digest that is only rendered (no SMTP settings needed)."""
    return build_message(
        subject=rendered.subject,
        html=rendered.html,
        text=rendered.text,
        sender="newswatch@localhost",
        recipients=list(recipients) or ["newswatch@localhost"],
        date=now,
        message_id=make_msgid("digest", domain="localhost"),
    )


@dataclass(frozen=True)
class DeliveryResult:
    digest_id: str
    status: str  # sent | failed | rendered
    message_id: str | None
    error: str | None = None


def record_rendered(
    db_path: Path, plan: DigestPlan, rendered: RenderedDigest, files: DigestFiles, now: datetime
) -> DeliveryResult:
    digest_id = uuid.uuid4().hex
    with warehouse.connect(db_path) as con:
        warehouse.insert_digest(
            con, **_row(digest_id, plan, rendered, files, now, "rendered", None, ())
        )
    return DeliveryResult(digest_id, "rendered", None)


def deliver(
    db_path: Path,
    plan: DigestPlan,
    rendered: RenderedDigest,
    files: DigestFiles,
    message: EmailMessage,
    settings: SmtpSettings,
    now: datetime,
) -> DeliveryResult:
    """Record `sending`, send, then record `sent` or `failed` (never `sent` on failure)."""
    from newswatch.mail import MailError

    digest_id = uuid.uuid4().hex
    message_id = str(message["Message-ID"])
    with warehouse.connect(db_path) as con:
        warehouse.insert_digest(
            con,
            **_row(
                digest_id, plan, rendered, files, now, "sending", message_id, settings.recipients
            ),
        )
    try:
        send_message(message, settings)
    except MailError as exc:
        with warehouse.connect(db_path) as con:
            warehouse.update_digest(con, digest_id, status="failed", error=str(exc))
        return DeliveryResult(digest_id, "failed", message_id, str(exc))
    with warehouse.connect(db_path) as con:
        warehouse.update_digest(con, digest_id, status="sent", sent_at=datetime.now(UTC))
    return DeliveryResult(digest_id, "sent", message_id)


def _row(
    digest_id: str,
    plan: DigestPlan,
    rendered: RenderedDigest,
    files: DigestFiles,
    now: datetime,
    status: str,
    message_id: str | None,
    recipients: Sequence[str],
) -> dict[str, object]:
    return {
        "id": digest_id,
        "digest_date": plan.window.date,
        "timezone": plan.window.timezone,
        "window_start": plan.window.start,
        "window_end": plan.window.end,
        "article_count": len(plan.items),
        "story_count": rendered.digest.story_count,
        "recipients": ", ".join(recipients) or None,
        "subject": rendered.subject,
        "status": status,
        "message_id": message_id,
        "created_at": now,
        "html_path": str(files.html),
        "eml_path": str(files.eml) if files.eml else None,
    }
