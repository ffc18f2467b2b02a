"""A cut-off feed body, an undeclared windows-1254 feed and a UTF-8 feed with stray bytes,
served over real HTTP on 127.0.0.1 and polled by the real `newswatch poll`: what is stored,
what the status line and fetch_log say, and what the next poll of the complete feed stores."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import duckdb

from newswatch import cli
from tests.feedserver import FeedServer
from tests.helpers import write_sources

CUT_WARNING = "body ends mid-document (truncated?): the last, incomplete entry was left out"


def _feed(now: datetime) -> bytes:
    items = "".join(
        f"<item><title>NATO story {i}</title><link>https://news.example.com/{i}</link>"
        f"<description>What happened at NATO, part {i}.</description>"
        f"<pubDate>{format_datetime(now - timedelta(hours=i))}</pubDate></item>\n"
        for i in range(1, 4)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        f"<title>Wire</title>\n{items}</channel></rss>\n"
    ).encode()


def _poll(sources: Path, db: Path) -> str:
    out = io.StringIO()
    status = cli.main(["poll", "--no-prefect", "--sources", str(sources), "--db", str(db)], out=out)
    assert status == 0, out.getvalue()
    return out.getvalue()


def test_a_cut_off_body_stores_its_complete_items_says_so_and_the_full_feed_adds_the_rest(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    whole = _feed(now)
    # The body ends inside the last item's <link> (no guid: its id would come from its title).
    cut = whole[: whole.rindex(b"<link>https://news.example.com/3") + len(b"<link>https:")]
    url = feed_server.route("/wire.xml", body=cut)
    sources = write_sources(tmp_path / "sources.yaml", [(url, "Wire")])
    db = tmp_path / "news.duckdb"

    out = _poll(sources, db)
    (line,) = [line for line in out.splitlines() if "Wire" in line]
    assert line.split()[0] == "ok" and "2 entries" in line, out
    assert CUT_WARNING in line, out
    con = duckdb.connect(str(db), read_only=True)
    try:
        stored = con.execute("SELECT title, url, summary FROM articles ORDER BY title").fetchall()
        logged = con.execute("SELECT outcome, entries, warning FROM fetch_log").fetchall()
    finally:
        con.close()
    assert stored == [
        ("NATO story 1", "https://news.example.com/1", "What happened at NATO, part 1."),
        ("NATO story 2", "https://news.example.com/2", "What happened at NATO, part 2."),
    ]
    assert logged == [("ok", 2, CUT_WARNING)]

    # The complete body arrives: the third item is stored once, the others are not new.
    feed_server.route("/wire.xml", body=whole)
    out = _poll(sources, db)
    assert "1 new article" in out, out
    assert "truncated" not in out, out
    con = duckdb.connect(str(db), read_only=True)
    try:
        titles = con.execute("SELECT title, url FROM articles ORDER BY title").fetchall()
        warnings = con.execute(
            "SELECT f.warning FROM fetch_log f JOIN polls p ON p.id = f.poll_id "
            "ORDER BY p.started_at"
        ).fetchall()
    finally:
        con.close()
    assert titles == [(f"NATO story {i}", f"https://news.example.com/{i}") for i in (1, 2, 3)]
    assert warnings == [(CUT_WARNING,), (None,)]


TURKISH = """topics:
  - name: Turkey
    rules:
      - any: [Erdoğan*]
"""


def test_an_undeclared_windows_1254_feed_is_stored_in_turkish_and_matches_erdogan(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    title = "Erdoğan: hava savunma sistemi konuşlandırdı"
    summary = "Cumhurbaşkanı Erdoğan, sistemlerin İstanbul'un güneyinde konuşlandığını söyledi."
    body = (
        '<?xml version="1.0"?>\n<rss version="2.0"><channel><title>Haber Masası</title>'
        f"<item><title>{title}</title><link>https://haber.example.com.tr/1</link>"
        f"<description>{summary}</description><pubDate>{format_datetime(now)}</pubDate></item>"
        "</channel></rss>"
    ).encode("windows-1254")
    # No charset in the header, no encoding in the XML declaration, no byte-order mark.
    url = feed_server.route("/tr.xml", body=body, headers={"Content-Type": "application/rss+xml"})
    sources = write_sources(tmp_path / "sources.yaml", [(url, "Haber")], topics=TURKISH)
    db = tmp_path / "news.duckdb"
    out = _poll(sources, db)
    assert "1 new article, 1 new topic match" in out, out
    con = duckdb.connect(str(db), read_only=True)
    try:
        stored = con.execute("SELECT title, summary FROM articles").fetchall()
        feed_titles = con.execute("SELECT title FROM feeds").fetchall()
        topics = con.execute("SELECT topic FROM article_topics").fetchall()
    finally:
        con.close()
    assert stored == [(title, summary)]
    assert feed_titles == [("Haber Masası",)]
    assert topics == [("Turkey",)]


def test_a_utf8_feed_with_one_windows_1254_item_keeps_every_item_readable(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    # An aggregating site's feed: UTF-8, but one source's item was pasted in windows-1254.
    # Before, the whole body was read as one single-byte code page ("ErdoÄŸan").
    now = datetime.now(UTC)
    utf8_title = "Erdoğan’s talks with NATO’s chief: “a new page”"
    stray_title = "Erdoğan: hava savunma sistemi konuşlandırdı"
    date = format_datetime(now)
    body = (
        (
            '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>Derleme</title>'
            f"<item><title>{utf8_title}</title><link>https://news.example.com/1</link>"
            f"<pubDate>{date}</pubDate></item>"
        ).encode()
        + (
            f"<item><title>{stray_title}</title><link>https://news.example.com/2</link>"
            f"<pubDate>{date}</pubDate></item>"
        ).encode("windows-1254")
        + b"</channel></rss>"
    )
    url = feed_server.route(
        "/mix.xml", body=body, headers={"Content-Type": "application/rss+xml; charset=utf-8"}
    )
    sources = write_sources(tmp_path / "sources.yaml", [(url, "Derleme")], topics=TURKISH)
    db = tmp_path / "news.duckdb"
    out = _poll(sources, db)
    stray = sum(not c.isascii() for c in stray_title)
    note = f"{stray} bytes not valid UTF-8 read as cp1254 (the rest of the body is UTF-8)"
    (line,) = [line for line in out.splitlines() if "Derleme" in line]
    assert line.split()[0] == "ok" and note in line, out
    assert "2 new articles, 2 new topic matches" in out, out
    con = duckdb.connect(str(db), read_only=True)
    try:
        titles = con.execute("SELECT title FROM articles ORDER BY url").fetchall()
        logged = con.execute("SELECT outcome, entries, warning FROM fetch_log").fetchall()
    finally:
        con.close()
    assert titles == [(utf8_title,), (stray_title,)]
    assert logged == [("ok", 2, note)]
