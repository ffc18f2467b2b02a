"""The article-page step's parts: its settings, which articles are candidates, and fetching
pages against a real loopback server (per-host limit, one fetch per link, the time budget)."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from newswatch.config import ArticlePageSettings, Config, FetchSettings, parse_config
from newswatch.errors import ConfigError
from newswatch.fetch.pages import fetch_pages, page_feeds, page_fetch_settings
from newswatch.store import article_pages, warehouse
from newswatch.store.article_pages import ArticleFetch, PageCandidate
from tests.conftest import DATA
from tests.feedserver import FeedServer

TOPICS = "topics:\n  - name: NATO\n    terms: [NATO]\n"
PAGE = (DATA / "article_page.html").read_bytes()
HTML = {"Content-Type": "text/html; charset=utf-8"}


# -- settings ---------------------------------------------------------------------------


def test_pages_are_off_unless_a_feed_or_the_default_turns_them_on() -> None:
    config = parse_config(
        "feeds:\n"
        "  - url: https://a.example/f.xml\n"
        "  - url: https://b.example/f.xml\n    fetch_article: true\n" + TOPICS
    )
    assert config.article_pages == ArticlePageSettings()
    assert config.article_pages.enabled == "off"
    assert [f.fetch_article for f in config.feeds] == ["off", "all"]
    assert page_feeds(config) == ["https://b.example/f.xml"]


def test_the_global_default_applies_to_feeds_that_do_not_say() -> None:
    config = parse_config(
        "article_pages:\n  enabled: true\n  per_host: 1\n  timeout: 5\n  max_bytes: 100000\n"
        "  max_per_poll: 50\n  max_age_hours: 6\n  budget_seconds: 30\n  concurrency: 4\n"
        "feeds:\n"
        "  - url: https://a.example/f.xml\n"
        "  - url: https://b.example/f.xml\n    fetch_article: false\n"
        "  - url: https://c.example/f.xml\n    enabled: false\n"
        "  - url: https://d.example/f.xml\n    fetch_article: teaser\n" + TOPICS
    )
    assert [f.fetch_article for f in config.feeds] == ["all", "off", "all", "teaser"]
    assert page_feeds(config) == ["https://a.example/f.xml"]  # c is not polled at all
    assert page_feeds(config, "teaser") == ["https://d.example/f.xml"]
    assert config.article_pages == ArticlePageSettings(
        enabled="all",
        concurrency=4,
        per_host=1,
        timeout=5.0,
        max_bytes=100000,
        max_per_poll=50,
        max_age_hours=6,
        budget_seconds=30.0,
    )


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("feeds:\n  - url: https://a.example/f\n    fetch_article: yes please\n", "my.yaml:3: feeds[0].fetch_article: must be true, false or teaser"),
        ("article_pages:\n  enabled: 1\nfeeds: [https://a.example/f]\n", "my.yaml:2: article_pages.enabled: must be true, false or teaser"),
        ("article_pages:\n  per_host: 0\nfeeds: [https://a.example/f]\n", "my.yaml:2: article_pages.per_host: must be a whole number >= 1"),
        ("article_pages:\n  max_bytes: 10\nfeeds: [https://a.example/f]\n", "my.yaml:2: article_pages.max_bytes: must be a whole number >= 1024"),
        ("article_pages:\n  fetch: true\nfeeds: [https://a.example/f]\n", "my.yaml:2: article_pages.fetch: unknown key"),
    ],
)  # fmt: skip
def test_bad_page_settings_name_file_line_and_field(text: str, where: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text + TOPICS, "my.yaml")
    assert str(info.value).startswith(where)


def test_pages_keep_the_feeds_identity_and_redirect_rules_with_their_own_caps() -> None:
    fetch = FetchSettings(user_agent="ua/1", connect_timeout=20, max_redirects=2)
    got = page_fetch_settings(fetch, ArticlePageSettings(timeout=7, max_bytes=5000, per_host=1))
    assert (got.user_agent, got.max_redirects) == ("ua/1", 2)
    assert (got.timeout, got.connect_timeout, got.max_bytes, got.per_host) == (7, 7, 5000, 1)
    assert got.concurrency == ArticlePageSettings().concurrency


# -- candidates ---------------------------------------------------------------------------


def test_candidates_are_recent_unrecorded_linked_articles_of_the_named_feeds(
    tmp_path: Path,
) -> None:
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    with warehouse.connect(tmp_path / "w.duckdb") as con:

        def add(aid: str, feed: str, url: str, seen: datetime) -> None:
            con.execute(
                "INSERT INTO articles (id, feed_url, source, url, title, summary, summary_html, "
                "published_at, published_at_known, first_seen_at, poll_id) "
                "VALUES (?, ?, 's', ?, 't', '', '', ?, true, ?, 'p')",
                [aid, feed, url, seen, seen],
            )

        add("new1", "F", "https://x.example/1", now - timedelta(minutes=5))
        add("new2", "F", "https://x.example/2", now - timedelta(minutes=1))
        add("old", "F", "https://x.example/3", now - timedelta(hours=30))
        add("nolink", "F", "", now)
        add("other", "G", "https://x.example/4", now)
        add("done", "F", "https://x.example/5", now)
        article_pages.record_article_fetches(
            con,
            [
                ArticleFetch(
                    "done", "p", "https://x.example/5", None, now, 1.0, "error",
                    404, "http_status", "HTTP 404", 0, None, None, 0,
                )
            ],
        )  # fmt: skip
        since = now - timedelta(hours=24)
        got = article_pages.article_page_candidates(con, ["F"], since, 10)
        assert got == [
            PageCandidate("new2", "https://x.example/2"),
            PageCandidate("new1", "https://x.example/1"),
        ]
        assert article_pages.article_page_candidates(con, ["F"], since, 1) == got[:1]
        assert article_pages.article_page_candidates(con, [], since, 10) == []
        # A second record for an article keeps the first.
        assert article_pages.record_article_fetches(con, [ArticleFetch(
            "done", "q", "https://x.example/5", None, now, 1.0, "extracted",
            200, None, None, 10, "text/html", 1.0, 500,
        )]) == 0  # fmt: skip
        assert con.execute("SELECT outcome FROM article_fetches").fetchall() == [("error",)]


def test_teaser_feeds_give_only_their_entries_with_little_text(tmp_path: Path) -> None:
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        for aid, feed, summary, content in (
            ("teaser", "T", "One line.", ""),
            ("full-summary", "T", "x" * 600, ""),
            ("full-content", "T", "One line.", "y" * 600),
            ("all-mode", "A", "z" * 600, "z" * 600),
        ):
            con.execute(
                "INSERT INTO articles (id, feed_url, source, url, title, summary, summary_html, "
                "published_at, published_at_known, first_seen_at, poll_id, content) "
                "VALUES (?, ?, 's', 'https://x.example/' || ?, 't', ?, '', ?, true, ?, 'p', ?)",
                [aid, feed, aid, summary, now, now, content],
            )
        got = article_pages.article_page_candidates(
            con, ["A"], now - timedelta(hours=1), 10, teaser_feeds=["T"], teaser_chars=500
        )
        assert sorted(c.article_id for c in got) == ["all-mode", "teaser"]
        only_teasers = article_pages.article_page_candidates(
            con, [], now - timedelta(hours=1), 10, teaser_feeds=["T"], teaser_chars=500
        )
        assert [c.article_id for c in only_teasers] == ["teaser"]


# -- fetching ---------------------------------------------------------------------------


def config_for(server: FeedServer, pages: str = "") -> Config:
    return parse_config(
        "allow_hosts: [127.0.0.0/8]\n"
        f"article_pages:\n  timeout: 3\n{pages}"
        f"feeds:\n  - url: {server.url('/f.xml')!r}\n    fetch_article: true\n" + TOPICS
    )


def test_one_host_gets_at_most_per_host_pages_at_once(feed_server: FeedServer) -> None:
    active = 0
    most = 0
    lock = threading.Lock()

    def slow_page(handler: BaseHTTPRequestHandler) -> None:
        nonlocal active, most
        with lock:
            active += 1
            most = max(most, active)
        time.sleep(0.3)
        with lock:
            active -= 1
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Content-Length", str(len(PAGE)))
        handler.end_headers()
        handler.wfile.write(PAGE)

    for i in range(6):
        feed_server.route(f"/p{i}", handler=slow_page)
    config = config_for(feed_server, "  per_host: 2\n  concurrency: 16\n")
    candidates = [PageCandidate(f"a{i}", feed_server.url(f"/p{i}")) for i in range(6)]
    records, texts, left = asyncio.run(fetch_pages(candidates, config, "poll-1"))
    assert most == 2
    assert left == 0
    assert sorted(r.article_id for r in records) == [f"a{i}" for i in range(6)]
    assert all(r.outcome == "extracted" and r.poll_id == "poll-1" for r in records)
    assert set(texts) == {f"a{i}" for i in range(6)}
    assert "Mark Rutte" in texts["a0"]


def test_one_link_shared_by_articles_is_fetched_once(feed_server: FeedServer) -> None:
    feed_server.route("/same", body=PAGE, headers=HTML, etag=False)
    config = config_for(feed_server)
    url = feed_server.url("/same")
    records, texts, _ = asyncio.run(
        fetch_pages([PageCandidate("a", url), PageCandidate("b", url)], config, "p")
    )
    assert [r.path for r in feed_server.requests] == ["/same"]
    assert sorted(r.article_id for r in records) == ["a", "b"]
    assert texts["a"] == texts["b"]


def test_a_page_without_an_article_is_recorded_as_no_text(feed_server: FeedServer) -> None:
    feed_server.route("/video", body=b"<html><body><p>Watch</p></body></html>", headers=HTML)
    # A 2 MB PDF: not downloaded, its type says it holds no web page.
    pdf = b"%PDF-1.4 " + b"0" * 2_000_000
    feed_server.route("/pdf", body=pdf, headers={"Content-Type": "application/pdf"})
    config = config_for(feed_server)
    records, texts, _ = asyncio.run(
        fetch_pages(
            [
                PageCandidate("v", feed_server.url("/video")),
                PageCandidate("d", feed_server.url("/pdf")),
            ],
            config,
            "p",
        )
    )
    assert texts == {}
    assert {(r.article_id, r.outcome, r.http_status, r.text_chars) for r in records} == {
        ("v", "no_text", 200, 0),
        ("d", "no_text", 200, 0),
    }
    by_id = {r.article_id: r for r in records}
    assert by_id["v"].error == "no article text found on the page"
    assert by_id["d"].error == "not a web page (application/pdf); not downloaded"
    assert by_id["d"].error_kind == "not_page"
    assert by_id["d"].bytes == 0


def test_pages_left_when_the_budget_runs_out_get_no_record(feed_server: FeedServer) -> None:
    feed_server.route("/quick", body=PAGE, headers=HTML, etag=False)
    feed_server.route("/stuck", body=PAGE, headers=HTML, etag=False, delay=2.5)
    config = config_for(feed_server, "  budget_seconds: 1\n")
    start = time.monotonic()
    records, texts, left = asyncio.run(
        fetch_pages(
            [
                PageCandidate("q", feed_server.url("/quick")),
                PageCandidate("s", feed_server.url("/stuck")),
            ],
            config,
            "p",
        )
    )
    assert time.monotonic() - start < 2.0
    assert [r.article_id for r in records] == ["q"] and set(texts) == {"q"}
    assert left == 1


def test_page_text_replaces_only_shorter_feed_content(tmp_path: Path) -> None:
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        for aid, content in (("teaser", ""), ("full", "A full body from the feed. " * 40)):
            con.execute(
                "INSERT INTO articles (id, feed_url, source, url, title, summary, summary_html, "
                "published_at, published_at_known, first_seen_at, poll_id, content) "
                "VALUES (?, 'F', 's', 'https://x.example/', 't', '', '', ?, true, ?, 'p', ?)",
                [aid, now, now, content],
            )
        page = ("Page text.", "<p>Page text.</p>")
        assert article_pages.store_page_content(con, {"teaser": page, "full": page}) == 1
        got = dict(con.execute("SELECT id, content_html FROM articles").fetchall())
        assert got["teaser"] == "<p>Page text.</p>"
        assert got["full"] == ""  # the feed's own (longer) content and its HTML are kept


def test_a_locked_warehouse_defers_the_pages_to_the_next_poll(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    from newswatch.fetch.pages import fetch_article_pages
    from tests.test_lock_contention import held

    feed_server.route("/story", body=PAGE, headers=HTML, etag=False)
    config = config_for(feed_server)
    db = tmp_path / "w.duckdb"
    now = datetime.now(UTC)
    with warehouse.connect(db) as con:
        con.execute(
            "INSERT INTO articles (id, feed_url, source, url, title, summary, summary_html, "
            "published_at, published_at_known, first_seen_at, poll_id) "
            "VALUES ('a', ?, 's', ?, 'Leaders gather', '', '', ?, true, ?, 'p')",
            [feed_server.url("/f.xml"), feed_server.url("/story"), now, now],
        )
    with held(db, "rw"):
        result = asyncio.run(fetch_article_pages(config, db, "p1", wait_seconds=0.2))
    assert result.message is not None and "fetched by the next poll" in result.message
    assert result.recorded == 0 and feed_server.requests == []
    result = asyncio.run(fetch_article_pages(config, db, "p2", wait_seconds=5))
    assert (result.fetched, result.extracted, result.rematched) == (1, 1, 1)
    with warehouse.connect(db, read_only=True) as con:
        assert con.execute("SELECT poll_id, outcome FROM article_fetches").fetchall() == [
            ("p2", "extracted")
        ]
        assert con.execute("SELECT topic FROM article_topics").fetchall() == [("NATO",)]
