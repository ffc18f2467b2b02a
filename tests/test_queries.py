"""Every example query in warehouse/queries runs against a warehouse filled by a real poll."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from newswatch import cli
from newswatch.store import warehouse
from tests import warehouse_helpers
from tests.feedserver import FeedServer
from tests.helpers import write_sources
from tests.warehouse_helpers import TITLE_HIT, assert_one_line_error, run_cli

QUERIES = Path(__file__).resolve().parent.parent / "warehouse" / "queries"

EXPECTED_COLUMNS = {
    "s400_stories_this_week": [
        "headline",
        "first_published_at",
        "last_published_at",
        "articles",
        "sources",
        "url",
    ],
    "nato_coverage_by_outlet": ["source", "nato_articles", "all_articles", "nato_pct"],
    "multi_topic_stories": [
        "cluster_id",
        "headline",
        "sources",
        "topic_count",
        "topics",
        "last_published_at",
    ],
    "feeds_failed_today": [
        "name",
        "feed_url",
        "failed_attempts",
        "last_failure_at",
        "http_status",
        "error_kind",
        "error",
    ],
    "why_did_this_match": [
        "topic",
        "rule",
        "field",
        "term",
        "matched_text",
        "start_pos",
        "end_pos",
        "context",
        "title",
        "url",
    ],
    "daily_topic_volume_30d": ["day", "topic", "articles", "stories", "sources"],
    "slowest_feeds": ["feed", "attempts", "median_ms", "p95_ms", "max_ms", "failures"],
    "fulltext_search": ["score", "title", "source", "published_at", "url"],
    "latest_stories_per_topic": [
        "topic",
        "headline",
        "articles",
        "sources",
        "last_published_at",
        "url",
    ],
    "stories_by_tag": [
        "headline",
        "tagged_sources",
        "sources",
        "articles",
        "last_published_at",
        "url",
    ],
    "unhealthy_feeds": [
        "name",
        "status",
        "consecutive_failures",
        "last_http_status",
        "last_error",
        "last_success_at",
        "attempts_7d",
        "failures_7d",
        "success_rate_7d",
        "url",
    ],
}


@pytest.fixture(scope="session")
def db(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return warehouse_helpers.populated_db(tmp_path_factory)


def run_json(db: Path, sql: str) -> list[dict[str, object]]:
    out = io.StringIO()
    assert cli.main(["query", sql, "--db", str(db), "--format", "json"], out=out) == 0
    rows = json.loads(out.getvalue())
    assert isinstance(rows, list)
    return rows


def test_every_query_file_is_covered() -> None:
    assert {p.stem for p in QUERIES.glob("*.sql")} == set(EXPECTED_COLUMNS)
    assert len(EXPECTED_COLUMNS) >= 8


@pytest.mark.parametrize("name", sorted(EXPECTED_COLUMNS))
def test_example_query_returns_rows(db: Path, name: str) -> None:
    rows = run_json(db, (QUERIES / f"{name}.sql").read_text(encoding="utf-8"))
    assert len(rows) >= 1
    assert list(rows[0]) == EXPECTED_COLUMNS[name]


def test_example_queries_answer_their_question(db: Path) -> None:
    def q(name: str) -> list[dict[str, object]]:
        return run_json(db, (QUERIES / f"{name}.sql").read_text(encoding="utf-8"))

    s400 = q("s400_stories_this_week")
    assert TITLE_HIT in {r["headline"] for r in s400}
    assert all(r["sources"] for r in s400)
    assert all(int(str(r["topic_count"])) >= 2 for r in q("multi_topic_stories"))
    assert q("nato_coverage_by_outlet")[0]["source"] in {"Brussels Wire", "Ankara Daily"}
    assert {r["name"] for r in q("feeds_failed_today")} == {"Server error"}
    assert {r["name"] for r in q("unhealthy_feeds")} == {"Server error"}
    explained = q("why_did_this_match")
    assert {r["topic"] for r in explained} == {"Turkey", "S-400", "NATO"}
    for r in explained:
        assert str(r["matched_text"]) in str(r["context"])
    assert q("fulltext_search")[0]["title"] == TITLE_HIT
    slow = q("slowest_feeds")
    assert [float(str(r["median_ms"])) for r in slow] == sorted(
        (float(str(r["median_ms"])) for r in slow), reverse=True
    )
    by_tag = q("stories_by_tag")  # S-400 stories that a feed tagged TR carried
    assert TITLE_HIT in {r["headline"] for r in by_tag}
    assert {tuple(r["tagged_sources"]) for r in by_tag} == {("Ankara Daily",)}  # type: ignore[arg-type]
    all_s400 = {r["headline"] for r in q("s400_stories_this_week")}
    assert len(all_s400) > len(by_tag)  # the Brussels and Monitor stories are left out
    volume = q("daily_topic_volume_30d")
    assert len(volume) == 30 * 3
    assert sum(int(str(r["articles"])) for r in volume if r["topic"] == "S-400") >= 4


def test_views_one_row_per_story_and_per_feed(db: Path) -> None:
    con = duckdb.connect(str(db), read_only=True)
    try:
        dupes = con.execute(
            "SELECT count(*) FROM (SELECT topic, cluster_id FROM latest_stories "
            "GROUP BY ALL HAVING count(*) > 1)"
        ).fetchone()
        assert dupes == (0,)
        feeds = con.execute("SELECT count(*), count(DISTINCT url) FROM feed_health").fetchone()
        assert feeds is not None and feeds[0] == feeds[1] == len(warehouse_helpers.REAL_FEEDS) + 5
        matched = con.execute(
            "SELECT count(*), (SELECT count(DISTINCT article_id) FROM article_topics) "
            "FROM matched_articles"
        ).fetchone()
        assert matched is not None and matched[0] == matched[1] > 0
    finally:
        con.close()


def test_sql_error_is_one_line_exit_2(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["query", "SELECT nope FROM articles", "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("newswatch: error: ") and err.count("\n") == 1
    assert "nope" in err and "Traceback" not in err


def test_query_is_read_only(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = run_json(db, "SELECT count(*) AS n FROM feeds")
    assert cli.main(["query", "DELETE FROM feeds", "--db", str(db)]) == 2
    assert "read-only" in capsys.readouterr().err
    assert run_json(db, "SELECT count(*) AS n FROM feeds") == before


def test_several_statements_show_the_last_result_and_say_so(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = io.StringIO()
    sql = "SELECT 1 AS a; SELECT 2 AS b"
    assert cli.main(["query", sql, "--db", str(db), "--format", "csv"], out=out) == 0
    assert out.getvalue().splitlines() == ["b", "2"]  # the output stays clean CSV
    assert "2 statements; this is the result of the last one" in capsys.readouterr().err
    assert cli.main(["query", "SELECT 1 AS a;", "--db", str(db)], out=io.StringIO()) == 0
    assert capsys.readouterr().err == ""


def test_formats(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sql = "SELECT name, last_http_status FROM feeds ORDER BY name"
    out = io.StringIO()
    assert cli.main(["query", sql, "--db", str(db), "--format", "csv"], out=out) == 0
    lines = out.getvalue().splitlines()
    assert lines[0] == "name,last_http_status"
    assert "Server error,500" in lines
    out = io.StringIO()
    assert cli.main(["query", sql, "--db", str(db)], out=out) == 0
    table = out.getvalue().splitlines()
    assert table[0].split() == ["name", "last_http_status"]
    assert table[-1] == f"({len(lines) - 1} rows)"

    assert cli.main(["query", sql, "--db", str(db), "--format", "parquet"]) == 2
    assert "--out" in capsys.readouterr().err
    target = tmp_path / "feeds.parquet"
    assert (
        cli.main(
            ["query", sql, "--db", str(db), "--format", "parquet", "--out", str(target)],
            out=io.StringIO(),
        )
        == 0
    )
    back = pq.read_table(target)
    assert back.column_names == ["name", "last_http_status"]
    assert back.num_rows == len(lines) - 1


def test_out_without_format_writes_what_the_file_name_says(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--out u.csv` alone writes CSV (was: the screen's table, each value cut at 60
    characters); a name that says no format is refused before the query runs."""
    sql = "SELECT repeat('x', 100) AS long, 1 AS n"
    for name, check in (
        ("u.csv", lambda text: text.splitlines() == ["long,n", f"{'x' * 100},1"]),
        ("u.json", lambda text: json.loads(text) == [{"long": "x" * 100, "n": 1}]),
        ("u.txt", lambda text: "x" * 100 in text and "…" not in text),
    ):
        target = tmp_path / name
        assert (
            cli.main(["query", sql, "--db", str(db), "--out", str(target)], out=io.StringIO()) == 0
        )
        assert check(target.read_text(encoding="utf-8")), target.read_text(encoding="utf-8")
    target = tmp_path / "u.parquet"
    assert cli.main(["query", sql, "--db", str(db), "--out", str(target)], out=io.StringIO()) == 0
    assert pq.read_table(target).to_pylist() == [{"long": "x" * 100, "n": 1}]
    assert cli.main(["query", sql, "--db", str(db), "--out", str(tmp_path / "u.dat")]) == 2
    assert "--format" in capsys.readouterr().err
    assert not (tmp_path / "u.dat").exists()
    # --format still wins over the name.
    target = tmp_path / "v.txt"
    argv = ["query", sql, "--db", str(db), "--format", "csv", "--out", str(target)]
    assert cli.main(argv, out=io.StringIO()) == 0
    assert target.read_text(encoding="utf-8").startswith("long,n\n")


def test_missing_database_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["query", "SELECT 1", "--db", str(tmp_path / "none.duckdb")]) == 2
    assert "newswatch poll" in capsys.readouterr().err
    assert not (tmp_path / "none.duckdb").exists()


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["SELECT 1", "--format", "csv", "--out", "/nonexistent/x.csv"], ["/nonexistent/x.csv", "does not exist"]),
        (["SELECT 1", "--format", "parquet", "--out", "/nonexistent/x.parquet"], ["/nonexistent/x.parquet", "does not exist"]),
        (["SELECT 1", "--format", "json", "--out", "/proc/nw.json"], ["/proc/nw.json", "No such file"]),
        (["SELECT 1", "--format", "parquet", "--out", "/proc/nw.parquet"], ["/proc/nw.parquet", "No such file"]),
        (["SELECT 1", "--out", "{tmp}"], ["{tmp}", "is a folder"]),
        (["SELEC 1"], ["SELEC"]),
        (["SELECT * FROM no_such_table"], ["no_such_table"]),
        # DuckDB's suggestion stays, on the one line.
        (["SELECT languag FROM articles"], ['Referenced column "languag" not found in FROM clause (did you mean "language"?)']),
        (["SELECT * FROM matched_article"], ['Table with name matched_article does not exist (did you mean "matched_articles"?)']),
        (["SELECT 1", "--db", "{tmp}/none.duckdb"], ["{tmp}/none.duckdb", "newswatch poll"]),
        (["SELECT 1", "--db", "{tmp}/garbage.duckdb"], ["{tmp}/garbage.duckdb", "not a valid DuckDB"]),
        ([""], ["no statement", "SELECT * FROM feed_health"]),
        ([";"], ["no statement"]),
        (["  ;\n ;"], ["no statement"]),
        (["-- only a comment"], ["no statement"]),
        (["/* a block comment */ ;"], ["no statement"]),
    ],
)  # fmt: skip
def test_query_failures_are_one_line_in_a_real_process(
    tmp_path: Path, args: list[str], names: list[str]
) -> None:
    db = tmp_path / "w.duckdb"
    with warehouse.connect(db):
        pass
    (tmp_path / "garbage.duckdb").write_text("not a database\n")
    before = sorted(tmp_path.iterdir())
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "--db" not in argv:
        argv += ["--db", str(db)]
    proc = run_cli("query", *argv)
    assert_one_line_error(proc, *(n.replace("{tmp}", str(tmp_path)) for n in names))
    assert proc.stdout == ""
    assert sorted(tmp_path.iterdir()) == before  # no half-written or temporary file left


def test_query_out_replaces_the_file_whole(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    with warehouse.connect(db):
        pass
    target = tmp_path / "n.csv"
    target.write_text("old\n")
    proc = run_cli(
        "query", "SELECT 7 AS n", "--db", str(db), "--format", "csv", "--out", str(target)
    )
    assert proc.returncode == 0, proc.stderr
    assert target.read_text() == "n\n7\n"
    assert proc.stdout == f"1 rows written to {target}\n"
    # A failing query leaves the earlier file as it was.
    proc = run_cli("query", "SELECT nope", "--db", str(db), "--format", "csv", "--out", str(target))
    assert_one_line_error(proc, "nope")
    assert target.read_text() == "n\n7\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["n.csv", "w.duckdb"]


def test_ids_follow_the_recipe_in_the_schema_doc(db: Path) -> None:
    # warehouse/README.md, "How ids are made", recomputed from the stored columns.
    con = duckdb.connect(str(db), read_only=True)
    try:
        articles = con.execute(
            "SELECT id, feed_url, guid, url, title, published_at FROM articles"
        ).fetchall()
        clusters = con.execute("SELECT article_id, cluster_id FROM article_clusters").fetchall()
    finally:
        con.close()
    kinds = set()
    for id_, feed_url, guid, url, title, _ in articles:
        kind, value = ("g", guid) if guid else ("u", url) if url else ("t", title)
        kinds.add(kind)
        key = f"{feed_url}\n{kind}:{value}".encode()
        assert hashlib.blake2b(key, digest_size=16).hexdigest() == id_
    assert "g" in kinds
    # The fallbacks, for entries without a guid (and without a link).
    from newswatch.parse.normalise import article_id

    def recipe(text: str) -> str:
        return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()

    feed = "https://feeds.example/world.xml"
    assert article_id(feed, "  tag:x,2025:1 ", "https://a.example/1") == recipe(
        f"{feed}\ng:tag:x,2025:1"
    )
    assert article_id(feed, None, "https://a.example/1", title="T") == recipe(
        f"{feed}\nu:https://a.example/1"
    )
    assert article_id(feed, "", "", title="Only a title") == recipe(f"{feed}\nt:Only a title")
    # One clustering ran (one poll): each cluster's id is its earliest (published_at, id)
    # (multi-article clusters: tests/test_cluster.py).
    published = {a[0]: a[5] for a in articles}
    members: dict[str, list[str]] = {}
    for member, cluster_id in clusters:
        members.setdefault(cluster_id, []).append(member)
    assert members
    for cluster_id, ids in members.items():
        assert cluster_id == min(ids, key=lambda i: (published[i], i))


def test_the_polls_streamed_cluster_rows_cluster_as_whole_articles_do(db: Path) -> None:
    """The refresh clusters narrow rows streamed in batches; the stories are the ones whole
    articles give, and the ones the poll stored."""
    from datetime import datetime, timedelta

    from newswatch.digest.cluster import assign_clusters

    since = datetime.now(UTC) - timedelta(days=3)
    with warehouse.connect(db, read_only=True) as con:
        matched = {r[0] for r in con.execute("SELECT article_id FROM article_topics").fetchall()}
        whole = assign_clusters(a for a in warehouse.articles_since(con, since) if a.id in matched)
        streamed = assign_clusters(
            warehouse.cluster_rows_since(con, since, batch=7),
            lambda ids: warehouse.cluster_summaries(con, ids),
        )
        stored = dict(con.execute("SELECT article_id, cluster_id FROM article_clusters").fetchall())
    assert len(whole) > 7  # several batches
    assert streamed == whole
    assert {k: stored[k] for k in whole} == whole


def test_latest_stories_sources_are_every_outlet_of_the_story_as_in_the_digest(
    feed_server: FeedServer, tmp_path: Path, prefect_harness: None
) -> None:
    """`sources` is every outlet that carried the story (its cluster), as documented and as the
    digest's "Also reported by" shows it; not only the outlets whose article matched the row's
    topic (a Greek outlet's copy that matched Mali but not Wagner was missing from Wagner's row)."""
    feeds = warehouse_helpers.serve_one_story_two_outlets(feed_server, datetime.now(UTC))
    sources = write_sources(tmp_path / "sources.yaml", feeds, topics=warehouse_helpers.STORY_TOPICS)
    db = tmp_path / "wh" / "news.duckdb"
    warehouse_helpers.poll_once(sources, db)
    clusters = run_json(db, "SELECT count(DISTINCT cluster_id) AS n FROM matched_articles")
    assert clusters == [{"n": 1}]  # one story, two outlets

    rows = run_json(
        db,
        "SELECT topic, headline, first_source, sources, articles FROM latest_stories "
        "ORDER BY topic",
    )
    both = ["Sahel Post", "eKathimerini (GR)"]
    title = warehouse_helpers.STORY_TITLE
    assert rows == [
        {"topic": "Mali", "headline": title, "first_source": "Sahel Post", "sources": both,
         "articles": 2},
        {"topic": "Wagner", "headline": title, "first_source": "Sahel Post", "sources": both,
         "articles": 1},
    ]  # fmt: skip
    found = run_json(
        db,
        "SELECT headline FROM latest_stories "
        "WHERE topic = 'Wagner' AND list_contains(sources, 'eKathimerini (GR)')",
    )
    assert found == [{"headline": title}]

    # The digest names the same outlet for that story.
    out = io.StringIO()
    argv = ["digest", "--sources", str(sources), "--db", str(db), "--out", str(tmp_path / "d")]
    assert cli.main(argv, out=out) == 0, out.getvalue()
    [text] = (tmp_path / "d").glob("digest-*.txt")
    assert "Also reported by:\n     - eKathimerini (GR)" in text.read_text(encoding="utf-8")


def test_feed_tags_reach_the_views_and_follow_sources_yaml_on_the_next_poll(
    feed_server: FeedServer, tmp_path: Path, prefect_harness: None
) -> None:
    """Which Wagner stories came from Greek outlets? Feeds carry `tags:` from sources.yaml into
    `feeds`, `matched_articles.feed_tags`, `latest_stories.feed_tags` and `feed_health.tags`;
    an edit of the tags shows after the next poll, also for a feed that poll did not fetch."""
    feeds = warehouse_helpers.serve_one_story_two_outlets(feed_server, datetime.now(UTC))
    sahel_url, greek_url = (url for url, _ in feeds)
    db = tmp_path / "wh" / "news.duckdb"

    def poll(tags: dict[str, list[str]], extra: str = "") -> None:
        path = write_sources(
            tmp_path / "sources.yaml", feeds, topics=warehouse_helpers.STORY_TOPICS, tags=tags
        )
        if extra:  # e.g. the Sahel feed turned off: this poll does not fetch it
            text = path.read_text(encoding="utf-8")
            path.write_text(text.replace("name: 'Sahel Post'", f"name: 'Sahel Post'\n{extra}"))
        warehouse_helpers.poll_once(path, db)

    poll({"Sahel Post": ["ML", "regional"], "eKathimerini (GR)": ["GR", "greek-press"]})
    assert run_json(db, "SELECT url, tags FROM feeds ORDER BY name") == [
        {"url": sahel_url, "tags": ["ML", "regional"]},
        {"url": greek_url, "tags": ["GR", "greek-press"]},
    ]
    assert run_json(db, "SELECT source, topics, feed_tags FROM matched_articles ORDER BY source") == [
        {"source": "Sahel Post", "topics": ["Mali", "Wagner"], "feed_tags": ["ML", "regional"]},
        {"source": "eKathimerini (GR)", "topics": ["Mali"], "feed_tags": ["GR", "greek-press"]},
    ]  # fmt: skip
    # The story's row names every tag of the outlets that carried it (as `sources` does)...
    wagner_gr = (
        "SELECT headline, feed_tags FROM latest_stories "
        "WHERE topic = 'Wagner' AND list_contains(feed_tags, 'GR')"
    )
    title = warehouse_helpers.STORY_TITLE
    assert run_json(db, wagner_gr) == [
        {"headline": title, "feed_tags": ["GR", "ML", "greek-press", "regional"]}
    ]
    # ...while the articles themselves say which outlet's copy named Wagner: not the Greek one.
    greek_wagner = (
        "SELECT count(*) AS n FROM matched_articles "
        "WHERE list_contains(topics, 'Wagner') AND list_contains(feed_tags, 'GR')"
    )
    assert run_json(db, greek_wagner) == [{"n": 0}]

    # Retagged: the Greek outlet is now a wire too, the Sahel feed loses its tags and is turned
    # off (not fetched by this poll: its tags still follow the file).
    poll({"eKathimerini (GR)": ["GR", "wire"]}, extra="    enabled: false")
    fetched = "SELECT feed_url, count(*) AS n FROM fetch_log GROUP BY 1 ORDER BY 1"
    assert run_json(db, fetched) == sorted(
        [{"feed_url": sahel_url, "n": 1}, {"feed_url": greek_url, "n": 2}],
        key=lambda r: str(r["feed_url"]),
    )
    assert run_json(db, "SELECT url, tags FROM feed_health ORDER BY name") == [
        {"url": sahel_url, "tags": []},
        {"url": greek_url, "tags": ["GR", "wire"]},
    ]
    assert run_json(db, "SELECT feed_tags FROM latest_stories WHERE topic = 'Wagner'") == [
        {"feed_tags": ["GR", "wire"]}
    ]
    assert run_json(db, "SELECT source, feed_tags FROM matched_articles ORDER BY source") == [
        {"source": "Sahel Post", "feed_tags": []},
        {"source": "eKathimerini (GR)", "feed_tags": ["GR", "wire"]},
    ]


def test_latest_stories_headline_is_the_full_report_not_the_outlet_s_flash(
    feed_server: FeedServer, tmp_path: Path, prefect_harness: None
) -> None:
    """An outlet's "BREAKING:" line and its full report half an hour later are one story;
    its headline is the report's, as in the digest (the flash was first, so `first_source`
    is still its outlet's)."""
    from datetime import timedelta

    from tests.helpers import rss

    now = datetime.now(UTC)
    flash = "BREAKING: Wagner fighters leave Tessalit base in northern Mali"
    full = "Wagner fighters pull out of Mali's Tessalit base after two years"
    feed_server.route(
        "/wire.xml",
        body=rss(
            "Sahel Wire",
            [
                {"title": flash, "link": "https://wire.example/1", "guid": "w1",
                 "description": "Wagner fighters leave Tessalit base. More to follow.",
                 "pubDate": now - timedelta(hours=3)},
                {"title": full, "link": "https://wire.example/2", "guid": "w2",
                 "description": "Russian Wagner fighters left the Tessalit base in northern "
                 "Mali on Monday after two years there, local officials said, handing it to "
                 "the Malian army as the group winds down its Sahel operations.",
                 "pubDate": now - timedelta(hours=2, minutes=30)},
            ],
        ),
    )  # fmt: skip
    sources = write_sources(
        tmp_path / "sources.yaml",
        [(feed_server.url("/wire.xml"), "Sahel Wire")],
        topics=warehouse_helpers.STORY_TOPICS,
    )
    db = tmp_path / "wh" / "news.duckdb"
    warehouse_helpers.poll_once(sources, db)
    assert run_json(db, "SELECT count(DISTINCT cluster_id) AS n FROM matched_articles") == [
        {"n": 1}
    ]
    rows = run_json(
        db, "SELECT headline, url, first_source, articles FROM latest_stories ORDER BY topic"
    )
    report = {"headline": full, "url": "https://wire.example/2", "first_source": "Sahel Wire",
              "articles": 2}  # fmt: skip
    assert rows == [report, report]  # Mali, Wagner
