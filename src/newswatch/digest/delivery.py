"""The stages of a digest run: plan the window, gather, render, write files, send exactly once.

Windows are over the time poll batches were merged into the warehouse (`polls.stored_at`),
from just after `start` up to and including `end`:
- the digest of a day covers everything stored since the last delivered digest ended, up to
  the latest stored poll (never "now": a batch still being merged carries an earlier time
  than its commit, and would fall between two digests);
- with no digest delivered yet, it starts at the earliest failed digest's start, so a first
  send that failed is carried into the next one; with no digest at all, at local midnight;
- a day whose digest was delivered (`sent`, or `unknown` after an interrupted send) keeps
  that digest: a second send is skipped, `--force` sends the same window again, and a
  render-only run shows what was sent instead of overwriting its files.

Delivery: a digest is recorded as `sending` (committed) before the SMTP transaction and
`sent` after; a failure (any exception) is recorded as `failed` and carried into the next
run. A run that finds a `sending` row (the process died mid-send, the server may have the
message) marks it `unknown` and treats it as delivered, with a warning: we choose
at-most-once, because a duplicate mail is noise users learn to distrust, while the warning
and `--force` let a person resend the rare lost one.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from zoneinfo import ZoneInfo

from newswatch import resources
from newswatch.config import Config
from newswatch.digest import mail
from newswatch.digest.build import (
    below_min_relevance,
    build_digest,
    drop_below_min_relevance,
    fit_for_mail,
)
from newswatch.digest.cluster import assign_clusters
from newswatch.digest.headline import subject
from newswatch.digest.mail import Refusal, SmtpSettings, build_message, send_message
from newswatch.digest.model import Digest, DigestItem
from newswatch.digest.render import render_html, render_text
from newswatch.errors import MailError, SendFailed
from newswatch.models import FeedHealth
from newswatch.orchestrate.health import health_at, read_health
from newswatch.orchestrate.schedule import resolve_timezone
from newswatch.store import warehouse

DELIVERED = ("sent", "unknown")


@dataclass(frozen=True)
class DigestWindow:
    start: datetime  # exclusive, UTC
    end: datetime  # inclusive, UTC
    date: date  # the local day the digest is for
    timezone: str
    # first: since local midnight, nothing sent before; since_last: since the last delivered
    # digest; carried: since a failed first send; day: an explicit past day; delivered: the
    # window of the digest already delivered for this day
    basis: str


def local_midnight(day: date, timezone: str) -> datetime:
    """The first instant of a local day, in UTC (days are 23 or 25 hours across DST)."""
    return datetime.combine(day, time(0), ZoneInfo(timezone)).astimezone(UTC)


def plan_window(
    *,
    now: datetime,
    timezone: str,
    on_date: date | None,
    history: Sequence[warehouse.DigestRecord],
    stored_up_to: datetime | None,
) -> tuple[DigestWindow, warehouse.DigestRecord | None]:
    """Which articles a digest covers (pure), and the digest already delivered for that day.

    `history`: digests sent or tried (any status but render-only); `stored_up_to`: when the
    latest poll batch was merged (None: never).
    """
    today = now.astimezone(ZoneInfo(timezone)).date()
    day = on_date or today
    delivered = sorted(
        (r for r in history if r.status in DELIVERED), key=lambda r: r.window_end, reverse=True
    )
    # The day's first delivery: a later `--send --force --to colleague` resend is not the
    # digest the day's readers got.
    same_day = min(
        (r for r in delivered if r.digest_date == day),
        key=lambda r: (r.sent_at or r.created_at or r.window_end, r.id),
        default=None,
    )
    if same_day is not None:
        window = DigestWindow(
            same_day.window_start, same_day.window_end, day, timezone, "delivered"
        )
        return window, same_day
    midnight = local_midnight(day, timezone)
    # Only what is committed: nothing stored means an empty window. (Not capped at `now`: a
    # clock set back must not hold stored articles out of the digest.)
    data_end = stored_up_to
    if day != today:
        end = local_midnight(day + timedelta(days=1), timezone)
        end = min(end, data_end) if data_end is not None else midnight
        return DigestWindow(midnight, max(midnight, end), day, timezone, "day"), None
    failed = [r for r in history if r.status == "failed"]
    if delivered:
        start, basis = delivered[0].window_end, "since_last"
    elif failed:
        start, basis = min(midnight, *(r.window_start for r in failed)), "carried"
    else:
        start, basis = midnight, "first"
    end = max(start, data_end) if data_end is not None else start
    return DigestWindow(start, end, day, timezone, basis), None


@dataclass
class DigestPlan:
    window: DigestWindow
    items: list[DigestItem]
    feed_health: list[FeedHealth]
    volume: dict[str, list[tuple[date, int]]]
    already_delivered: warehouse.DigestRecord | None = None
    warnings: list[str] = field(default_factory=list)
    # Matched articles stored in the window but published more than max_age_days earlier.
    too_old: int = 0
    max_age_days: int = 0
    # Matched articles stored after the delivered digest shown (they wait for the next one).
    waiting: int = 0
    # Per topic: matches scored under its min_relevance, left out of the digest.
    below_min: dict[str, int] = field(default_factory=dict)


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
    max_age = config.digest.max_age_days
    if not db_path.exists():
        window, _ = plan_window(
            now=now, timezone=timezone, on_date=on_date, history=(), stored_up_to=None
        )
        health = read_health(config, None, now)
        empty = {t: _days(window.date, {}) for t in config.topic_names}
        return DigestPlan(window, [], health, empty, max_age_days=max_age)
    warnings: list[str] = []
    with warehouse.connect(db_path, wait_seconds=wait_seconds, read_only=not for_sending) as con:
        if for_sending:
            for rec in warehouse.digests_with_status(con, "sending"):
                warehouse.update_digest(con, rec.id, status="unknown")
                warnings.append(
                    f"digest {rec.id} ({rec.digest_date}) was interrupted while sending; assuming it "
                    "was delivered (at-most-once). Use --force to send that window again "
                    f"(newswatch digest --send --force --date {rec.digest_date})."
                )
        window, same_day = plan_window(
            now=now,
            timezone=timezone,
            on_date=on_date,
            history=warehouse.digest_history(con),
            stored_up_to=warehouse.last_stored_at(con),
        )
        rows = warehouse.matched_articles_stored(con, window.start, window.end)
        waiting = 0
        if same_day is not None:
            last = warehouse.last_stored_at(con)
            if last is not None and last > window.end:
                waiting = len(warehouse.matched_articles_stored(con, window.end, last))
        volume_raw = warehouse.topic_volume(
            con,
            timezone,
            window.date - timedelta(days=6),
            window.date,
            config.matcher.min_relevance,
        )
        if window.date < now.astimezone(ZoneInfo(timezone)).date():
            # A past day's digest shows its feeds as they were when its window ended.
            health = health_at(config, warehouse.last_fetches_before(con, window.end))
        else:
            health = read_health(config, con, now)
    oldest = window.start - timedelta(days=max_age) if max_age else None
    kept = [r for r in rows if oldest is None or r[0].published_at >= oldest]
    clustered = _clustered(kept)
    below_min = below_min_relevance(clustered, config.matcher.min_relevance)
    items = drop_below_min_relevance(clustered, config.matcher.min_relevance)
    volume = {t: _days(window.date, volume_raw.get(t, {})) for t in config.topic_names}
    return DigestPlan(
        window,
        items,
        health,
        volume,
        same_day,
        warnings,
        too_old=len(rows) - len(kept),
        below_min=below_min,
        max_age_days=max_age,
        waiting=waiting,
    )


def _clustered(rows: Sequence[warehouse.MatchedRow]) -> list[DigestItem]:
    """DigestItems with their stored story clusters. Clusters are recomputed after each
    poll's merge; an article stored but not clustered yet (the digest ran in between) would
    stand alone, so then the window's articles are clustered here instead."""
    if any(cluster is None for _, _, cluster in rows):
        clusters = assign_clusters([a for a, _, _ in rows])
        return [DigestItem(a, m, clusters.get(a.id, a.id)) for a, m, _ in rows]
    return [DigestItem(a, m, c or a.id) for a, m, c in rows]


def _days(last: date, counts: dict[date, int]) -> list[tuple[date, int]]:
    return [(d, counts.get(d, 0)) for d in (last - timedelta(days=i) for i in range(6, -1, -1))]


@dataclass(frozen=True)
class RenderedDigest:
    digest: Digest
    subject: str
    html: str
    text: str
    unsubscribe_url: str | None = None
    unsubscribe_mailto: str | None = None

    def list_headers(self, sender: str) -> dict[str, str]:
        return mail.list_headers(
            sender,
            self.digest.title,
            unsubscribe_mailto=self.unsubscribe_mailto,
            unsubscribe_url=self.unsubscribe_url,
        )


def render(plan: DigestPlan, config: Config, now: datetime) -> RenderedDigest:
    # Rank by the words that name each topic, not the context its rules required
    # ("military" beside "Turkey"); highlight those and both sides of a NEAR (which side
    # names the topic is a guess), not an AND's context ("Trump" beside "NATO").
    items = [
        DigestItem(
            i.article,
            tuple(config.matcher.naming_hits(m) for m in i.matches),
            i.cluster_id,
            highlights=tuple(h for m in i.matches for h in config.matcher.highlight_hits(m).hits),
        )
        for i in plan.items
    ]
    digest = build_digest(
        items,
        topics=config.topic_names,
        window_start=plan.window.start,
        window_end=plan.window.end,
        generated_at=now,
        timezone=plan.window.timezone,
        feed_health=plan.feed_health,
        volume=plan.volume,
        settings=config.digest,
        too_old=plan.too_old,
        below_min=plan.below_min,
        day=plan.window.date,
    )
    templates = resources.templates_dir()
    # The HTML stays under Gmail's clipping (fewer stories in full if need be, said at its
    # top); the plain text keeps every story. `html_max_bytes: 0` sets no limit.
    budget = config.digest.html_max_bytes
    fitted, html = fit_for_mail(
        digest,
        lambda d: render_html(d, templates),
        mail.html_part_bytes,
        budget if budget > 0 else sys.maxsize,
    )
    return RenderedDigest(
        fitted,
        subject(digest),
        html,
        render_text(digest, templates),
        unsubscribe_url=config.digest.unsubscribe_url,
        unsubscribe_mailto=config.digest.unsubscribe_mailto,
    )


@dataclass(frozen=True)
class DigestFiles:
    html: Path
    text: Path
    eml: Path | None
    kept: bool = False  # the files of a delivered digest, as sent (this run wrote nothing)


def digest_stem(out_dir: Path, on: date, tag: str = "") -> Path:
    return out_dir / f"digest-{on.isoformat()}{f'-{tag}' if tag else ''}"


def write_files(
    rendered: RenderedDigest,
    out_dir: Path,
    on: date,
    message: EmailMessage | None,
    tag: str = "",
) -> DigestFiles:
    """Write digest-DATE.html/.txt (and .eml); with a `tag`, digest-DATE-TAG.* (a forced
    resend's own files: a delivered day's files are never written again, see
    `sent_files`)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = digest_stem(out_dir, on, tag)
    n = 1
    while tag and any(stem.with_suffix(s).exists() for s in (".html", ".txt", ".eml")):
        n += 1  # two resends in one second keep their own files too
        stem = digest_stem(out_dir, on, f"{tag}-{n}")
    html = stem.with_suffix(".html")
    text = stem.with_suffix(".txt")
    eml = stem.with_suffix(".eml")
    for path, data in (
        (html, rendered.html.encode("utf-8")),
        (text, rendered.text.encode("utf-8")),
        (eml, bytes(message) if message is not None else None),
    ):
        if data is not None:
            path.write_bytes(data)
    return DigestFiles(html, text, eml if eml.exists() else None)


def sent_files(record: warehouse.DigestRecord, out_dir: Path, on: date) -> DigestFiles:
    """The files of a delivered digest, where its run wrote them (`digests.html_path`,
    `eml_path`); a digest recorded without them: where this run would write its own."""
    if record.html_path is None:
        stem = digest_stem(out_dir, on)
        return DigestFiles(stem.with_suffix(".html"), stem.with_suffix(".txt"), None, kept=True)
    html = Path(record.html_path)
    eml = Path(record.eml_path) if record.eml_path else None
    return DigestFiles(html, html.with_suffix(".txt"), eml, kept=True)


def compose(rendered: RenderedDigest, settings: SmtpSettings, now: datetime) -> EmailMessage:
    domain = settings.sender.rpartition("@")[2].rstrip(">") or "newswatch.local"
    return build_message(
        subject=rendered.subject,
        html=rendered.html,
        text=rendered.text,
        sender=settings.sender,
        recipients=settings.recipients,
        date=now,
        message_id=make_msgid("digest", domain=domain),
        headers=rendered.list_headers(settings.sender),
    )


def draft_message(
    rendered: RenderedDigest,
    now: datetime,
    recipients: Sequence[str] = (),
    sender: str = "newswatch@localhost",
) -> EmailMessage:
    """A complete .eml for a digest that is only rendered (no SMTP settings needed)."""
    domain = sender.rpartition("@")[2].rstrip(">") or "localhost"
    return build_message(
        subject=rendered.subject,
        html=rendered.html,
        text=rendered.text,
        sender=sender,
        recipients=list(recipients) or ["newswatch@localhost"],
        date=now,
        message_id=make_msgid("digest", domain=domain),
        headers=rendered.list_headers(sender),
    )


@dataclass(frozen=True)
class DeliveryResult:
    digest_id: str
    status: str  # sent | rendered
    message_id: str | None
    # Sent, but the server refused these recipients, or None.
    refused: Refusal | None = None


def new_digest_id() -> str:
    return uuid.uuid4().hex


def record_rendered(
    db_path: Path, plan: DigestPlan, rendered: RenderedDigest, files: DigestFiles, now: datetime
) -> DeliveryResult:
    digest_id = new_digest_id()
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
    *,
    digest_id: str | None = None,
) -> DeliveryResult:
    """Record `sending`, send, then record `sent`; on any failure record `failed` and raise
    SendFailed. A retry passes the same `digest_id`, so one digest stays one row."""
    digest_id = digest_id or new_digest_id()
    message_id = str(message["Message-ID"])
    with warehouse.connect(db_path) as con:
        if warehouse.digest_exists(con, digest_id):
            warehouse.update_digest(con, digest_id, status="sending", error=None)
        else:
            row = _row(
                digest_id, plan, rendered, files, now, "sending", message_id, settings.recipients
            )
            warehouse.insert_digest(con, **row)
    try:
        refused = send_message(message, settings)
    except Exception as exc:
        # Any exception we live to see means the send did not complete: failed, carried into
        # the next run. (Only a process that dies leaves `sending`, read as `unknown`.)
        error = str(exc) if isinstance(exc, MailError) else f"{type(exc).__name__}: {exc}"
        with warehouse.connect(db_path) as con:
            warehouse.update_digest(con, digest_id, status="failed", error=error)
        transient = isinstance(exc, MailError) and exc.transient
        raise SendFailed(digest_id, error, transient=transient) from exc
    with warehouse.connect(db_path) as con:
        # Refused recipients are kept in `error`; the digest is sent (the others have it).
        warehouse.update_digest(
            con,
            digest_id,
            status="sent",
            sent_at=datetime.now(UTC),
            error=refused.line if refused else None,
        )
    return DeliveryResult(digest_id, "sent", message_id, refused)


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
        "article_count": rendered.digest.article_count,
        "story_count": rendered.digest.story_count,
        "recipients": ", ".join(recipients) or None,
        "subject": rendered.subject,
        "status": status,
        "message_id": message_id,
        "created_at": now,
        "html_path": str(files.html),
        "eml_path": str(files.eml) if files.eml else None,
    }
