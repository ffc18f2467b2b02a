"""Parsing: feed bytes in, normalised Articles out (pure: no I/O).

`feed` turns a feed document into a ParsedFeed, `rss_fastpath` reads plain RSS 2.0 quickly,
`normalise` makes stable URLs, ids, dates and titles, and `text` makes plain text of HTML.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from newswatch._lazy import exports

if TYPE_CHECKING:
    from newswatch.parse.feed import parse_feed as parse_feed
    from newswatch.parse.normalise import (
        article_id as article_id,
    )
    from newswatch.parse.normalise import (
        canonical_url as canonical_url,
    )
    from newswatch.parse.normalise import (
        clean_title as clean_title,
    )
    from newswatch.parse.text import fold as fold
    from newswatch.parse.text import html_to_text as html_to_text

_API = {
    "article_id": "normalise",
    "canonical_url": "normalise",
    "clean_title": "normalise",
    "fold": "text",
    "html_to_text": "text",
    "parse_feed": "feed",
}
__all__ = sorted(_API)
__getattr__, __dir__ = exports(__name__, _API)
