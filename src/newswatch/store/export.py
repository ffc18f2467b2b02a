"""The analyst's way out of the warehouse: `newswatch query` (read-only SQL) and
`newswatch export` (the tables as Parquet, partitioned by the articles' day).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from newswatch.errors import QueryError, WarehouseError
from newswatch.store.warehouse import _count, _first_line, _sql_path


def run_query(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    """Run one analyst query and return its result as a pyarrow Table."""
    try:
        result = con.execute(sql)
        if result is None or result.description is None:
            raise QueryError("the SQL returned no result (it has no SELECT or similar statement)")
        return result.to_arrow_table()
    except duckdb.Error as exc:
        raise QueryError(query_error_line(str(exc)) or type(exc).__name__) from None


# DuckDB's suggestions follow its message on lines of their own: 'Candidate bindings: "language"'
# (a column), 'Did you mean "matched_articles"?' (a table, a function).
_SUGGESTION = re.compile(r"^(?:Candidate bindings|Did you mean)\b(.*)$", re.I)


def query_error_line(message: str) -> str:
    """DuckDB's error as one line: its first line, with the names it suggests (its "Candidate
    bindings" or "Did you mean") kept: '... not found in FROM clause (did you mean "language"?)'.
    The position lines ("LINE 1: ...", the caret) are dropped."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    names: list[str] = []
    for line in lines[1:]:
        found = _SUGGESTION.match(line)
        if found:
            names += [n for n in re.findall(r'"[^"]*"', found.group(1)) if n not in names]
    if not names:
        return lines[0]
    alternatives = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
    return f"{lines[0].rstrip('!').rstrip()} (did you mean {alternatives}?)"


def statement_count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    """How many statements `sql` holds (DuckDB's parser; 1 when it cannot tell)."""
    try:
        return max(1, len(con.extract_statements(sql)))
    except duckdb.Error:
        return 1


# Exported tables: (name, SELECT, partition column or None). Article-owned rows are
# partitioned by the article's UTC publication day so one day's folder holds all of it.
_ARTICLE_DAY = "(a.published_at AT TIME ZONE 'UTC')::DATE"


_EXPORTS: tuple[tuple[str, str, str | None], ...] = (
    (
        "articles",
        "SELECT a.*, coalesce(m.topics, []::VARCHAR[]) AS topics, "
        "coalesce(c.cluster_id, a.id) AS cluster_id, "
        f"coalesce(f.tags, []::VARCHAR[]) AS feed_tags, {_ARTICLE_DAY} AS day FROM articles a "
        "LEFT JOIN (SELECT article_id, list_sort(list(DISTINCT topic)) AS topics "
        "FROM article_topics GROUP BY article_id) m ON m.article_id = a.id "
        "LEFT JOIN article_clusters c ON c.article_id = a.id "
        "LEFT JOIN feeds f ON f.url = a.feed_url",
        "day",
    ),
    (
        "article_topics",
        f"SELECT t.*, {_ARTICLE_DAY} AS day FROM article_topics t "
        "JOIN articles a ON a.id = t.article_id",
        "day",
    ),
    (
        "match_hits",
        f"SELECT h.*, {_ARTICLE_DAY} AS day FROM match_hits h "
        "JOIN articles a ON a.id = h.article_id",
        "day",
    ),
    (
        "article_clusters",
        f"SELECT c.*, {_ARTICLE_DAY} AS day FROM article_clusters c "
        "JOIN articles a ON a.id = c.article_id",
        "day",
    ),
    (
        "fetch_log",
        "SELECT f.*, (f.started_at AT TIME ZONE 'UTC')::DATE AS day FROM fetch_log f",
        "day",
    ),
    (
        "article_fetches",
        "SELECT f.*, (f.started_at AT TIME ZONE 'UTC')::DATE AS day FROM article_fetches f",
        "day",
    ),
    ("feeds", "SELECT * FROM feeds", None),
    ("polls", "SELECT * FROM polls", None),
    ("digests", "SELECT * FROM digests", None),
)


@dataclass(frozen=True)
class ExportedTable:
    name: str
    rows: int
    path: Path
    partitioned: bool


def export_parquet(con: duckdb.DuckDBPyConnection, out_dir: Path) -> list[ExportedTable]:
    """Write every table as Parquet under out_dir, day-partitioned (hive `day=YYYY-MM-DD`).

    Works on a read-only connection. Each table is written to a staging folder first and
    swapped in whole, so a reader of out_dir never sees a half-written table.
    """
    import shutil
    import tempfile

    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise WarehouseError(f"cannot export to {out_dir}: it is a file; --out names a folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".export-", dir=out_dir))
    except OSError as exc:
        raise WarehouseError(f"cannot export to {out_dir}: {_os_reason(exc)}") from None
    written: list[ExportedTable] = []
    try:
        for name, select, partition in _EXPORTS:
            rows = _count(con, f"({select})")
            if partition:
                target = staging / name
                target.mkdir()
                if rows:
                    con.execute(
                        f"COPY ({select}) TO '{_sql_path(target)}' (FORMAT parquet, "
                        f"COMPRESSION zstd, PARTITION_BY ({partition}), OVERWRITE_OR_IGNORE)"
                    )
                final = out_dir / name
            else:
                target = staging / f"{name}.parquet"
                con.execute(
                    f"COPY ({select}) TO '{_sql_path(target)}' (FORMAT parquet, COMPRESSION zstd)"
                )
                final = out_dir / f"{name}.parquet"
            written.append(ExportedTable(name, rows, final, partition is not None))
        for table in written:
            staged = staging / table.path.name
            if table.path.is_dir():
                old = staging / f".old-{table.path.name}"
                os.replace(table.path, old)
                os.replace(staged, table.path)
            else:
                os.replace(staged, table.path)
    except duckdb.Error as exc:
        raise WarehouseError(f"export to {out_dir} failed: {_first_line(exc)}") from None
    except OSError as exc:
        raise WarehouseError(f"export to {out_dir} failed: {_os_reason(exc)}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return written


def _os_reason(exc: OSError) -> str:

    return os.strerror(exc.errno) if exc.errno else _first_line(exc)
