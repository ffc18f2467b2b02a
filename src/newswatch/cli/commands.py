"""The `newswatch` command.

Expected failures (bad config, locked or unwritable warehouse, bad SMTP settings) print one
line naming the cause and exit with status 2; a poll where some feeds failed still exits 0,
because their failures are recorded and shown.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import os
import signal
import sys
import threading
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO, TypeVar

from newswatch.cli.progress import entries_text
from newswatch.config import Config, load_config
from newswatch.errors import (
    ConfigError,
    DbWaitError,
    DigestAlreadySending,
    Interrupted,
    MailError,
    PollAlreadyRunning,
    UserError,
    WarehouseError,
)
from newswatch.orchestrate.shards import warm_up_for_command
from newswatch.paths import resolve_db_path
from newswatch.store.dbwait import db_wait_seconds

if TYPE_CHECKING:
    from newswatch.digest.mail import SmtpSettings
    from newswatch.models import TopicMatch
    from newswatch.orchestrate.pipeline import DigestSummary, PollSummary
    from newswatch.orchestrate.rematch import TopicChange

T = TypeVar("T")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


# -- where a command runs: in this process, or as a flow run on a Prefect server -------------

_UNDECIDED = object()


def _prefect_api(args: argparse.Namespace) -> str | None:
    """The Prefect API this command runs its flows on, or None to run them in-process.

    --no-prefect: in-process. --prefect: the configured API or a running `newswatch serve`'s,
    which must be found. Neither: the configured API (PREFECT_API_URL or the Prefect
    profile; it must answer), else a running serve's, else in-process. Decided once per
    command (`run` polls and digests the same way).
    """
    decided = getattr(args, "_prefect_api", _UNDECIDED)
    if decided is not _UNDECIDED:
        return decided  # type: ignore[return-value]
    choice = getattr(args, "prefect", None)
    api = None
    if choice is not False:
        from newswatch.errors import ServeError
        from newswatch.orchestrate.serve import find_prefect_api

        try:
            found = find_prefect_api()
        except ServeError as exc:
            raise UserError(f"{exc}; or pass --no-prefect to run without Prefect") from None
        if found is None and choice:
            raise UserError(
                "--prefect: no Prefect server to run on; start `newswatch serve` (or a Prefect "
                "server and set PREFECT_API_URL), or leave out --prefect to run in-process"
            )
        api = found[0] if found else None
    args._prefect_api = api
    return api


def _use_prefect(api_url: str | None) -> None:
    """Settings for Prefect in this process, set before Prefect reads them (at import).

    Offline, and nothing on the terminal: the command prints its own summary, and the run's
    log (failed feeds, tracebacks) is kept by the Prefect API. Anything the user set wins.
    """
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")
    if api_url and os.environ.get("PREFECT_API_URL", "").strip().rstrip("/") != api_url:
        os.environ["PREFECT_API_URL"] = api_url
        if "prefect.context" in sys.modules:
            from prefect.context import refresh_global_settings_context

            refresh_global_settings_context()  # Prefect read its settings on import


def _run_async(main: Coroutine[Any, Any, T]) -> T:
    """asyncio.run, with SIGTERM handled like Ctrl-C: the running work is cancelled, its
    cleanup runs (shard processes stopped, the poll lock released), then KeyboardInterrupt."""

    async def guarded() -> T:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        try:
            assert task is not None
            loop.add_signal_handler(signal.SIGTERM, task.cancel)
        except (RuntimeError, ValueError, AssertionError):
            pass  # not the main thread: signals are not ours to handle
        return await main

    previous = signal.getsignal(signal.SIGTERM)
    try:
        return asyncio.run(guarded())
    except asyncio.CancelledError:
        raise KeyboardInterrupt("SIGTERM") from None
    finally:
        if threading.current_thread() is threading.main_thread() and previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _load(args: argparse.Namespace) -> Config:
    return load_config(args.sources)


def _check_db_writable(db: Path) -> None:
    folder = db.parent if str(db.parent) else Path(".")
    fix = "pass --db with a writable path"
    if folder.exists() and not folder.is_dir():
        raise UserError(f"the warehouse folder {folder} is a file, not a folder; {fix}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(
            f"cannot create the warehouse folder {folder}: {exc.strerror}; {fix}"
        ) from None
    if not os.access(folder, os.W_OK) or (db.exists() and not os.access(db, os.W_OK)):
        raise UserError(
            f"the warehouse {db} is not writable; fix the permissions or pass --db with a writable path"
        )


# -- poll -----------------------------------------------------------------------------


def _check_warehouse(db: Path) -> None:
    """Refuse a file that is not a newswatch warehouse (or is newer) before any work."""
    from newswatch.store.warehouse import check_usable

    check_usable(db)  # WarehouseError: one line via main()


def cmd_poll(args: argparse.Namespace, out: TextIO) -> int:
    config = _load(args)
    db_wait_seconds()  # a bad NEWSWATCH_DB_WAIT fails here, before any work
    db = resolve_db_path(args.db)
    _check_db_writable(db)
    _check_warehouse(db)
    from newswatch.errors import RunnerError
    from newswatch.orchestrate.runners import resolve

    runner, address = getattr(args, "runner", None), getattr(args, "dask_address", None)
    try:
        settings = resolve(config.runner, kind=runner, address=address)
    except RunnerError as exc:
        raise UserError(str(exc)) from None
    if settings.kind == "default":
        from newswatch.orchestrate.shards import warm_up_shard_processes

        warm_up_shard_processes(len(config.feeds), config.path)  # overlaps the imports below
    api = _prefect_api(args)
    from newswatch.cli.progress import poll_progress

    try:
        with poll_progress(len(config.feeds)) as on_feed_done:
            summary = _run_async(
                _poll(args, config, db, api, runner, address, on_feed_done, settings)
            )
    except KeyboardInterrupt:
        raise Interrupted(
            "interrupted; the next poll fetches again what this one had not stored"
        ) from None
    print_poll_summary(summary, out, disabled={f.url for f in config.feeds if not f.enabled})
    return EXIT_OK


async def _poll(
    args: argparse.Namespace,
    config: Config,
    db: Path,
    api: str | None,
    runner: str | None,
    address: str | None,
    on_feed_done: Callable[[Any], None],
    settings: Any,
) -> PollSummary:
    poll_all = bool(getattr(args, "all", False))
    if api is None:
        from dataclasses import replace

        from newswatch.orchestrate import pipeline

        steps = pipeline.PLAIN_POLL_STEPS
        if settings.kind == "dask":
            collect = pipeline.dask_collect(settings.address, settings.workers)
            steps = replace(steps, collect=collect, shards=False)
        return await pipeline.run_poll(
            config, db, poll_all=poll_all, on_feed_done=on_feed_done, steps=steps
        )
    _use_prefect(api)
    from newswatch.orchestrate.flows.poll import run_poll

    return await run_poll(
        sources=args.sources,
        db=str(db),
        due_only=False,
        runner=runner,
        dask_address=address,
        on_feed_done=on_feed_done,
        poll_all=poll_all,
    )


def print_poll_summary(summary: PollSummary, out: TextIO, disabled: set[str] | None = None) -> None:
    reports = sorted(summary.reports, key=lambda r: (r.outcome != "error", r.name.lower()))
    marks = {
        "ok": "ok",
        "unchanged": "same",
        "not_modified": "304",
        "error": "FAIL",
        "skipped": "skip",
    }
    width = max((len(r.name) for r in reports), default=10)
    disabled = disabled or set()
    held = summary.held_back
    for r in reports:
        if r.outcome == "error":
            detail = r.error
        elif r.outcome == "skipped":
            detail = "disabled" if r.url in disabled else r.error or "not due"
        else:
            detail = entries_text(r) if r.entries or r.skipped or r.warning else ""
        status = str(r.http_status or "-")
        out.write(
            f"{marks.get(r.outcome, r.outcome):>4}  {r.name:<{width}}  {status:>3}  "
            f"{r.duration_ms:7.0f} ms  {detail}\n"
        )
    from newswatch.digest.model import stories_label
    from newswatch.orchestrate.poll import CLUSTER_WINDOW  # the poll has imported it

    failed = sum(1 for r in summary.reports if r.outcome == "error")
    skipped = sum(1 for r in summary.reports if r.outcome == "skipped")
    entries_skipped = sum(n for r in summary.reports for _, n in r.skipped)
    ok = len(summary.reports) - failed - skipped
    # Matches found in article pages come after the feeds' own (the "article pages" line).
    from_pages = (
        " (and more from article pages, below)" if summary.pages and summary.pages.rematched else ""
    )
    out.write(
        f"\n{_n(len(summary.reports), 'feed')}: {ok} ok, {failed} failed"
        f"{f', {skipped} skipped' if skipped else ''}; "
        f"{_n(summary.new_articles, 'new article')}, "
        f"{_n(summary.new_matches, 'new topic match', 'new topic matches')}{from_pages}, "
        f"{stories_label(summary.clusters)} among matches stored in the last {CLUSTER_WINDOW.days} days"
        + (
            f"; {entries_skipped} feed entr{'ies' if entries_skipped != 1 else 'y'} not stored "
            "(reasons above)"
            if entries_skipped
            else ""
        )
        + "\n"
    )
    if held:
        out.write(
            f"held back: {len(held)} failing feed{'s' if len(held) != 1 else ''} skipped until "
            "the next retry (backoff after failures, or the server's Retry-After); "
            "`--all` polls them now\n"
        )
    pages = summary.pages
    if pages is not None and (pages.recorded or pages.left):
        from newswatch.store.article_pages import failure_words

        why = failure_words(pages.failures)
        out.write(
            f"article pages: {pages.fetched} asked for; {pages.extracted} read, "
            f"{pages.no_text} without article text, {pages.failed} failed"
            + (f" ({why}; article_fetches has each)" if pages.failed else "")
            + f"; topic matches changed for {pages.rematched} "
            f"article{'s' if pages.rematched != 1 else ''}"
            + (f"; {pages.left} left for the next poll" if pages.left else "")
            + (
                "; more new entries than article_pages.max_per_poll: the rest wait for the "
                "next poll"
                if pages.capped
                else ""
            )
            + "\n"
        )
    if summary.state_warning:
        out.write(f"warning: {summary.state_warning}\n")
    if pages is not None and pages.message:
        out.write(f"note: {pages.message}\n")
    if summary.store_message:
        out.write(f"note: {summary.store_message}\n")
    timing = ", ".join(f"{k} {v:.2f}" for k, v in summary.timings.items())
    out.write(f"timings (s): {timing}\n")


# -- digest and run -------------------------------------------------------------------


def _parse_date(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UserError(f"--date must be YYYY-MM-DD, got {text!r}") from None


def _check_not_future(day: date, config: Config) -> None:
    """A digest covers a day that has begun: a later --date would be an empty window."""
    from newswatch.clock import utc_now
    from newswatch.orchestrate.schedule import resolve_timezone

    zone = resolve_timezone(config.schedule.timezone)
    today = utc_now().astimezone(zone).date()
    if day > today:
        raise UserError(
            f"--date {day} is after today ({today} in {zone.key}); a digest covers a day "
            "that has begun"
        )


def _smtp_settings(args: argparse.Namespace) -> SmtpSettings | None:
    if not args.send:
        return None
    from newswatch.digest.mail import BLOCK_VAR, smtp_settings
    from newswatch.errors import MailConfigError

    try:
        if os.environ.get(BLOCK_VAR, "").strip():
            api = _prefect_api(args)
            if api is None and not os.environ.get("NEWSWATCH_SMTP_URL", "").strip():
                # Prefect would start a temporary API of its own, which has no such block.
                raise UserError(
                    f"{BLOCK_VAR} names a Prefect Secret block, which lives in a Prefect API, "
                    "and this command runs without one; start `newswatch serve` (or set "
                    "PREFECT_API_URL), or set NEWSWATCH_SMTP_URL instead"
                )
            _use_prefect(api)  # the block lives in the Prefect API
        settings = smtp_settings(os.environ, recipients_override=args.to or ())
    except MailConfigError as exc:
        raise UserError(str(exc)) from None
    if settings is None:
        from newswatch.digest.mail import NEEDS_SETTINGS

        raise UserError(f"--send: {NEEDS_SETTINGS}")
    return settings


def _smtp_problem(settings: SmtpSettings | None) -> MailError | None:
    """What a session with the server (connect, EHLO, STARTTLS, AUTH, QUIT) says is wrong
    before anything is rendered or recorded; None when it works (or nothing is sent)."""
    if settings is None:
        return None
    from newswatch.digest.mail import check_server

    try:
        check_server(settings)
    except MailError as exc:
        return exc
    return None


def _refuse_settings(problem: MailError | None, *, polled: bool = False) -> None:
    """A server that refuses the login, the TLS or the sender will refuse it the next time
    too: a configuration error, exit 2, no digest written or recorded. A server that is
    away (refused or dropped connection, time-out, a 4xx reply) may be back: the digest is
    rendered and the send tried, retried, and recorded as failed if it stays away, as
    scheduled runs do, and the next run covers the window."""
    if problem is None or problem.transient:
        return
    done = "the poll above ran, but no digest" if polled else "nothing"
    again = "`newswatch digest --send`" if polled else "again"
    raise UserError(
        f"{problem}; {done} was sent or recorded - fix NEWSWATCH_SMTP_URL and run {again}"
    )


def _check_to(args: argparse.Namespace) -> None:
    """An explicit --to must be addresses, also for a draft (which would otherwise be
    addressed to a placeholder without a word)."""
    if not args.to:
        return
    from newswatch.digest.mail import recipients_option
    from newswatch.errors import MailConfigError

    try:
        recipients_option(args.to)
    except MailConfigError as exc:
        raise UserError(str(exc)) from None


def cmd_digest(args: argparse.Namespace, out: TextIO) -> int:
    _check_to(args)
    smtp = _smtp_settings(args)
    _refuse_settings(_smtp_problem(smtp))
    return _digest(args, out, smtp)


def _digest(args: argparse.Namespace, out: TextIO, smtp: SmtpSettings | None) -> int:
    # `smtp` was resolved and checked against the server up front; the pipeline resolves the
    # same settings itself (they are never a flow parameter, Prefect stores those).
    config = _load(args)
    on_date = _parse_date(args.date)
    if on_date is not None:
        _check_not_future(on_date, config)
    db = resolve_db_path(args.db)
    if not db.exists():
        # An empty digest would say "nothing matched, every feed polled" and could replace
        # the files of a day already sent: a mistyped --db is an error, not a quiet day.
        raise UserError(f"no database at {db}; run `newswatch poll` first, or pass --db")
    if args.send:
        _check_db_writable(db)
    _check_warehouse(db)
    if on_date is None:
        from newswatch.orchestrate.locks import wait_for_poll
        from newswatch.orchestrate.pipeline import poll_wait_note

        if wait_for_poll(db, 0.0):  # the pipeline waits; say why the command pauses
            sys.stderr.write(f"note: {poll_wait_note(db)}\n")
    api = _prefect_api(args)
    from newswatch.errors import DigestFailed

    try:
        if api is None:
            from newswatch.orchestrate import pipeline
            from newswatch.paths import resolve_out_dir

            summary = pipeline.run_digest(
                config,
                db,
                resolve_out_dir(args.out),
                on_date=on_date,
                send_mail=args.send,
                force=args.force,
                to=args.to or None,
            )
        else:
            _use_prefect(api)
            from newswatch.orchestrate.flows.digest import digest_flow

            summary = _run_async(
                digest_flow(
                    sources=args.sources,
                    db=str(db),
                    on_date=on_date,
                    out=args.out,
                    send_mail=args.send,
                    force=args.force,
                    to=args.to or None,
                )
            )
    except DigestFailed as exc:
        print_digest_summary(exc.summary, out)
        return EXIT_FAILED
    except KeyboardInterrupt:
        raise Interrupted("interrupted") from None
    print_digest_summary(summary, out, smtp.recipients if smtp is not None else ())
    return EXIT_OK


def _n(count: int, one: str, many: str | None = None) -> str:
    """ "1 new article", "2 new articles"."""
    return f"{count} {one if count == 1 else (many or one + 's')}"


def print_digest_summary(
    summary: DigestSummary, out: TextIO, recipients: Sequence[str] = ()
) -> None:
    for warning in summary.warnings:
        out.write(f"warning: {warning}\n")
    out.write(f"digest {summary.date}: {summary.subject}\n")
    out.write(f"  {summary.stories} stories from {summary.articles} matched articles\n")
    for note in summary.notes:
        out.write(f"  note: {note}\n")
    files = summary.files
    for label, path in (("html: ", files.html), ("text: ", files.text), ("eml:  ", files.eml)):
        if path is None:
            continue
        sent = ""
        if files.kept:
            sent = " (as sent)" if path.exists() else " (as sent; no longer there)"
        out.write(f"  {label}{path}{sent}\n")
    verdict = {
        "rendered": "rendered (not sent; add --send to email it)",
        "sent": "sent",
        "skipped": "not sent again",
        "failed": "SEND FAILED (recorded; the next run will include this window)",
    }[summary.status]
    window = getattr(summary, "window", None)
    if summary.status == "sent" and recipients:
        refused = set(summary.refused)
        accepted = [r for r in recipients if r not in refused] or list(recipients)
        verdict = f"sent to {', '.join(accepted)}"
    if summary.status == "failed" and window is not None and window.basis == "delivered":
        # A forced resend of a day already sent: the day stays sent, no run resends it.
        verdict = (
            "SEND FAILED (recorded; this day's digest went out before, so no run sends it "
            "again: repeat this command once the server takes it)"
        )
    if summary.status == "rendered" and window is not None and window.basis == "delivered":
        # Not a fresh render: this window's digest went out already (the note says when);
        # nothing was written, the files printed are the ones sent.
        verdict = "already sent (not sent again, no file written; --send --force sends it again)"
    out.write(f"  status: {verdict}{f' - {summary.message}' if summary.message else ''}\n")
    if summary.timings:
        timing = ", ".join(f"{k} {v:.2f}" for k, v in summary.timings.items())
        out.write(f"  timings (s): {timing}\n")


def cmd_run(args: argparse.Namespace, out: TextIO) -> int:
    _check_to(args)
    smtp = _smtp_settings(args)  # settings that cannot work: exit 2 before polling
    # The server is asked before the poll, but whatever it says, the poll runs: a mail
    # server that is down must not cost the day's articles.
    problem = _smtp_problem(smtp)
    status = cmd_poll(args, out)
    if status != EXIT_OK:
        return status
    _refuse_settings(problem, polled=True)
    out.write("\n")
    return _digest(args, out, smtp)


# -- match ----------------------------------------------------------------------------


def cmd_match(args: argparse.Namespace, out: TextIO) -> int:
    from newswatch.errors import UnknownTopic
    from newswatch.match.jsonl import match_jsonl
    from newswatch.match.language import detect_article_language

    config = _load(args)
    try:
        topics = [config.matcher.topic_named(t) for t in args.topic] if args.topic else None
    except UnknownTopic as exc:
        raise UserError(str(exc)) from None
    for line in match_jsonl(
        sys.stdin, config.matcher, detect_article_language, verbose=args.verbose, topics=topics
    ):
        out.write(line + "\n")
    return EXIT_OK


# Re-explained matches `rematch` lists without --verbose (a rule edit can re-explain thousands).
REEXPLAINED_SHOWN = 10
_SIGNS = {"added": "+", "removed": "-", "updated": "~"}


def rematch_lines(changes: Sequence[TopicChange], *, everything: bool = False) -> list[str]:
    """One line per added (+) and removed (-) match, then the re-explained ones (~: still
    matched, by another rule or other words), the first REEXPLAINED_SHOWN unless `everything`;
    topic and article id in columns as wide as the longest shown. With `everything`, each
    re-explained match also says what changed: its words (before -> after), or its rule."""
    moved = [c for c in changes if c.change in ("added", "removed")]
    # Those matched by other words first: a rule's rewording re-explains every match of it.
    updated = sorted((c for c in changes if c.change == "updated"), key=lambda c: not c.other_words)
    shown = [*moved, *(updated if everything else updated[:REEXPLAINED_SHOWN])]
    if not shown:
        return []
    topic_width = max(len(c.topic) for c in shown)
    id_width = max(len(c.article_id) for c in shown)
    lines = []
    for c in shown:
        lines.append(
            f"{_SIGNS[c.change]} {c.topic:<{topic_width}}  {c.article_id:<{id_width}}  "
            f"{c.title[:90]}".rstrip()
        )
        if everything and c.change == "updated" and c.before and c.match:
            lines.append(f"    {_what_changed(c.before, c.match)}")
    more = len(updated) - (len(shown) - len(moved))
    if more:
        lines.append(f"~ and {more} more re-explained (--verbose lists them all)")
    return lines


def _what_changed(before: TopicMatch, after: TopicMatch) -> str:
    """'words: Grain, Odesa in title -> Grain, Odesa, Black Sea in title', or the rule."""
    from newswatch.match.jsonl import explain

    was, now = explain(before), explain(after)
    if was != now:
        return f"words: {was or '(none)'} -> {now or '(none)'}"
    was, now = _where_they_differ(before.rule, after.rule)
    return f"rule: {was} -> {now}"


def _where_they_differ(a: str, b: str, width: int = 70, context: int = 25) -> tuple[str, str]:
    """Two rules as shown: whole when both are short, else each around where they differ
    (`context` characters either side), so that a long rule's edit is seen."""
    if len(a) <= width and len(b) <= width:
        return a, b
    from newswatch.digest.cluster import common_ends

    start, end = common_ends(a, b)
    lo = max(0, start - context)

    def around(text: str) -> str:
        hi = min(len(text), len(text) - end + context)
        return f"{'…' if lo else ''}{text[lo:hi]}{'…' if hi < len(text) else ''}"

    return around(a), around(b)


def cmd_rematch(args: argparse.Namespace, out: TextIO) -> int:
    from newswatch.orchestrate.rematch import rematch

    config = _load(args)
    db = resolve_db_path(args.db)
    since = None
    if args.since:
        try:
            day = date.fromisoformat(args.since)
        except ValueError:
            raise UserError(f"--since must be YYYY-MM-DD, got {args.since!r}") from None
        since = datetime.combine(day, datetime.min.time(), UTC)
    try:
        result = rematch(
            db,
            config.matcher,
            now=datetime.now(UTC),
            since=since,
            topic=args.topic,
            dry_run=args.dry_run,
            drop_unlisted=args.drop_unlisted,
        )
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if result.unlisted:
        kept = ", ".join(f"{t} ({n})" for t, n in result.unlisted.items())
        out.write(
            f"note: kept the stored matches of topics not in {config.path}: {kept}; polled "
            "with another sources file? Pass --sources with that file, or --drop-unlisted "
            "to remove them\n"
        )
    for line in rematch_lines(result.changes, everything=args.verbose):
        out.write(line + "\n")
    verb = "would change" if args.dry_run else "changed"
    updated = result.count("updated")
    in_words = sum(1 for c in result.changes if c.other_words)
    rescored = result.count("rescored")
    out.write(
        f"{result.checked} articles checked; {verb}: {result.count('added')} added, "
        f"{result.count('removed')} removed, {updated} re-explained"
        + (
            " (the rule's text only)"
            if updated and not in_words
            else f" ({in_words} by other words)"
            if in_words < updated
            else ""
        )
        + (f", {rescored} re-scored (relevance only)" if rescored else "")
        + f"{' (dry run: nothing written)' if args.dry_run else ''}\n"
    )
    return EXIT_OK


# -- parser ---------------------------------------------------------------------------

Command = Callable[[argparse.Namespace, TextIO], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newswatch",
        description="Poll news feeds, match watched topics, store in DuckDB, send a daily digest.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, fn: Command, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=fn)
        return p

    def sources_opt(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--sources",
            metavar="FILE",
            help="sources file (default: $NEWSWATCH_SOURCES, else the bundled sources.yaml)",
        )

    def db_opt(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--db",
            metavar="FILE",
            help="DuckDB file (default: $NEWSWATCH_DB, else warehouse/newswatch.duckdb)",
        )

    def all_opt(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--all",
            action="store_true",
            help="also poll failing feeds that are backing off or were told to wait by the "
            "server's Retry-After (by default they are skipped until their next retry)",
        )

    def prefect_opt(p: argparse.ArgumentParser) -> None:
        where = p.add_mutually_exclusive_group()
        where.add_argument(
            "--prefect",
            dest="prefect",
            action="store_true",
            default=None,
            help="run as a Prefect flow run on the configured Prefect API or a running "
            "`newswatch serve` (default when either is there)",
        )
        where.add_argument(
            "--no-prefect",
            dest="prefect",
            action="store_false",
            help="run in this process without Prefect, even when a Prefect server is there",
        )

    p = add("poll", cmd_poll, "Poll every feed once, store new articles, print a per-feed summary.")
    sources_opt(p)
    db_opt(p)
    all_opt(p)
    prefect_opt(p)
    p.add_argument(
        "--runner",
        choices=("default", "dask"),
        help="where fetch-and-parse batches run (default: sources.yaml `runner:`, else in-process)",
    )
    p.add_argument(
        "--dask-address",
        metavar="ADDR",
        help="Dask scheduler, e.g. tcp://host:8786 (implies --runner dask; default: a local cluster)",
    )

    def digest_opts(p: argparse.ArgumentParser) -> None:
        p.add_argument("--date", metavar="YYYY-MM-DD", help="render the digest of this local day")
        p.add_argument(
            "--out",
            metavar="DIR",
            help="folder for digest-YYYY-MM-DD.html/.txt/.eml (default: $NEWSWATCH_OUT, else ./digests)",
        )
        p.add_argument(
            "--send", action="store_true", help="email the digest (SMTP settings from env)"
        )
        p.add_argument(
            "--force",
            action="store_true",
            help="with --send: send the day's digest again even if it was sent (same window)",
        )
        p.add_argument(
            "--to",
            metavar="ADDR",
            action="append",
            help="recipient instead of $NEWSWATCH_MAIL_TO (repeatable); also the To of the draft .eml",
        )

    p = add("digest", cmd_digest, "Render the digest of matched stories (and --send it).")
    sources_opt(p)
    db_opt(p)
    digest_opts(p)
    prefect_opt(p)

    p = add("run", cmd_run, "Poll every feed, then render (and --send) the digest.")
    sources_opt(p)
    db_opt(p)
    all_opt(p)
    digest_opts(p)
    prefect_opt(p)

    p = add(
        "match",
        cmd_match,
        "Match JSON lines {id, title, summary, content} from stdin against the topics.",
    )
    sources_opt(p)
    p.add_argument(
        "--topic",
        metavar="NAME",
        action="append",
        help="only this topic (repeatable; case does not matter)",
    )
    p.add_argument(
        "--verbose",
        action="store_true",
        help="give each match's whole rule as written and expanded (default: a short name "
        "for the rule and the words that matched, and where)",
    )
    p = add("rematch", cmd_rematch, "Re-apply the current topic rules to stored articles.")
    sources_opt(p)
    db_opt(p)
    p.add_argument("--topic", metavar="NAME", help="only this topic (case does not matter)")
    p.add_argument(
        "--since", metavar="YYYY-MM-DD", help="only articles published on or after this day (UTC)"
    )
    p.add_argument("--dry-run", action="store_true", help="report what would change, write nothing")
    p.add_argument(
        "--verbose",
        action="store_true",
        help=f"list every re-explained match (default: the first {REEXPLAINED_SHOWN})",
    )
    p.add_argument(
        "--drop-unlisted",
        action="store_true",
        help="also remove the stored matches of topics not in the sources file (by default "
        "they are kept, and a note names them)",
    )

    from newswatch.cli import analyst

    analyst.register(add, db_opt)

    from newswatch.orchestrate.health import add_feeds_command
    from newswatch.orchestrate.serve import add_serve_command

    add_serve_command(sub, sources_opt, db_opt)
    add_feeds_command(sub, sources_opt, db_opt)
    return parser


def _sigterm_as_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    warm_up_for_command(sys.argv[1:] if argv is None else list(argv))
    parser = build_parser()
    args = parser.parse_args(argv)
    # SIGTERM (a service manager, `kill`) stops a command the way Ctrl-C does: cleanup runs.
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    try:
        return int(args.func(args, out))
    except (ConfigError, UserError) as exc:
        print(f"newswatch: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as exc:
        said = str(exc) if isinstance(exc, Interrupted) else "interrupted"
        print(f"\nnewswatch: {said}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `newswatch query ... | head`: the reader left; that is not an error.
        sys.stderr.close()
        return EXIT_OK
    except Exception as exc:  # known failure types from deeper layers
        fault = storage_fault(exc)
        if fault is not None:
            print(f"newswatch: error: {fault}", file=sys.stderr)
            return EXIT_FAILED
        message = _expected_message(exc)
        if message is None:
            raise
        print(f"newswatch: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def console_main() -> NoReturn:
    """The `newswatch` console script."""
    raise SystemExit(main())


_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
_NOT_WRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM)
# How DuckDB and Arrow word the same failures in their own exceptions.
_DISK_FULL_TEXT = ("no space left on device", "disk quota exceeded")
_NOT_WRITABLE_TEXT = ("read-only file system", "permission denied")


def storage_fault(exc: BaseException) -> str | None:
    """One line for a write that failed because the disk is full or the folder is not writable
    (anywhere in the exception's chain), else None. Writes are transactions (the spool batch
    is complete or discarded, the warehouse merge commits or rolls back), so what was stored
    before is intact and the next run picks up what this one could not store."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        text = " ".join(str(current).split())
        code = current.errno if isinstance(current, OSError) else None
        where = getattr(current, "filename", None) or "the warehouse or its spool folder"
        lowered = text.lower()
        if code in _DISK_FULL or any(t in lowered for t in _DISK_FULL_TEXT):
            return (
                f"the disk is full: could not write {where} (No space left on device); "
                "everything stored before is intact; free some space and run the command "
                "again: it stores what this run could not"
            )
        if code in _NOT_WRITABLE or any(t in lowered for t in _NOT_WRITABLE_TEXT):
            reason = os.strerror(code) if code is not None else text[:200]
            return (
                f"cannot write {where} ({reason}); everything stored before is intact; make "
                "the folder writable and run the command again: it stores what this run "
                "could not"
            )
        current = current.__cause__ or current.__context__
    return None


def _expected_message(exc: BaseException) -> str | None:
    if isinstance(exc, DbWaitError | DigestAlreadySending | PollAlreadyRunning | WarehouseError):
        return str(exc)
    return None


if __name__ == "__main__":
    console_main()
