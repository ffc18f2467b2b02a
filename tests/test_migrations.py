"""A database made by schema version 1 upgrades in place, keeping its data."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb

from newswatch import warehouse


def test_version_1_database_upgrades_in_place(tmp_path: Path) -> None:
    db = tmp_path / "old.duckdb"
    now = datetime.now(UTC)
    con = duckdb.connect(str(db))
    assert warehouse.migrate(con, target=1) == [1]
    assert warehouse.schema_version(con) == 1
    con.execute(
        "INSERT INTO articles VALUES ('a1', 'http://f/1', 'Src', 'http://x/1', 'Turkey and NATO', "
        "'summary', '', ?, true, 'g1', NULL, ?, 'p1')",
        [now, now],
    )
    con.execute(
        "INSERT INTO article_topics VALUES ('a1', 'Turkey', 'terms', ?), ('a1', 'NATO', 'terms', ?)",
        [now, now],
    )
    con.execute("INSERT INTO match_hits VALUES ('a1', 'NATO', 'title', 11, 15, 'nato', 'NATO')")
    con.execute("INSERT INTO feeds (url, name) VALUES ('http://f/1', 'Src')")
    con.execute(
        "INSERT INTO fetch_log VALUES ('p1', 'http://f/1', ?, 12.5, 'ok', 200, NULL, NULL, 100, 1, 1)",
        [now],
    )
    views = con.execute("SELECT count(*) FROM duckdb_views() WHERE NOT internal").fetchone()
    assert views == (0,)
    con.close()

    with warehouse.connect(db) as con:
        assert warehouse.schema_version(con) == 2
        assert con.execute("SELECT id, title FROM articles").fetchall() == [
            ("a1", "Turkey and NATO")
        ]
        assert con.execute("SELECT topics, topic_count FROM matched_articles").fetchall() == [
            (["NATO", "Turkey"], 2)
        ]
        assert con.execute("SELECT context FROM match_explanations").fetchall() == [
            ("Turkey and NATO",)
        ]
        assert con.execute("SELECT name, status, attempts_7d FROM feed_health").fetchall() == [
            ("Src", "never polled", 1)
        ]
        assert [
            r[0] for r in con.execute("SELECT version FROM schema_migrations ORDER BY 1").fetchall()
        ] == [1, 2]
    # Opening again applies nothing new.
    with warehouse.connect(db) as con:
        assert warehouse.migrate(con) == []
