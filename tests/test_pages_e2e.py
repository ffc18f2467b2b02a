"""The article-page step end to end: a real loopback server serving a feed and its linked pages
(a good article, a 404, a huge page, a slow page, a page on a refused address), real Prefect
poll runs, a real DuckDB file."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from newswatch import cli
from tests.conftest import DATA
from tests.feedserver import FeedServer
from tests.helpers import default_topics_yaml, rss

PAGE = (DATA / "article_page.html").read_bytes()
HTML = {"Content-Type": "text/html; charset=utf-8"}
USER_AGENT = "newswatch-test/1 (+mailto:desk@example.org)"
REFUSED = "http://169.254.169.254/latest/meta-data/story"  # cloud metadata: never contacted
HUGE = 4 * 1024 * 1024  # over the 3 MiB default cap


def item(n: int, title: str, link: str) -> dict[str, str | datetime]:
    return {
        "title": title,
        "link": link,
        "guid": f"teaser-{n}",
        "description": "A short teaser.",
        "pubDate": datetime.now(UTC) - timedelta(minutes=n),
    }


def teasers(server: FeedServer, *extra: dict[str, str | datetime]) -> bytes:
    return rss(
        "Teaser Wire",
        [
            *extra,
            item(1, "Leaders gather in The Hague", server.url("/good")),
            item(2, "Story that was taken down", server.url("/gone")),
            item(3, "Story on an enormous page", server.url("/huge")),
            item(4, "Story on a slow server", server.url("/slow")),
            item(5, "Story on a refused address", REFUSED),
        ],
    )


def serve(server: FeedServer) -> None:
    now = datetime.now(UTC)
    server.route("/teasers.xml", body=teasers(server))
    server.route("/good", body=PAGE, headers=HTML, etag=False)
    server.route("/gone", status=404, body=b"not here", headers=HTML, etag=False)
    server.route(
        "/huge", body=b"<html><body>" + b"<p>filler</p>" * (HUGE // 13), headers=HTML, etag=False
    )
    server.route("/slow", body=PAGE, headers=HTML, delay=4, etag=False)
    # A feed that does not ask for pages: its entry's page is never requested.
    server.route(
        "/full.xml",
        body=rss(
            "Full Wire",
            [
                {
                    "title": "Leaders gather in The Hague (full wire)",
                    "link": server.url("/not-fetched"),
                    "guid": "full-1",
                    "description": "The summit story.",
                    "pubDate": now,
                }
            ],
        ),
    )
    server.route("/not-fetched", body=PAGE, headers=HTML, etag=False)


def sources(server: FeedServer, path: Path) -> Path:
    path.write_text(
        "allow_hosts: [127.0.0.0/8]\n"
        "fetch:\n  timeout: 5\n  connect_timeout: 2\n"
        f"  user_agent: {USER_AGENT!r}\n"
        "article_pages:\n  timeout: 1.5\n"
        "feeds:\n"
        f"  - url: {server.url('/teasers.xml')!r}\n    name: Teaser Wire\n"
        "    fetch_article: true\n"
        f"  - url: {server.url('/full.xml')!r}\n    name: Full Wire\n" + default_topics_yaml(),
        encoding="utf-8",
    )
    return path


def one_feed_sources(path: Path, url: str, fetch_article: str, settings: str = "") -> Path:
    """A sources file of one loopback feed with `fetch_article` (and `settings`, YAML
    written above the feeds) and the default topics."""
    path.write_text(
        "allow_hosts: [127.0.0.0/8]\n"
        + settings
        + f"feeds:\n  - url: {url!r}\n    fetch_article: {fetch_article}\n"
        + default_topics_yaml(),
        encoding="utf-8",
    )
    return path


def poll(src: Path, db: Path) -> str:
    out = io.StringIO()
    assert cli.main(["poll", "--sources", str(src), "--db", str(db)], out=out) == 0, out.getvalue()
    return out.getvalue()


def page_requests(server: FeedServer) -> list[str]:
    return [r.path for r in server.requests if not r.path.endswith(".xml")]


def test_every_entry_is_stored_and_every_page_outcome_recorded_once(
    feed_server: FeedServer, tmp_path: Path, prefect_harness: None
) -> None:
    serve(feed_server)
    src = sources(feed_server, tmp_path / "sources.yaml")
    db = tmp_path / "wh" / "news.duckdb"
    printed = poll(src, db)
    assert (
        "article pages: 5 asked for; 1 read, 0 without article text, 4 failed (1 http "
        "status, 1 refused address, 1 timeout, 1 too large; article_fetches has each); topic "
        "matches changed for 1 article"
    ) in printed
    assert "new topic matches (and more from article pages, below)," in printed
    assert "pages_s" in printed

    with duckdb.connect(str(db), read_only=True) as con:
        titles = {r[0] for r in con.execute("SELECT title FROM articles").fetchall()}
        assert titles == {
            "Leaders gather in The Hague",
            "Story that was taken down",
            "Story on an enormous page",
            "Story on a slow server",
            "Story on a refused address",
            "Leaders gather in The Hague (full wire)",
        }
        rows = con.execute(
            "SELECT a.title, f.outcome, f.http_status, f.error_kind, f.bytes, f.text_chars, "
            "f.duration_ms, f.url, f.started_at, f.extract_ms "
            "FROM article_fetches f JOIN articles a ON a.id = f.article_id"
        ).fetchall()
        stored_at = con.execute("SELECT max(stored_at) FROM polls").fetchone()[0]
    got = {r[0]: r[1:] for r in rows}
    assert set(got) == titles - {"Leaders gather in The Hague (full wire)"}

    outcome, status, kind, size, chars, ms, url, _started, extract_ms = got[
        "Leaders gather in The Hague"
    ]
    assert (outcome, status, kind, size) == ("extracted", 200, None, len(PAGE))
    assert chars > 1000 and ms > 0 and extract_ms is not None and extract_ms > 0
    assert url == feed_server.url("/good")
    assert got["Story that was taken down"][:3] == ("error", 404, "http_status")
    assert got["Story on an enormous page"][:3] == ("error", 200, "too_large")
    assert got["Story on a slow server"][:3] == ("error", None, "timeout")
    assert got["Story on a refused address"][:4] == ("error", None, "refused_address", 0)
    # The entries were stored (and matched) before any page was asked for.
    assert all(r[8] >= stored_at for r in rows)

    # The good page's article text became the article's content, and the article, whose title
    # and teaser name no topic, now matches NATO on its body; the others keep the feed's text.
    with duckdb.connect(str(db), read_only=True) as con:
        content = dict(con.execute("SELECT title, content FROM articles").fetchall())
        topics = con.execute(
            "SELECT a.title, t.topic FROM article_topics t JOIN articles a ON a.id = t.article_id"
        ).fetchall()
        fields = con.execute(
            "SELECT DISTINCT h.field FROM match_hits h JOIN articles a ON a.id = h.article_id "
            "WHERE a.title = 'Leaders gather in The Hague' AND h.topic = 'NATO'"
        ).fetchall()
    page_lines = content["Leaders gather in The Hague"].split("\n")
    assert page_lines[0] == "Leaders gather in The Hague as alliance weighs spending"  # its h1
    assert page_lines[1].startswith("Heads of government arrived")
    assert "Nato Secretary General Mark Rutte" in content["Leaders gather in The Hague"]
    assert "cookies" not in content["Leaders gather in The Hague"]
    assert all(
        not text for title, text in content.items() if title != "Leaders gather in The Hague"
    )
    assert topics == [("Leaders gather in The Hague", "NATO")]
    assert fields == [("content",)]

    # ... and so the story, a teaser in its feed, reaches the digest under NATO.
    out = io.StringIO()
    argv = ["digest", "--sources", str(src), "--db", str(db), "--out", str(tmp_path / "d")]
    assert cli.main(argv, out=out) == 0, out.getvalue()
    [plain] = (tmp_path / "d").glob("digest-*.txt")
    text = plain.read_text(encoding="utf-8")
    assert "Leaders gather in The Hague" in text
    assert "Story that was taken down" not in text

    # Pages are asked for as the feeds are: the configured User-Agent, HTML accepted, and
    # only for the feed that enables it; the refused address was never contacted.
    seen = {r.path: r.headers for r in feed_server.requests}
    assert "/not-fetched" not in seen
    for path in ("/good", "/gone", "/huge", "/slow"):
        assert seen[path]["user-agent"] == USER_AGENT
        assert seen[path]["accept"].startswith("text/html")
    assert sorted(page_requests(feed_server)) == ["/gone", "/good", "/huge", "/slow"]

    # A second poll (the feed changed: one more entry) fetches only the new entry's page.
    feed_server.route(
        "/teasers.xml",
        body=teasers(feed_server, item(0, "Summit ends", feed_server.url("/good?day=2"))),
    )
    before = page_requests(feed_server)
    poll(src, db)
    assert page_requests(feed_server) == [*before, "/good?day=2"]
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM article_fetches").fetchone() == (6,)

    # `newswatch feeds` says, per feed that fetches its pages, what they came to and why.
    out = io.StringIO()
    assert cli.main(["feeds", "--sources", str(src), "--db", str(db)], out=out) == 0
    printed = out.getvalue()
    assert "Article pages, last 7 days (article_fetches has each):" in printed
    assert (
        "  Teaser Wire  2 of 6 read, 4 failed (1 http status, 1 refused address, 1 timeout, "
        "1 too large)\n"
    ) in printed
    assert "Full Wire  " not in printed.split("Article pages")[1]


@pytest.mark.parametrize("enabled", [False, True])
def test_the_global_default_decides_for_feeds_that_do_not_say(
    feed_server: FeedServer, tmp_path: Path, prefect_harness: None, enabled: bool
) -> None:
    feed_server.route(
        "/one.xml",
        body=rss(
            "One",
            [
                {
                    "title": "Leaders gather in The Hague",
                    "link": feed_server.url("/good"),
                    "guid": "one-1",
                    "description": "A short teaser.",
                    "pubDate": datetime.now(UTC),
                }
            ],
        ),
    )
    feed_server.route("/good", body=PAGE, headers=HTML, etag=False)
    src = tmp_path / "sources.yaml"
    src.write_text(
        "allow_hosts: [127.0.0.0/8]\n"
        f"article_pages:\n  enabled: {str(enabled).lower()}\n"
        f"feeds:\n  - url: {feed_server.url('/one.xml')!r}\n" + default_topics_yaml(),
        encoding="utf-8",
    )
    db = tmp_path / "news.duckdb"
    poll(src, db)
    assert ("/good" in page_requests(feed_server)) is enabled
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM articles").fetchone() == (1,)
        assert con.execute("SELECT count(*) FROM article_fetches").fetchone() == (int(enabled),)


def test_a_teaser_feed_fetches_only_the_pages_of_entries_with_little_text(
    feed_server: FeedServer, tmp_path: Path, prefect_harness: None
) -> None:
    now = datetime.now(UTC)
    long_summary = "The whole story is in the feed. " * 30  # ~960 characters
    feed_server.route(
        "/mixed.xml",
        body=rss(
            "Mixed",
            [
                {"title": "Teaser", "link": feed_server.url("/good"), "guid": "m-1",
                 "description": "Read more.", "pubDate": now},
                {"title": "Full", "link": feed_server.url("/full"), "guid": "m-2",
                 "description": long_summary, "pubDate": now},
            ],
        ),
    )  # fmt: skip
    feed_server.route("/good", body=PAGE, headers=HTML, etag=False)
    feed_server.route("/full", body=PAGE, headers=HTML, etag=False)
    src = one_feed_sources(tmp_path / "sources.yaml", feed_server.url("/mixed.xml"), "teaser")
    db = tmp_path / "news.duckdb"
    poll(src, db)
    assert page_requests(feed_server) == ["/good"]
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "SELECT a.title, f.outcome FROM article_fetches f JOIN articles a ON a.id = f.article_id"
        ).fetchall()
        assert con.execute("SELECT count(*) FROM articles").fetchone() == (2,)
    assert rows == [("Teaser", "extracted")]


def test_matches_made_from_pages_are_clustered_and_the_cap_says_the_rest_wait(
    feed_server: FeedServer, tmp_path: Path, prefect_harness: None
) -> None:
    """Pages turned on after the entries were stored: the poll that reads them stores no new
    article, yet their matches are clustered at once (two links to one report are one
    story). With more entries than `max_per_poll`, the summary says the rest wait."""
    now = datetime.now(UTC)
    entries = [
        {"title": f"Wire story {n}", "link": feed_server.url(f"/good?copy={n}"),
         "guid": f"w-{n}", "description": "A short teaser.", "pubDate": now - timedelta(minutes=n)}
        for n in range(3)
    ]  # fmt: skip
    feed_server.route("/w.xml", body=rss("Wire", entries))
    feed_server.route("/good", body=PAGE, headers=HTML, etag=False)

    def write(fetch: bool) -> Path:
        return one_feed_sources(
            tmp_path / "sources.yaml",
            feed_server.url("/w.xml"),
            str(fetch).lower(),
            "article_pages:\n  max_per_poll: 2\n",
        )

    db = tmp_path / "news.duckdb"
    poll(write(False), db)
    printed = poll(write(True), db)
    assert "0 new articles" in printed
    assert "more new entries than article_pages.max_per_poll: the rest wait" in printed
    with duckdb.connect(str(db), read_only=True) as con:
        matched = con.execute("SELECT count(DISTINCT article_id) FROM article_topics").fetchone()
        stories = con.execute("SELECT count(DISTINCT cluster_id) FROM article_clusters").fetchone()
    assert matched == (2,) and stories == (1,)
    printed = poll(write(True), db)
    assert "more new entries" not in printed
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM article_fetches").fetchone() == (3,)


def test_a_page_in_another_language_than_its_teaser_corrects_the_article_s_language(
    feed_server: FeedServer, tmp_path: Path, prefect_harness: None
) -> None:
    """A mostly English teaser feed: its Turkish story's teaser reads as English (the feed's
    majority), its page says Turkish, and the article is stored as Turkish."""
    now = datetime.now(UTC)
    turkish_page = (
        "<html><head><title>Açıklama</title></head><body><article><h1>Dışişleri açıklaması</h1>"
        + "".join(
            f"<p>Dışişleri Bakanlığı sözcüsü, {n}. turdaki görüşmelerin önümüzdeki hafta "
            "İstanbul'da süreceğini açıkladı ve tarafların uzlaşmaya yakın olduğunu söyledi.</p>"
            for n in range(1, 6)
        )
        + "</article></body></html>"
    ).encode("utf-8")
    entries = [
        {"title": f"Leaders meet for talks, day {n}", "link": feed_server.url(f"/good?day={n}"),
         "guid": f"e-{n}", "description": "A short teaser about the talks.",
         "pubDate": now - timedelta(minutes=n)}
        for n in range(1, 5)
    ] + [
        {"title": "Ministry statement on the talks", "link": feed_server.url("/tr"),
         "guid": "t-1", "description": "A short teaser about the statement.", "pubDate": now}
    ]  # fmt: skip
    feed_server.route("/w.xml", body=rss("Wire", entries))
    feed_server.route("/good", body=PAGE, headers=HTML, etag=False)
    feed_server.route("/tr", body=turkish_page, headers=HTML, etag=False)
    src = one_feed_sources(tmp_path / "sources.yaml", feed_server.url("/w.xml"), "true")
    db = tmp_path / "news.duckdb"
    poll(src, db)
    with duckdb.connect(str(db), read_only=True) as con:
        languages = dict(con.execute("SELECT title, language FROM articles").fetchall())
    assert languages.pop("Ministry statement on the talks") == "tr"
    assert set(languages.values()) == {"en"}
