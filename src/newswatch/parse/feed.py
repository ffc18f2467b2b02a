"""Feed bytes -> ParsedFeed of normalised Articles; feedparser is reached only through `_feedparser`.

parse_feed is a plain top-level function over picklable values so it can run in a process pool.
It never fetches anything (feedparser gets a BytesIO, never a string it could treat as a URL or a
file name) and never raises: a body that is not a feed becomes ParsedFeed(error=...).

Decisions worth knowing:
- Encoding. feedparser follows RFC 3023 (the HTTP charset wins over the XML declaration). When the
  two disagree about a non-ASCII body we prefer UTF-8 if either names it and the bytes are valid
  UTF-8, else the XML declaration if the bytes decode under it: the declaration is written by the
  feed generator, the header is usually a web-server default. A byte-order mark beats both. With no
  Content-Type at all we assume application/xml (UTF-8 default) rather than feedparser's ISO-8859-1.
  A body that names no encoding anywhere and is not UTF-8 is read in the single-byte code page
  its text reads best in (charset_guess: Western, Turkish, Cyrillic, Greek), not windows-1252.
  A body in UTF-8 with a few stray bytes that are not (charset_guess.repair_mixed_utf8) keeps
  its UTF-8, whatever a single-byte label says; the strays are read in their likeliest code
  page, and ParsedFeed.warning says how many.
- HTML is kept raw in summary_html (feedparser's sanitiser and relative-URI rewriting are off: they
  cost ~40% of parse time). The digest cleans it with nh3 (digest.sanitize.sanitize_html) and shows the
  text of the result, escaped. Plain-text summaries are HTML-escaped into summary_html so that
  field is always HTML.
- Dates: published, else updated, else created. A date before 1990 or more than a day after `now`
  is a generator bug and is treated as missing: published_at = now, published_at_known = False.
- Full content (RSS content:encoded, Atom <content>: the first non-empty one) is kept as well, as
  plain text in `content` and as nh3-sanitised HTML in `content_html`, also when a summary exists
  (the summary is then the teaser, the content the story). An entry with only content:encoded
  has the same text in both (feedparser copies it into the summary).
- Sizes: title <= 1,000 chars, summary <= 20,000, summary_html <= 100,000 (cut, possibly inside a
  tag; the sanitiser copes), content <= 100,000 (its HTML is cut at 200,000 before cleaning), author <= 200, guid <= 1,000 (the id hashes the full guid), URLs longer
  than 4,096 chars are dropped.
- Every entry a reader can identify is kept. Its id comes from its guid, else its link, else its
  title, else its enclosure's URL (which then also becomes its link), else a hash of its
  description/content (normalise.article_id), so the next poll recognises it. An entry without a
  title gets one derived from its text (normalise.derived_title). Only an entry with nothing at
  all (no guid, link, title, text or enclosure) is skipped; it and repeated ids (the first entry
  is kept) are counted in ParsedFeed.skipped with the reason, which the poll reports.
- A body that ends mid-document (a cut connection, a server bug; truncation.py) keeps its complete
  entries; the entry it ends inside is left out (its fields are whatever the body got to: no
  link, half a title, an id the complete entry would not get), and ParsedFeed.warning says so.
  Only a body feedparser found broken is checked: the fast path reads well-formed ones only.
- A body that starts like an HTML page is still handed to feedparser, which reads feeds wrapped
  in an (X)HTML document; only when it finds no feed in it is it "an HTML page".
"""

from __future__ import annotations

import codecs
import functools
import html
import io
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import nh3

from newswatch.models import Article, ParsedFeed
from newswatch.parse import _feedparser, rss_fastpath
from newswatch.parse.charset_guess import MixedRepair, guess_single_byte, repair_mixed_utf8
from newswatch.parse.normalise import (
    TITLE_MAX_CHARS,
    article_id,
    canonical_url,
    clean_title,
    codec_name,
    derived_title,
    plausible_date,
    to_utc,
    truncate,
)
from newswatch.parse.text import content_text, html_to_text, one_line
from newswatch.parse.truncation import cut_off

SUMMARY_MAX_CHARS = 20_000
SUMMARY_HTML_MAX_CHARS = 100_000
CONTENT_MAX_CHARS = 100_000
CONTENT_HTML_MAX_CHARS = 200_000
AUTHOR_MAX_CHARS = 200
GUID_MAX_CHARS = 1_000
URL_MAX_CHARS = 4_096
BOZO_MESSAGE_MAX_CHARS = 300

_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", "html", "xhtml"})
# feedparser's complaints that say nothing about the document's structure.
_BENIGN_BOZO = _feedparser.BENIGN_BOZO
_BOMS = (
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
)
_XML_DECL_ENCODING = re.compile(
    rb"""^\s*<\?xml[^>]{0,200}?\bencoding\s*=\s*["']([A-Za-z0-9._:-]{1,40})["']"""
)
# Markup before the root element that an HTML page and a feed can both start with.
_PROLOGUE = rb"(?:\s|<!--.*?-->|<\?[^>]*>|<!doctype[^>]*>)*"
_HTML_START = re.compile(
    _PROLOGUE + rb"<(?:html|head|body|meta|title|script|div|p|table)[\s>/]",
    re.IGNORECASE | re.DOTALL,
)
_JSON_START = re.compile(rb"^\s*[\[{]")
_WS = re.compile(r"\s+")
_SNIFF_BYTES = 4_096
# Why an entry of a feed was not stored (counted per feed in ParsedFeed.skipped).
SKIP_NO_CONTENT = "no content at all"
SKIP_REPEATED = "repeats an earlier entry"
# What a feed's status line says of a body that ends before its document does.
CUT_ENTRY_LEFT_OUT = "body ends mid-document (truncated?): the last, incomplete entry was left out"
CUT_BETWEEN_ENTRIES = "body ends mid-document (truncated?): any entries after the cut are missing"
CUT_NO_ENTRY = (
    "not a feed: broken XML: the body ends mid-document (truncated?) before any complete entry"
)


def parse_feed(
    body: bytes,
    *,
    feed_url: str,
    source: str,
    now: datetime,
    final_url: str | None = None,
    content_type: str | None = None,
) -> ParsedFeed:
    """Parse one fetched body into articles. Never raises, never fetches.

    `final_url` (the URL after redirects) is the base for relative links; `content_type` is the
    HTTP Content-Type header (its charset is honoured, see the module notes). The two steps,
    `read_feed` then `normalise_feed`, are also callable apart (the poll times each).
    """
    raw = read_feed(body, feed_url=feed_url, final_url=final_url, content_type=content_type)
    if isinstance(raw, ParsedFeed):
        return raw
    return normalise_feed(raw, feed_url=feed_url, source=source, now=now)


@dataclass(frozen=True, slots=True)
class RawFeed:
    """A body read as RSS/Atom and not yet normalised: feedparser's result (or the RSS fast
    path's, which has the same shape), with the base URL and media type it was read with."""

    parsed: Mapping[str, Any]
    base: str
    media_type: str
    # Set when the body ends mid-document (see truncation.py); the entry it ended inside has
    # already been left out of `parsed`.
    warning: str | None = None
    # Set when stray non-UTF-8 bytes of a UTF-8 body were read in a single-byte code page.
    charset_note: str | None = None


def read_feed(
    body: bytes,
    *,
    feed_url: str,
    final_url: str | None = None,
    content_type: str | None = None,
) -> RawFeed | ParsedFeed:
    """Step 1 of parse_feed: read the body as a feed. A body that is not one comes back as a
    ParsedFeed whose `error` says why; never raises."""
    base = final_url or feed_url
    if not body or not body.strip():
        return _failed(feed_url, "not a feed: the response body is empty")
    head = _strip_bom(body[:_SNIFF_BYTES])
    media_type = _media_type(content_type)
    looks_html = _HTML_START.match(head) is not None
    if _JSON_START.match(head):
        return _failed(
            feed_url, f"not a feed: the body is JSON, not RSS/Atom ({media_type or 'no type'})"
        )
    repair = _mixed_utf8_repair(body, content_type)
    if repair is not None:
        body = repair.body
    charset_note = repair.note if repair is not None else None
    headers = {
        "content-location": base,
        "content-type": (
            f"{media_type or 'application/xml'}; charset=utf-8"
            if repair is not None
            else _effective_content_type(body, content_type)
        ),
    }
    if not looks_html:
        parsed = rss_fastpath.parse_rss(body, base=base, content_type=headers["content-type"])
        if parsed is not None:
            return RawFeed(parsed, base, media_type, charset_note=charset_note)
    try:
        parsed = _feedparser.parse(
            io.BytesIO(body),
            response_headers=headers,
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except Exception as exc:  # feedparser is lenient, but one odd body must not stop a poll
        return _failed(feed_url, f"not a feed: the parser failed ({_one_line(exc)})")
    if looks_html and not (parsed.get("version") and parsed.get("entries")):
        # A feed inside an (X)HTML wrapper is read; an ordinary web page is not a feed.
        return _failed(
            feed_url, f"not a feed: the server returned an HTML page ({media_type or 'no type'})"
        )
    warning = _leave_out_cut_entry(parsed, body) if parsed.get("bozo") else None
    return RawFeed(parsed, base, media_type, warning, charset_note)


def _leave_out_cut_entry(parsed: Any, body: bytes) -> str | None:
    """For a body that ends mid-document: drop the entry it ended inside from `parsed` (its
    fields are whatever the body got to: no link, no guid, half a title) and say so."""
    cut = cut_off(body)
    if cut is None:
        return None
    entries = parsed.get("entries") or []
    if cut.inside_entry and len(entries) > cut.complete_entries:
        parsed["entries"] = entries[:-1]
        return CUT_ENTRY_LEFT_OUT
    return CUT_BETWEEN_ENTRIES


def normalise_feed(raw: RawFeed, *, feed_url: str, source: str, now: datetime) -> ParsedFeed:
    """Step 2 of parse_feed: articles with clean titles, text summaries, absolute links,
    UTC dates and stable ids."""
    now = to_utc(now, now)[0]
    return _to_parsed_feed(
        raw.parsed,
        feed_url=feed_url,
        source=source,
        now=now,
        base=raw.base,
        media_type=raw.media_type,
        warning=raw.warning,
        charset_note=raw.charset_note,
    )


def _to_parsed_feed(
    parsed: Mapping[str, Any],
    *,
    feed_url: str,
    source: str,
    now: datetime,
    base: str,
    media_type: str,
    warning: str | None = None,
    charset_note: str | None = None,
) -> ParsedFeed:
    feed = parsed.get("feed") or {}
    title = _text_of(feed.get("title"), feed.get("title_detail"), TITLE_MAX_CHARS)
    title = clean_title(title)
    bozo_exc = parsed.get("bozo_exception") if parsed.get("bozo") else None
    bozo_message = _bozo_message(bozo_exc) if bozo_exc is not None else None
    articles: list[Article] = []
    seen: set[str] = set()
    skipped: dict[str, int] = {}
    for entry in parsed.get("entries") or ():
        article = _to_article(entry, feed_url=feed_url, source=source, now=now, base=base)
        reason = (
            SKIP_NO_CONTENT if article is None else SKIP_REPEATED if article.id in seen else None
        )
        if reason is not None:
            skipped[reason] = skipped.get(reason, 0) + 1
            continue
        assert article is not None
        seen.add(article.id)
        articles.append(article)
    skip_counts = tuple(sorted(skipped.items()))
    if articles:
        return ParsedFeed(
            feed_url=feed_url,
            title=title,
            articles=tuple(articles),
            bozo_message=bozo_message,
            skipped=skip_counts,
            warning="; ".join(w for w in (warning, charset_note) if w) or None,
        )
    # Nothing usable: say why, unless this is simply a well-formed feed with no items today.
    if warning is not None:
        error = f"{CUT_NO_ENTRY} ({bozo_message})" if bozo_message else CUT_NO_ENTRY
    elif not (parsed.get("version") or parsed.get("entries") or parsed.get("feed")):
        error = (
            f"not a feed: no RSS, Atom or RDF document found ({media_type or 'no content type'})"
        )
    elif bozo_exc is not None and not isinstance(bozo_exc, _BENIGN_BOZO):
        error = f"not a feed: broken XML and no entries could be read ({bozo_message})"
    else:
        return ParsedFeed(
            feed_url=feed_url,
            title=title,
            articles=(),
            bozo_message=bozo_message,
            skipped=skip_counts,
        )
    return ParsedFeed(feed_url=feed_url, title=title, articles=(), error=error)


def _to_article(
    entry: Mapping[str, Any], *, feed_url: str, source: str, now: datetime, base: str
) -> Article | None:
    link = _str(entry.get("link"))
    guid = _str(entry.get("id")).strip() or None
    title = clean_title(
        _text_of(entry.get("title"), entry.get("title_detail"), 4 * TITLE_MAX_CHARS)
    )
    url = canonical_url(link, base) if link else ""
    if len(url) > URL_MAX_CHARS:
        url = ""
    if not link.strip() and guid is None and not title:
        # No usual identity: the enclosure (a podcast episode, a photo) is the entry's address.
        url = _enclosure_url(entry, base)
    summary_raw, summary_type = _summary_source(entry)
    summary_raw = summary_raw[:SUMMARY_HTML_MAX_CHARS]
    if _is_html(summary_type):
        summary_html = summary_raw
        summary = html_to_text(summary_raw)
    else:
        summary_html = html.escape(summary_raw, quote=False)[:SUMMARY_HTML_MAX_CHARS]
        summary = one_line(summary_raw)
    content_key = ""
    own_title = bool(title)
    if not title:
        # Identified by its text: its description or content, else whatever else it carries
        # (a category, an author, a source...); titled from that text.
        if summary_raw.strip():
            content_key = summary_raw
            title = derived_title(summary, url)
        elif url or guid or link.strip():
            title = derived_title("", url)  # the link's file name, else "(untitled)"
            # A link that is no web address (mailto:...) still tells the entry apart.
            content_key = "" if url or guid else f"link:{link.strip()}"
        else:
            content_key = _fingerprint(entry)
            title = derived_title(_other_text(entry), url)
    if not (link.strip() or guid or url or content_key or own_title):
        return None  # no content at all
    content, content_html = _content(entry)
    published_at, known = _published(entry, now)
    author = _author(entry)
    return Article(
        id=article_id(feed_url, guid, url, title=title, content=content_key),
        feed_url=feed_url,
        source=source,
        url=url,
        title=title,
        summary=truncate(summary, SUMMARY_MAX_CHARS),
        published_at=published_at,
        published_at_known=known,
        guid=guid[:GUID_MAX_CHARS] if guid else None,
        author=truncate(author, AUTHOR_MAX_CHARS) or None,
        summary_html=summary_html,
        content=content,
        content_html=content_html,
    )


def _content(entry: Mapping[str, Any]) -> tuple[str, str]:
    """The entry's full content as (plain text, sanitised HTML); ("", "") when it has none."""
    for item in entry.get("content") or ():
        if not isinstance(item, Mapping):
            continue
        value = _str(item.get("value"))[:CONTENT_HTML_MAX_CHARS]
        if not value.strip():
            continue
        if _is_html(_str(item.get("type")) or "text/html"):
            text = content_text(value)
            cleaned = nh3.clean(value, strip_comments=True, link_rel="noopener noreferrer nofollow")
        else:
            text = one_line(value)
            cleaned = html.escape(value, quote=False)
        if text:
            return truncate(text, CONTENT_MAX_CHARS), cleaned
    return "", ""


def _author(entry: Mapping[str, Any]) -> str:
    """The author's name; feedparser's `author` may be "email (Name)" when RSS gives both."""
    detail = entry.get("author_detail")
    name = _str(detail.get("name")) if isinstance(detail, Mapping) else ""
    return one_line(name or _str(entry.get("author")))


# Keys that describe another value rather than carry one, and attribute-like keys inside
# feedparser's dicts: an entry with only these has no content at all.
_NOT_CONTENT_KEYS = frozenset({"guidislink", "type", "base", "language", "rel", "scheme"})


def _has_value(value: Any) -> bool:
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, Mapping):
        return any(
            _has_value(v)
            for k, v in value.items()
            if k not in _NOT_CONTENT_KEYS and not str(k).endswith("_detail")
        )
    if isinstance(value, list | tuple):
        return isinstance(value, time.struct_time) or any(_has_value(v) for v in value)
    return isinstance(value, int | float)


def _fingerprint(entry: Mapping[str, Any]) -> str:
    """A stable text of everything an entry carries, for an entry known by nothing else
    (no guid, link, title, enclosure or text); "" for an entry with no content at all."""
    kept = {
        str(k): v
        for k, v in entry.items()
        if k not in _NOT_CONTENT_KEYS and not str(k).endswith("_detail") and _has_value(v)
    }
    if not kept:
        return ""
    return json.dumps(kept, sort_keys=True, default=str, ensure_ascii=False)


def _other_text(entry: Mapping[str, Any]) -> str:
    """Something to call an entry with no title and no text: its source's title, a category,
    an author, a link; else "". (A title of markup alone, such as an image, is not used: its
    text is empty and the markup is not for display.)"""
    candidates: list[Any] = []
    source = entry.get("source")
    if isinstance(source, Mapping):
        candidates.append(source.get("title"))
    for tag in entry.get("tags") or ():
        if isinstance(tag, Mapping):
            candidates += [tag.get("label"), tag.get("term")]
    candidates += [entry.get("author"), entry.get("comments")]
    for link in entry.get("links") or ():
        if isinstance(link, Mapping):
            candidates.append(link.get("href"))
    for value in candidates:
        text = one_line(_str(value))
        if text:
            return text
    return ""


def _enclosure_url(entry: Mapping[str, Any], base: str) -> str:
    """The first enclosure's canonical http(s) URL, or ""."""
    for enclosure in entry.get("enclosures") or ():
        href = _str(enclosure.get("href")) if isinstance(enclosure, Mapping) else ""
        url = canonical_url(href, base) if href.strip() else ""
        if url and len(url) <= URL_MAX_CHARS:
            return url
    return ""


def _summary_source(entry: Mapping[str, Any]) -> tuple[str, str]:
    """The entry's summary (description) with its type, else its first non-empty content."""
    summary = _str(entry.get("summary"))
    if summary.strip():
        detail = entry.get("summary_detail") or {}
        return summary, _str(detail.get("type")) or "text/html"
    for content in entry.get("content") or ():
        value = _str(content.get("value"))
        if value.strip():
            return value, _str(content.get("type")) or "text/html"
    return "", "text/plain"


def _published(entry: Mapping[str, Any], now: datetime) -> tuple[datetime, bool]:
    for key in ("published", "updated", "created"):
        value = entry.get(f"{key}_parsed") or entry.get(key)
        if not value:
            continue
        when, ok = to_utc(value, now)
        if ok and plausible_date(when, now):
            return when, True
    return now, False


def _text_of(value: Any, detail: Any, limit: int) -> str:
    """Plain text of a feedparser text construct (title, subtitle) whose type may be HTML."""
    text = _str(value)[: limit * 4]
    if not text:
        return ""
    kind = _str(detail.get("type")) if isinstance(detail, Mapping) else ""
    return html_to_text(text) if _is_html(kind) else text


def _is_html(content_type: str) -> bool:
    return content_type.lower() in _HTML_TYPES


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _failed(feed_url: str, error: str) -> ParsedFeed:
    return ParsedFeed(feed_url=feed_url, title="", articles=(), error=error)


def _one_line(exc: BaseException) -> str:
    text = _WS.sub(" ", str(exc)).strip()
    return truncate(
        f"{type(exc).__name__}: {text}" if text else type(exc).__name__, BOZO_MESSAGE_MAX_CHARS
    )


def _bozo_message(exc: Any) -> str:
    if not isinstance(exc, BaseException):
        return truncate(_WS.sub(" ", str(exc)), BOZO_MESSAGE_MAX_CHARS)
    get_line = getattr(exc, "getLineNumber", None)
    get_message = getattr(exc, "getMessage", None)
    if callable(get_line) and callable(get_message):  # SAXParseException
        try:
            where = f"line {get_line()}, column {exc.getColumnNumber()}"  # type: ignore[attr-defined]
            return truncate(f"{where}: {get_message()}", BOZO_MESSAGE_MAX_CHARS)
        except Exception:  # an odd exception object: fall back to its text
            pass
    text = _WS.sub(" ", str(exc)).strip()
    return truncate(text or type(exc).__name__, BOZO_MESSAGE_MAX_CHARS)


# --- encoding ------------------------------------------------------------------------------


def _media_type(content_type: str | None) -> str:
    return (content_type or "").partition(";")[0].strip().lower()


def _strip_bom(data: bytes) -> bytes:
    for bom, _ in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :]
    return data


def _bom_encoding(data: bytes) -> str | None:
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name
    return None


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def _mixed_utf8_repair(body: bytes, content_type: str | None) -> MixedRepair | None:
    """The body made all UTF-8 when it is UTF-8 with stray bytes (module notes). Not for a body
    that a byte-order mark or a label puts in UTF-16/32 or a multi-byte code page (Shift_JIS,
    GBK: their pairs can look like UTF-8)."""
    if body.isascii():
        return None
    bom = _bom_encoding(body)
    if bom not in (None, "utf-8"):
        return None
    match = _XML_DECL_ENCODING.match(body[:512])
    labels = (match.group(1).decode("ascii") if match else None, _charset_param(content_type))
    if not all(label is None or _utf8_or_single_byte(label) for label in labels):
        return None
    return repair_mixed_utf8(body)


@functools.lru_cache(maxsize=64)
def _utf8_or_single_byte(label: str) -> bool:
    name = codec_name(label)
    if name is None:
        return True  # an unknown label is ignored (as feedparser ignores it)
    if name == "utf-8":
        return True
    try:
        return len(bytes(range(256)).decode(name, "replace")) == 256
    except (LookupError, UnicodeError):
        return False


def _effective_content_type(body: bytes, content_type: str | None) -> str:
    """The Content-Type to hand feedparser, with the charset conflict resolved (module notes)."""
    media_type = _media_type(content_type) or "application/xml"
    http_charset = _charset_param(content_type)
    chosen = _choose_charset(body, http_charset)
    charset = chosen or http_charset
    return f"{media_type}; charset={charset}" if charset else media_type


def _charset_param(content_type: str | None) -> str | None:
    if not content_type:
        return None
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip("\"'").strip() or None
    return None


def _choose_charset(body: bytes, http_charset: str | None) -> str | None:
    """The charset to use instead of the HTTP one, or None to leave feedparser's choice."""
    bom = _bom_encoding(body)
    if bom:
        return bom
    if body.isascii():
        return None
    match = _XML_DECL_ENCODING.match(body[:512])
    declared = codec_name(match.group(1).decode("ascii")) if match else None
    from_http = codec_name(http_charset)
    if from_http == "utf-8" and declared in (None, "utf-8"):
        return None  # the common case: nothing to decide
    if from_http is not None and from_http == declared:
        return None
    # Non-ASCII bytes that form valid UTF-8 are UTF-8 whatever a label says.
    if _decodes(body, "utf-8"):
        return "utf-8"
    if declared is not None and declared != "utf-8" and _decodes(body, declared):
        return declared
    if declared is None and from_http is None:
        # Named nowhere and not UTF-8: a single-byte code page, judged from the text itself
        # (feedparser would read it as windows-1252 whatever the language).
        return guess_single_byte(body)
    return None
