"""`newswatch feeds`: one line per feed saying whether it works, so no feed fails silently.

The warehouse is opened read-only (a running poll is never disturbed); a warehouse that does
not exist yet shows every feed as "never polled".
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO
from zoneinfo import ZoneInfo

from newswatch.config import Config
from newswatch.digest.timefmt import zone_label
from newswatch.models import FeedCadence, FeedHealth
from newswatch.orchestrate.schedule import feed_health, resolve_timezone
from newswatch.store import warehouse
from newswatch.store.article_pages import FeedPages, failure_words, pages_by_feed

if TYPE_CHECKING:
    import duckdb

STATUS_WORDS = {
    "ok": "ok",
    "failing": "FAILING",
    "quiet": "quiet",
    "never_polled": "never polled",
    "disabled": "disabled",
}


def read_health(
    config: Config, con: duckdb.DuckDBPyConnection | None, now: datetime
) -> list[FeedHealth]:
    """The health of every feed in the sources file, in file order, from an open warehouse
    connection (None: no warehouse yet). The digest footer and `newswatch feeds` both use it,
    so they never disagree. "Quiet" is judged on each feed's own history, however old its
    last item: a feed silent for months stays quiet, a weekly one is measured in weeks."""
    rows: dict[str, warehouse.FeedRow] = {}
    cadences: dict[str, FeedCadence] = {}
    if con is not None and warehouse.schema_version(con) > 0:
        rows = {r.url: r for r in warehouse.feed_rows(con)}
        cadences = warehouse.feed_cadence(con, now)
    out = []
    for source in config.feeds:
        row = rows.get(source.url)
        health = feed_health(
            source,
            row.state if row else None,
            row.last_error if row else None,
            cadences.get(source.url, FeedCadence()),
            now,
        )
        if not source.enabled:
            health = FeedHealth(
                url=health.url, name=health.name, status="disabled",
                last_attempt_at=health.last_attempt_at, last_success_at=health.last_success_at,
                items_per_day=health.items_per_day, last_item_at=health.last_item_at,
                usual_gap_s=health.usual_gap_s,
            )  # fmt: skip
        out.append(health)
    return out


def health_at(config: Config, last: dict[str, warehouse.LastFetch]) -> list[FeedHealth]:
    """The health of every feed of the sources file as it was at some past moment (a past
    day's digest: today's failures did not happen then), from `last`, each feed's latest
    fetch up to that moment (warehouse.last_fetches_before): failing when it failed, never
    polled when there was none; "quiet" is not judged back in time."""
    out = []
    for source in config.feeds:
        fetch = last.get(source.url)
        if not source.enabled:
            status = "disabled"
        elif fetch is None:
            status = "never_polled"
        else:
            status = "failing" if fetch.outcome == "error" else "ok"
        failing = status == "failing"
        out.append(
            FeedHealth(
                url=source.url,
                name=source.name,
                status=status,
                last_error=fetch.error if fetch is not None and failing else None,
                last_attempt_at=fetch.started_at if fetch is not None else None,
                consecutive_failures=1 if failing else 0,
            )
        )
    return out


def collect_health(config: Config, db: Path, now: datetime) -> list[FeedHealth]:
    """read_health of the warehouse at `db`, opened read-only (a running poll is never
    disturbed); a warehouse that does not exist yet shows every feed as "never polled"."""
    if not db.exists():
        return read_health(config, None, now)
    with warehouse.connect(db, read_only=True, wait_seconds=10.0) as con:
        return read_health(config, con, now)


def unlisted_feeds(config: Config, db: Path) -> list[warehouse.FeedRow]:
    """Feeds the warehouse holds (polled with another sources file) that `config` does not
    list, by name: `newswatch feeds` warns of them, since it shows only the listed ones."""
    if not db.exists():
        return []
    listed = {f.url for f in config.feeds}
    with warehouse.connect(db, read_only=True, wait_seconds=10.0) as con:
        if warehouse.schema_version(con) == 0:
            return []
        rows = warehouse.feed_rows(con)
    return sorted(
        (r for r in rows if r.url not in listed), key=lambda r: (r.name.casefold(), r.url)
    )


# How far back `newswatch feeds` counts each feed's article pages.
PAGE_DAYS = 7
# The schema version that added `article_fetches` (migrations/0006_article_fetches.sql).
ARTICLE_FETCHES_SCHEMA = 6


def collect_pages(config: Config, db: Path, now: datetime) -> dict[str, FeedPages]:
    """What fetching the article pages of each feed came to in the last PAGE_DAYS days
    (empty without a warehouse, or when no feed fetches its pages)."""
    if not db.exists() or not any(f.fetch_article != "off" for f in config.feeds):
        return {}
    with warehouse.connect(db, read_only=True, wait_seconds=10.0) as con:
        if warehouse.schema_version(con) < ARTICLE_FETCHES_SCHEMA:
            return {}  # no article_fetches yet (opened read-only: not migrated)
        return pages_by_feed(con, now - timedelta(days=PAGE_DAYS))


def format_pages(config: Config, pages: Mapping[str, FeedPages]) -> str:
    """One line per feed that fetches its article pages: how many were read, had no article
    text, or failed (and why), over the last PAGE_DAYS days."""
    feeds = [f for f in config.feeds if f.enabled and f.fetch_article != "off"]
    if not feeds:
        return ""
    lines = [f"Article pages, last {PAGE_DAYS} days (article_fetches has each):"]
    width = max(len(f.name) for f in feeds)
    for feed in feeds:
        p = pages.get(feed.url)
        mode = "" if feed.fetch_article == "all" else f" [{feed.fetch_article}]"
        if p is None or not p.fetched:
            lines.append(f"  {feed.name.ljust(width)}  none fetched yet{mode}")
            continue
        why = failure_words(p.failures)
        lines.append(
            f"  {feed.name.ljust(width)}  {p.extracted} of {p.fetched} read"
            + (f", {p.no_text} without article text" if p.no_text else "")
            + (f", {p.failed} failed ({why})" if p.failed else "")
            + mode
        )
    return "\n".join(lines) + "\n"


def _when(value: datetime | None, zone: ZoneInfo) -> str:
    return "-" if value is None else f"{value.astimezone(zone):%Y-%m-%d %H:%M}"


def _next_poll(health: FeedHealth, now: datetime, zone: ZoneInfo) -> str:
    if health.status == "disabled":
        return "-"
    if health.next_poll_at is None or health.next_poll_at <= now:
        return "due now"
    return _when(health.next_poll_at, zone)


def _rate(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if value < 10 else f"{value:.0f}"


COLUMNS = ("FEED", "STATUS", "LAST SUCCESS", "FAILS", "NEXT POLL", "ITEMS/DAY", "LAST ERROR")


def health_rows(
    healths: Sequence[FeedHealth], now: datetime, zone: ZoneInfo
) -> list[tuple[str, ...]]:
    return [
        (
            h.name,
            STATUS_WORDS.get(h.status, h.status),
            _when(h.last_success_at, zone),
            str(h.consecutive_failures) if h.consecutive_failures else "-",
            _next_poll(h, now, zone),
            _rate(h.items_per_day),
            h.last_error or "",
        )
        for h in healths
    ]


def format_table(
    healths: Sequence[FeedHealth],
    now: datetime,
    zone: ZoneInfo,
    *,
    error_width: int = 60,
    tags: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """A plain-text table (it must read well in a log file and over ssh). `tags` (feed URL ->
    its sources.yaml tags) adds a TAGS column after the feed's name when any feed has one."""
    rows = [
        (*row[:-1], row[-1] if len(row[-1]) <= error_width else row[-1][: error_width - 1] + "…")
        for row in health_rows(healths, now, zone)
    ]
    columns: tuple[str, ...] = COLUMNS
    right = {3, 5}  # FAILS and ITEMS/DAY are numbers: right-aligned
    if tags and any(tags.get(h.url) for h in healths):
        columns, right = (COLUMNS[0], "TAGS", *COLUMNS[1:]), {4, 6}
        rows = [
            (row[0], ", ".join(tags.get(h.url, ())) or "-", *row[1:])
            for h, row in zip(healths, rows, strict=True)
        ]
    widths = [max(len(c) for c in col) for col in zip(columns, *rows, strict=False)]
    lines = []
    for row in (columns, *rows):
        cells = [cell.rjust(w) if i in right else cell.ljust(w)
                 for i, (cell, w) in enumerate(zip(row, widths, strict=True))]  # fmt: skip
        lines.append("  ".join(cells).rstrip())
    counts: dict[str, int] = {}
    for h in healths:
        counts[h.status] = counts.get(h.status, 0) + 1
    summary = ", ".join(
        f"{counts[s]} {STATUS_WORDS[s].lower()}" for s in STATUS_WORDS if counts.get(s)
    )
    lines.append("")
    lines.append(f"{len(healths)} feeds: {summary}. Times are {zone_label(zone, now)}.")
    return "\n".join(lines) + "\n"


def cmd_feeds(args: argparse.Namespace, out: TextIO) -> int:
    from newswatch.config import load_config
    from newswatch.paths import resolve_db_path

    config = load_config(args.sources)
    db = resolve_db_path(args.db)
    warehouse.check_usable(db)
    now = datetime.now(UTC)
    zone = resolve_timezone(config.schedule.timezone)
    healths = collect_health(config, db, now)
    if not db.exists():
        out.write(f"no warehouse at {db} yet; run `newswatch poll` first\n\n")
    out.write(format_table(healths, now, zone, tags={f.url: f.tags for f in config.feeds}))
    pages = format_pages(config, collect_pages(config, db, now))
    if pages:
        out.write("\n" + pages)
    unlisted = unlisted_feeds(config, db)
    if unlisted:
        n = len(unlisted)
        out.write(
            f"warning: the warehouse {db} also holds {n} feed{'s' if n != 1 else ''} that "
            f"{config.path} does not list (polled with another sources file?)"
            + (": " if args.unlisted else "; `--unlisted` lists them, `--sources FILE` shows "
               "the file they were polled with")
            + "\n"
        )  # fmt: skip
        if args.unlisted:
            for row in unlisted:
                last = _when(row.state.last_success_at, zone)
                out.write(f"  {row.name}  {row.url}  (last success {last})\n")
    return 0


def add_feeds_command(sub: Any, sources_opt: Any, db_opt: Any) -> None:
    """Register `newswatch feeds` on the CLI's subparsers."""
    help_text = "Show each feed's health: status, last success, failures, next poll, items/day."
    p = sub.add_parser("feeds", help=help_text, description=help_text)
    p.set_defaults(func=cmd_feeds)
    sources_opt(p)
    db_opt(p)
    p.add_argument(
        "--unlisted",
        action="store_true",
        help="also list the feeds the warehouse holds that the sources file does not list",
    )
