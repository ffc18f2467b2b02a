"""The warehouse: schema migrations, connections, merging poll batches, reads, pruning.

With its siblings `search` (the full-text index), `export` (analysts' SQL and Parquet
export) and `article_pages` (the article-page step's rows), the only code that talks to
DuckDB.

DuckDB lets one process write a file at a time, and any other process that has it open
(the `duckdb` CLI, a notebook) blocks us. So connections are opened per operation, kept only
as long as the operation takes, and opening retries with backoff for a bounded time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import duckdb

from newswatch import resources
from newswatch.digest.cluster import SHORT_SUMMARY_CHARS, SUMMARY_CHARS
from newswatch.errors import WarehouseError, WarehouseLocked
from newswatch.models import Article, FeedCadence, FeedState, TermHit, TopicMatch
from newswatch.store import spool

_log = logging.getLogger("newswatch.warehouse")

T = TypeVar("T")


_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations(directory: Path | None = None) -> list[Migration]:
    directory = directory or resources.migrations_dir()
    out = []
    for path in sorted(directory.glob("*.sql")):
        m = _MIGRATION_NAME.match(path.name)
        if m:
            out.append(Migration(int(m.group(1)), m.group(2), path.read_text(encoding="utf-8")))
    return out


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"
    ).fetchone()
    if not exists or not exists[0]:
        return 0
    row = con.execute("SELECT max(version) FROM schema_migrations").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def latest_schema_version() -> int:
    """The schema version this newswatch migrates to."""
    steps = migrations()
    return steps[-1].version if steps else 0


def _schema_too_new(current: int, latest: int, path: Path | None = None) -> WarehouseError:
    which = f"the warehouse {path}" if path is not None else "the database"
    return WarehouseError(
        f"{which} has schema version {current}, newer than this newswatch ({latest}); "
        "upgrade newswatch"
    )


def check_usable(path: Path, *, wait_seconds: float = 5.0) -> None:
    """Raise WarehouseError (one line) when `path` exists but newswatch cannot use it: not a
    DuckDB file, or a schema newer than this newswatch. Meant for before any work starts.

    A missing file passes (it will be created), and so does one locked by a writer for longer
    than `wait_seconds`: the commands cope with a lock themselves (a poll keeps its rows
    spooled), so a busy warehouse must not stop them here.
    """
    path = Path(path)
    if not path.exists():
        return
    if path.is_dir():
        raise WarehouseError(f"{path} is a folder, not a DuckDB file")
    try:
        with connect(path, read_only=True, wait_seconds=wait_seconds) as con:
            current = schema_version(con)
    except WarehouseLocked:
        return
    except WarehouseError as exc:
        raise WarehouseError(
            f"{exc}; pass --db with a newswatch warehouse, or a new file name to start one"
        ) from None
    latest = latest_schema_version()
    if current > latest:
        raise _schema_too_new(current, latest, path)


def migrate(con: duckdb.DuckDBPyConnection, target: int | None = None) -> list[int]:
    """Apply numbered migrations not yet applied, each in its own transaction."""
    steps = migrations()
    latest = steps[-1].version if steps else 0
    current = schema_version(con)
    if current > latest:
        raise _schema_too_new(current, latest)
    applied = []
    for step in steps:
        if step.version <= current or (target is not None and step.version > target):
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                "version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
            )
            con.execute(step.sql)
            con.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                [step.version, step.name, datetime.now(UTC)],
            )
            con.execute("COMMIT")
        except Exception:
            _rollback(con)
            raise
        applied.append(step.version)
    return applied


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc)
    return "Could not set lock" in text or "Conflicting lock" in text or "lock on file" in text


# What a writing connection lets DuckDB hold in memory; beyond it DuckDB writes to disk what it
# can (a poll's new rows, intermediate results). Unbounded, merging a 50k-article poll peaked at
# ~670 MB. Some things cannot go to disk, and they grow with the warehouse: the primary-key
# index of `articles` must fit while a merge inserts into it (measured: 50,000 new ids into
# 1 M stored ones fit under 128 MB, into 2 M they do not); a write that runs out of memory is
# retried under a larger cap (`roomy_on_oom`).
WRITER_MEMORY_LIMIT = "128MB"
# What a merge or index update that ran out of memory under its cap gets on its next tries
# (each is one transaction: a failed attempt left nothing behind), as far as half the
# machine's memory; DuckDB's own default is 80%.
ROOMY_MEMORY_LIMITS_MB = (512, 2048, 8192, 32768)


# Rows per row group the writer stores. DuckDB compresses a whole row group at once, outside
# its memory cap: at its default (122,880 rows) a poll bringing 200,000 articles peaked
# ~40 MB higher than one bringing 50,000 (merge 330-343 MB against 288 MB). At 16,384 that
# work no longer grows with the poll (305-320 MB), and the merge is no slower.
WRITER_ROW_GROUP_SIZE = 16_384


# What DuckDB may cache while Python works beside it (clustering reads rows, then builds its
# own structures): at the writer's cap, the blocks left cached by the index update and the
# clustering's own memory added up (4,000 feeds: 342-401 MB, against 278-311 MB).
SCAN_MEMORY_LIMIT = "32MB"


# The merge is no faster on more threads, only bigger; the search-index update is (50,000
# articles: 3.6 s on one thread, 2.9 s on two, +40 MB), so poll.refresh asks for all cores.
ALL_CORES = max(1, min(4, os.cpu_count() or 1))


@contextmanager
def connect(
    path: Path,
    *,
    read_only: bool = False,
    wait_seconds: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
    threads: int = 1,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the database (creating and migrating it when writable), retrying while locked.

    A writable connection uses `threads` threads (one by default: the poll's parse workers
    may still be busy on the other cores)."""
    path = Path(path)
    if read_only and not path.exists():
        raise WarehouseError(f"no database at {path}; run `newswatch poll` first")
    if not read_only:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WarehouseError(
                f"cannot create the warehouse folder {path.parent}: {exc.strerror}"
            ) from None
    deadline = time.monotonic() + wait_seconds
    delay = 0.05
    while True:
        try:
            con = _open(path, read_only=read_only)
            break
        except duckdb.IOException as exc:
            if not _is_lock_error(exc):
                raise WarehouseError(f"cannot open {path}: {_first_line(exc)}") from None
            if time.monotonic() >= deadline:
                raise WarehouseLocked(
                    f"{path} is locked by another process (a DuckDB CLI or notebook?) "
                    f"for more than {wait_seconds:g} s"
                ) from None
            sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 2.0)
        except duckdb.Error as exc:
            raise WarehouseError(f"cannot open {path}: {_first_line(exc)}") from None
    try:
        con.execute("SET TimeZone = 'UTC'")
        if not read_only:
            # Unbounded, merging a 50k-article poll peaked at ~670 MB and the full-text index
            # build at ~400 MB. Capped, DuckDB spills to disk instead: 324 MB.
            con.execute(f"SET memory_limit = '{WRITER_MEMORY_LIMIT}'")
            con.execute(f"SET threads = {threads}")
            # Return freed memory to the OS early rather than caching it for the next query.
            con.execute("SET allocator_flush_threshold = '16MB'")
            con.execute("SET allocator_bulk_deallocation_flush_threshold = '16MB'")
            migrate(con)
        yield con
    finally:
        con.close()


def _open(path: Path, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    """A connection to the file; a writable one attaches it with the writer's row group size
    (an option of ATTACH only), under the name a plain connect would give it."""
    if read_only:
        return duckdb.connect(str(path), read_only=True)
    con = duckdb.connect(":memory:")
    try:
        alias = path.stem if path.stem.lower() not in ("memory", "system", "temp") else "warehouse"
        quoted = '"' + alias.replace('"', '""') + '"'
        con.execute(
            f"ATTACH '{_sql_path(path)}' AS {quoted} (ROW_GROUP_SIZE {WRITER_ROW_GROUP_SIZE})"
        )
        con.execute(f"USE {quoted}")
    except BaseException:
        con.close()
        raise
    return con


@contextmanager
def scan_memory(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Evict what DuckDB has cached and keep its cache small while Python holds the rows it
    reads (see SCAN_MEMORY_LIMIT), scanning on one thread: a scan of a column of full article
    bodies (3 KB each) on two threads needs more than that cap and failed ("Out of Memory"),
    on one it fits. The writer's cap and threads come back afterwards."""
    with settings(con, memory_limit=SCAN_MEMORY_LIMIT, threads=1):
        yield


def roomy_on_oom(con: duckdb.DuckDBPyConnection, step: Callable[[], T], what: str) -> T:
    """step(), and again under each larger cap of ROOMY_MEMORY_LIMITS_MB (up to half the
    machine's memory) while DuckDB runs out of memory; WarehouseError when none is enough.
    `step` must be one transaction that rolls back when it fails. The cap goes back
    afterwards where DuckDB can free enough for it (else the connection keeps the larger
    one until it closes)."""
    caps = [mb for mb in ROOMY_MEMORY_LIMITS_MB if mb <= _half_memory_mb()] or [
        ROOMY_MEMORY_LIMITS_MB[0]
    ]
    before: str | None = None  # the cap to go back to
    under = ""  # the cap the last attempt ran under
    failure: duckdb.Error | None = None
    try:
        for cap in (None, *caps):
            if failure is not None:
                if before is None:
                    row = con.execute("SELECT current_setting('memory_limit')").fetchone()
                    before = under = str(row[0]) if row else WRITER_MEMORY_LIMIT
                _log.warning(
                    "%s ran out of memory under DuckDB's cap of %s; retried under %d MB (%s)",
                    what, under, cap, _first_line(failure),
                )  # fmt: skip
                con.execute(f"SET memory_limit = '{cap}MB'")
                under = f"{cap} MB"
            try:
                return step()
            except duckdb.Error as exc:
                if not _out_of_memory(exc):
                    raise
                failure = exc
        raise WarehouseError(
            f"{what} ran out of memory even under DuckDB's cap of {caps[-1]} MB "
            f"({_first_line(failure) if failure else '?'}); nothing of it was written "
            "(a poll's batch stays spooled and is merged by the next poll)"
        ) from None
    finally:
        if before is not None:
            with contextlib.suppress(duckdb.OutOfMemoryException):
                con.execute(f"SET memory_limit = '{before}'")


def _out_of_memory(exc: duckdb.Error) -> bool:
    """DuckDB's out-of-memory error, also where it ends a COMMIT (a TransactionException)."""
    if isinstance(exc, duckdb.OutOfMemoryException):
        return True
    text = str(exc)
    return "could not allocate" in text or "failed to pin" in text or "Out of Memory" in text


def _half_memory_mb() -> int:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // (2 * 1024 * 1024)
    except (OSError, ValueError):
        return ROOMY_MEMORY_LIMITS_MB[0]


@contextmanager
def settings(con: duckdb.DuckDBPyConnection, **values: str | int) -> Iterator[None]:
    """DuckDB settings (`memory_limit="32MB"`, `threads=1`) for the duration of a block,
    then back to what they were."""
    before: dict[str, object] = {}
    for name in values:
        row = con.execute("SELECT current_setting(?)", [name]).fetchone()
        before[name] = row[0] if row else None
    try:
        for name, value in values.items():
            con.execute(f"SET {name} = '{value}'")
        yield
    finally:
        for name, old in before.items():
            if old is not None:
                con.execute(f"SET {name} = '{old}'")


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


# -- feed state -----------------------------------------------------------------------


def load_feed_states(con: duckdb.DuckDBPyConnection) -> dict[str, FeedState]:
    rows = con.execute(
        "SELECT url, etag, last_modified, body_sha256, consecutive_failures, last_attempt_at, "
        "last_success_at, next_poll_at, last_http_status, last_error_kind FROM feeds"
    ).fetchall()
    return {
        r[0]: FeedState(
            url=r[0],
            etag=r[1],
            last_modified=r[2],
            body_sha256=r[3],
            consecutive_failures=r[4],
            last_attempt_at=_utc(r[5]),
            last_success_at=_utc(r[6]),
            next_poll_at=_utc(r[7]),
            last_http_status=r[8],
            last_error_kind=r[9],
        )
        for r in rows
    }


def _utc(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return value


# -- merging poll batches -------------------------------------------------------------


@dataclass(frozen=True)
class MergeResult:
    poll_id: str
    new_articles: int
    new_matches: int
    already_merged: bool = False
    # feed_url -> (new articles, new topic matches), for feeds that brought any.
    by_feed: Mapping[str, tuple[int, int]] = dataclasses.field(default_factory=dict)


def _parquet_list(files: Sequence[Path]) -> str:
    return "[" + ", ".join("'" + str(f).replace("'", "''") + "'" for f in files) + "]"


def merge_batch(
    con: duckdb.DuckDBPyConnection, batch: spool.SpooledPoll, now: datetime
) -> MergeResult:
    """Merge one spooled poll in a single transaction: all of it or none of it."""
    return roomy_on_oom(
        con, lambda: _merge_batch(con, batch, now), f"merging poll {batch.manifest.poll_id}"
    )


def _merge_batch(
    con: duckdb.DuckDBPyConnection, batch: spool.SpooledPoll, now: datetime
) -> MergeResult:
    m = batch.manifest
    seen = con.execute("SELECT 1 FROM polls WHERE id = ?", [m.poll_id]).fetchone()
    if seen:
        return MergeResult(m.poll_id, 0, 0, already_merged=True)
    con.execute("BEGIN TRANSACTION")
    try:
        # stored_at only ever grows: a clock set back (NTP, a VM restored, DST done wrong)
        # would otherwise stamp this batch before the last digest's window end, and no
        # digest would ever cover it (windows are over stored_at).
        now = _after_last_stored(con, now)
        new_articles = new_matches = 0
        by_feed: dict[str, tuple[int, int]] = {}
        art = batch.files("articles")
        if art:
            # Articles already stored keep their first sighting; the batch may also repeat ids.
            # Which row to take is decided on narrow columns (id, feed, row position) so that
            # memory does not grow with the batch: the wide rows stream straight from Parquet.
            parts = f"read_parquet({_parquet_list(art)}, filename = true, file_row_number = true)"
            con.execute(
                "CREATE OR REPLACE TEMP TABLE _new_articles AS "
                "SELECT id, feed_url, filename, file_row_number "
                f"FROM (SELECT id, feed_url, first_seen_at, filename, file_row_number FROM {parts}) "
                "WHERE id NOT IN (SELECT id FROM articles) "
                "QUALIFY row_number() OVER "
                "(PARTITION BY id ORDER BY first_seen_at, filename, file_row_number) = 1"
            )
            new_articles = _count(con, "_new_articles")
            con.execute(
                "INSERT INTO articles BY NAME "
                f"SELECT p.* EXCLUDE (filename, file_row_number) FROM {parts} p "
                "SEMI JOIN _new_articles n "
                "ON n.filename = p.filename AND n.file_row_number = p.file_row_number"
            )
            new_matches = _merge_topics(con, batch)
            by_feed = _new_per_feed(con, batch)
        fetch = batch.files("fetch_log")
        if fetch:
            # Columns the spool has and this warehouse's schema not (yet): left out.
            extra = _missing_columns(con, "fetch_log", spool.column_names("fetch_log"))
            exclude = f" EXCLUDE ({', '.join(extra)})" if extra else ""
            # new_articles per feed is only known now, against what the warehouse already had.
            con.execute(
                f"INSERT INTO fetch_log BY NAME SELECT f.*{exclude} REPLACE (coalesce(n.c, 0)::INTEGER AS new_articles) "
                f"FROM read_parquet({_parquet_list(fetch)}) f "
                "LEFT JOIN (SELECT feed_url, count(*) c FROM _new_articles GROUP BY feed_url) n "
                "ON n.feed_url = f.feed_url"
                if art
                else f"INSERT INTO fetch_log BY NAME SELECT *{exclude} FROM read_parquet({_parquet_list(fetch)})"
            )
        feeds = batch.files("feeds")
        if feeds:
            _merge_feeds(con, feeds, now, bool(art))
        if m.feed_tags:
            _merge_feed_tags(con, m.feed_tags)
        con.execute(
            "INSERT INTO polls VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                m.poll_id,
                m.started_at,
                m.finished_at,
                now,
                m.feeds,
                m.feeds_ok,
                m.feeds_not_modified,
                m.feeds_failed,
                m.entries,
                new_articles,
                new_matches,
                _json(m.timings),
            ],
        )
        con.execute("COMMIT")
    except Exception:
        _rollback(con)
        raise
    finally:
        con.execute("DROP TABLE IF EXISTS _new_articles")
    return MergeResult(m.poll_id, new_articles, new_matches, by_feed=by_feed)


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back after a failure without hiding it: after an I/O error (a full disk, a folder
    turned read-only) DuckDB may have ended the transaction or invalidated the connection, and
    a failing ROLLBACK would replace the error that says what happened."""
    with contextlib.suppress(duckdb.Error):
        con.execute("ROLLBACK")


def _missing_columns(con: duckdb.DuckDBPyConnection, table: str, names: Sequence[str]) -> list[str]:
    """Of `names`, those `table` does not have (a warehouse on an older schema version)."""
    have = {
        row[0]
        for row in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = ? AND schema_name = 'main'",
            [table],
        ).fetchall()
    }
    return [name for name in names if name not in have]


def _after_last_stored(con: duckdb.DuckDBPyConnection, now: datetime) -> datetime:
    """`now`, or just after the latest polls.stored_at when the clock reads earlier."""
    row = con.execute("SELECT max(stored_at) FROM polls").fetchone()
    last: datetime | None = _utc(row[0]) if row and row[0] is not None else None
    if last is not None and now <= last:
        return last + timedelta(microseconds=1)
    return now


def _new_per_feed(
    con: duckdb.DuckDBPyConnection, batch: spool.SpooledPoll
) -> dict[str, tuple[int, int]]:
    """New articles and new topic matches per feed, in one grouped query over the batch."""
    topics = batch.files("article_topics")
    matches = (
        "LEFT JOIN (SELECT article_id, count(DISTINCT topic) AS c "
        f"FROM read_parquet({_parquet_list(topics)}) GROUP BY article_id) t ON t.article_id = n.id"
        if topics
        else "LEFT JOIN (SELECT NULL::VARCHAR AS article_id, 0 AS c) t ON false"
    )
    rows = con.execute(
        f"SELECT n.feed_url, count(*), coalesce(sum(t.c), 0) FROM _new_articles n {matches} "
        "GROUP BY n.feed_url"
    ).fetchall()
    return {str(url): (int(a), int(m)) for url, a, m in rows}


def _merge_topics(con: duckdb.DuckDBPyConnection, batch: spool.SpooledPoll) -> int:
    topics = batch.files("article_topics")
    if not topics:
        return 0
    # Only new articles get their matches from the batch; stored ones change only by rematch.
    # As for articles, which row to take is decided on narrow columns: a rule's text is ~2 KB,
    # and DISTINCT ON over whole rows held them all in memory (4,000 feeds: ~90 MB, enough to
    # exceed the writer's memory cap) where they now stream from Parquet.
    parts = f"read_parquet({_parquet_list(topics)}, filename = true, file_row_number = true)"
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _new_topics AS SELECT t.filename, t.file_row_number "
        f"FROM (SELECT article_id, topic, filename, file_row_number FROM {parts}) t "
        "SEMI JOIN _new_articles a ON a.id = t.article_id "
        "QUALIFY row_number() OVER "
        "(PARTITION BY t.article_id, t.topic ORDER BY t.filename, t.file_row_number) = 1"
    )
    con.execute(
        "INSERT INTO article_topics BY NAME "
        f"SELECT p.* EXCLUDE (filename, file_row_number) FROM {parts} p SEMI JOIN _new_topics n "
        "ON n.filename = p.filename AND n.file_row_number = p.file_row_number"
    )
    added = con.execute("SELECT count(*) FROM _new_topics").fetchone()
    con.execute("DROP TABLE _new_topics")
    hits = batch.files("match_hits")
    if hits:
        con.execute(
            "INSERT INTO match_hits BY NAME "
            f"SELECT DISTINCT h.* FROM read_parquet({_parquet_list(hits)}) h "
            "SEMI JOIN _new_articles a ON a.id = h.article_id"
        )
    return int(added[0]) if added else 0


def _merge_feeds(
    con: duckdb.DuckDBPyConnection, files: Sequence[Path], now: datetime, has_articles: bool
) -> None:
    new_counts = (
        "LEFT JOIN (SELECT feed_url, count(*) c FROM _new_articles GROUP BY feed_url) n ON n.feed_url = s.url"
        if has_articles
        else "LEFT JOIN (SELECT NULL::VARCHAR feed_url, 0 c) n ON n.feed_url = s.url"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _feed_updates AS "
        f"SELECT s.*, coalesce(n.c, 0)::INTEGER AS last_new_articles FROM read_parquet({_parquet_list(files)}) s "
        f"{new_counts} QUALIFY row_number() OVER (PARTITION BY s.url ORDER BY s.last_attempt_at DESC) = 1"
    )
    con.execute(
        "INSERT INTO feeds (url, name, first_seen_at) SELECT url, name, ? FROM _feed_updates "
        "WHERE url NOT IN (SELECT url FROM feeds)",
        [now],
    )
    con.execute(
        """
        UPDATE feeds SET
            name = u.name,
            title = coalesce(u.title, feeds.title),
            etag = u.etag,
            last_modified = u.last_modified,
            body_sha256 = u.body_sha256,
            consecutive_failures = u.consecutive_failures,
            last_attempt_at = u.last_attempt_at,
            last_success_at = u.last_success_at,
            next_poll_at = u.next_poll_at,
            last_outcome = u.last_outcome,
            last_http_status = u.last_http_status,
            last_error_kind = u.last_error_kind,
            last_error = u.last_error,
            last_duration_ms = u.last_duration_ms,
            last_bytes = u.last_bytes,
            last_new_articles = u.last_new_articles
        FROM _feed_updates u WHERE feeds.url = u.url
        """
    )
    con.execute("DROP TABLE IF EXISTS _feed_updates")


def _merge_feed_tags(con: duckdb.DuckDBPyConnection, tags: Mapping[str, Sequence[str]]) -> None:
    """The tags the poll's sources file gives its feeds, onto the feeds the warehouse holds
    (a feed never attempted has no row yet; one no longer listed keeps its last tags)."""
    if not tags or _missing_columns(con, "feeds", ["tags"]):  # before schema version 10
        return
    # Only the feeds whose tags changed are written (none, on most polls): DuckDB binds a
    # thousand Python lists in ~0.16 s.
    stored = dict(con.execute("SELECT url, tags FROM feeds").fetchall())
    changed = {
        url: list(wanted)
        for url, wanted in tags.items()
        if url in stored and list(stored[url] or ()) != list(wanted)
    }
    if changed:
        con.execute(
            "UPDATE feeds SET tags = u.tags "
            "FROM (SELECT unnest(?::VARCHAR[]) AS url, unnest(?::VARCHAR[][]) AS tags) u "
            "WHERE feeds.url = u.url",
            [list(changed), list(changed.values())],
        )


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0


def _json(value: Any) -> str:
    import json

    return json.dumps(value, sort_keys=True)


# -- reads for clustering, digests and rematch ------------------------------------------------


_ARTICLE_COLUMNS = (  # read by _article, in this order
    "a.id, a.feed_url, a.source, a.url, a.title, a.summary, a.published_at, a.published_at_known, "
    "a.guid, a.author, a.summary_html, a.language, a.content, a.content_html"
)


_TOPIC_COLUMNS = "t.article_id, t.topic, t.rule, t.relevance"


# The article's language where other reads use it (clustering rows, the search index).
_LANGUAGE_COLUMN = "a.language"


def _article(row: Sequence[Any]) -> Article:
    return Article(
        id=row[0],
        feed_url=row[1],
        source=row[2],
        url=row[3],
        title=row[4],
        summary=row[5],
        published_at=_utc(row[6]),
        published_at_known=row[7],
        guid=row[8],
        author=row[9],
        summary_html=row[10],
        language=row[11],
        content=row[12],
        content_html=row[13],
    )


# The rows of a `text_list` parameter, in SQL: `... WHERE id IN ({TEXT_LIST})`.
TEXT_LIST = "SELECT unnest(string_split(?, chr(31)))"
_TEXT_LIST_SEPARATOR = "\x1f"  # chr(31) above


def text_list(values: Sequence[str]) -> str | None:
    """Strings as one query parameter, read in SQL as the rows of TEXT_LIST (None, no rows,
    for none). DuckDB binds a Python list element by element, trying to import pandas for
    each one: 0.35 s for 5,000 article ids, three times per clustering of a cold poll. The
    values are ids, URLs and status words, none of which holds the unit separator."""
    if any(_TEXT_LIST_SEPARATOR in v for v in values):
        raise ValueError("a value holds the unit separator (U+001F)")
    return _TEXT_LIST_SEPARATOR.join(values) if values else None


def _matches_for(
    con: duckdb.DuckDBPyConnection, ids: Sequence[str]
) -> dict[str, tuple[TopicMatch, ...]]:
    if not ids:
        return {}
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _ids AS SELECT id FROM ({TEXT_LIST}) t(id)",
        [text_list(ids)],
    )
    topics = con.execute(
        f"SELECT {_TOPIC_COLUMNS} FROM article_topics t SEMI JOIN _ids i ON i.id = t.article_id "
        "ORDER BY t.article_id, t.topic"
    ).fetchall()
    hits = con.execute(
        "SELECT h.article_id, h.topic, h.field, h.start_pos, h.end_pos, h.term, h.matched_text "
        "FROM match_hits h SEMI JOIN _ids i ON i.id = h.article_id "
        "ORDER BY h.article_id, h.topic, h.field DESC, h.start_pos"
    ).fetchall()
    con.execute("DROP TABLE IF EXISTS _ids")
    by_key: dict[tuple[str, str], list[TermHit]] = {}
    for aid, topic, field, start, end, term, text in hits:
        by_key.setdefault((aid, topic), []).append(TermHit(field, start, end, term, text))
    out: dict[str, list[TopicMatch]] = {}
    for aid, topic, rule, relevance in topics:
        out.setdefault(aid, []).append(
            TopicMatch(topic, rule, tuple(by_key.get((aid, topic), ())), relevance)
        )
    return {k: tuple(v) for k, v in out.items()}


def articles_since(con: duckdb.DuckDBPyConnection, since: datetime | None) -> list[Article]:
    where = ["1=1"]
    params: list[Any] = []
    if since is not None:
        where.append("a.first_seen_at >= ?")
        params.append(since)
    rows = con.execute(
        f"SELECT {_ARTICLE_COLUMNS} FROM articles a WHERE {' AND '.join(where)} ORDER BY a.id",
        params,
    ).fetchall()
    return [_article(r) for r in rows]


class ClusterRow(NamedTuple):
    """The part of an article that clustering's blocking reads (cluster.ClusterInput): no
    summary, which `cluster_summaries` gives for the few articles that need one."""

    id: str
    title: str
    source: str
    url: str
    published_at: datetime
    summary: str = ""
    language: str | None = None  # for the cross-language pass (newswatch.digest.crosslang)


def cluster_rows_since(
    con: duckdb.DuckDBPyConnection, since: datetime, *, batch: int = 5000
) -> Iterator[ClusterRow]:
    """Matched articles first seen since `since`, streamed in batches with only what
    clustering reads first: the poll's refresh clusters them without holding every recent
    article's full row (4,000 feeds: ~140 MB less) or its summary (8,000 feeds: ~35 MB)."""
    cursor = con.execute(
        "SELECT a.id, a.title, a.source, a.url, a.published_at, '' AS summary, "
        f"{_LANGUAGE_COLUMN} "
        "FROM articles a WHERE a.first_seen_at >= ? "
        "AND a.id IN (SELECT article_id FROM article_topics)",
        [since],
    )
    while rows := cursor.fetchmany(batch):
        yield from (ClusterRow(*row) for row in rows)


def cluster_summaries(con: duckdb.DuckDBPyConnection, ids: Sequence[str]) -> dict[str, str]:
    """The first cluster.SUMMARY_CHARS characters of these articles' text: the summary, or
    the content when the summary is shorter than cluster.SHORT_SUMMARY_CHARS (a headline-only
    summary; see cluster.cluster_text).

    Two reads: the summaries, then the bodies of the articles with a short summary only. One
    read choosing between them scanned every article's body (3 KB each in a feed with full
    content), which outgrew the small cache clustering runs beside (`scan_memory`: "Out of
    Memory" in the refresh of a 1,000-feed poll with content); the bodies' read gets the
    writer's cap for its own duration."""
    rows = con.execute(
        f"SELECT id, left(summary, ?), length(summary) < ? FROM articles WHERE id IN ({TEXT_LIST})",
        [SUMMARY_CHARS, SHORT_SUMMARY_CHARS, text_list(ids)],
    ).fetchall()
    out = {str(i): str(text or "") for i, text, _ in rows}
    short = [str(i) for i, _, is_short in rows if is_short]
    if short:
        with settings(con, memory_limit=WRITER_MEMORY_LIMIT):
            bodies = con.execute(
                "SELECT id, left(content, ?) FROM articles "
                "WHERE length(summary) < ? AND coalesce(content, '') <> '' "
                f"AND id IN ({TEXT_LIST})",
                [SUMMARY_CHARS, SHORT_SUMMARY_CHARS, text_list(short)],
            ).fetchall()
        out.update((str(i), str(text or "")) for i, text in bodies)
    return out


def cluster_count_since(con: duckdb.DuckDBPyConnection, since: datetime) -> int:
    """Stories (clusters) among matched articles first seen since `since`."""
    row = con.execute(
        "SELECT count(DISTINCT c.cluster_id) FROM article_clusters c "
        "JOIN articles a ON a.id = c.article_id WHERE a.first_seen_at >= ?",
        [since],
    ).fetchone()
    return int(row[0]) if row else 0


def replace_clusters(
    con: duckdb.DuckDBPyConnection, assignment: dict[str, str], now: datetime
) -> None:
    """Replace the cluster rows of the given articles (one transaction). The ids go in as
    two line-separated strings that DuckDB splits, not as an Arrow table: the poll's own
    process (which clusters) then never imports pyarrow (see spool.COLUMNS). As fast for a
    poll's clusters (7,500 ids: 16 ms; 50,000: 54 ms against Arrow's 18 ms); DuckDB's own
    conversion of Python lists is not (50,000 ids: 6.9 s)."""
    if not assignment:
        return
    ids, clusters = "\n".join(assignment), "\n".join(assignment.values())
    if ids.count("\n") != len(assignment) - 1 or clusters.count("\n") != len(assignment) - 1:
        raise ValueError("an article or cluster id holds a line break")  # ids are hex digests
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _clusters_in AS "
        "SELECT unnest(string_split($1, chr(10))) AS article_id, "
        "unnest(string_split($2, chr(10))) AS cluster_id",
        [ids, clusters],
    )
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            "DELETE FROM article_clusters WHERE article_id IN (SELECT article_id FROM _clusters_in)"
        )
        con.execute(
            "INSERT INTO article_clusters SELECT article_id, cluster_id, ? FROM _clusters_in", [now]
        )
        con.execute("COMMIT")
    except Exception:
        _rollback(con)
        raise
    finally:
        con.execute("DROP TABLE IF EXISTS _clusters_in")


def drop_unmatched_clusters(con: duckdb.DuckDBPyConnection) -> int:
    """Delete the cluster rows of articles that no longer match any topic (`rematch` took
    their last match away): clusters group matched articles. Returns how many went."""
    row = con.execute(
        "DELETE FROM article_clusters WHERE article_id NOT IN "
        "(SELECT article_id FROM article_topics)"
    ).fetchone()
    return int(row[0]) if row else 0


def articles_published_since(
    con: duckdb.DuckDBPyConnection, since: datetime | None
) -> list[Article]:
    """Stored articles published on or after `since` (all when None), for rematch: a
    backtest "since DATE" means what was published then, however late it was first seen."""
    where, params = ("WHERE a.published_at >= ?", [since]) if since is not None else ("", [])
    rows = con.execute(
        f"SELECT {_ARTICLE_COLUMNS} FROM articles a {where} ORDER BY a.id", params
    ).fetchall()
    return [_article(r) for r in rows]


def stored_matches(
    con: duckdb.DuckDBPyConnection, ids: Sequence[str]
) -> dict[str, tuple[TopicMatch, ...]]:
    """The stored matches (rule and hits) of the given articles."""
    return _matches_for(con, ids)


def apply_match_changes(
    con: duckdb.DuckDBPyConnection,
    write: Sequence[tuple[str, TopicMatch]],
    delete: Sequence[tuple[str, str]],
    now: datetime,
    rescore: Sequence[tuple[str, str, float | None]] = (),
) -> None:
    """Store new or changed matches `(article id, match)`, drop `(article id, topic)` pairs
    and set new relevance scores `(article id, topic, relevance)` of matches otherwise the
    same, in one transaction. Rows of every other (article, topic) are left as they are,
    `matched_at` included: a rematch that changes nothing writes nothing."""
    import pyarrow as pa

    if not write and not delete and not rescore:
        return
    keys = [(aid, m.topic) for aid, m in write] + list(delete)
    topic_rows: list[dict[str, Any]] = []
    hit_rows: list[dict[str, Any]] = []
    for aid, m in write:
        topic, hits = spool.match_rows(aid, m, now)
        topic_rows.append(topic)
        hit_rows.extend(hits)
    con.register(
        "_keys_in",
        pa.table(
            {
                "article_id": pa.array([k[0] for k in keys], pa.string()),
                "topic": pa.array([k[1] for k in keys], pa.string()),
            }
        ),
    )
    con.register(
        "_topics_in", pa.Table.from_pylist(topic_rows, schema=spool.schema("article_topics"))
    )
    con.register("_hits_in", pa.Table.from_pylist(hit_rows, schema=spool.schema("match_hits")))
    con.register(
        "_scores_in",
        pa.table(
            {
                "article_id": pa.array([s[0] for s in rescore], pa.string()),
                "topic": pa.array([s[1] for s in rescore], pa.string()),
                "relevance": pa.array([s[2] for s in rescore], pa.float64()),
            }
        ),
    )
    con.execute("BEGIN TRANSACTION")
    try:
        for table in ("article_topics", "match_hits"):
            con.execute(
                f"DELETE FROM {table} t USING _keys_in k "
                "WHERE t.article_id = k.article_id AND t.topic = k.topic"
            )
        con.execute("INSERT INTO article_topics BY NAME SELECT * FROM _topics_in")
        con.execute("INSERT INTO match_hits BY NAME SELECT * FROM _hits_in")
        if rescore:
            # Only the score: `matched_at` stays.
            con.execute(
                "UPDATE article_topics t SET relevance = s.relevance FROM _scores_in s "
                "WHERE t.article_id = s.article_id AND t.topic = s.topic"
            )
        con.execute("COMMIT")
    except Exception:
        _rollback(con)
        raise
    finally:
        for name in ("_keys_in", "_topics_in", "_hits_in", "_scores_in"):
            con.unregister(name)


__all__ = [
    "MergeResult",
    "WarehouseError",
    "WarehouseLocked",
    "apply_match_changes",
    "articles_published_since",
    "articles_since",
    "cluster_rows_since",
    "connect",
    "drop_unmatched_clusters",
    "load_feed_states",
    "merge_batch",
    "migrate",
    "replace_clusters",
    "schema_version",
    "stored_matches",
]


# -- digests --------------------------------------------------------------------------


@dataclass(frozen=True)
class DigestRecord:
    id: str
    digest_date: Any
    window_start: datetime
    window_end: datetime
    status: str
    message_id: str | None
    sent_at: datetime | None
    error: str | None
    created_at: datetime | None = None
    subject: str | None = None
    recipients: str | None = None
    html_path: str | None = None  # the files written (the .txt beside the .html)
    eml_path: str | None = None


_DIGEST_COLUMNS = (
    "id, digest_date, window_start, window_end, status, message_id, sent_at, error, "
    "created_at, subject, recipients, html_path, eml_path"
)


def _digest(row: Sequence[Any]) -> DigestRecord:
    return DigestRecord(
        row[0], row[1], _utc(row[2]), _utc(row[3]), row[4], row[5], _utc(row[6]), row[7],
        _utc(row[8]), row[9], row[10], row[11], row[12],
    )  # fmt: skip


def last_stored_at(con: duckdb.DuckDBPyConnection) -> datetime | None:
    """When the latest poll batch visible to this connection was merged (`polls.stored_at`).

    Merges are serialised (one writer, the poll lock) and each takes its time before it
    commits, so every batch committed later carries a later time: a digest that covers
    polls stored up to this moment can never miss a batch still being written.
    """
    row = con.execute("SELECT max(stored_at) FROM polls").fetchone()
    return _utc(row[0]) if row and row[0] is not None else None


@dataclass(frozen=True, slots=True)
class LastFetch:
    """A feed's latest fetch up to some moment (`fetch_log`)."""

    started_at: datetime
    outcome: str
    error: str | None


def last_fetches_before(con: duckdb.DuckDBPyConnection, at: datetime) -> dict[str, LastFetch]:
    """Each feed's latest fetch started at or before `at` (for a past day's feed health)."""
    rows = con.execute(
        "SELECT feed_url, max(started_at), arg_max(outcome, started_at), "
        "arg_max(error, started_at) FROM fetch_log WHERE started_at <= ? GROUP BY feed_url",
        [at],
    ).fetchall()
    return {url: LastFetch(_utc(when), outcome, error) for url, when, outcome, error in rows}


MatchedRow = tuple[Article, tuple[TopicMatch, ...], str | None]


def matched_articles_stored(
    con: duckdb.DuckDBPyConnection, after: datetime, up_to: datetime
) -> list[MatchedRow]:
    """Matched articles whose poll batch was merged in (after, up_to], with explanations and
    cluster. Selecting by merge time, not first_seen_at (the poll's start), means an article
    stamped before a digest ran but committed after it is in the next digest, not lost."""
    rows = con.execute(
        f"SELECT {_ARTICLE_COLUMNS}, c.cluster_id FROM articles a "
        "JOIN polls p ON p.id = a.poll_id "
        "LEFT JOIN article_clusters c ON c.article_id = a.id "
        "WHERE p.stored_at > ? AND p.stored_at <= ? "
        "AND a.id IN (SELECT article_id FROM article_topics) ORDER BY a.published_at DESC, a.id",
        [after, up_to],
    ).fetchall()
    ids = [r[0] for r in rows]
    matches = _matches_for(con, ids)
    return [(_article(r), matches.get(r[0], ()), r[-1]) for r in rows]


def digest_history(con: duckdb.DuckDBPyConnection) -> list[DigestRecord]:
    """Every digest that was sent or tried (not render-only ones), latest window first."""
    return digests_with_status(con, "sending", "sent", "unknown", "failed")


def digests_with_status(con: duckdb.DuckDBPyConnection, *statuses: str) -> list[DigestRecord]:
    rows = con.execute(
        f"SELECT {_DIGEST_COLUMNS} FROM digests WHERE status IN ({TEXT_LIST}) "
        "ORDER BY window_end DESC, created_at DESC",
        [text_list(statuses)],
    ).fetchall()
    return [_digest(r) for r in rows]


def digest_exists(con: duckdb.DuckDBPyConnection, digest_id: str) -> bool:
    return con.execute("SELECT 1 FROM digests WHERE id = ?", [digest_id]).fetchone() is not None


def insert_digest(con: duckdb.DuckDBPyConnection, **values: Any) -> None:
    columns = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    con.execute(f"INSERT INTO digests ({columns}) VALUES ({marks})", list(values.values()))


def update_digest(con: duckdb.DuckDBPyConnection, digest_id: str, **values: Any) -> None:
    sets = ", ".join(f"{k} = ?" for k in values)
    con.execute(f"UPDATE digests SET {sets} WHERE id = ?", [*values.values(), digest_id])


def topic_volume(
    con: duckdb.DuckDBPyConnection,
    timezone: str,
    first_day: Any,
    last_day: Any,
    min_relevance: Mapping[str, float] | None = None,
) -> dict[str, dict[Any, int]]:
    """Matched articles per topic per local day (by publication time), first_day..last_day;
    with `min_relevance`, only the matches a digest keeps (scored at least the topic's
    threshold, or not scored)."""
    thresholds = {t: v for t, v in (min_relevance or {}).items() if v > 0}
    kept = ""
    params: list[Any] = [timezone, timezone, first_day, last_day]
    if thresholds:
        cases = " ".join("WHEN ? THEN ?" for _ in thresholds)
        kept = f" AND (t.relevance IS NULL OR t.relevance >= CASE t.topic {cases} ELSE 0 END)"
        params += [x for item in thresholds.items() for x in item]
    rows = con.execute(
        "SELECT t.topic, (a.published_at AT TIME ZONE ?)::DATE AS day, count(DISTINCT a.id) "
        "FROM article_topics t JOIN articles a ON a.id = t.article_id "
        f"WHERE (a.published_at AT TIME ZONE ?)::DATE BETWEEN ? AND ?{kept} GROUP BY ALL",
        params,
    ).fetchall()
    out: dict[str, dict[Any, int]] = {}
    for topic, day, n in rows:
        out.setdefault(topic, {})[day] = int(n)
    return out


@dataclass(frozen=True)
class FeedRow:
    url: str
    name: str
    state: FeedState
    last_outcome: str | None
    last_error: str | None


def feed_rows(con: duckdb.DuckDBPyConnection) -> list[FeedRow]:
    rows = con.execute(
        "SELECT url, name, etag, last_modified, body_sha256, consecutive_failures, last_attempt_at, "
        "last_success_at, next_poll_at, last_outcome, last_error FROM feeds ORDER BY name"
    ).fetchall()
    return [
        FeedRow(
            r[0],
            r[1],
            FeedState(r[0], r[2], r[3], r[4], r[5], _utc(r[6]), _utc(r[7]), _utc(r[8])),
            r[9],
            r[10],
        )
        for r in rows
    ]


def feed_cadence(
    con: duckdb.DuckDBPyConnection, now: datetime, *, recent: int = 50, days: int = 7
) -> dict[str, FeedCadence]:
    """Each feed's publishing rhythm from all its dated items, whatever their age, in one
    grouped query (a row per feed, not its items). schedule.cadence_of is the same in Python."""
    rows = con.execute(
        """
        WITH dated AS (
            SELECT feed_url, least(published_at, $now) AS t FROM articles WHERE published_at_known
        ), ranked AS (
            SELECT feed_url, t,
                   row_number() OVER w AS rn,
                   epoch(t) - epoch(lead(t) OVER w) AS gap
            FROM dated WINDOW w AS (PARTITION BY feed_url ORDER BY t DESC)
        )
        SELECT feed_url,
               count(*) FILTER (WHERE rn <= $recent),
               max(t),
               median(gap) FILTER (WHERE rn < $recent),
               count(*) FILTER (WHERE t > $now - to_days($days)),
               min(t)
        FROM ranked GROUP BY feed_url
        """,
        {"now": now, "recent": recent, "days": days},
    ).fetchall()
    return {
        url: FeedCadence(
            items=int(items),
            newest=_utc(newest),
            usual_gap_s=None if gap is None else float(gap),
            last_days=int(last_days),
            oldest=_utc(oldest),
            recent=recent,
            days=days,
        )
        for url, items, newest, gap, last_days, oldest in rows
    }


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def prune_fetch_log(con: duckdb.DuckDBPyConnection, older_than: datetime) -> int:
    """Delete raw fetch-log rows of attempts started before `older_than`; returns rows deleted.

    Articles, matches, clusters and the feeds' current state are never touched.
    """
    row = con.execute("DELETE FROM fetch_log WHERE started_at < ?", [older_than]).fetchone()
    return int(row[0]) if row else 0
