"""Everything newswatch takes from feedparser, in one module: `feed` parses with it and
`rss_fastpath` reproduces its results with its own helpers.

Some of these are feedparser's private names (a leading underscore there): the RSS fast
path must date, join and decode exactly as feedparser does, and these are feedparser's own
code for it. They are imported here and nowhere else, so a feedparser upgrade that moves
one breaks this module's import, at once and in one place; tests/test_rss_fastpath.py then
holds the fast path to feedparser's results over its 2,107 fixtures.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import feedparser
from feedparser.datetimes import _parse_date
from feedparser.html import _cp1252
from feedparser.mixin import _FeedParserMixin
from feedparser.urls import _urljoin, make_safe_absolute_uri

__all__ = [
    "BENIGN_BOZO",
    "CP1252",
    "HANDLED_ELEMENTS",
    "NAMESPACES",
    "looks_like_html",
    "make_safe_absolute_uri",
    "parse",
    "parse_date",
    "urljoin",
]

# The full parser: a file-like body and the response headers in, a FeedParserDict out.
parse = feedparser.parse

# feedparser's complaints that say nothing about the document's structure.
BENIGN_BOZO: tuple[type[Exception], ...] = (
    feedparser.CharacterEncodingOverride,
    feedparser.NonXMLContentType,
)

# Whether a text/plain value is HTML after all (feedparser then reads it as HTML).
looks_like_html: Callable[[str], bool] = _FeedParserMixin.looks_like_html
# A date in any of the formats feedparser reads, as a UTC struct_time (or None).
parse_date: Callable[[str], Any] = _parse_date
# Joins a relative URL onto a base as feedparser does (with its slash fixes).
urljoin: Callable[[str, str], str] = _urljoin
# Windows-1252 code points that feedparser translates in text read as Latin-1.
CP1252: dict[int, str] = _cp1252
# Namespace URI -> the prefix feedparser names the namespace's elements with.
NAMESPACES: dict[str, str] = dict(_FeedParserMixin.namespaces)
# Element names (prefix_local) feedparser has a handler for.
HANDLED_ELEMENTS = frozenset(
    name[len(kind) :]
    for name in dir(_FeedParserMixin)
    for kind in ("_start_", "_end_")
    if name.startswith(kind)
)
