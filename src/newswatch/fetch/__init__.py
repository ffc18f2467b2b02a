"""Fetching: the network side of a poll.

`stream` fetches many feeds at once with per-host politeness, `get` one feed (conditional
GET, redirects), `body` reads and decodes a bounded body, `headers` reads the header values
a poll keeps (pure), and `client` builds the HTTP clients (the only module that opens
connections to feeds). `netsafety` decides which addresses a fetch may reach (pure), `pages`
fetches the linked article pages of the feeds that ask for it, and `extract` reads an
article's text out of a page's HTML (pure).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from newswatch._lazy import exports

if TYPE_CHECKING:
    from newswatch.fetch.extract import article_text as article_text
    from newswatch.fetch.netsafety import AllowList as AllowList
    from newswatch.fetch.netsafety import classify as classify
    from newswatch.fetch.pages import (
        PageStepResult as PageStepResult,
    )
    from newswatch.fetch.pages import (
        fetch_article_pages as fetch_article_pages,
    )
    from newswatch.fetch.pages import (
        fetch_pages as fetch_pages,
    )
    from newswatch.fetch.stream import FetchRequest as FetchRequest
    from newswatch.fetch.stream import fetch_all as fetch_all
    from newswatch.fetch.stream import fetch_stream as fetch_stream

_API = {
    "AllowList": "netsafety",
    "FetchRequest": "stream",
    "PageStepResult": "pages",
    "article_text": "extract",
    "classify": "netsafety",
    "fetch_all": "stream",
    "fetch_article_pages": "pages",
    "fetch_pages": "pages",
    "fetch_stream": "stream",
}
__all__ = sorted(_API)
__getattr__, __dir__ = exports(__name__, _API)
