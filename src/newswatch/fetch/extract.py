"""The article text of a web page (pure: HTML bytes in, plain text out).

Used for feeds that carry only a teaser (sources.yaml `fetch_article`): the poll fetches the
entry's linked page and keeps what trafilatura finds to be the article, without navigation,
comments, related-story lists or boilerplate. Nothing here touches the network or a file.

trafilatura is imported on first use: polls that fetch no page never pay its import
(~0.3 s of CPU here).
"""

from __future__ import annotations

import codecs
import html
import re
import unicodedata
from email.message import Message
from typing import Any

from newswatch.fetch.headers import may_be_page, media_type

# The article text kept, at most (a long read is ~40,000 characters; beyond is not news).
MAX_TEXT_CHARS = 50_000
# Less than this is a teaser, a paywall notice or a cookie banner, not an article.
MIN_TEXT_CHARS = 200

_SPACES = re.compile(r"[ \t\f\v\u00a0\u2000-\u200b\u202f\u205f\u3000]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def article_text(
    body: bytes, url: str | None = None, content_type: str | None = None
) -> str | None:
    """The main text of the HTML page `body`, as plain text with one paragraph per line, at
    most MAX_TEXT_CHARS characters; None when the page holds no article (too little text, not
    HTML, nothing trafilatura recognises as the main content).

    `content_type` is the HTTP header: its charset, when given and known, decides how the
    bytes are decoded (HTTP's charset outranks the page's own `<meta>`); otherwise the page's
    declaration or a guess does. `url` helps trafilatura resolve relative links and spot
    site-specific boilerplate; it is never fetched.
    """
    if not body or not _looks_like_html(body, content_type):
        return None
    extracted = _extract(_decoded(body, content_type), url)
    if not extracted:
        return None
    text = clean_text(extracted)
    if len(text) < MIN_TEXT_CHARS:
        return None
    return _cut(text, MAX_TEXT_CHARS)


def text_html(text: str) -> str:
    """The article text as HTML: one escaped `<p>` per line (safe to render as it is)."""
    return "".join(f"<p>{html.escape(line, quote=False)}</p>" for line in text.split("\n"))


def clean_text(text: str) -> str:
    """NFC, no control characters, runs of spaces folded, one paragraph per line, no blanks."""
    text = unicodedata.normalize("NFC", text)
    text = _CONTROL.sub(" ", text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def _looks_like_html(body: bytes, content_type: str | None) -> bool:
    media = media_type(content_type)
    if media in ("text/html", "application/xhtml+xml"):
        return True
    if not may_be_page(content_type):
        return False  # a PDF, an image, a feed: no article to read here
    head = body[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<body" in head or b"<p" in head


# A page's own charset declaration, in its first bytes: <meta charset="..."> or the
# http-equiv form's "charset=...".
_META_CHARSET = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?\s*([A-Za-z0-9._:-]+)", re.IGNORECASE)


def _decoded(body: bytes, content_type: str | None) -> str | bytes:
    """The body as text: in the charset HTTP names, when Python knows it; else the bytes, for
    trafilatura to read the page's own `<meta charset>`; else, with no declaration at all,
    as UTF-8 when it is (a few stray bytes read in the code page that reads them best), or
    in the single-byte code page that reads it most plausibly (as undeclared feeds are: an
    undeclared windows-1254 page says "Erdoğan", not "Erdoðan")."""
    charset: object = None
    if content_type:
        message = Message()
        message["content-type"] = content_type
        charset = message.get_param("charset")
    if isinstance(charset, str) and _known(charset):
        return body.decode(charset, errors="replace")
    declared = _META_CHARSET.search(body[:4096])
    if declared is not None and _known(declared.group(1).decode("ascii", "replace")):
        return body
    from newswatch.parse.charset_guess import guess_single_byte, repair_mixed_utf8

    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    mixed = repair_mixed_utf8(body)
    if mixed is not None:
        return mixed.body.decode("utf-8", errors="replace")
    codec = guess_single_byte(body)
    return body.decode(codec, errors="replace") if codec else body


def _known(charset: str) -> bool:
    try:
        codecs.lookup(charset)
    except LookupError:
        return False
    return True


def _extract(html: str | bytes, url: str | None) -> str | None:
    import trafilatura

    options: dict[str, Any] = {
        "url": url,
        "output_format": "txt",
        "include_comments": False,
        "include_tables": False,
        "include_images": False,
        "include_links": False,
        "with_metadata": False,
        "deduplicate": False,
        "favor_precision": True,
    }
    try:
        result = trafilatura.extract(html, **options)
    except (ValueError, TypeError, LookupError, RecursionError):
        # lxml and trafilatura raise these on pages they cannot read; the page has no text
        # for us, and the entry keeps what its feed gave.
        return None
    return result if isinstance(result, str) else None


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = max(cut.rfind(" "), cut.rfind("\n"))
    return (cut[:space] if space > limit * 0.9 else cut).rstrip() + " …"
