"""The `newswatch` command.

Expected failures (bad config, locked or unwritable warehouse, bad SMTP settings) print one
line naming the cause and exit with status 2; a poll where some feeds failed still exits 0,
because their failures are recorded and shown.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import os
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from newswatch.config import Config, ConfigError, load_config
from newswatch.dbwait import db_wait_seconds
from newswatch.paths import resolve_db_path

if TYPE_CHECKING:
    from newswatch.mail import SmtpSettings

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class UserError(Exception):
    """An expected failure with a message for the user (exit status 2)."""


def _prefect_defaults() -> None:
    """Prefect settings for a one-off command, set before Prefect reads them (at import).

    Offline and quiet: only the console handler is held at WARNING, so the terminal shows
    no INFO chatter while the run logs (poll summary, failed feeds) still reach the API.
    Anything the user set wins. A configured API (environment or Prefect profile) must
    answer; without one, a running `newswatch serve`'s local server is used if there is one.
    """
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")
    # The temporary API of a one-off command takes 20-30 s to start on a small, busy VM
    # (measured here), beyond Prefect's 20 s default: a slow start must not fail the poll.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    from newswatch.serve import (
        ServeError,
        check_api_reachable,
        configured_api_url,
        running_serve_api,
    )

    configured = configured_api_url()
    if configured:
        try:
            check_api_reachable(*configured)
        except ServeError as exc:
            raise UserError(str(exc)) from None
        return
    api_url = running_serve_api()
    if api_url:
        os.environ["PREFECT_API_URL"] = api_url
        from prefect.context import refresh_global_settings_context

        refresh_global_settings_context()  # Prefect read its settings on import


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
    from newswatch.warehouse import check_usable

    check_usable(db)  # WarehouseError: one line via main()


def cmd_poll(args: argparse.Namespace, out: TextIO) -> int:
    config = _load(args)
    db_wait_seconds()  # a bad NEWSWATCH_DB_WAIT fails here, before any work
    db = resolve_db_path(args.db)
    _check_db_writable(db)
    _check_warehouse(db)
    from newswatch.runners import RunnerError, resolve

    runner, address = getattr(args, "runner", None), getattr(args, "dask_address", None)
    try:
        resolve(config.runner, kind=runner, address=address)
    except RunnerError as exc:
        raise UserError(str(exc)) from None
    if (runner or config.runner.kind) == "default" and address is None:
        from newswatch.poll import warm_up_shard_processes

        warm_up_shard_processes(len(config.feeds), config.path)  # overlaps Prefect's start-up
    _prefect_defaults()
    from newswatch.flows.poll import run_poll
    from newswatch.interrupt import prompt_exit_on_interrupt
    from newswatch.progress import poll_progress

    with (
        prompt_exit_on_interrupt(
            "newswatch: interrupted; the next poll fetches again what this one had not stored"
        ),
        poll_progress(len(config.feeds)) as on_feed_done,
    ):
        summary = asyncio.run(
            run_poll(
                sources=args.sources,
                db=str(db),
                due_only=False,
                runner=runner,
                dask_address=address,
                on_feed_done=on_feed_done,
                poll_all=bool(getattr(args, "all", False)),
            )
        )
    print_poll_summary(summary, out, disabled={f.url for f in config.feeds if not f.enabled})
    return EXIT_OK


def print_poll_summary(summary: Any, out: TextIO, disabled: set[str] | None = None) -> None:
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
    held = getattr(summary, "held_back", {})
    for r in reports:
        if r.outcome == "error":
            detail = r.error
        elif r.outcome == "skipped":
            detail = "disabled" if r.url in disabled else r.error or "not due"
        else:
            detail = f"{r.entries} entries" if r.entries else ""
        status = str(r.http_status or "-")
        out.write(
            f"{marks.get(r.outcome, r.outcome):>4}  {r.name:<{width}}  {status:>3}  "
            f"{r.duration_ms:7.0f} ms  {detail}\n"
        )
    failed = sum(1 for r in summary.reports if r.outcome == "error")
    skipped = sum(1 for r in summary.reports if r.outcome == "skipped")
    ok = len(summary.reports) - failed - skipped
    out.write(
        f"\n{len(summary.reports)} feeds: {ok} ok, {failed} failed"
        f"{f', {skipped} skipped' if skipped else ''}; "
        f"{summary.new_articles} new articles, {summary.new_matches} new topic matches, "
        f"{summary.clusters} stories\n"
    )
    if held:
        out.write(
            f"held back: {len(held)} failing feed{'s' if len(held) != 1 else ''} skipped until "
            "the next retry (backoff after failures, or the server's Retry-After); "
            "`--all` polls them now\n"
        )
    if summary.state_warning:
        out.write(f"warning: {summary.state_warning}\n")
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


def _smtp_settings(args: argparse.Namespace) -> SmtpSettings | None:
    if not args.send:
        return None
    from newswatch.mail import BLOCK_VAR, MailConfigError, smtp_settings

    try:
        if os.environ.get(BLOCK_VAR, "").strip():
            _prefect_defaults()  # the block lives in the Prefect API
        settings = smtp_settings(os.environ, recipients_override=args.to or ())
    except MailConfigError as exc:
        raise UserError(str(exc)) from None
    if settings is None:
        raise UserError(
            "--send needs NEWSWATCH_SMTP_URL (e.g. smtp://user:password@smtp.example.org:587) "
            "or NEWSWATCH_SMTP_BLOCK, plus NEWSWATCH_MAIL_FROM and NEWSWATCH_MAIL_TO; "
            "see README 'Sending the digest by email'"
        )
    from newswatch.mail import MailError, check_server

    try:
        check_server(settings)  # unreachable or refusing: a config error, nothing written
    except MailError as exc:
        raise UserError(
            f"{exc}; nothing was sent or recorded - fix NEWSWATCH_SMTP_URL (or start the "
            "server) and run again"
        ) from None
    return settings


def cmd_digest(args: argparse.Namespace, out: TextIO) -> int:
    return _digest(args, out, _smtp_settings(args))


def _digest(args: argparse.Namespace, out: TextIO, smtp: SmtpSettings | None) -> int:
    # `smtp` was resolved and checked against the server up front; the flow resolves the
    # same settings itself (they are never a flow parameter, Prefect stores those).
    _load(args)
    on_date = _parse_date(args.date)
    db = resolve_db_path(args.db)
    if args.send:
        _check_db_writable(db)
    _check_warehouse(db)
    _prefect_defaults()
    from newswatch.flows.digest import DigestFailed, digest_flow
    from newswatch.interrupt import prompt_exit_on_interrupt
    from newswatch.run_console import quiet_console

    try:
        with prompt_exit_on_interrupt("newswatch: interrupted"), quiet_console():
            summary = asyncio.run(
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
    print_digest_summary(summary, out)
    return EXIT_OK


def print_digest_summary(summary: Any, out: TextIO) -> None:
    for warning in summary.warnings:
        out.write(f"warning: {warning}\n")
    out.write(f"digest {summary.date}: {summary.subject}\n")
    out.write(f"  {summary.stories} stories from {summary.articles} matched articles\n")
    for note in summary.notes:
        out.write(f"  note: {note}\n")
    out.write(f"  html: {summary.files.html}\n  text: {summary.files.text}\n")
    if summary.files.eml:
        out.write(f"  eml:  {summary.files.eml}\n")
    verdict = {
        "rendered": "rendered (not sent; add --send to email it)",
        "sent": "sent",
        "skipped": "not sent again",
        "failed": "SEND FAILED (recorded; the next run will include this window)",
    }[summary.status]
    out.write(f"  status: {verdict}{f' - {summary.message}' if summary.message else ''}\n")
    if summary.timings:
        timing = ", ".join(f"{k} {v:.2f}" for k, v in summary.timings.items())
        out.write(f"  timings (s): {timing}\n")


def cmd_run(args: argparse.Namespace, out: TextIO) -> int:
    smtp = _smtp_settings(args)  # fail before polling when --send cannot work
    status = cmd_poll(args, out)
    if status != EXIT_OK:
        return status
    out.write("\n")
    return _digest(args, out, smtp)


# -- match ----------------------------------------------------------------------------


def cmd_match(args: argparse.Namespace, out: TextIO) -> int:
    from newswatch.topics import UnknownTopic, match_jsonl

    config = _load(args)
    try:
        topics = [config.matcher.topic_named(t) for t in args.topic] if args.topic else None
    except UnknownTopic as exc:
        raise UserError(str(exc)) from None
    for line in match_jsonl(sys.stdin, config.matcher, verbose=args.verbose, topics=topics):
        out.write(line + "\n")
    return EXIT_OK


def cmd_rematch(args: argparse.Namespace, out: TextIO) -> int:
    from newswatch.rematch import rematch

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
        )
    except ValueError as exc:
        raise UserError(str(exc)) from None
    signs = {"added": "+", "removed": "-"}
    for change in result.changes:
        if change.change in signs:
            out.write(
                f"{signs[change.change]} {change.topic:<12} {change.article_id}  "
                f"{change.title[:90]}\n"
            )
    verb = "would change" if args.dry_run else "changed"
    out.write(
        f"{result.checked} articles checked; {verb}: {result.count('added')} added, "
        f"{result.count('removed')} removed, {result.count('updated')} re-explained"
        f"{' (dry run: nothing written)' if args.dry_run else ''}\n"
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

    p = add("poll", cmd_poll, "Poll every feed once, store new articles, print a per-feed summary.")
    sources_opt(p)
    db_opt(p)
    all_opt(p)
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

    p = add("run", cmd_run, "Poll every feed, then render (and --send) the digest.")
    sources_opt(p)
    db_opt(p)
    all_opt(p)
    digest_opts(p)

    p = add(
        "match", cmd_match, "Match JSON lines {id, title, summary} from stdin against the topics."
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

    from newswatch import analyst

    analyst.register(add, db_opt)

    from newswatch.health import add_feeds_command
    from newswatch.serve import add_serve_command

    add_serve_command(sub, sources_opt, db_opt)
    add_feeds_command(sub, sources_opt, db_opt)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args, out))
    except (ConfigError, UserError) as exc:
        print(f"newswatch: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("newswatch: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `newswatch query ... | head`: the reader left; that is not an error.
        sys.stderr.close()
        return EXIT_OK
    except Exception as exc:  # known failure types from deeper layers
        message = _expected_message(exc)
        if message is None:
            raise
        print(f"newswatch: error: {message}", file=sys.stderr)
        return EXIT_USAGE


def console_main() -> NoReturn:
    """The `newswatch` console script: `main()`, then a quick exit.

    Tearing down an interpreter that has loaded Prefect, DuckDB and Arrow takes ~1 s here
    (measured: the same imports and nothing else, 1.0-1.2 s after the last line of code)
    and serves nothing once the command's work is done. Everything a normal exit would do
    first still happens: other threads are waited for and exit handlers run (Prefect's
    flush its logs and events to the API), then the process ends without the teardown.
    """
    try:
        code = main()
    except SystemExit as exc:  # argparse's --help and usage errors
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
        if exc.code is not None and not isinstance(exc.code, int):
            print(exc.code, file=sys.stderr)
    current = threading.current_thread()
    for thread in threading.enumerate():
        if thread is not current and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        # closed, or a reader that left (`| head`)
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def _expected_message(exc: BaseException) -> str | None:
    from newswatch.dbwait import DbWaitError
    from newswatch.poll import PollAlreadyRunning
    from newswatch.warehouse import WarehouseError

    if isinstance(exc, WarehouseError | PollAlreadyRunning | DbWaitError):
        return str(exc)
    return None


if __name__ == "__main__":
    console_main()
