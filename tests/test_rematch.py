"""Rematch on a real DuckDB file changes only what the rule change implies."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb

from newswatch import poll, spool, warehouse
from newswatch.config import parse_config
from newswatch.models import Article
from newswatch.rematch import rematch

NOW = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)

ARTICLES = [
    ("a1", "NATO ministers meet in Brussels", "Allies discussed air defence."),
    ("a2", "Erdogan hosts Putin in Ankara", "Turkey and Russia discussed the S-400 deal."),
    (
        "a3",
        "Greece and Bulgaria sign energy pact",
        "The alliance's southern flank gets a new pipeline.",
    ),
    ("a4", "Markets rally in Tokyo", "The Nikkei rose."),
    ("a5", "Alliance summit agenda published", "The North Atlantic alliance meets in July."),
]


def config(extra_nato_terms: str = "") -> str:
    return (
        "feeds:\n  - url: https://example.org/feed\n"
        "topics:\n"
        "  - name: Turkey\n    terms: [Turkey, Erdogan, Ankara]\n"
        f"  - name: NATO\n    terms: [NATO{extra_nato_terms}]\n"
    )


def populate(db: Path) -> None:
    matcher = parse_config(config()).matcher
    root = poll.spool_root(db)
    writer = spool.SpoolWriter(root, "p1")
    articles = [
        Article(i, "https://example.org/feed", "Example", f"https://example.org/{i}", t, s, NOW)
        for i, t, s in ARTICLES
    ]
    writer.add_articles(articles, [matcher.match(a.title, a.summary) for a in articles], NOW)
    writer.close()
    spool.write_manifest(
        root, spool.PollManifest("p1", NOW.isoformat(), NOW.isoformat(), 1, 1, 0, 0, 5)
    )
    assert poll.store(db, root).new_articles == 5


def stored(db: Path) -> set[tuple[str, str]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return set(con.execute("SELECT article_id, topic FROM article_topics").fetchall())
    finally:
        con.close()


def test_adding_a_term_adds_exactly_its_articles(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    populate(db)
    before = stored(db)
    assert before == {("a1", "NATO"), ("a2", "Turkey")}
    wider = parse_config(config(", alliance")).matcher

    dry = rematch(db, wider, now=NOW, dry_run=True)
    assert {(c.article_id, c.topic, c.change) for c in dry.changes} == {
        ("a3", "NATO", "added"),
        ("a5", "NATO", "added"),
    }
    assert stored(db) == before  # a dry run writes nothing

    done = rematch(db, wider, now=NOW)
    assert done.count("added") == 2 and done.count("removed") == 0
    assert stored(db) == before | {("a3", "NATO"), ("a5", "NATO")}
    # Explanations follow the new rule.
    con = duckdb.connect(str(db), read_only=True)
    hits = con.execute(
        "SELECT matched_text FROM match_hits WHERE article_id = 'a5' AND topic = 'NATO'"
    ).fetchall()
    con.close()
    assert {h[0].lower() for h in hits} == {"alliance"}

    # Back to the original rule: exactly those two are removed.
    narrow = parse_config(config()).matcher
    back = rematch(db, narrow, now=NOW)
    assert {(c.article_id, c.change) for c in back.changes} == {
        ("a3", "removed"),
        ("a5", "removed"),
    }
    assert stored(db) == before


def test_topic_filter_leaves_other_topics_alone(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    populate(db)
    # A rule set where Turkey no longer matches anything, but only NATO is rematched.
    text = config(", alliance").replace("[Turkey, Erdogan, Ankara]", "[Atlantis]")
    result = rematch(db, parse_config(text).matcher, now=NOW, topic="NATO")
    assert {c.topic for c in result.changes} == {"NATO"}
    assert ("a2", "Turkey") in stored(db)


def test_rematch_since_limits_the_articles(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    populate(db)
    later = datetime(2026, 11, 26, tzinfo=UTC)
    result = rematch(db, parse_config(config(", alliance")).matcher, now=NOW, since=later)
    assert result.checked == 0 and not result.changes
    with warehouse.connect(db, read_only=True) as con:
        assert warehouse.schema_version(con) >= 1
