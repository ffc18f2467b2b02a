"""TEMPORARY minimal parser (replaced by the full module from the parse branch)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import feedparser

from newswatch.models import Article, ParsedFeed
from newswatch.text import html_to_text


def parse_feed(body: bytes, *, feed_url: str, source: str, now: datetime,
               final_url: str | None = None, content_type: str | None = None) -> ParsedFeed:
    d = feedparser.parse(body, response_headers={"content-location": final_url or feed_url,
                                                 "content-type": content_type or "application/xml"})
    if not d.entries and not d.get("version"):
        return ParsedFeed(feed_url, "", (), error="not a feed")
    out = {}
    for e in d.entries:
        guid = e.get("id") or e.get("link")
        aid = hashlib.blake2b(f"{feed_url}\n{guid}".encode(), digest_size=16).hexdigest()
        t = e.get("published_parsed") or e.get("updated_parsed")
        pub = datetime(*t[:6], tzinfo=UTC) if t else now
        out.setdefault(aid, Article(aid, feed_url, source, e.get("link", ""), html_to_text(e.get("title", "")),
                                    html_to_text(e.get("summary", "")), pub, bool(t), guid))
    return ParsedFeed(feed_url, d.feed.get("title", ""), tuple(out.values()))
