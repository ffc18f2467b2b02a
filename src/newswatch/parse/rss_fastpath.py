"""RSS 2.0 in the shape feedparser returns, about ten times faster; None for anything else.

feedparser spends ~20 ms on a 50-item feed here, almost all of it in per-event Python callbacks
(profiled: 70% of a poll's parse+match CPU). Most real feeds are plain, well-formed RSS 2.0, for
which those callbacks compute something simple. This module builds the tree once with the C XML
parser and computes the same values, reusing feedparser's own helpers (date parser, URL joining,
HTML sniffing, cp1252 map) so that the two paths cannot drift apart in the details.

It reproduces feedparser exactly or not at all: every construct whose handling it does not
reproduce (a DTD or entities, xml:base, an encoding other than UTF-8/ASCII, a non-XML media type,
markup inside a text element, repeated fields, elements feedparser maps onto the fields
newswatch reads, such as media:title or itunes:summary) makes `parse_rss` return None, and
feed.py hands the body to feedparser. tests/test_rss_fastpath.py holds it to feedparser's
result over feedparser's 2,107 fixtures, the captured real feeds and generated variants.
"""

from __future__ import annotations

import contextlib
import re
import time
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from typing import Any

from newswatch.parse._feedparser import (
    CP1252,
    HANDLED_ELEMENTS,
    NAMESPACES,
    looks_like_html,
    make_safe_absolute_uri,
    urljoin,
)
from newswatch.parse._feedparser import parse_date as _feedparser_date
from newswatch.parse.normalise import codec_name

FeedDict = dict[str, Any]

# Namespace URI (lower case) -> the prefix feedparser names its elements with.
_KNOWN_NAMESPACES: dict[str, str] = {uri.lower(): prefix for uri, prefix in NAMESPACES.items()}
# Element names (prefix_local) feedparser has a handler for: they are never "just stored".
_HANDLED = HANDLED_ELEMENTS
# Entry keys parse.py reads: an unknown element stored under one of these would change them.
_READ_KEYS = frozenset(
    {
        "link", "id", "title", "title_detail", "summary", "summary_detail", "content",
        "published", "published_parsed", "updated", "updated_parsed", "created",
        "created_parsed", "author", "author_detail", "authors", "guidislink", "links",
    }
)  # fmt: skip
# Item elements that feedparser handles in ways that never touch the keys above.
_HARMLESS = frozenset(
    {
        "category", "enclosure", "comments", "wfw:commentrss", "wfw:comment", "slash:comments",
        "media:content", "media:thumbnail", "media:credit", "media:keywords", "media:group",
        "media:rating", "media:category", "media:license", "media:restriction", "dc:subject",
    }
)  # fmt: skip
# Item elements read here -> the field they fill (one element per field, else decline).
_FIELDS = {
    "title": "title",
    "link": "link",
    "guid": "id",
    "description": "summary",
    "content:encoded": "content",
    "pubdate": "published",
    "updated": "updated",
    "dc:date": "updated",
    "author": "author",
    "dc:creator": "author",
}
# Channel children that may contain elements (everything else must be a leaf).
_CHANNEL_CONTAINERS = frozenset({"image", "textinput", "item"})
_CONTENT_NAMES = frozenset({"content:encoded", "content", "fullitem", "body", "xhtml:body"})
_TITLE_NAMES = frozenset({"title", "dc:title", "media:title"})
_ENTRY_NAMES = frozenset({"item", "entry"})
_XML_MEDIA_TYPES = frozenset(
    {
        "application/xml", "application/xml-dtd", "application/xml-external-parsed-entity",
        "text/xml", "text/xml-external-parsed-entity",
    }
)  # fmt: skip
_UTF8_NAMES = frozenset({"utf-8", "ascii"})
_XML_DECL_ENCODING = re.compile(
    rb"""^<\?xml[^>]{0,200}?\bencoding\s*=\s*["']([A-Za-z0-9._:-]{1,40})["']"""
)
_XMLNS = re.compile(rb"""\bxmlns:([A-Za-z_][\w.-]*)\s*=\s*["']([^"']*)["']""")
_DECLINE_MARKUP = re.compile(rb"<!DOCTYPE|<!ENTITY", re.IGNORECASE)
# An absolute URL that urljoin would hand back unchanged (no dot segments, no empty query or
# fragment, no ';' path parameters, nothing _urljoin's slash fixer touches): the join is
# skipped (~40 us each).
_PLAIN_ABSOLUTE_URL = re.compile(
    r"https?://[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*(?::[0-9]{1,5})?"
    r"(?:/(?!\.\.?(?:/|\?|$))[A-Za-z0-9_~!$&'()*+,=:@%-]*(?:\.[A-Za-z0-9_~!$&'()*+,=:@%-]+)*)*"
    r"(?:\?[A-Za-z0-9._~!$&'()*+,;=:@%/?-]+)?\Z"
)
_MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
_RFC822 = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), ([0-9]{2}) "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ([0-9]{4}) "
    r"([0-9]{2}):([0-9]{2}):([0-9]{2}) ([+-][0-9]{4}|GMT)\Z"
)
_LINK_ENTITY = re.compile("&([A-Za-z0-9_]+);")
# feedparser's own e-mail pattern for "name (email)" authors (mixin._sync_author_detail).
_EMAIL = re.compile(
    r"""(([a-zA-Z0-9\_\-\.\+]+)@((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.)|(([a-zA-Z0-9\-]+\.)+))([a-zA-Z]{2,4}|[0-9]{1,3})(\]?))(\?subject=\S+)?"""
)


class _Decline(Exception):
    """The document leaves the subset reproduced here."""


def parse_rss(body: bytes, *, base: str, content_type: str) -> FeedDict | None:
    """feedparser's result keys that parse.py reads, or None to let feedparser parse `body`.

    `base` is the URL relative links resolve against (feedparser's content-location);
    `content_type` the Content-Type parse.py hands feedparser (charset already decided).
    """
    if not _plain_utf8_xml(body, content_type) or _DECLINE_MARKUP.search(body):
        return None
    if b"<rss" not in body[:4096] or not base.lower().startswith(("http://", "https://")):
        return None
    base = make_safe_absolute_uri(base, base) or base
    try:
        root = ET.fromstring(body)
    except (ET.ParseError, ValueError, LookupError):
        return None  # not well-formed: feedparser's lenient parser decides what it is
    try:
        return _feed(root, body, base)
    except _Decline:
        return None


def _plain_utf8_xml(body: bytes, content_type: str) -> bool:
    """True when feedparser would decode `body` as UTF-8 (or ASCII) without complaint, and
    ElementTree decodes it the same way."""
    if body[:4] in (b"\xef\xbb\xbf<", b"\xef\xbb\xbf\xef") or body[:2] in (
        b"\xff\xfe",
        b"\xfe\xff",
    ):
        return False
    media_type, _, params = content_type.partition(";")
    media_type = media_type.strip().lower()
    if not (
        media_type in _XML_MEDIA_TYPES
        or (media_type.startswith(("application/", "text/")) and media_type.endswith("+xml"))
    ):
        return False  # feedparser flags a non-XML media type (bozo)
    charset = None
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip("\"'").strip()
    match = _XML_DECL_ENCODING.match(body[:512])
    declared = codec_name(match.group(1).decode("ascii")) if match else None
    if match and declared not in _UTF8_NAMES:
        return False
    if charset is not None and codec_name(charset) not in _UTF8_NAMES:
        return False
    if body.isascii():
        return True
    # RFC 3023: text/xml without a charset is US-ASCII to feedparser.
    if charset is None and media_type.startswith("text/"):
        return False
    if codec_name(charset) == "ascii" or declared == "ascii":
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _feed(root: ET.Element, body: bytes, base: str) -> FeedDict:
    if root.tag != "rss":
        raise _Decline(f"root {root.tag}")
    names = _Names(body)
    channels = [c for c in root if c.tag == "channel"]
    if len(channels) != 1 or any(c.tag != "channel" for c in root):
        raise _Decline("not one channel")
    channel = channels[0]
    entry_count = 0
    for element in root.iter():
        for key in element.attrib:
            if _local(key).lower() == "base":
                raise _Decline("xml:base")  # it moves the base of relative links
        if names.of(element.tag) in _ENTRY_NAMES:
            entry_count += 1
    feed: dict[str, Any] = {}
    entries: list[dict[str, Any]] = []
    titles = 0
    # feedparser resets "this entry has content" only at an item's end.
    channel_has_content = False
    for child in channel:
        name = names.of(child.tag)
        if name == "item":
            entries.append(_entry(child, names, base, channel_has_content))
            continue
        if name in _TITLE_NAMES:
            titles += 1
            if name != "title" or titles > 1 or len(child) or child.attrib:
                raise _Decline(f"channel {name}")
            value, kind = _text(child.text, base=base, kind="text/plain")
            feed["title"] = value
            feed["title_detail"] = {"type": kind}
        elif name in _CONTENT_NAMES:
            channel_has_content = True
        elif len(child) and name not in _CHANNEL_CONTAINERS:
            raise _Decline(f"channel {name} has children")
    if not entries or entry_count != len(entries):
        raise _Decline("items outside the channel, or none")
    return {"feed": feed, "entries": entries, "version": "rss20", "bozo": False}


def _entry(item: ET.Element, names: _Names, base: str, channel_has_content: bool) -> dict[str, Any]:
    if item.attrib:
        raise _Decline("item attributes")  # rdf:about and friends set the id
    found: dict[str, ET.Element] = {}
    position: dict[str, int] = {}
    authors: list[ET.Element] = []
    extras = _Extras()
    for index, child in enumerate(item):
        name = names.of(child.tag)
        field = _FIELDS.get(name)
        if field == "link" and child.attrib:
            field = None if _is_other_link(child.attrib) else field
            if field is None:
                _check_harmless_children(child, names, extras, index)
                continue
        if field is None:
            if name == "image":
                extras.image = True  # resets feedparser's title bookkeeping
                if len(child):
                    raise _Decline("image with children in an item")
                continue
            if name in ("media:title", "media:description"):
                extras.add(name, index, nested=False)
                if len(child):
                    raise _Decline(f"{name} with children")
                continue
            _check_harmless(child, name, names)
            _check_harmless_children(child, names, extras, index)
            continue
        if len(child):
            raise _Decline(f"{name} with children")  # feedparser would rebuild the markup
        if child.attrib and not (field == "id" and _only_permalink(child.attrib)):
            raise _Decline(f"{name} attributes")  # e.g. type= changes how it is read
        if field == "author":
            authors.append(child)
            continue
        if field in found:
            raise _Decline(f"{name} repeated")
        found[field] = child
        position[field] = index
    entry: dict[str, Any] = {}
    if (title := found.get("title")) is not None:
        value, kind = _text(title.text, base=base, kind="text/plain")
        entry["title"] = value
        entry["title_detail"] = {"type": kind}
    guid = found.get("id")
    guid_is_link = False
    if guid is not None:
        guid_is_link = guid.attrib.get("isPermaLink", "true") == "true"
        entry["id"] = _text(guid.text, base=base, relative=guid_is_link)[0]
    if (link := found.get("link")) is not None:
        value = _text(link.text, base=base, relative=True)[0]
        entry["link"] = _LINK_ENTITY.sub(r"&\g<1>", value.replace("&amp;", "&"))
    elif guid_is_link:
        entry["link"] = entry["id"]
    if (content := found.get("content")) is not None:
        value = _text(content.text, base=base)[0]
        entry["content"] = [{"type": "text/html", "value": value}]
        entry["summary"] = value
    if (description := found.get("summary")) is not None:
        entry["summary"] = _text(description.text, base=base)[0]
        entry["summary_detail"] = {"type": "text/html"}
    for key in ("published", "updated"):
        if (element := found.get(key)) is not None:
            value = _text(element.text, base=base)[0]
            entry[key] = value
            entry[f"{key}_parsed"] = parse_date(value)
    if authors:
        values = [_text(a.text, base=base)[0] for a in authors]
        # Each author element overwrites `author`; `author_detail` keeps the first non-empty.
        entry["author"] = values[-1]
        first = next((v for v in values if v), "")
        detail = _author_detail(first)
        if detail:
            entry["author_detail"] = detail
    extras.check(entry, position, has_content="content" in found or channel_has_content)
    if extras.descriptions and "content" not in found:
        # What check() allowed: nested media:description that feedparser stores as content.
        entry["content"] = [
            dict(zip(("value", "type"), _text(d.text, base=base, kind="text/plain"), strict=True))
            for d in extras.descriptions
        ]
    if (
        not (entry.get("title") or entry.get("link") or entry.get("id"))
        and (
            not entry.get("summary")
            or any(_local(el.tag).lower() in ("enclosure", "link") for el in item.iter())
        )
        and len(item)
    ):
        # parse.py then identifies the entry by an enclosure or by fields read only by
        # feedparser (categories, comments...), so feedparser reads this document.
        raise _Decline("an entry known only by fields read here")
    return entry


class _Extras:
    """media:title, media:description and image in an item: feedparser lets them overwrite
    the title or summary in some orders. Allowed only where they provably do not."""

    def __init__(self) -> None:
        self.image = False
        self.media: list[tuple[str, int, bool]] = []  # (name, index of the item child, nested)
        self.descriptions: list[ET.Element] = []  # nested media:description, in order

    def add(
        self, name: str, index: int, *, nested: bool, element: ET.Element | None = None
    ) -> None:
        self.media.append((name, index, nested))
        if nested and name == "media:description" and element is not None:
            self.descriptions.append(element)

    def check(self, entry: dict[str, Any], position: dict[str, int], *, has_content: bool) -> None:
        for name, index, nested in self.media:
            if name == "media:title":
                # A non-empty item title always wins over media:title, wherever it stands.
                if not entry.get("title") or self.image:
                    raise _Decline("media:title without an item title")
            elif not (
                nested
                and not has_content
                and entry.get("summary")
                and "summary_detail" in entry
                and position.get("summary", index) < index
            ):
                # Only a nested media:description after a non-empty description is stored
                # as content (parse.py keeps it as the entry's content, like content:encoded).
                raise _Decline("media:description that may replace the summary")


def _is_other_link(attrib: dict[str, str]) -> bool:
    """True for an (atom:)link with an href that feedparser does not take as the item's link."""
    attrs = {k.lower(): v for k, v in attrib.items()}
    href = attrs.get("url", attrs.get("uri", attrs.get("href")))
    if not href:
        return False
    rel = attrs.get("rel", "alternate").lower()
    return rel != "alternate"


def _check_harmless_children(
    element: ET.Element, names: _Names, extras: _Extras, index: int
) -> None:
    for child in element:
        name = names.of(child.tag)
        if name in ("media:title", "media:description"):
            if len(child):
                raise _Decline(f"{name} with children")
            extras.add(name, index, nested=True, element=child)
            continue
        _check_harmless(child, name, names)
        _check_harmless_children(child, names, extras, index)


def parse_date(value: str) -> time.struct_time | None:
    """feedparser's date parsing, with the RSS 2.0 house style ("Tue, 17 Feb 2026 18:35:06
    +0000") computed directly: feedparser tries several parsers in turn (~12 us a date)."""
    match = _RFC822.match(value)
    if match is None:
        return _feedparser_date(value)  # type: ignore[no-any-return]
    day, month, year, hour, minute, second, zone = match.groups()
    try:
        stamp = datetime(
            int(year), _MONTHS[month.lower()], int(day), int(hour), int(minute), int(second)
        )
    except ValueError:
        return _feedparser_date(value)  # type: ignore[no-any-return]
    try:
        if zone[0] in "+-":
            offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[3:]))
            # Year 1 east of UTC (or 9999 west of it) leaves datetime's range: feedparser
            # decides what such a date means.
            stamp -= offset if zone[0] == "+" else -offset
        return stamp.utctimetuple()
    except (OverflowError, ValueError):
        return _feedparser_date(value)  # type: ignore[no-any-return]


def _check_harmless(element: ET.Element, name: str, names: _Names) -> None:
    """Decline unless feedparser's handling of `element` itself leaves the entry's read
    keys alone (its children are checked by the caller)."""
    if name not in _HARMLESS:
        key = name.replace(":", "_")
        if key in _HANDLED or key in _READ_KEYS:
            raise _Decline(f"{name} in an item")


def _only_permalink(attrib: dict[str, str]) -> bool:
    return list(attrib) == ["isPermaLink"]


def _text(
    raw: str | None, *, base: str, kind: str | None = None, relative: bool = False
) -> tuple[str, str | None]:
    """One element's text as feedparser's pop() leaves it, with its (possibly sniffed) type."""
    value = (raw or "").strip()
    if relative and value and not _PLAIN_ABSOLUTE_URL.match(value):
        value = urljoin(base, value)
    # feedparser's test needs a close tag or an entity: text with neither is not scanned.
    if kind == "text/plain" and ("</" in value or "&" in value) and looks_like_html(value):
        kind = "text/html"
    # feedparser's repair of UTF-8 that was decoded as Latin-1, then its cp1252 mapping.
    if not value.isascii():
        with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
            value = value.encode("iso-8859-1").decode("utf-8")
        value = value.translate(CP1252)
    return value, kind


def _author_detail(author: str) -> dict[str, str]:
    """feedparser's split of an RSS author into name and e-mail (_sync_author_detail)."""
    if not author:
        return {}
    email = None
    match = _EMAIL.search(author)
    if match:
        email = match.group(0)
        author = author.replace(email, "").replace("()", "").replace("<>", "")
        author = author.replace("&lt;&gt;", "").strip()
        if author and author[0] == "(":
            author = author[1:]
        if author and author[-1] == ")":
            author = author[:-1]
        author = author.strip()
    detail: dict[str, str] = {}
    if author:
        detail["name"] = author
    if email:
        detail["email"] = email
    return detail


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


class _Names:
    """ElementTree tags -> the lower-case names feedparser gives the same elements."""

    def __init__(self, body: bytes) -> None:
        self._body = body
        self._cache: dict[str, str] = {}
        self._prefix: dict[str, str] | None = None  # unknown URI -> first prefix declared

    def _prefixes(self) -> dict[str, str]:
        # Scanned only when an unknown namespace turns up: most feeds use known ones.
        if self._prefix is None:
            self._prefix = {}
            bound: dict[str, str] = {}
            for raw_prefix, raw_uri in _XMLNS.findall(self._body):
                prefix = raw_prefix.decode("ascii", "replace")
                uri = raw_uri.decode("utf-8", "replace")
                if bound.setdefault(prefix, uri) != uri:
                    raise _Decline(f"prefix {prefix} bound to two namespaces")
                self._prefix.setdefault(uri, prefix)
        return self._prefix

    def of(self, tag: str) -> str:
        name = self._cache.get(tag)
        if name is None:
            name = self._cache[tag] = self._name(tag)
        return name

    def _name(self, tag: str) -> str:
        if not tag.startswith("{"):
            return tag.lower()
        uri, _, local = tag[1:].partition("}")
        lower = uri.lower()
        if "backend.userland.com/rss" in lower:
            lower = "http://backend.userland.com/rss"
        prefix = _KNOWN_NAMESPACES.get(lower)
        if prefix is None:
            # feedparser names an unknown namespace's elements by the first prefix the
            # document declared for it, and leaves them unprefixed when it declared none.
            prefix = self._prefixes().get(uri, "")
        return f"{prefix}:{local}".lower() if prefix else local.lower()
