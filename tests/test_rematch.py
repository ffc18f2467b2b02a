"""Rematch on a real DuckDB file changes only what the rule change implies."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from newswatch import cli
from newswatch.config import parse_config
from newswatch.models import Article
from newswatch.orchestrate import poll
from newswatch.orchestrate.rematch import rematch
from newswatch.store import spool
from tests.feedserver import FeedServer

NOW = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
DAY = timedelta(days=1)

# id, title, summary, days before NOW it was published (all are first seen at NOW).
ARTICLES = [
    ("a1", "NATO ministers meet in Brussels", "Allies discussed air defence.", 10),
    ("a2", "Erdogan hosts Putin in Ankara", "Turkey and Russia discussed the S-400 deal.", 10),
    (
        "a3",
        "Greece and Bulgaria sign energy pact",
        "The alliance's southern flank gets a new pipeline.",
        10,
    ),
    ("a4", "Markets rally in Tokyo", "The Nikkei rose.", 1),
    ("a5", "Alliance summit agenda published", "The North Atlantic alliance meets in July.", 1),
    ("a6", "Turkey and NATO talk in Ankara", "Ministers met.", 1),
]


def config(nato: str = "NATO", turkey: str = "Turkey, Erdogan, Ankara") -> str:
    return (
        "feeds:\n  - url: https://example.org/feed\n"
        "topics:\n"
        f"  - name: Turkey\n    terms: [{turkey}]\n"
        f"  - name: NATO\n    terms: [{nato}]\n"
    )


def populate(
    db: Path, stored: Sequence[tuple[str, str, str, int]] = ARTICLES, sources: str | None = None
) -> None:
    """A real warehouse file filled the way a poll fills it (spool, then store)."""
    matcher = parse_config(sources or config()).matcher
    root = poll.spool_root(db)
    writer = spool.SpoolWriter(root, "p1")
    articles = [
        Article(
            i,
            "https://example.org/feed",
            "Example",
            f"https://example.org/{i}",
            t,
            s,
            NOW - d * DAY,
        )
        for i, t, s, d in stored
    ]
    writer.add_articles(articles, [matcher.match(a.title, a.summary) for a in articles], NOW)
    writer.close()
    manifest = spool.PollManifest("p1", NOW.isoformat(), NOW.isoformat(), 1, 1, 0, 0, len(stored))
    spool.write_manifest(root, manifest)
    assert poll.store(db, root).new_articles == len(stored)


def rows(db: Path) -> dict[str, set[tuple[Any, ...]]]:
    """Every stored match row and hit row, matched_at included."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {
            "topics": set(con.execute("SELECT * FROM article_topics").fetchall()),
            "hits": set(con.execute("SELECT * FROM match_hits").fetchall()),
        }
    finally:
        con.close()


def pairs(db: Path) -> set[tuple[str, str]]:
    return {(r[0], r[1]) for r in rows(db)["topics"]}


def run_cli(db: Path, sources: Path, *args: str) -> str:
    out = io.StringIO()
    code = cli.main(["rematch", "--sources", str(sources), "--db", str(db), *args], out=out)
    assert code == 0
    return out.getvalue()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "w.duckdb"
    populate(path)
    return path


def test_adding_a_term_adds_exactly_its_articles(db: Path) -> None:
    before = rows(db)
    assert pairs(db) == {("a1", "NATO"), ("a2", "Turkey"), ("a6", "Turkey"), ("a6", "NATO")}
    wider = parse_config(config("NATO, alliance")).matcher

    dry = rematch(db, wider, now=NOW + DAY, dry_run=True)
    assert {(c.article_id, c.topic, c.change) for c in dry.changes} == {
        ("a3", "NATO", "added"),
        ("a5", "NATO", "added"),
        # Still NATO, but under the new rule text: re-explained.
        ("a1", "NATO", "updated"),
        ("a6", "NATO", "updated"),
    }
    assert rows(db) == before  # a dry run writes nothing

    done = rematch(db, wider, now=NOW + DAY)
    assert (done.count("added"), done.count("removed"), done.count("updated")) == (2, 0, 2)
    assert pairs(db) == pairs_before(before) | {("a3", "NATO"), ("a5", "NATO")}
    after = rows(db)
    # Turkey rows were not touched at all: same rule, same hits, same matched_at.
    assert {r for r in after["topics"] if r[1] == "Turkey"} == {
        r for r in before["topics"] if r[1] == "Turkey"
    }
    con = duckdb.connect(str(db), read_only=True)
    hits = con.execute(
        "SELECT matched_text FROM match_hits WHERE article_id = 'a5' AND topic = 'NATO'"
    ).fetchall()
    stamps = dict(
        con.execute(
            "SELECT article_id, matched_at FROM article_topics WHERE topic = 'NATO'"
        ).fetchall()
    )
    con.close()
    assert {h[0].lower() for h in hits} == {"alliance"}
    assert stamps["a3"] == NOW + DAY and stamps["a5"] == NOW + DAY

    # Running it again changes nothing and writes nothing.
    again = rematch(db, wider, now=NOW + 2 * DAY)
    assert again.changes == ()
    assert rows(db) == after

    # Back to the original rule: exactly those two are removed, the rest re-explained.
    back = rematch(db, parse_config(config()).matcher, now=NOW + 3 * DAY)
    assert {(c.article_id, c.change) for c in back.changes} == {
        ("a3", "removed"),
        ("a5", "removed"),
        ("a1", "updated"),
        ("a6", "updated"),
    }
    assert pairs(db) == pairs_before(before)


def pairs_before(snapshot: dict[str, set[tuple[Any, ...]]]) -> set[tuple[str, str]]:
    return {(r[0], r[1]) for r in snapshot["topics"]}


def test_topic_filter_leaves_other_topics_alone(db: Path) -> None:
    before = rows(db)
    # A rule set where Turkey no longer matches anything, but only NATO is rematched.
    text = config("NATO, alliance", turkey="Atlantis")
    result = rematch(db, parse_config(text).matcher, now=NOW + DAY, topic="NATO")
    assert {c.topic for c in result.changes} == {"NATO"}
    after = rows(db)
    assert {r for r in after["topics"] if r[1] == "Turkey"} == {
        r for r in before["topics"] if r[1] == "Turkey"
    }
    assert {r for r in after["hits"] if r[1] == "Turkey"} == {
        r for r in before["hits"] if r[1] == "Turkey"
    }


def test_since_means_published_since(db: Path) -> None:
    # All six were first seen at NOW; a4, a5 and a6 were published a day before NOW.
    wider = parse_config(config("NATO, alliance")).matcher
    since = NOW - 2 * DAY
    result = rematch(db, wider, now=NOW + DAY, since=since)
    assert result.checked == 3
    assert {(c.article_id, c.change) for c in result.changes} == {
        ("a5", "added"),
        ("a6", "updated"),
    }
    assert ("a3", "NATO") not in pairs(db)  # published before --since: not rematched
    assert ("a5", "NATO") in pairs(db)
    nothing = rematch(db, wider, now=NOW + DAY, since=NOW + DAY)
    assert nothing.checked == 0 and not nothing.changes


def test_rematch_command_end_to_end(db: Path, tmp_path: Path) -> None:
    sources = tmp_path / "sources.yaml"
    sources.write_text(config("NATO, alliance", turkey="Atlantis"), encoding="utf-8")
    before = rows(db)

    # --dry-run: prints the changes, writes nothing.
    out = run_cli(db, sources, "--dry-run")
    # Added (+) and removed (-) matches, then the re-explained ones (~), in columns.
    assert out.splitlines() == [
        "- Turkey  a2  Erdogan hosts Putin in Ankara",
        "+ NATO    a3  Greece and Bulgaria sign energy pact",
        "+ NATO    a5  Alliance summit agenda published",
        "- Turkey  a6  Turkey and NATO talk in Ankara",
        "~ NATO    a1  NATO ministers meet in Brussels",
        "~ NATO    a6  Turkey and NATO talk in Ankara",
        "6 articles checked; would change: 2 added, 2 removed, 2 re-explained (the rule's text only) "
        "(dry run: nothing written)",
    ]
    assert rows(db) == before

    # --topic (any case: one topic-name rule for every command) and --since (a published date)
    # narrow it; this run writes.
    since = (NOW - 2 * DAY).date().isoformat()
    out = run_cli(db, sources, "--topic", "nato", "--since", since)
    assert out.splitlines() == [
        "+ NATO  a5  Alliance summit agenda published",
        "~ NATO  a6  Turkey and NATO talk in Ankara",
        "3 articles checked; changed: 1 added, 0 removed, 1 re-explained (the rule's text only)",
    ]
    assert pairs(db) == pairs_before(before) | {("a5", "NATO")}

    # The full run does the rest; a second full run changes and writes nothing.
    out = run_cli(db, sources)
    assert out.splitlines()[-1] == (
        "6 articles checked; changed: 1 added, 2 removed, 1 re-explained (the rule's text only)"
    )
    assert pairs(db) == {("a1", "NATO"), ("a3", "NATO"), ("a5", "NATO"), ("a6", "NATO")}
    settled = rows(db)
    out = run_cli(db, sources)
    assert out.splitlines() == ["6 articles checked; changed: 0 added, 0 removed, 0 re-explained"]
    assert rows(db) == settled


def test_rematch_command_rejects_bad_input(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sources = tmp_path / "sources.yaml"
    sources.write_text(config(), encoding="utf-8")
    base = ["rematch", "--sources", str(sources), "--db", str(db)]
    assert cli.main([*base, "--topic", "Atlantis"]) == 2
    assert "unknown topic 'Atlantis'" in capsys.readouterr().err
    assert cli.main([*base, "--since", "25/11/2026"]) == 2
    assert "--since must be YYYY-MM-DD, got '25/11/2026'" in capsys.readouterr().err


def test_a_topic_missing_from_the_sources_file_keeps_its_matches(db: Path, tmp_path: Path) -> None:
    # Rematching with a sources file that lacks a stored topic (the warehouse was polled with
    # another file): that topic's matches stay, and a note says so and how to remove them.
    sources = tmp_path / "only_nato.yaml"
    sources.write_text(
        "feeds:\n  - url: https://example.org/feed\ntopics:\n  - name: NATO\n    terms: [NATO]\n",
        encoding="utf-8",
    )
    turkey = {p for p in pairs(db) if p[1] == "Turkey"}
    assert turkey
    out = run_cli(db, sources)
    assert out.splitlines()[-2].startswith(
        f"note: kept the stored matches of topics not in {sources}: Turkey ({len(turkey)});"
    )
    assert "0 removed" in out.splitlines()[-1]
    assert turkey <= pairs(db)
    # Asked to, it removes them.
    out = run_cli(db, sources, "--drop-unlisted", "--dry-run")
    assert f"{len(turkey)} removed" in out.splitlines()[-1]
    assert turkey <= pairs(db)
    out = run_cli(db, sources, "--drop-unlisted")
    assert not {p for p in pairs(db) if p[1] == "Turkey"}
    assert "note:" not in out


def test_rematch_lists_re_explained_matches_and_aligns_on_the_longest_topic(
    tmp_path: Path,
) -> None:
    """Adding a term re-explains every match of the topic: the first ten are listed, then how
    many more (--verbose lists them all); columns line up whatever the topics' lengths."""

    def sources(grain: str, wagner: str) -> str:
        return (
            "feeds:\n  - url: https://example.org/feed\n"
            "topics:\n"
            f"  - name: Black Sea grain\n    terms: [{grain}]\n"
            f"  - name: Wagner\n    terms: [{wagner}]\n"
        )

    stored = [
        (f"w{n:02}", f"Wagner convoy {n} seen near Bamako", "Fighters moved.", 1)
        for n in range(1, 13)
    ]
    stored += [
        ("g1", "Grain ships leave Odesa", "The corridor reopened.", 1),
        ("h1", "Wheat prices fall in Chicago", "Traders sold.", 1),
        ("p1", "Prigozhin's men regroup", "Nothing else.", 1),
    ]
    db = tmp_path / "w.duckdb"
    populate(db, stored, sources("grain", "Wagner"))
    file = tmp_path / "sources.yaml"
    file.write_text(sources("wheat", "Wagner, Prigozhin"), encoding="utf-8")

    lines = run_cli(db, file, "--dry-run").splitlines()
    assert lines[:3] == [
        "- Black Sea grain  g1   Grain ships leave Odesa",
        "+ Black Sea grain  h1   Wheat prices fall in Chicago",
        "+ Wagner           p1   Prigozhin's men regroup",
    ]
    assert lines[3:13] == [
        f"~ Wagner           w{n:02}  Wagner convoy {n} seen near Bamako" for n in range(1, 11)
    ]
    assert lines[13:] == [
        "~ and 2 more re-explained (--verbose lists them all)",
        "15 articles checked; would change: 2 added, 1 removed, 12 re-explained (the rule's text only) "
        "(dry run: nothing written)",
    ]
    # --verbose lists them all, each with what changed: here the rule (its words are the same).
    everything = run_cli(db, file, "--dry-run", "--verbose").splitlines()
    assert everything[3:27] == [
        line
        for n in range(1, 13)
        for line in (
            f"~ Wagner           w{n:02}  Wagner convoy {n} seen near Bamako",
            "    rule: Wagner -> Wagner OR Prigozhin",
        )
    ]
    assert everything[27:] == lines[14:]
    # And where the words changed, the words.
    file.write_text(sources("wheat", "Wagner, Bamako"), encoding="utf-8")
    everything = run_cli(db, file, "--dry-run", "--verbose").splitlines()
    assert "    words: Wagner in title -> Wagner, Bamako in title" in everything


def test_a_story_rematch_matches_anew_is_one_story_at_once(
    feed_server: FeedServer, tmp_path: Path, prefect_harness: None
) -> None:
    """Clusters group matched articles: after `rematch` adds a match, `latest_stories` joins
    the article to its story at once, as the digest does, not at the next poll."""
    from tests import warehouse_helpers
    from tests.helpers import write_sources

    feeds = warehouse_helpers.serve_one_story_two_outlets(feed_server, datetime.now(UTC))
    only_greek = "topics:\n  - name: Mali\n    terms: [Russian-backed]\n"
    sources = write_sources(tmp_path / "sources.yaml", feeds, topics=only_greek)
    db = tmp_path / "wh" / "news.duckdb"
    warehouse_helpers.poll_once(sources, db)
    stories = "SELECT articles, sources FROM latest_stories WHERE topic = 'Mali'"
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute(stories).fetchall() == [(1, ["eKathimerini (GR)"])]
    both = "topics:\n  - name: Mali\n    terms: [Tessalit]\n"
    sources = write_sources(tmp_path / "sources.yaml", feeds, topics=both)
    out = io.StringIO()
    argv = ["rematch", "--sources", str(sources), "--db", str(db)]
    assert cli.main(argv, out=out) == 0, out.getvalue()
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute(stories).fetchall() == [(2, ["Sahel Post", "eKathimerini (GR)"])]
    # A rematch that takes an article's last match away takes its story row away too.
    none = "topics:\n  - name: Mali\n    terms: [Russian-backed]\n"
    sources = write_sources(tmp_path / "sources.yaml", feeds, topics=none)
    assert cli.main(argv, out=io.StringIO()) == 0
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute(stories).fetchall() == [(1, ["eKathimerini (GR)"])]
        assert con.execute(
            "SELECT count(*) FROM article_clusters WHERE article_id NOT IN "
            "(SELECT article_id FROM article_topics)"
        ).fetchall() == [(0,)]


def test_a_long_rule_s_edit_is_shown_where_it_is() -> None:
    """`rematch --verbose` shows two long rules around where they differ: cut at their start,
    the two looked the same."""
    from newswatch.cli.commands import _where_they_differ

    rule = (
        '(("Black Sea" OR Bosphorus OR tanker* OR "grain corridor") NEAR/S '
        "(grain OR wheat OR ships OR shipping OR convoy*)) AND NOT recipe"
    )
    edited = rule.replace("convoy*", "convoy* OR escort*")
    was, now = _where_they_differ(rule, edited)
    assert "escort*" in now and "escort*" not in was
    assert was.startswith("…") and len(was) < len(rule) and len(now) < len(edited)
    assert _where_they_differ("Wagner", "Wagner OR Prigozhin") == ("Wagner", "Wagner OR Prigozhin")


def test_a_related_edit_re_scores_stored_matches_and_writes_nothing_else(
    db: Path, tmp_path: Path
) -> None:
    """`related` words change no match, only how much an article is about its topic: the
    stored scores (which order the digest and fold "Also mentioned") follow."""
    before = rows(db)
    related = config() + '    related: [allies, "air defence", Brussels, ministers]\n'
    sources = tmp_path / "related.yaml"
    sources.write_text(related, encoding="utf-8")
    expected = {
        m.topic: m.relevance
        for m in parse_config(related).matcher.match(
            "NATO ministers meet in Brussels", "Allies discussed air defence."
        )
    }
    out = run_cli(db, sources)
    assert out.splitlines() == [
        "6 articles checked; changed: 0 added, 0 removed, 0 re-explained, "
        "2 re-scored (relevance only)"
    ]
    after = rows(db)
    assert after["hits"] == before["hits"]
    old = {(r[0], r[1]): r for r in before["topics"]}
    new = {(r[0], r[1]): r for r in after["topics"]}
    assert old.keys() == new.keys()
    changed = {k for k in new if new[k] != old[k]}
    assert changed == {("a1", "NATO"), ("a6", "NATO")}
    con = duckdb.connect(str(db), read_only=True)
    try:
        [(score, matched_at)] = con.execute(
            "SELECT relevance, matched_at FROM article_topics "
            "WHERE article_id = 'a1' AND topic = 'NATO'"
        ).fetchall()
        [(was_at,)] = con.execute("SELECT min(matched_at) FROM article_topics").fetchall()
    finally:
        con.close()
    assert score == pytest.approx(expected["NATO"])
    assert matched_at == was_at  # only the score was written
    # Nothing left to do the second time.
    assert run_cli(db, sources).splitlines() == [
        "6 articles checked; changed: 0 added, 0 removed, 0 re-explained"
    ]
