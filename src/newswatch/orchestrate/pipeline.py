"""The pipeline as plain functions: a poll, a digest (render, write, deliver), and the decisions
between their steps. Nothing here imports Prefect.

`newswatch poll|digest|run` call `run_poll` / `run_digest` directly when no Prefect server is
reachable; `flows/` wraps the same functions in Prefect flows, passing its tasks in as the
steps (`PollSteps`, `DigestSteps`), so a flow run does exactly what an in-process run does and
Prefect adds names, retries, task runs and artifacts around it.

A digest needs none of the poll's modules (HTTP, feed parsing, page extraction): they are
imported when a poll runs, so `newswatch digest` does not pay for them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from newswatch.clock import utc_now
from newswatch.config import Config
from newswatch.digest import delivery, timefmt
from newswatch.digest.headline import count_line
from newswatch.digest.mail import SmtpSettings, draft_addresses, smtp_settings
from newswatch.errors import (
    DigestFailed,
    MailConfigError,
    SendFailed,
    WarehouseError,
    WarehouseLocked,
)
from newswatch.models import FeedSource, FeedState
from newswatch.orchestrate import shards
from newswatch.orchestrate.locks import poll_lock, send_lock, wait_for_poll
from newswatch.orchestrate.schedule import resolve_timezone
from newswatch.store import spool, warehouse

if TYPE_CHECKING:
    from newswatch.fetch.pages import PageStepResult
    from newswatch.orchestrate import poll

    Collect = Callable[
        [Config, list[FeedSource], dict[str, FeedState], Path, str, bool, "FeedDone | None"],
        Awaitable[list[poll.BatchResult]],
    ]

log = logging.getLogger("newswatch.pipeline")
log.addHandler(logging.NullHandler())  # the CLI prints summaries; flows pass their run logger

Logger = logging.Logger | logging.LoggerAdapter[Any]
Clock = Callable[[], datetime]
FeedDone = Callable[["poll.FeedReport"], None]
T = TypeVar("T")


# Transient failures are tried again after these delays (seconds): the flows declare them as
# their tasks' retries, the in-process path waits the same.
READ_STATE_RETRY_DELAYS: list[float] = [1.0, 5.0]
STORE_RETRY_DELAYS: list[float] = [2.0, 5.0, 15.0]
REFRESH_RETRY_DELAYS: list[float] = [2.0, 10.0]
GATHER_RETRY_DELAYS: list[float] = [2.0, 10.0]
# Transient SMTP failures (4xx, dropped connections).
SEND_RETRY_DELAYS: list[float] = [2.0, 15.0]


# -- results ------------------------------------------------------------------------------


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
    # url -> (new articles, new topic matches) stored by this poll.
    new_by_feed: dict[str, tuple[int, int]] = field(default_factory=dict)
    # The article-page step (feeds with `fetch_article`); all zero when none asks for pages.
    pages: PageStepResult | None = None

    def count(self, *outcomes: str) -> int:
        return sum(1 for r in self.reports if r.outcome in outcomes)


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
    # send_s, flow_s (the pipeline's own time, without a command's start-up around it).
    timings: dict[str, float] = field(default_factory=dict)
    window: delivery.DigestWindow | None = None
    topic_counts: str = ""
    # Sent, but not to these recipients (the server refused them).
    refused: tuple[str, ...] = ()


# -- retries for the in-process path --------------------------------------------------------


def warehouse_retryable(exc: BaseException) -> bool:
    """Worth trying again unless the warehouse itself is unusable (not a DuckDB file, a newer
    schema, an unwritable folder): retrying those only repeats the error, slower."""
    return not (isinstance(exc, WarehouseError) and not isinstance(exc, WarehouseLocked))


def send_retryable(exc: BaseException) -> bool:
    """A send is tried again only when the server may take it later and nobody has it yet."""
    return isinstance(exc, SendFailed) and exc.transient


async def retrying_async(
    call: Callable[[], Awaitable[T]],
    delays: Sequence[float],
    retryable: Callable[[BaseException], bool],
) -> T:
    for delay in [*delays, None]:
        try:
            return await call()
        except Exception as exc:
            if delay is None or not retryable(exc):
                raise
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")


def retrying(
    call: Callable[[], T],
    delays: Sequence[float],
    retryable: Callable[[BaseException], bool],
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    for delay in [*delays, None]:
        try:
            return call()
        except Exception as exc:
            if delay is None or not retryable(exc):
                raise
            sleep(delay)
    raise AssertionError("unreachable")


# -- poll ---------------------------------------------------------------------------------


def read_state(db_path: Path) -> poll.StateRead:
    """What we remember per feed; an unusable warehouse fails here, before any fetch."""
    from newswatch.orchestrate import poll

    warehouse.check_usable(db_path)
    return poll.read_states(db_path)


def store(db_path: Path, spool_dir: Path) -> poll.StoreResult:
    from newswatch.orchestrate import poll

    return poll.store(db_path, spool_dir)


async def fetch_pages(config: Config, db_path: Path, poll_id: str) -> PageStepResult:
    """The linked pages of new entries of feeds with `fetch_article`, once they are stored."""
    from newswatch.fetch import pages

    return await pages.fetch_article_pages(config, db_path, poll_id)


def refresh(db_path: Path, retention_days: float | None, changed: bool) -> int:
    from newswatch.orchestrate import poll

    return poll.refresh(db_path, retention_days=retention_days, changed=changed)


async def collect(
    config: Config,
    feeds: list[FeedSource],
    states: dict[str, FeedState],
    spool_dir: Path,
    poll_id: str,
    due_only: bool,
    on_feed_done: FeedDone | None,
) -> list[poll.BatchResult]:
    """Every feed in one batch, in this process or (many feeds) its shard processes."""
    from newswatch.orchestrate import poll

    return [
        await poll.collect_batch(
            config,
            feeds,
            states,
            spool_dir=spool_dir,
            poll_id=poll_id,
            label="b0",
            due_only=due_only,
            on_feed_done=on_feed_done,
        )
    ]


@dataclass(frozen=True)
class PollSteps:
    """The steps a poll runs, each awaited: plain (in-process, retried here) by default; the
    poll flow passes its Prefect tasks instead."""

    read_state: Callable[[Path], Awaitable[poll.StateRead]]
    collect: Collect
    store: Callable[[Path, Path], Awaitable[poll.StoreResult]]
    fetch_pages: Callable[[Config, Path, str], Awaitable[PageStepResult]]
    refresh: Callable[[Path, float | None, bool], Awaitable[int]]
    # Whether `collect` may run shard processes (their fork server is started ahead).
    shards: bool = True


async def _read_state_plain(db_path: Path) -> poll.StateRead:
    return await retrying_async(
        lambda: asyncio.to_thread(read_state, db_path), READ_STATE_RETRY_DELAYS, warehouse_retryable
    )


async def _store_plain(db_path: Path, spool_dir: Path) -> poll.StoreResult:
    return await retrying_async(
        lambda: asyncio.to_thread(store, db_path, spool_dir),
        STORE_RETRY_DELAYS,
        warehouse_retryable,
    )


async def _refresh_plain(db_path: Path, retention_days: float | None, changed: bool) -> int:
    return await retrying_async(
        lambda: asyncio.to_thread(refresh, db_path, retention_days, changed),
        REFRESH_RETRY_DELAYS,
        warehouse_retryable,
    )


PLAIN_POLL_STEPS = PollSteps(
    read_state=_read_state_plain,
    collect=collect,
    store=_store_plain,
    fetch_pages=fetch_pages,
    refresh=_refresh_plain,
)


@dataclass(frozen=True)
class PollSelection:
    """Which feeds this poll fetches, and which it leaves alone while they back off."""

    feeds: list[FeedSource]
    held: dict[str, tuple[int, datetime]]
    held_reports: list[poll.FeedReport]


def select_feeds(
    config: Config,
    states: dict[str, FeedState],
    now: datetime,
    *,
    due_only: bool,
    poll_all: bool,
) -> PollSelection:
    """due_only (scheduled runs): every feed goes to the batch, which polls only the due ones.
    Otherwise (a poll by hand) every enabled feed, except failing ones still backing off
    (their server asked for a pause, or backoff says wait) - unless poll_all."""
    from newswatch.orchestrate import poll

    held = {} if due_only or poll_all else poll.held_back_feeds(config, states, now)
    reports = [poll.held_back_report(f, *held[f.url]) for f in config.feeds if f.url in held]
    return PollSelection([f for f in config.feeds if f.url not in held], held, reports)


def new_by_feed(stored: poll.StoreResult) -> dict[str, tuple[int, int]]:
    counts: dict[str, tuple[int, int]] = {}
    for merged in stored.merged:
        for url, (articles, matches) in merged.by_feed.items():
            before = counts.get(url, (0, 0))
            counts[url] = (before[0] + articles, before[1] + matches)
    return counts


async def run_poll(
    config: Config,
    db_path: Path,
    *,
    due_only: bool = False,
    poll_all: bool = False,
    on_feed_done: FeedDone | None = None,
    steps: PollSteps = PLAIN_POLL_STEPS,
    logger: Logger = log,
    clock: Clock = utc_now,
) -> PollSummary:
    """Poll the feeds of `config` into the warehouse `db_path`: read the feeds' state, fetch,
    parse and match (staged on disk), store, fetch the linked pages of new entries (feeds with
    `fetch_article`), refresh clusters and the search index."""
    from newswatch.orchestrate import poll

    flow_start = time.monotonic()
    if steps.shards:
        shards.warm_up_shard_processes(len(config.feeds), config.path)
    spool_dir = poll.spool_root(db_path)
    started = clock()
    poll_id = spool.new_poll_id(started)
    with poll_lock(db_path):
        spool.discard_incomplete(spool_dir)
        state = await steps.read_state(db_path)
        if state.warning:
            logger.warning(state.warning)
        chosen = select_feeds(config, state.states, started, due_only=due_only, poll_all=poll_all)
        if on_feed_done is not None:
            for report in chosen.held_reports:
                on_feed_done(report)
        batches = await steps.collect(
            config, chosen.feeds, state.states, spool_dir, poll_id, due_only, on_feed_done
        )
        manifest = poll.finish_poll(
            spool_dir,
            poll_id,
            started,
            clock(),
            batches,
            feed_tags={f.url: f.tags for f in config.feeds},
        )
        stored = await steps.store(db_path, spool_dir)
        if stored.message:
            logger.warning(stored.message)
        # Pages of new entries of feeds with `fetch_article`, after their entries are stored.
        pages = await steps.fetch_pages(config, db_path, poll_id)
        if pages.message:
            logger.warning(pages.message)
        refresh_start = time.monotonic()
        # Matches are stored only with new articles or with the text of their pages, so
        # neither means nothing changed; batches left spooled (a locked warehouse) are merged
        # and clustered by the next poll.
        changed = stored.new_articles > 0 or pages.extracted > 0
        clusters = (
            await steps.refresh(db_path, config.retention_days, changed)
            if not stored.waiting
            else 0
        )
        refresh_s = time.monotonic() - refresh_start
    reports = [r for b in batches for r in b.reports] + chosen.held_reports
    summary = PollSummary(
        poll_id=poll_id,
        reports=tuple(reports),
        timings={
            **manifest.timings,
            "store_s": round(stored.seconds, 3),
            **({"pages_s": round(pages.seconds, 3)} if pages.seconds else {}),
            "refresh_s": round(refresh_s, 3),
        },
        new_articles=stored.new_articles,
        new_matches=stored.new_matches,
        clusters=clusters,
        store_message=stored.message,
        state_warning=state.warning,
        waiting_batches=stored.waiting,
        held_back=chosen.held,
        new_by_feed=new_by_feed(stored),
        pages=pages,
    )
    logger.info(
        "poll %s: %d feeds, %d failed, %d skipped; %d new articles, %d new matches",
        poll_id,
        len(reports),
        summary.count("error"),
        summary.count("skipped"),
        summary.new_articles,
        summary.new_matches,
    )
    summary.timings["flow_s"] = round(time.monotonic() - flow_start, 3)
    return summary


def poll_table(summary: PollSummary) -> list[dict[str, Any]]:
    """One row per feed: what the poll flow publishes as its table artifact."""
    return [
        {
            "feed": r.name,
            "url": r.url,
            "outcome": r.outcome,
            "http": r.http_status,
            "entries": r.entries,
            "new_articles": summary.new_by_feed.get(r.url, (0, 0))[0],
            "new_matches": summary.new_by_feed.get(r.url, (0, 0))[1],
            "error": r.error or "",
        }
        for r in summary.reports
    ]


def failed_feed_lines(summary: PollSummary) -> list[str]:
    """One line per failed feed, for a run's log (the terminal has the summary table)."""
    return [
        f"feed {r.name} failed: {r.error} ({r.url})"
        for r in summary.reports
        if r.outcome == "error"
    ]


def poll_description(summary: PollSummary) -> str:
    matches = summary.new_matches
    return (
        f"Poll {summary.poll_id}: {_plural(summary.new_articles, 'new article')}, {matches} new "
        f"topic match{'es' if matches != 1 else ''}, {_plural(summary.count('error'), 'failed feed')}"
    )


# -- digest -------------------------------------------------------------------------------


def resolve_smtp(to: Sequence[str] | None) -> SmtpSettings:
    """SMTP settings of this process: NEWSWATCH_SMTP_URL or the NEWSWATCH_SMTP_BLOCK block."""
    settings = smtp_settings(os.environ, recipients_override=to or ())
    if settings is None:
        raise MailConfigError(
            "sending needs NEWSWATCH_SMTP_URL or NEWSWATCH_SMTP_BLOCK (plus NEWSWATCH_MAIL_TO) "
            "in the environment of the process that runs the digest"
        )
    return settings


@dataclass(frozen=True)
class DeliveryDecision:
    """What a digest run does with the day's rendered digest.

    keep:   a digest of this window was delivered already; nothing is written (a render now
            would differ from what was sent when rules or articles changed since): the run
            reports the files that were sent, where they were written (and, when sending was
            asked for, the run is `skipped`)
    render: write the files and record the digest as rendered (nothing is sent)
    send:   write the files and the message, record `sending`, send, record the outcome
    """

    action: Literal["keep", "render", "send"]
    status: str  # the status the run ends with unless the send fails: rendered|skipped|sent
    notes: tuple[str, ...] = ()
    message: str | None = None


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def decide_delivery(
    plan: delivery.DigestPlan, *, send: bool, force: bool, now: datetime
) -> DeliveryDecision:
    """The sent / --force / send decision, from the digest's state and the clock."""
    notes: list[str] = []
    if plan.too_old:
        notes.append(
            f"{_plural(plan.too_old, 'matched article')} published more than "
            f"{plan.max_age_days} days before the window left out (digest.max_age_days)"
        )
    done = plan.already_delivered
    if done is not None and not (send and force):
        sent_at = done.sent_at or done.created_at
        when = ""
        if sent_at:
            zone = resolve_timezone(plan.window.timezone)
            when = f" at {timefmt.local(sent_at, zone)} ({timefmt.zone_label(zone, sent_at)})"
        if sent_at and sent_at > now:
            when += " (later than this machine's clock says it is now)"
        what = "was sent" if done.status == "sent" else "was probably sent (interrupted)"
        notes.append(
            f"the digest for {plan.window.date} {what}{when} (message {done.message_id}); "
            "nothing was written: the files named here are the ones sent, as they were"
        )
        if plan.waiting:
            notes.append(
                f"{_plural(plan.waiting, 'matched article')} stored since then will be in the "
                "next digest"
            )
        if send:
            skipped = (
                f"the digest for {plan.window.date} was already sent (message {done.message_id}); "
                "not sending again (use --force to send the same digest again)"
            )
            return DeliveryDecision("keep", "skipped", tuple(notes), skipped)
        return DeliveryDecision("keep", "rendered", tuple(notes))
    if not send:
        return DeliveryDecision("render", "rendered", tuple(notes))
    return DeliveryDecision("send", "sent", tuple(notes))


@dataclass(frozen=True)
class DigestSteps:
    """The digest's steps that Prefect runs as tasks: plain (sends retried here) by default."""

    gather: Callable[[Path, Config, date | None, bool], delivery.DigestPlan]
    render: Callable[[delivery.DigestPlan, Config], delivery.RenderedDigest]
    send: Callable[..., delivery.DeliveryResult]


def gather(
    db_path: Path, config: Config, on_date: date | None, for_sending: bool
) -> delivery.DigestPlan:
    return delivery.gather(db_path, config, now=utc_now(), on_date=on_date, for_sending=for_sending)


def render(plan: delivery.DigestPlan, config: Config) -> delivery.RenderedDigest:
    return delivery.render(plan, config, utc_now())


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
        db_path, plan, rendered, files, message, smtp, utc_now(), digest_id=digest_id
    )


def _gather_plain(
    db_path: Path, config: Config, on_date: date | None, for_sending: bool
) -> delivery.DigestPlan:
    return retrying(
        lambda: gather(db_path, config, on_date, for_sending),
        GATHER_RETRY_DELAYS,
        warehouse_retryable,
    )


def _send_plain(*args: Any) -> delivery.DeliveryResult:
    return retrying(lambda: send(*args), SEND_RETRY_DELAYS, send_retryable)


PLAIN_DIGEST_STEPS = DigestSteps(gather=_gather_plain, render=render, send=_send_plain)


# A digest that starts while a poll of its warehouse runs waits this long for it to finish.
POLL_WAIT_SECONDS = 300.0


def poll_wait_note(db_path: Path) -> str:
    """What a digest says when it waits for a running poll (the CLI prints it, a flow logs it)."""
    return (
        f"a poll of {db_path} is running: waiting for it to finish (up to "
        f"{round(POLL_WAIT_SECONDS / 60)} minutes), so its articles are in this digest"
    )


def run_digest(
    config: Config,
    db_path: Path,
    out_dir: Path,
    *,
    on_date: date | None = None,
    send_mail: bool = False,
    force: bool = False,
    to: Sequence[str] | None = None,
    steps: DigestSteps = PLAIN_DIGEST_STEPS,
    logger: Logger = log,
    clock: Clock = utc_now,
) -> DigestSummary:
    """Gather what was stored since the last digest, render it, write it, send it.

    A failed send is recorded as `failed` and raises DigestFailed (with the summary). A
    send holds the warehouse's send lock from reading what was sent to recording the send,
    so two at once send once (`locks.send_lock`).
    """
    args = (config, db_path, out_dir, on_date, send_mail, force, to, steps, logger, clock)
    if not send_mail:
        return _run_digest(*args)
    with send_lock(db_path):
        return _run_digest(*args)


def _run_digest(
    config: Config,
    db_path: Path,
    out_dir: Path,
    on_date: date | None,
    send_mail: bool,
    force: bool,
    to: Sequence[str] | None,
    steps: DigestSteps,
    logger: Logger,
    clock: Clock,
) -> DigestSummary:
    flow_start = time.monotonic()
    timings: dict[str, float] = {}
    # SMTP settings (a password) are never a parameter: Prefect stores parameters. They are
    # resolved here, from the environment or the Secret block, by every caller alike.
    try:
        smtp = resolve_smtp(to) if send_mail else None
    except MailConfigError as exc:
        logger.error("cannot send the digest: %s", exc)
        raise
    stage_start = time.monotonic()

    def stage_done(name: str) -> None:
        nonlocal stage_start
        now = time.monotonic()
        timings[name] = round(timings.get(name, 0.0) + now - stage_start, 3)
        stage_start = now

    if on_date is None:
        wait_for_poll(
            db_path, POLL_WAIT_SECONDS, on_wait=lambda: logger.info(poll_wait_note(db_path))
        )
    plan = steps.gather(db_path, config, on_date, send_mail)
    stage_done("gather_s")
    for warning in plan.warnings:
        logger.warning(warning)
    rendered = steps.render(plan, config)
    stage_done("render_s")
    decision = decide_delivery(plan, send=send_mail, force=force, now=clock())

    def finish(files: delivery.DigestFiles, status: str, message: str | None) -> DigestSummary:
        stage_done("send_s" if status in ("sent", "failed") else "write_s")
        timings["flow_s"] = round(time.monotonic() - flow_start, 3)
        return DigestSummary(
            date=plan.window.date,
            subject=rendered.subject,
            stories=rendered.digest.story_count,
            articles=rendered.digest.article_count,
            files=files,
            status=status,
            message=message,
            warnings=tuple(plan.warnings),
            notes=decision.notes,
            timings=dict(timings),
            window=plan.window,
            topic_counts=count_line(rendered.digest),
        )

    if decision.action == "keep":
        assert plan.already_delivered is not None
        files = delivery.sent_files(plan.already_delivered, out_dir, plan.window.date)
        if decision.message:
            logger.info(decision.message)
        return finish(files, decision.status, decision.message)
    sender, draft_to = draft_addresses(os.environ, to or ())
    if decision.action == "render":
        files = delivery.write_files(
            rendered,
            out_dir,
            plan.window.date,
            delivery.draft_message(rendered, clock(), draft_to, sender),
        )
        if db_path.exists():
            delivery.record_rendered(db_path, plan, rendered, files, clock())
        if decision.message:
            logger.info(decision.message)
        return finish(files, decision.status, decision.message)

    assert smtp is not None
    now = clock()
    message = delivery.compose(rendered, smtp, now)
    # A forced resend of a day already sent writes files of its own (digest-DATE-resent-
    # HHMMSS.*), so the day's files stay the ones its readers got.
    resend = plan.already_delivered is not None
    tag = f"resent-{now.astimezone(UTC):%H%M%S}" if resend else ""
    files = delivery.write_files(rendered, out_dir, plan.window.date, message, tag)
    stage_done("write_s")
    try:
        result = steps.send(db_path, plan, rendered, files, message, smtp, delivery.new_digest_id())
    except SendFailed as exc:
        logger.error(
            "sending the digest for %s failed (recorded as failed; %s): %s",
            plan.window.date,
            "the day was sent before, so no run resends it"
            if resend
            else "the next run includes this window",
            exc,
        )
        raise DigestFailed(finish(files, "failed", str(exc))) from None
    logger.info("digest for %s sent (%s)", plan.window.date, result.message_id)
    if result.refused:
        note = (
            f"{result.refused.line}; not sent again to the others; after fixing the address, "
            f"`newswatch digest --send --force --date {plan.window.date} --to ADDR` sends it"
        )
        logger.warning("digest for %s sent, but %s", plan.window.date, note)
        return replace(finish(files, "sent", note), refused=result.refused.recipients)
    return finish(files, "sent", None)


def digest_markdown(summary: DigestSummary) -> str:
    """What the digest flow publishes as its markdown artifact."""
    lines = [
        f"# {summary.subject}",
        "",
        f"Status: **{summary.status}**" + (f" — {summary.message}" if summary.message else ""),
    ]
    if summary.window is not None:
        w = summary.window
        lines += [
            "",
            f"Window (poll batches stored): {w.start:%Y-%m-%d %H:%M} → {w.end:%Y-%m-%d %H:%M} UTC",
        ]
    lines += ["", f"Stories: {summary.stories}, articles: {summary.articles}"]
    if summary.topic_counts:
        lines += ["", f"Per topic: {summary.topic_counts}"]
    lines += [*(["", *summary.notes] if summary.notes else [])]
    lines += ["", f"Files: `{summary.files.html}`, `{summary.files.text}`"]
    return "\n".join(lines)


# -- the poll's batches on a Dask cluster (runner: {kind: dask}) -------------------------------


def collect_batch_sync(
    config: Config,
    feeds: list[FeedSource],
    states: dict[str, FeedState],
    spool_dir: Path,
    poll_id: str,
    label: str,
    due_only: bool,
) -> poll.BatchResult:
    """One batch in a Dask worker's process (workers are the parallelism: no shards)."""
    from newswatch.orchestrate import poll

    return asyncio.run(
        poll.collect_batch(
            config,
            feeds,
            states,
            spool_dir=spool_dir,
            poll_id=poll_id,
            label=label,
            due_only=due_only,
            processes=1,
        )
    )


def dask_collect(address: str | None, workers: int) -> Collect:
    """A `collect` step that sends batches of feeds (two per worker, a host's feeds in one
    batch) to the Dask scheduler at `address`, or to a local cluster of `workers` processes
    started for this poll. Each batch stages its own Parquet parts (label b<i>); the poll
    still stores them with one writer."""

    async def collect_on_dask(
        config: Config,
        feeds: list[FeedSource],
        states: dict[str, FeedState],
        spool_dir: Path,
        poll_id: str,
        due_only: bool,
        on_feed_done: FeedDone | None,
    ) -> list[poll.BatchResult]:
        from newswatch.orchestrate.runners import split_batches

        batches = split_batches(feeds, 2 * workers)

        def run() -> list[poll.BatchResult]:
            from contextlib import ExitStack

            from distributed import Client, LocalCluster

            with ExitStack() as stack:
                target: Any = address
                if not address:
                    target = stack.enter_context(
                        LocalCluster(  # type: ignore[no-untyped-call]
                            n_workers=workers,
                            threads_per_worker=1,  # parsing is CPU-bound Python
                            processes=True,
                            dashboard_address=None,
                        )
                    )
                client = stack.enter_context(Client(target))  # type: ignore[no-untyped-call]
                futures = [
                    client.submit(
                        collect_batch_sync,
                        config,
                        batch,
                        {f.url: states[f.url] for f in batch if f.url in states},
                        spool_dir,
                        poll_id,
                        f"b{i}",
                        due_only,
                        pure=False,
                    )
                    for i, batch in enumerate(batches)
                ]
                return list(client.gather(futures))

        results = await asyncio.to_thread(run)
        if on_feed_done is not None:
            for batch in results:
                for report in batch.reports:
                    on_feed_done(report)
        return results

    return collect_on_dask
