"""A warehouse made by schema version 1 upgrades in place to the latest, keeping its data.

The version-1 warehouse is made the way users made theirs: a real poll of a loopback feed
server and a rendered digest, run by a newswatch that knew only migration 1.
"""

from __future__ import annotations

import functools
import io
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from newswatch import cli
from newswatch.store import article_pages, search, spool, warehouse
from tests.feedserver import FeedServer
from tests.helpers import write_sources
from tests.warehouse_helpers import TITLE_HIT, assert_one_line_error, poll_once, run_cli, serve_farm

Objects = dict[tuple[str, str], list[tuple[str, str]]]


def objects(con: duckdb.DuckDBPyConnection) -> Objects:
    """(kind, name) of every table and view in the main schema -> its (column, type) list."""
    rows = con.execute(
        "SELECT t.table_type, c.table_name, c.column_name, c.data_type "
        "FROM information_schema.columns c JOIN information_schema.tables t "
        "USING (table_catalog, table_schema, table_name) "
        "WHERE c.table_schema = 'main' ORDER BY c.table_name, c.ordinal_position"
    ).fetchall()
    out: Objects = {}
    for kind, table, column, data_type in rows:
        out.setdefault((kind, table), []).append((column, data_type))
    return out


def contents(con: duckdb.DuckDBPyConnection, shape: Objects) -> dict[str, list[object]]:
    """The rows of the tables in `shape`, of the columns `shape` names (later versions may add
    columns to a table)."""
    out: dict[str, list[object]] = {}
    for (_, table), columns in shape.items():
        names = ", ".join(f'"{name}"' for name, _ in columns)
        out[table] = con.execute(f"SELECT {names} FROM {table} ORDER BY ALL").fetchall()
    return out


def test_a_polled_version_1_warehouse_upgrades_in_place(
    feed_server: FeedServer,
    tmp_path: Path,
    prefect_harness: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    steps = warehouse.migrations()
    latest = steps[-1].version
    assert latest > 1
    db = tmp_path / "wh" / "news.duckdb"
    sources = write_sources(
        tmp_path / "sources.yaml", serve_farm(feed_server, datetime.now(UTC)), timeout=3
    )

    # A newswatch that knew only the first migration polls and renders a digest. It staged
    # rows without the columns later versions added (language, version 3; content and
    # relevance, version 4), nor read them, and indexed title and summary only.
    later = {
        "articles": {"language", "content", "content_html"},
        "article_topics": {"relevance"},
    }
    v1_columns = {
        name: tuple(c for c in columns if c[0] not in later.get(name, set()))
        for name, columns in spool.COLUMNS.items()
    }
    with monkeypatch.context() as m:
        m.setattr(warehouse, "migrations", lambda directory=None: steps[:1])
        m.setattr(spool, "COLUMNS", v1_columns)
        m.setattr(spool, "schema", functools.cache(spool.schema.__wrapped__))
        m.setattr(
            warehouse,
            "_ARTICLE_COLUMNS",
            warehouse._ARTICLE_COLUMNS.replace("a.language", "NULL").replace(
                "a.content, a.content_html", "'', ''"
            ),
        )
        m.setattr(warehouse, "_TOPIC_COLUMNS", "t.article_id, t.topic, t.rule, NULL")
        m.setattr(search, "FTS_COLUMNS", ("title", "summary"))
        m.setattr(warehouse, "_LANGUAGE_COLUMN", "NULL")
        m.setattr(search, "_LANGUAGE_COLUMN", "NULL")
        m.setattr(article_pages, "_ARTICLE_COLUMNS", warehouse._ARTICLE_COLUMNS)
        # ...and clustered on the summary alone (the content column came with version 4).
        m.setattr(
            warehouse,
            "cluster_summaries",
            lambda con, ids: {
                str(i): str(s or "")
                for i, s in con.execute(
                    "SELECT id, left(summary, ?) FROM articles "
                    "WHERE id IN (SELECT unnest(?::VARCHAR[]))",
                    [warehouse.SUMMARY_CHARS, list(ids)],
                ).fetchall()
            },
        )
        poll_once(sources, db)
        out = io.StringIO()
        args = ["digest", "--sources", str(sources), "--db", str(db), "--out", str(tmp_path)]
        assert cli.main(args, out=out) == 0, out.getvalue()
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert warehouse.schema_version(con) == 1
        v1 = objects(con)
        assert all(kind == "BASE TABLE" for kind, _ in v1)
        v1_tables = {k: v for k, v in v1.items() if k[1] != "schema_migrations"}
        before = contents(con, v1_tables)
    finally:
        con.close()
    for table in ("articles", "article_topics", "match_hits", "feeds", "fetch_log", "polls"):
        assert before[table], f"the version-1 poll left {table} empty"
    assert before["digests"], "the version-1 digest was not recorded"

    # The current newswatch opens it: every later migration is applied, nothing is lost.
    with warehouse.connect(db) as con:
        assert warehouse.schema_version(con) == latest
        assert contents(con, v1_tables) == before
        # Articles stored before version 3 have no language (it is never guessed afterwards).
        unknown = con.execute("SELECT count(*) FROM articles WHERE language IS NULL").fetchone()
        assert unknown == (len(before["articles"]),)
        # Columns added later hold their defaults in the old rows.
        skipped = con.execute(
            "SELECT DISTINCT entries_skipped, skipped_reasons FROM fetch_log"
        ).fetchall()
        assert skipped == [(0, None)]
        upgraded = objects(con)
        applied = con.execute("SELECT version FROM schema_migrations ORDER BY 1").fetchall()
        assert applied == [(s.version,) for s in steps]
        # Views of later migrations answer over the old data.
        matched = con.execute(
            "SELECT count(*), (SELECT count(DISTINCT article_id) FROM article_topics) "
            "FROM matched_articles"
        ).fetchone()
        assert matched is not None and matched[0] == matched[1] > 0
        health = con.execute("SELECT count(*) FROM feed_health").fetchone()
        assert health == (len(before["feeds"]),)
    with warehouse.connect(tmp_path / "fresh.duckdb") as con:
        fresh = objects(con)
    assert upgraded == fresh  # the same tables, views, columns and types as a new warehouse
    assert set(upgraded) > set(v1)

    # The search index made at version 1 still answers, and the next poll keeps working.
    out = io.StringIO()
    assert cli.main(["search", "S-400 battery", "--db", str(db)], out=out) == 0
    assert out.getvalue().startswith(f" 1. {TITLE_HIT}\n")
    poll_once(sources, db)
    with warehouse.connect(db) as con:
        assert warehouse.migrate(con) == []  # opening again applies nothing new
        polls = con.execute("SELECT count(*) FROM polls").fetchone()
        assert polls == (len(before["polls"]) + 1,)


def test_a_warehouse_newer_than_the_program_is_refused_in_one_line(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    with warehouse.connect(db) as con:
        latest = warehouse.schema_version(con)
        con.execute(
            "INSERT INTO schema_migrations VALUES (?, 'from_the_future', now())", [latest + 1]
        )
    # Any writer refuses it (here the index rebuild, which needs no feeds or Prefect).
    proc = run_cli("search", "nato", "--reindex", "--db", str(db))
    assert_one_line_error(proc, f"schema version {latest + 1}", "upgrade newswatch")
    with duckdb.connect(str(db), read_only=True) as con:
        assert warehouse.schema_version(con) == latest + 1


def test_migrations_are_numbered_one_to_n_without_repeats_or_gaps() -> None:
    # Two helpers landing the same number once left two version-5 files: every new warehouse
    # then failed on schema_migrations' primary key.
    versions = [m.version for m in warehouse.migrations()]
    assert versions == list(range(1, len(versions) + 1)), versions


def test_version_9_upgrade_makes_latest_stories_name_every_outlet_of_the_story(
    feed_server: FeedServer,
    tmp_path: Path,
    prefect_harness: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A warehouse polled at schema version 8 listed, in `latest_stories.sources`, only the
    outlets whose article matched the row's topic; once upgraded, every outlet of the story."""
    from tests import warehouse_helpers

    db = tmp_path / "wh" / "news.duckdb"
    feeds = warehouse_helpers.serve_one_story_two_outlets(feed_server, datetime.now(UTC))
    sources = write_sources(tmp_path / "sources.yaml", feeds, topics=warehouse_helpers.STORY_TOPICS)
    wagner = "SELECT sources FROM latest_stories WHERE topic = 'Wagner'"
    with monkeypatch.context() as m:
        before_9 = [s for s in warehouse.migrations() if s.version < 9]
        m.setattr(warehouse, "migrations", lambda directory=None: before_9)
        poll_once(sources, db)
    with duckdb.connect(str(db), read_only=True) as con:
        assert warehouse.schema_version(con) == 8
        assert con.execute(wagner).fetchall() == [(["Sahel Post"],)]
    with warehouse.connect(db) as con:
        assert warehouse.schema_version(con) >= 9
        assert con.execute(wagner).fetchall() == [(["Sahel Post", "eKathimerini (GR)"],)]


def test_version_10_upgrade_gives_feeds_tags_and_the_next_poll_fills_them(
    feed_server: FeedServer,
    tmp_path: Path,
    prefect_harness: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A warehouse polled at schema version 9 has no tags; once upgraded its feeds have none
    ([]) and the views' old columns answer as before; the next poll writes the tags of
    sources.yaml."""
    from tests import warehouse_helpers

    db = tmp_path / "wh" / "news.duckdb"
    feeds = warehouse_helpers.serve_one_story_two_outlets(feed_server, datetime.now(UTC))
    tags = {"eKathimerini (GR)": ["GR", "greek-press"]}
    sources = write_sources(
        tmp_path / "sources.yaml", feeds, topics=warehouse_helpers.STORY_TOPICS, tags=tags
    )
    stories = "SELECT topic, sources FROM latest_stories ORDER BY topic"
    with monkeypatch.context() as m:
        before_10 = [s for s in warehouse.migrations() if s.version < 10]
        m.setattr(warehouse, "migrations", lambda directory=None: before_10)
        poll_once(sources, db)
    with duckdb.connect(str(db), read_only=True) as con:
        assert warehouse.schema_version(con) == 9
        v9_stories = con.execute(stories).fetchall()
        v9_matched = con.execute("SELECT * FROM matched_articles ORDER BY id").fetchall()
    with warehouse.connect(db) as con:
        assert warehouse.schema_version(con) >= 10
        assert con.execute("SELECT name, tags FROM feeds ORDER BY name").fetchall() == [
            ("Sahel Post", []),
            ("eKathimerini (GR)", []),
        ]
        assert con.execute(stories).fetchall() == v9_stories
        # matched_articles keeps its columns, in their order, and adds feed_tags last.
        upgraded = con.execute("SELECT * FROM matched_articles ORDER BY id").fetchall()
        assert [row[:-1] for row in upgraded] == v9_matched
        assert {row[-1] == [] for row in upgraded} == {True}
    poll_once(sources, db)
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT name, tags FROM feed_health ORDER BY name").fetchall() == [
            ("Sahel Post", []),
            ("eKathimerini (GR)", ["GR", "greek-press"]),
        ]
