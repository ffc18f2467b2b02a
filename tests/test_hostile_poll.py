"""Hostile servers and unsafe addresses through a whole poll (fetch -> parse -> spool -> DuckDB).

tests/test_fetch.py proves each defence at the fetch level; here every hostile server sits
in ONE poll next to good feeds, and the tests read the outcome from the warehouse: each
failure is recorded against its own feed (feeds.last_error, fetch_log) and the good feeds
are stored on time. Only loopback is ever contacted: `connects` wraps the one place a TCP
connection is opened and fails the test on any other address.
"""

from __future__ import annotations

import asyncio
import functools
import io
import ipaddress
import ssl
import time
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
import trustme

from newswatch import cli, poll
from newswatch.config import load_config
from tests.feedserver import FeedServer
from tests.fetch_helpers import (
    RawRequest,
    http_response,
    loopback_only_connects,
    raw_server,
    resolver_for,
)
from tests.helpers import default_topics_yaml, rss

CAP = 1 << 20  # a 1 MiB body cap keeps the test quick; the default (10 MiB) works the same way
TIMEOUT = 2.0


@pytest.fixture(autouse=True)
def connects(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every TCP connect of the fetcher, by address; anything but loopback fails the test."""
    return loopback_only_connects(monkeypatch)


def good_feed(name: str) -> bytes:
    now = datetime.now(UTC)
    return rss(
        name,
        [
            {"title": f"{name}: NATO summit opens", "link": f"https://{name}.example/a",
             "guid": f"{name}-1", "pubDate": now},
            {"title": f"{name}: weather", "link": f"https://{name}.example/b",
             "guid": f"{name}-2", "pubDate": now},
        ],
    )  # fmt: skip


def billion_laughs() -> bytes:
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, 10)
    ]
    return (
        '<?xml version="1.0"?><!DOCTYPE rss [' + "".join(entities) + "]>"
        '<rss version="2.0"><channel><title>&lol9;</title>'
        "<item><title>&lol9;</title><guid>bomb-1</guid></item></channel></rss>"
    ).encode()


@functools.cache
def gzip_bomb(decoded: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 20)
    return b"".join(
        [*(compressor.compress(block) for _ in range(decoded >> 20)), compressor.flush()]
    )


TURKISH_UTF8 = (
    '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Haber</title>'
    "<item><title>Türkiye ve NATO: Erdoğan'ın açıklaması</title>"
    "<guid>tr-1</guid><link>https://haber.example/1</link></item></channel></rss>"
).encode()


async def hostile(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
    """One raw server, a different misbehaviour per path."""
    path = request.path
    if path == "/endless":  # no Content-Length: the client must count while streaming
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n\r\n")
        chunk = b"<item>" + b"x" * 65530
        for _ in range(40 * CAP // len(chunk)):
            writer.write(chunk)
            await writer.drain()
        return False
    if path == "/gzip-bomb":
        body = gzip_bomb(64 * CAP)
        headers = {"Content-Type": "application/rss+xml", "Content-Encoding": "gzip"}
        writer.write(http_response(200, headers, body))
        return False
    if path == "/trickle":  # one byte a second: only a total deadline stops it
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n")
        writer.write(b"Content-Length: 600\r\n\r\n")
        try:
            for _ in range(600):
                writer.write(b" ")
                await writer.drain()
                await asyncio.sleep(1.0)
        except asyncio.CancelledError:  # the test is over and the server closes
            pass
        return False
    if path == "/no-content-type":
        writer.write(http_response(200, {}, good_feed("untyped")))
        return True
    if path == "/to-internal":
        writer.write(http_response(302, {"Location": "http://internal.test/latest/meta-data/"}))
        return True
    if path == "/to-link-local":
        writer.write(http_response(302, {"Location": "http://printer.test/feed"}))
        return True
    writer.write(http_response(404, {"Content-Type": "text/plain"}, b"no"))
    return True


@dataclass
class PollRun:
    seconds: float
    db: Path
    feeds: dict[
        str, tuple[str, str | None, str | None, int | None]
    ]  # name -> outcome, kind, error, http
    fetch_log: dict[str, tuple[str, str | None]]
    articles: dict[str, list[str]]  # feed name -> titles
    next_poll_at: dict[str, datetime]


def run_poll(
    tmp_path: Path, feeds: list[tuple[str, str]], resolver: Any = None, extra: str = ""
) -> PollRun:
    lines = [
        "allow_hosts: [127.0.0.1]",  # exactly the test servers; 10/8, 169.254/16... stay refused
        f"fetch:\n  timeout: {TIMEOUT}\n  connect_timeout: {TIMEOUT}\n  max_bytes: {CAP}",
        "feeds:",
        *(f"  - url: {url!r}\n    name: {name!r}" for url, name in feeds),
        default_topics_yaml(),
        extra,
    ]
    sources = tmp_path / "sources.yaml"
    sources.write_text("\n".join(lines), encoding="utf-8")
    config = load_config(sources)
    db = tmp_path / "wh" / "news.duckdb"
    spool_dir = poll.spool_root(db)
    started = poll.utcnow()
    poll_id = poll.spool.new_poll_id(started)
    t0 = time.monotonic()
    batch = asyncio.run(
        poll.collect_batch(
            config, list(config.feeds), {}, spool_dir=spool_dir, poll_id=poll_id,
            resolver=resolver, processes=1,
        )
    )  # fmt: skip
    poll.finish_poll(spool_dir, poll_id, started, poll.utcnow(), [batch])
    stored = poll.store(db, spool_dir)
    seconds = time.monotonic() - t0
    assert stored.waiting == 0 and len(stored.merged) == 1
    return read_run(db, seconds)


def read_run(db: Path, seconds: float) -> PollRun:
    con = duckdb.connect(str(db), read_only=True)
    try:
        feeds = {
            r[0]: (r[1], r[2], r[3], r[4])
            for r in con.execute(
                "SELECT name, last_outcome, last_error_kind, last_error, last_http_status FROM feeds"
            ).fetchall()
        }
        fetch_log = {
            r[0]: (r[1], r[2])
            for r in con.execute(
                "SELECT f.name, l.outcome, l.error FROM fetch_log l JOIN feeds f ON f.url = l.feed_url"
            ).fetchall()
        }
        articles: dict[str, list[str]] = {}
        for name, title in con.execute(
            "SELECT f.name, a.title FROM articles a JOIN feeds f ON f.url = a.feed_url"
        ).fetchall():
            articles.setdefault(name, []).append(title)
        next_poll = dict(con.execute("SELECT name, next_poll_at FROM feeds").fetchall())
    finally:
        con.close()
    return PollRun(seconds, db, feeds, fetch_log, articles, next_poll)


def test_hostile_servers_are_recorded_per_feed_and_good_feeds_land_on_time(
    feed_server: FeedServer, tmp_path: Path, connects: list[str]
) -> None:
    fs = feed_server
    for name in ("good-1", "good-2", "good-3"):
        fs.route(f"/{name}", body=good_feed(name))
    fs.route("/bomb.xml", body=billion_laughs())
    fs.route("/as-html", body=good_feed("as-html"), headers={"Content-Type": "text/html"})
    fs.route(
        "/lying-charset",  # says ASCII, sends UTF-8 (as declared in the document itself)
        body=TURKISH_UTF8,
        headers={"Content-Type": "application/rss+xml; charset=us-ascii"},
    )
    fs.route("/empty", body=b"")
    fs.route("/rate-limited", status=429, body=b"slow down", headers={"Retry-After": "7200"})
    fs.route("/loop-a", status=302, etag=False, headers={"Location": "/loop-b"})
    fs.route("/loop-b", status=302, etag=False, headers={"Location": "/loop-a"})
    ca = trustme.CA()  # a certificate from a CA the poll does not trust
    tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(tls_context)

    async def serve_tls(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        writer.write(http_response(200, {"Content-Type": "application/rss+xml"}, good_feed("tls")))
        return True

    result: dict[str, PollRun] = {}
    gzip_bomb(64 * CAP)  # built before the servers start, not while they should be serving

    async def main() -> None:
        async with (
            raw_server(hostile) as raw,
            raw_server(serve_tls, ssl_context=tls_context) as tls,
        ):
            feeds = [(fs.url(f"/{n}"), n) for n in ("good-1", "good-2", "good-3")] + [
                (raw + "/endless", "endless"),
                (raw + "/gzip-bomb", "gzip-bomb"),
                (fs.url("/bomb.xml"), "entity-bomb"),
                (raw + "/trickle", "trickle"),
                (fs.url("/loop-a"), "redirect-loop"),
                (raw + "/to-internal", "to-metadata"),
                (raw + "/to-link-local", "to-link-local"),
                (fs.url("/as-html"), "wrong-type"),
                (raw + "/no-content-type", "no-type"),
                (fs.url("/lying-charset"), "lying-charset"),
                (fs.url("/empty"), "empty"),
                (fs.url("/rate-limited"), "rate-limited"),
                (tls + "/feed", "bad-tls"),
            ]
            resolver = resolver_for(
                {"internal.test": ["169.254.169.254"], "printer.test": ["169.254.10.1"]}
            )
            # The poll runs in a worker thread: the raw servers need this loop to serve.
            result["run"] = await asyncio.to_thread(run_poll, tmp_path, feeds, resolver)

    asyncio.run(main())
    run = result["run"]

    def failure(name: str) -> tuple[str | None, str]:
        outcome, kind, error, _ = run.feeds[name]
        assert outcome == "error", (name, run.feeds[name])
        assert error and "\n" not in error
        assert run.fetch_log[name] == ("error", error)  # the poll's log says the same
        return kind, error

    assert failure("endless") == ("too_large", "body larger than 1 MiB cap")
    assert failure("gzip-bomb") == ("too_large", "body larger than 1 MiB cap")
    assert failure("trickle") == ("timeout", "timed out after 2 s while reading the body")
    kind, error = failure("redirect-loop")
    assert kind == "redirects" and error.startswith("redirect loop: ")
    assert failure("to-metadata") == (
        "refused_address",
        "refused: internal.test resolves to cloud metadata address 169.254.169.254"
        " (add it to allow_hosts to allow)",
    )
    assert failure("to-link-local") == (
        "refused_address",
        "refused: printer.test resolves to link-local address 169.254.10.1"
        " (add it to allow_hosts to allow)",
    )
    kind, error = failure("empty")
    assert "empty" in error
    kind, error = failure("rate-limited")
    assert (kind, run.feeds["rate-limited"][3]) == ("http_status", 429)
    assert error.startswith("HTTP 429")
    # Retry-After is honoured: the feed is not asked again for two hours.
    assert run.next_poll_at["rate-limited"] >= datetime.now(UTC) + timedelta(seconds=7000)
    kind, error = failure("bad-tls")
    assert kind == "tls" and error.startswith("TLS error: certificate verify failed")

    # The entity bomb never expands: expat stops at its amplification limit and the lenient
    # parser keeps the entry with the entity reference as written.
    assert run.feeds["entity-bomb"][0] == "ok"
    assert run.articles["entity-bomb"] == ["&lol9;"]

    # Mislabelled feeds are read for what they are.
    for name in ("wrong-type", "no-type"):
        assert run.feeds[name][0] == "ok", run.feeds[name]
        assert len(run.articles[name]) == 2
    assert run.feeds["lying-charset"][0] == "ok"
    assert run.articles["lying-charset"] == ["Türkiye ve NATO: Erdoğan'ın açıklaması"]

    # The good feeds are stored, and the hostile ones did not hold the poll hostage:
    # everything finished within one fetch deadline (plus parsing and the write).
    for name in ("good-1", "good-2", "good-3"):
        assert run.feeds[name][0] == "ok"
        assert sorted(run.articles[name]) == [f"{name}: NATO summit opens", f"{name}: weather"]
    assert run.seconds < TIMEOUT + 6
    assert connects and all(ipaddress.ip_address(a).is_loopback for a in connects)


# -- network safety at the poll level -----------------------------------------------


def test_loopback_and_internal_feeds_are_refused_by_default_and_nothing_is_fetched(
    feed_server: FeedServer, tmp_path: Path, prefect_harness: None, connects: list[str]
) -> None:
    url = feed_server.route("/feed.xml", body=good_feed("local"))
    feeds = [
        (url, "loopback"),
        (url.replace("127.0.0.1", "127.0.0.2"), "loopback-2"),
        (url.replace("127.0.0.1", "[::1]"), "loopback-v6"),
        (url.replace("127.0.0.1", "localhost"), "localhost"),
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://[fd00:ec2::254]/latest/", "metadata-v6"),
        ("http://169.254.1.1/feed", "link-local"),
        ("http://10.1.2.3/feed", "private-10"),
        ("http://192.168.0.10/feed", "private-192"),
        ("http://[::ffff:172.16.0.1]/feed", "mapped-private"),
    ]
    body = "feeds:\n" + "".join(f"  - url: {u!r}\n    name: {n!r}\n" for u, n in feeds)
    sources = tmp_path / "sources.yaml"
    sources.write_text(body + default_topics_yaml(), encoding="utf-8")  # no allow_hosts
    db = tmp_path / "news.duckdb"
    out = io.StringIO()
    assert cli.main(["poll", "--sources", str(sources), "--db", str(db)], out=out) == 0
    assert feed_server.requests == []  # the loopback server saw nothing
    assert connects == []  # and no connection was opened to anything
    con = duckdb.connect(str(db), read_only=True)
    rows = {
        r[0]: r[1:]
        for r in con.execute(
            "SELECT name, last_outcome, last_error_kind, last_error FROM feeds"
        ).fetchall()
    }
    stored = con.execute("SELECT count(*) FROM articles").fetchone()
    con.close()
    assert stored == (0,)
    assert set(rows) == {n for _, n in feeds}
    for name, (outcome, kind, error) in rows.items():
        assert (outcome, kind) == ("error", "refused_address"), (name, error)
        assert error.startswith("refused: ") and error.endswith("(add it to allow_hosts to allow)")
        assert error in out.getvalue()
    assert "loopback address" in rows["loopback"][2]
    assert "cloud metadata" in rows["metadata"][2] and "cloud metadata" in rows["metadata-v6"][2]
    assert "link-local" in rows["link-local"][2]
    assert "private" in rows["private-10"][2] and "private" in rows["mapped-private"][2]

    # allow_hosts lifts the refusal for what it names, and only that.
    sources.write_text(
        "allow_hosts: [127.0.0.1]\n" + body + default_topics_yaml(), encoding="utf-8"
    )
    assert cli.main(["poll", "--sources", str(sources), "--db", str(db)], out=io.StringIO()) == 0
    con = duckdb.connect(str(db), read_only=True)
    outcomes = dict(con.execute("SELECT name, last_outcome FROM feeds").fetchall())
    con.close()
    allowed = {"loopback", "localhost"}  # localhost resolves to 127.0.0.1 here
    assert {n for n, o in outcomes.items() if o == "ok"} == allowed
    assert [r.path for r in feed_server.requests] == ["/feed.xml"] * len(allowed)
    assert connects == ["127.0.0.1"] * len(allowed)


# -- the docs' safety page stays true ------------------------------------------------------------------


def test_safety_doc_states_the_real_defaults_and_names_existing_tests() -> None:
    import re

    from newswatch.config import FetchSettings
    from tests.conftest import REPO

    doc = (REPO / "docs" / "safety.md").read_text(encoding="utf-8")
    assert doc.startswith("# Safety and failure behaviour\n")
    d = FetchSettings()
    assert (d.max_bytes, d.connect_timeout, d.timeout, d.max_redirects) == (10 << 20, 10, 30, 5)
    for claim in ("10 MiB (`max_bytes`)", "10 s (`connect_timeout`)", "30 s (`timeout`)",
                  "5 (`max_redirects`)"):  # fmt: skip
        assert claim in doc
    named = re.findall(r"`(tests/[\w/]+\.py)(?:::(\w+))?`", doc)
    assert len(named) > 15
    for path, test in named:
        source = (REPO / path).read_text(encoding="utf-8")
        assert not test or re.search(rf"^def {test}\(", source, re.M), f"{path}::{test}"
