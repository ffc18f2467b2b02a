"""Feed bodies that are not what they should be, served over real HTTP on 127.0.0.1 and polled
by the real `newswatch poll`: an undeclared windows-1254 feed."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import duckdb

from newswatch import cli
from tests.feedserver import FeedServer
from tests.helpers import write_sources


def _poll(sources: Path, db: Path) -> str:
    out = io.StringIO()
    status = cli.main(["poll", "--no-prefect", "--sources", str(sources), "--db", str(db)], out=out)
    assert status == 0, out.getvalue()
    return out.getvalue()


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
