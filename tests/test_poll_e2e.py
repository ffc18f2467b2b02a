"""End to end: a real loopback feed server, real Prefect runs, a real DuckDB file."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from newswatch import cli
from tests.conftest import CORPUS, SEED_ARTICLE
from tests.feedserver import FeedServer
from tests.helpers import rss, write_sources

SEED_TITLE = "Turkey's S-400 purchase tops agenda for Erdogan's meeting with Trump"


def seed_feed(url: str) -> bytes:
    text = SEED_ARTICLE.read_text(encoding="utf-8")
    return rss(
        "Bloomberg Politics",
        [
            {
                "title": SEED_TITLE,
                "link": url,
                "guid": "bloomberg-seed-1",
                "description": "<p>"
                + text.split("\n")[0]
                + "</p><p>"
                + text.split("\n")[1]
                + "</p>",
                "pubDate": datetime.now(UTC),
            },
            {
                "title": "Recipe: the perfect roast for Thanksgiving",
                "link": "https://example.org/food/roast",
                "description": "Brine it overnight.",
                "pubDate": datetime.now(UTC),
            },
        ],
    )


@pytest.fixture
def farm(feed_server: FeedServer) -> FeedServer:
    s = feed_server
    s.route("/seed.xml", body=seed_feed("https://www.bloomberg.com/news/seed?utm_source=rss"))
    for name in (
        "bbc-world.rss.xml",
        "al-monitor.rss.xml",
        "dawn-world.rss.xml",
        "dw-english-all.rdf.xml",
    ):
        s.route(f"/{name}", body=(CORPUS / "realnews" / name).read_bytes())
    s.route(
        "/broken.xml", body=(CORPUS / "realnews" / "MALFORMED-dylanharris-ssc.rss.xml").read_bytes()
    )
    s.route("/500.xml", status=500, body=b"internal error", headers={"Content-Type": "text/plain"})
    s.route("/slow.xml", body=rss("slow", []), delay=6)
    s.route(
        "/page.html",
        body=b"<!doctype html><html><body><h1>Welcome</h1></body></html>",
        headers={"Content-Type": "text/html; charset=utf-8"},
    )
    s.route("/loop.xml", status=302, etag=False, headers={"Location": s.url("/loop.xml")})
    return s


FEEDS = [
    ("/seed.xml", "Bloomberg"),
    ("/bbc-world.rss.xml", "BBC World"),
    ("/al-monitor.rss.xml", "Al-Monitor"),
    ("/dawn-world.rss.xml", "Dawn"),
    ("/dw-english-all.rdf.xml", "DW"),
    ("/broken.xml", "Broken blog"),
    ("/missing.xml", "Gone feed"),
    ("/500.xml", "Server error"),
    ("/slow.xml", "Slow feed"),
    ("/page.html", "Not a feed"),
    ("/loop.xml", "Redirect loop"),
]


def test_run_stores_matches_records_failures_and_writes_digest(
    farm: FeedServer, tmp_path: Path, prefect_harness: None
) -> None:
    sources = write_sources(
        tmp_path / "sources.yaml", [(farm.url(p), n) for p, n in FEEDS], timeout=2
    )
    db = tmp_path / "wh" / "news.duckdb"
    out = io.StringIO()
    digests = tmp_path / "digests"
    argv = ["run", "--sources", str(sources), "--db", str(db), "--out", str(digests)]
    assert cli.main(argv, out=out) == 0
    text = out.getvalue()
    for _, name in FEEDS:
        assert name in text
    # Both halves report their stages' times (the poll's, then the digest's).
    poll_line, digest_line = re.findall(r"timings \(s\): (.*)", text)
    assert {"fetch_s", "store_s", "refresh_s", "flow_s"} <= {
        p.split()[0] for p in poll_line.split(", ")
    }
    stages = {p.split()[0]: float(p.split()[1]) for p in digest_line.split(", ")}
    assert {"gather_s", "render_s", "write_s", "flow_s"} <= set(stages)
    assert stages["flow_s"] >= stages["gather_s"] + stages["render_s"]

    # The digest: the seed story appears once, tagged with all three topics; feed content escaped.
    [html_file] = digests.glob("digest-*.html")
    html = html_file.read_text(encoding="utf-8")
    # Listed in full once; the other topics it carries name it in cross-reference lines.
    see_also = re.findall(r'class="see-also"[^>]*>.*?</td>', html, re.S)
    preheader = re.search(r'<div class="preheader"[^>]*>.*?</div>', html, re.S)
    listed = html.replace(preheader.group(0), "") if preheader else html
    visible = re.sub(r"<[^>]+>", "", listed)  # highlights split the title's markup
    assert visible.count("S-400 purchase tops agenda") - len(see_also) == 1
    assert len(see_also) == 2  # under S-400 and under NATO
    assert "Recipe: the perfect roast" not in html
    assert "<script" not in html.lower()
    plain = html_file.with_suffix(".txt").read_text(encoding="utf-8")
    assert "S-400 purchase tops agenda" in plain
    assert html_file.with_suffix(".eml").exists()
    for failing in ("Gone feed", "Server error", "Redirect loop"):
        assert failing in plain  # failing feeds are listed, so silence never hides breakage

    con = duckdb.connect(str(db), read_only=True)
    n_articles = con.execute("SELECT count(*) FROM articles").fetchone()[0]
    assert n_articles > 100
    seed = con.execute("SELECT id, url FROM articles WHERE title = ?", [SEED_TITLE]).fetchone()
    assert seed is not None
    assert "utm_source" not in seed[1]
    topics = {
        r[0]
        for r in con.execute(
            "SELECT topic FROM article_topics WHERE article_id = ?", [seed[0]]
        ).fetchall()
    }
    assert topics == {"Turkey", "S-400", "NATO"}
    recipe_topics = con.execute(
        "SELECT count(*) FROM article_topics t JOIN articles a ON a.id = t.article_id WHERE a.title LIKE 'Recipe%'"
    ).fetchone()[0]
    assert recipe_topics == 0

    feeds = dict(con.execute("SELECT name, last_outcome FROM feeds").fetchall())
    errors = dict(
        con.execute("SELECT name, last_error FROM feeds WHERE last_outcome = 'error'").fetchall()
    )
    assert set(errors) == {
        "Broken blog",
        "Gone feed",
        "Server error",
        "Slow feed",
        "Not a feed",
        "Redirect loop",
    }
    assert "404" in errors["Gone feed"] and "500" in errors["Server error"]
    assert feeds["BBC World"] == "ok" and feeds["Bloomberg"] == "ok"
    attempts = con.execute(
        "SELECT count(*) FROM feeds WHERE last_attempt_at IS NULL OR last_duration_ms IS NULL"
    ).fetchone()[0]
    assert attempts == 0
    con.close()

    # Re-poll: conditional requests, no duplicates.
    before = len(farm.requests_for("/bbc-world.rss.xml"))
    assert cli.main(["poll", "--sources", str(sources), "--db", str(db)], out=io.StringIO()) == 0
    again = farm.requests_for("/bbc-world.rss.xml")[before:]
    assert again and again[0].headers.get("if-none-match")
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM articles").fetchone()[0] == n_articles
    assert con.execute("SELECT count(*) FROM polls").fetchone()[0] == 2
    assert (
        con.execute("SELECT last_outcome FROM feeds WHERE name = 'BBC World'").fetchone()[0]
        == "not_modified"
    )
    con.close()


def _topic_rows(db: Path) -> tuple[list[tuple[str, str, int]], list[tuple[int, int, str, int]]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        topics = con.execute(
            "SELECT a.title, t.topic, count(*) FROM article_topics t "
            "JOIN articles a ON a.id = t.article_id GROUP BY ALL ORDER BY ALL"
        ).fetchall()
        polls = con.execute(
            "SELECT p.new_articles, p.new_matches, f.outcome, f.entries FROM polls p "
            "JOIN fetch_log f ON f.poll_id = p.id ORDER BY p.id"
        ).fetchall()
    finally:
        con.close()
    return topics, polls


def test_repoll_of_a_changed_feed_counts_only_the_new_articles_matches(
    feed_server: FeedServer, tmp_path: Path, prefect_harness: None
) -> None:
    # The second poll gets a changed body (HTTP 200, not a 304, not byte-identical) that still
    # lists the matched article stored by the first: only the new article's match is new.
    now = datetime.now(UTC)
    first = {"title": "NATO summit opens", "link": "https://example.org/1", "pubDate": now}
    second = {"title": "NATO ministers meet again", "link": "https://example.org/2", "pubDate": now}
    url = feed_server.route("/changing.xml", body=rss("Changing", [first]))
    sources = write_sources(tmp_path / "sources.yaml", [(url, "Changing")])
    db = tmp_path / "news.duckdb"
    argv = ["poll", "--sources", str(sources), "--db", str(db)]
    out = io.StringIO()
    assert cli.main(argv, out=out) == 0
    assert "1 new article, 1 new topic match" in out.getvalue()
    feed_server.route("/changing.xml", body=rss("Changing", [second, first]))
    out = io.StringIO()
    assert cli.main(argv, out=out) == 0
    assert "1 new article, 1 new topic match" in out.getvalue(), out.getvalue()
    topics, polls = _topic_rows(db)
    assert topics == [
        ("NATO ministers meet again", "NATO", 1),
        ("NATO summit opens", "NATO", 1),
    ]
    assert polls == [(1, 1, "ok", 1), (1, 1, "ok", 2)]


def test_bad_sources_file_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "sources.yaml"
    bad.write_text("feeds:\n  - url: ftp://example.org/feed\ntopics:\n  - name: X\n")
    assert cli.main(["poll", "--sources", str(bad), "--db", str(tmp_path / "x.duckdb")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert f"{bad}:2: feeds[0].url:" in err
    assert not (tmp_path / "x.duckdb").exists()


def test_a_poll_into_a_warehouse_whose_key_index_outgrows_the_writers_cap_is_stored(
    feed_server: FeedServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The merge inserts into `articles`, whose primary-key index must fit DuckDB's memory
    cap. It grows with the warehouse: at the writer's 128 MB a merge into 2 M stored
    articles failed with DuckDB's out-of-memory error, and the poll with a traceback (exit 1),
    every poll after it too. Scaled down here (300,000 stored articles, an 8 MB cap): the
    merge runs out of memory, is retried under a larger cap, and the poll stores its article."""
    import logging

    from newswatch.store import search, warehouse

    db = tmp_path / "news.duckdb"
    with warehouse.connect(db) as con:
        con.execute(
            "INSERT INTO articles (id, feed_url, source, url, title, summary, summary_html, "
            "published_at, published_at_known, first_seen_at, poll_id) "
            "SELECT md5(i::VARCHAR), 'https://old.example/f.xml', 'Old', "
            "'https://old.example/' || i, 'Old story ' || i, '', '', "
            "TIMESTAMPTZ '2025-01-01 00:00:00+00', true, TIMESTAMPTZ '2025-01-01 00:00:00+00', "
            "'old' FROM range(300000) t(i)"
        )
        search.refresh_search_index(con)
    monkeypatch.setattr(warehouse, "WRITER_MEMORY_LIMIT", "8MB")
    now = datetime.now(UTC)
    item = {"title": "NATO summit opens", "link": "https://example.org/1", "pubDate": now}
    url = feed_server.route("/f.xml", body=rss("F", [item]))
    sources = write_sources(tmp_path / "sources.yaml", [(url, "F")])
    caplog.set_level(logging.WARNING, logger="newswatch.warehouse")
    out = io.StringIO()
    assert cli.main(["poll", "--sources", str(sources), "--db", str(db)], out=out) == 0
    assert "1 new article, 1 new topic match" in out.getvalue(), out.getvalue()
    assert any("ran out of memory" in r.getMessage() for r in caplog.records)
    with warehouse.connect(db, read_only=True) as con:
        stored = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE title = 'NATO summit opens') FROM articles"
        ).fetchone()
    assert stored == (300001, 1)
