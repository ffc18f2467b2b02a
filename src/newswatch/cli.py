"""The `newswatch` command.

Expected failures (bad config, locked or unwritable warehouse, bad SMTP settings) print one
line naming the cause and exit with status 2; a poll where some feeds failed still exits 0,
because their failures are recorded and shown.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from newswatch.config import Config, ConfigError, load_config
from newswatch.paths import resolve_db_path

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class UserError(Exception):
    """An expected failure with a message for the user (exit status 2)."""


def _prefect_defaults() -> None:
    # Quiet, offline-friendly defaults; anything the user set wins.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")


def _load(args: argparse.Namespace) -> Config:
    return load_config(args.sources)


def _check_db_writable(db: Path) -> None:
    folder = db.parent if str(db.parent) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the warehouse folder {folder}: {exc.strerror}") from None
    if not os.access(folder, os.W_OK) or (db.exists() and not os.access(db, os.W_OK)):
        raise UserError(
            f"the warehouse {db} is not writable; fix the permissions or pass --db with a writable path"
        )


# -- poll -----------------------------------------------------------------------------


def cmd_poll(args: argparse.Namespace, out: TextIO) -> int:
    _load(args)
    db = resolve_db_path(args.db)
    _check_db_writable(db)
    _prefect_defaults()
    from newswatch.flows.poll import poll_flow

    summary = asyncio.run(poll_flow(sources=args.sources, db=str(db), due_only=False))
    print_poll_summary(summary, out)
    return EXIT_OK


def print_poll_summary(summary: Any, out: TextIO) -> None:
    reports = sorted(summary.reports, key=lambda r: (r.outcome != "error", r.name.lower()))
    marks = {"ok": "ok", "unchanged": "same", "not_modified": "304", "error": "FAIL", "skipped": "skip"}
    width = max((len(r.name) for r in reports), default=10)
    for r in reports:
        detail = r.error if r.outcome == "error" else f"{r.entries} entries" if r.entries else ""
        status = str(r.http_status or "-")
        out.write(
            f"{marks.get(r.outcome, r.outcome):>4}  {r.name:<{width}}  {status:>3}  "
            f"{r.duration_ms:7.0f} ms  {detail}\n"
        )
    failed = sum(1 for r in summary.reports if r.outcome == "error")
    out.write(
        f"\n{len(summary.reports)} feeds: {len(summary.reports) - failed} ok, {failed} failed; "
        f"{summary.new_articles} new articles, {summary.new_matches} new topic matches, "
        f"{summary.clusters} stories\n"
    )
    if summary.state_warning:
        out.write(f"warning: {summary.state_warning}\n")
    if summary.store_message:
        out.write(f"note: {summary.store_message}\n")
    timing = ", ".join(f"{k} {v:.2f}" for k, v in summary.timings.items())
    out.write(f"timings (s): {timing}\n")


# -- match ----------------------------------------------------------------------------


def cmd_match(args: argparse.Namespace, out: TextIO) -> int:
    from newswatch.topics import match_jsonl

    config = _load(args)
    for line in match_jsonl(sys.stdin, config.matcher):
        out.write(line + "\n")
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
            "--sources", metavar="FILE",
            help="sources file (default: $NEWSWATCH_SOURCES, else the bundled sources.yaml)",
        )

    def db_opt(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--db", metavar="FILE",
            help="DuckDB file (default: $NEWSWATCH_DB, else warehouse/newswatch.duckdb)",
        )

    p = add("poll", cmd_poll, "Poll every feed once, store new articles, print a per-feed summary.")
    sources_opt(p)
    db_opt(p)

    p = add("match", cmd_match, "Match JSON lines {id, title, summary} from stdin against the topics.")
    sources_opt(p)
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
    except Exception as exc:  # known failure types from deeper layers
        message = _expected_message(exc)
        if message is None:
            raise
        print(f"newswatch: error: {message}", file=sys.stderr)
        return EXIT_USAGE


def _expected_message(exc: BaseException) -> str | None:
    from newswatch.poll import PollAlreadyRunning
    from newswatch.warehouse import WarehouseError

    if isinstance(exc, WarehouseError | PollAlreadyRunning):
        return str(exc)
    return None


if __name__ == "__main__":
    raise SystemExit(main())
