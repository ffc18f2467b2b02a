"""Analyst commands: `newswatch query`, `newswatch search`, `newswatch export`.

Argument handling and printing only; every SQL statement lives in warehouse.py. Databases are
opened read-only (a pipeline write waits at most NEWSWATCH_DB_WAIT for us, and we for it).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import re
import secrets
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TextIO

from newswatch.digest import timefmt
from newswatch.errors import AnalystError, DbWaitError, SearchUnavailable
from newswatch.paths import resolve_db_path
from newswatch.store import export, search, warehouse
from newswatch.store.dbwait import db_wait_seconds
from newswatch.store.snippets import best_snippet

Command = Callable[[argparse.Namespace, TextIO], int]
AddCommand = Callable[[str, Command, str], argparse.ArgumentParser]

FORMATS = ("table", "csv", "json", "parquet")
CELL_WIDTH = 60


def _wait() -> float:
    try:
        return db_wait_seconds()
    except DbWaitError as exc:
        raise AnalystError(str(exc)) from None


# -- query ----------------------------------------------------------------------------


_SQL_COMMENTS = re.compile(r"--[^\n]*|/\*.*?(?:\*/|$)", re.S)


def sql_is_empty(sql: str) -> bool:
    """True for SQL with no statement: blank, only ';', only comments."""
    return not _SQL_COMMENTS.sub(" ", sql).replace(";", " ").strip()


def cmd_query(args: argparse.Namespace, out: TextIO) -> int:
    if sql_is_empty(args.sql):
        raise AnalystError(
            "query: the SQL has no statement (it is empty, ';' or only comments); "
            'e.g. newswatch query "SELECT * FROM feed_health"'
        )
    if args.format == "parquet" and not args.out:
        raise AnalystError("--format parquet writes a file: add --out FILE")
    target = _output_file(args.out) if args.out else None  # before a long query, not after
    args.format = args.format or (_format_of(target) if target is not None else "table")
    db = resolve_db_path(args.db)
    with warehouse.connect(db, read_only=True, wait_seconds=_wait()) as con:
        with contextlib.suppress(SearchUnavailable):
            search.load_fts(con)  # so queries may use the search index's match_bm25
        table = export.run_query(con, args.sql)
        statements = export.statement_count(con, args.sql)
    if statements > 1:
        # Not on `out`: a note there would corrupt CSV or JSON output.
        sys.stderr.write(
            f"note: the SQL has {statements} statements; this is the result of the last one\n"
        )
    if target is not None and args.format == "parquet":
        import pyarrow.parquet as pq

        _write_file(target, lambda path: pq.write_table(table, path, compression="zstd"))
        out.write(f"{table.num_rows} rows written to {target}\n")
        return 0
    columns = list(table.column_names)
    rows = [tuple(r.values()) for r in table.to_pylist()]
    if target is not None:

        def write_text(path: Path) -> None:
            with open(path, "w", encoding="utf-8", newline="") as fh:
                write_rows(args.format, columns, rows, fh, cut=False)

        _write_file(target, write_text)
        out.write(f"{len(rows)} rows written to {target}\n")
    else:
        write_rows(args.format, columns, rows, out)
    return 0


# --out FILE without --format: the format its name says.
_SUFFIX_FORMATS = {".csv": "csv", ".json": "json", ".parquet": "parquet", ".txt": "table"}


def _format_of(path: Path) -> str:
    fmt = _SUFFIX_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise AnalystError(
            f"cannot tell the format of {path.name} from its name; add --format csv, json, "
            "parquet or table (or name it .csv, .json, .parquet or .txt)"
        )
    return fmt


def _reason(exc: OSError) -> str:
    return os.strerror(exc.errno) if exc.errno else str(exc).splitlines()[0]


def _output_file(text: str) -> Path:
    """--out FILE, checked before the query runs: its folder must exist, it must not be one."""
    path = Path(text).expanduser()
    folder = path.parent
    if path.is_dir():
        raise AnalystError(f"cannot write {path}: it is a folder; --out names a file")
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise AnalystError(f"cannot write {path}: the folder {folder} {what}")
    return path


def _write_file(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temporary file beside `path`, renamed over it when complete: a failed
    write leaves no half file (and keeps an earlier one)."""
    # Created like any file (umask applies), not mkstemp's owner-only mode.
    part = path.parent / f".{path.name}.{secrets.token_hex(4)}.part"
    try:
        part.touch(exist_ok=False)
    except OSError as exc:
        raise AnalystError(f"cannot write {path}: {_reason(exc)}") from None
    try:
        write(part)
        os.replace(part, path)
    except OSError as exc:
        raise AnalystError(f"cannot write {path}: {_reason(exc)}") from None
    finally:
        part.unlink(missing_ok=True)


def write_rows(
    fmt: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    out: TextIO,
    *,
    cut: bool = True,
) -> None:
    """Rows as csv, json or a table; a table's cells are cut at CELL_WIDTH on a screen
    (`cut`), never in a file."""
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[_text(v) for v in r] for r in rows])
    elif fmt == "json":
        out.write(
            json.dumps(
                [dict(zip(columns, r, strict=True)) for r in rows],
                default=_json_value,
                ensure_ascii=False,
                indent=1,
            )
            + "\n"
        )
    else:
        _write_table(columns, rows, out, cut=cut)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, default=_json_value, ensure_ascii=False)
    return str(value)


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _write_table(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], out: TextIO, *, cut: bool = True
) -> None:
    cells = [[_cell(v, cut) for v in r] for r in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    out.write("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip() + "\n")
    out.write("  ".join("-" * w for w in widths) + "\n")
    for r in cells:
        out.write("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n")
    out.write(f"({len(rows)} row{'s' if len(rows) != 1 else ''})\n")


def _cell(value: Any, cut: bool = True) -> str:
    text = " ".join(_text(value).split())
    return text if not cut or len(text) <= CELL_WIDTH else text[: CELL_WIDTH - 1] + "…"


# -- search ---------------------------------------------------------------------------


def parse_since(text: str | None) -> datetime | None:
    """YYYY-MM-DD (UTC midnight) or an ISO date-time (UTC when it names no offset)."""
    if text is None:
        return None
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        # "2026-13-01" has the shape of a date but is none: say what is wrong with it.
        why = f" ({exc})" if re.fullmatch(r"\d{4}-\d\d-\d\d", text[:10]) else ""
        raise AnalystError(
            f"--since must be YYYY-MM-DD or an ISO date-time, got {text!r}{why}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# Quotes a keyboard or a word processor types around a phrase.
_QUOTES = str.maketrans({c: '"' for c in "“”„‟«»"})
_SEARCH_PART = re.compile(r'(-?)"([^"]*)"|(\S+)')


def parse_search_terms(text: str) -> tuple[list[str], list[str], list[str]]:
    """A search's words (a "-word" as written), its "phrases" and its -"phrases"; a quote
    that is never closed is an AnalystError."""
    text = text.translate(_QUOTES)
    if text.count('"') % 2:
        raise AnalystError(
            f'search {text!r}: a quote is never closed; put a phrase in quotes: "Black Sea"'
        )
    words: list[str] = []
    phrases: list[str] = []
    excluded: list[str] = []
    for m in _SEARCH_PART.finditer(text):
        if m.group(3) is not None:
            words.append(m.group(3))
        elif m.group(2).strip():
            (excluded if m.group(1) else phrases).append(" ".join(m.group(2).split()))
    return words, phrases, excluded


def cmd_search(args: argparse.Namespace, out: TextIO) -> int:
    if args.limit < 1:
        raise AnalystError("--limit must be at least 1")
    from newswatch.config import load_config
    from newswatch.errors import UnknownTopic
    from newswatch.match.topics import designation_key, designation_variants
    from newswatch.orchestrate.schedule import resolve_timezone

    since = parse_since(args.since)
    tag = _tag(args)
    config = load_config(getattr(args, "sources", None))
    zone = resolve_timezone(config.schedule.timezone)
    topic = None
    if args.topic:
        try:
            topic = config.matcher.topic_named(args.topic)
        except UnknownTopic as exc:
            raise AnalystError(str(exc)) from None
    # "-word" leaves out the articles that have the word; "a phrase" keeps those that have
    # it, -"a phrase" leaves them out.
    words, phrases, excluded_phrases = parse_search_terms(args.terms)
    without = " ".join(w[1:] for w in words if w.startswith("-") and len(w) > 1)
    terms = " ".join([*(w for w in words if not (w.startswith("-") and len(w) > 1)), *phrases])
    exclude = " ".join([without, *designation_variants(without)]) if without else ""
    if not terms:
        if topic is None:
            listing = "; or give --topic T and no word to list that topic's articles, newest first"
            if without:
                raise AnalystError(
                    f"search {args.terms!r} has no word to look for, only words to leave out "
                    f"(-word){listing}"
                )
            raise AnalystError(f'search needs a word to look for, e.g. "S-400 delivery"{listing}')
        return _list_topic(args, out, topic, since, exclude, zone, tag, excluded_phrases)
    # The matcher's rule for designations: S-400 = S400 = S 400 (the index holds whichever
    # form the article wrote); topics the query names rank their articles first.
    query = " ".join([terms, *designation_variants(terms)])
    wanted = f" {designation_key(terms)} "
    boost = [t for t in config.topic_names if f" {designation_key(t)} " in wanted]
    with _search_connection(args, tag) as con:
        hits = search.search_articles(
            con,
            query,
            topic=topic,
            since=since,
            limit=args.limit,
            boost_topics=boost,
            exclude=exclude,
            tag=tag,
            phrases=phrases,
            exclude_phrases=excluded_phrases,
        )
        stems = search.search_stems(con, query)
        narrowed = [
            label
            for label, used in (
                (f"--topic {topic}", topic),
                (f"--tag {tag}", tag),
                (f"--since {args.since}", since),
            )
            if used
        ]
        unfiltered = 0
        if not hits and narrowed and args.format != "json":
            # Say whether it is the words or the filters that find nothing.
            unfiltered = len(
                search.search_articles(
                    con,
                    query,
                    limit=1000,
                    exclude=exclude,
                    phrases=phrases,
                    exclude_phrases=excluded_phrases,
                )
            )
    if args.format == "json":
        _write_json(out, hits, stems, scored=True)
        return 0
    if not hits:
        if unfiltered:
            out.write(
                f"no articles match {args.terms!r} with {' '.join(narrowed)}; "
                f"{unfiltered}{'+' if unfiltered == 1000 else ''} without "
                f"{'it' if len(narrowed) == 1 else 'them'}\n"
            )
        else:
            out.write(f"no articles match {args.terms!r}\n")
        return 0
    _write_hits(out, hits, stems, zone, scored=True)
    ranked = f"; articles matching {', '.join(boost)} first" if boost else ""
    out.write(
        f"{len(hits)} result{'s' if len(hits) != 1 else ''}{ranked}. "
        f"Times are {timefmt.zone_label(zone, datetime.now(UTC))}.\n"
    )
    return 0


def _write_json(out: TextIO, hits: Sequence[Any], stems: Sequence[str], *, scored: bool) -> None:
    """Search hits as a JSON list: rank, score (None for a topic's listing), the article."""
    records = [
        {
            "rank": i,
            "score": round(h.score, 4) if scored else None,
            "id": h.id,
            "title": h.title,
            "source": h.source,
            "url": h.url,
            "published_at": h.published_at.isoformat(),
            "topics": list(h.topics),
            "cluster_id": h.cluster_id,
            "snippet": best_snippet((h.summary, h.content), stems),
        }
        for i, h in enumerate(hits, 1)
    ]
    out.write(json.dumps(records, ensure_ascii=False, indent=1) + "\n")


def _write_hits(
    out: TextIO, hits: Sequence[Any], stems: Sequence[str], zone: Any, *, scored: bool
) -> None:
    """Search hits on the screen: title; score (when ranked), time, outlet, topics; link;
    the best snippet."""
    for i, h in enumerate(hits, 1):
        topics = f"  [{', '.join(h.topics)}]" if h.topics else ""
        score = f"{h.score:.2f}  " if scored else ""
        out.write(
            f"{i:>2}. {h.title}\n    {score}{timefmt.local(h.published_at, zone)}  "
            f"{h.source}{topics}\n    {h.url}\n"
        )
        text = best_snippet((h.summary, h.content), stems)
        if text:
            out.write(f"    {text}\n")
        out.write("\n")


def _tag(args: argparse.Namespace) -> str | None:
    """`--tag`, stripped; None when not given."""
    if args.tag is None:
        return None
    tag = str(args.tag).strip()
    if not tag or "," in tag:
        raise AnalystError(f"--tag takes one feed tag (no commas), got {args.tag!r}")
    return tag


def _list_topic(
    args: argparse.Namespace,
    out: TextIO,
    topic: str,
    since: datetime | None,
    exclude: str,
    zone: Any,
    tag: str | None = None,
    excluded_phrases: Sequence[str] = (),
) -> int:
    """`search "" --topic T`: the topic's articles, newest first (no ranking, no score)."""
    with _search_connection(args, tag) as con:
        hits = search.topic_articles(
            con,
            topic,
            since=since,
            limit=args.limit,
            exclude=exclude,
            tag=tag,
            exclude_phrases=excluded_phrases,
        )
    if args.format == "json":
        _write_json(out, hits, [], scored=False)
        return 0
    if not hits:
        out.write(f"no articles matched {topic}\n")
        return 0
    _write_hits(out, hits, [], zone, scored=False)
    shown = (
        f"the {len(hits)} newest articles that matched {topic} (--limit {args.limit}; more may "
        "have)"
        if len(hits) == args.limit
        else f"{len(hits)} article{'s' if len(hits) != 1 else ''} that matched {topic}, newest "
        "first"
    )
    out.write(f"{shown}. Times are {timefmt.zone_label(zone, datetime.now(UTC))}.\n")
    return 0


@contextlib.contextmanager
def _search_connection(args: argparse.Namespace, tag: str | None) -> Iterator[Any]:
    """The warehouse, read-only, for a search: its index rebuilt first with `--reindex`, and
    a `--tag` no feed carries refused."""
    db = resolve_db_path(args.db)
    if args.reindex:
        with warehouse.connect(db, wait_seconds=_wait()) as con:
            search.refresh_search_index(con, rebuild=True)
    with warehouse.connect(db, read_only=True, wait_seconds=_wait()) as con:
        _check_tag(con, tag)
        yield con


def _check_tag(con: Any, tag: str | None) -> None:
    """A `--tag` no feed carries is a mistake to name, not an empty result."""
    if tag is None:
        return
    from newswatch.config import tag_key  # search has loaded the config already

    known = search.feed_tags(con)
    if tag_key(tag) not in {tag_key(t) for t in known}:
        in_use = f"the tags in use: {', '.join(known)}" if known else "no feed has tags yet"
        raise AnalystError(f"--tag {tag!r}: no feed is tagged so ({in_use})")


# -- export ---------------------------------------------------------------------------


def cmd_export(args: argparse.Namespace, out: TextIO) -> int:
    db = resolve_db_path(args.db)
    target = Path(args.out).expanduser()
    with warehouse.connect(db, read_only=True, wait_seconds=_wait()) as con:
        tables = export.export_parquet(con, target)
    for t in tables:
        layout = "day=YYYY-MM-DD/" if t.partitioned else ""
        out.write(f"{t.name:<17} {t.rows:>9} rows  {t.path}{'/' + layout if layout else ''}\n")
    out.write(
        f"read with: SELECT * FROM read_parquet('{target}/articles/*/*.parquet', "
        "hive_partitioning = true)\n"
    )
    return 0


# -- registration ---------------------------------------------------------------------


def register(add: AddCommand, db_opt: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add the analyst commands to the `newswatch` parser (called by cli.build_parser)."""
    p = add("query", cmd_query, "Run SQL against the warehouse (read-only) and print the result.")
    p.add_argument("sql", metavar="SQL", help='e.g. "SELECT * FROM feed_health"')
    db_opt(p)
    p.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="output format (default: table; with --out, the one its name ends in: "
        ".csv, .json, .parquet, .txt)",
    )
    p.add_argument(
        "--out", metavar="FILE", help="write to FILE instead of stdout (parquet: required)"
    )

    p = add(
        "search",
        cmd_search,
        "Full-text search of article titles, summaries and bodies (BM25-ranked).",
    )
    p.add_argument(
        "terms",
        metavar="TERMS",
        help='words to look for, e.g. "S-400 delivery"; -word leaves out articles that have '
        'it: "Iran -nuclear"; a phrase in quotes needs its words in order: \'"Red Sea"\', '
        '-"a phrase" leaves it out; "" with --topic lists that topic\'s articles, newest first',
    )
    db_opt(p)
    p.add_argument(
        "--topic", metavar="T", help="only articles that matched this topic (case does not matter)"
    )
    p.add_argument(
        "--sources",
        metavar="FILE",
        help="sources file: its topics and time zone (default: $NEWSWATCH_SOURCES, else the "
        "bundled sources.yaml)",
    )
    p.add_argument(
        "--since", metavar="DATE", help="only articles published since (YYYY-MM-DD, UTC)"
    )
    p.add_argument(
        "--tag",
        metavar="TAG",
        help="only articles of feeds with this tag (sources.yaml `tags`; case does not matter)",
    )
    p.add_argument(
        "--limit", metavar="N", type=int, default=20, help="at most N results (default 20)"
    )
    p.add_argument("--format", choices=("table", "json"), default="table", help="output format")
    p.add_argument(
        "--reindex",
        action="store_true",
        help="rebuild the search index first (needs a moment of write access)",
    )

    p = add("export", cmd_export, "Write the warehouse as day-partitioned Parquet for other tools.")
    db_opt(p)
    p.add_argument("--format", choices=("parquet",), default="parquet", help="only parquet")
    p.add_argument(
        "--out", metavar="DIR", required=True, help="folder to write (tables replaced whole)"
    )
