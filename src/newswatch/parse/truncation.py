"""Whether a feed body ends mid-document (a cut connection, a server bug), and where.

feedparser reads a cut body without complaint beyond its bozo flag: its lenient parser keeps
every element it saw, so the item the body ended inside becomes an entry with whatever fields
it had got to (a title and no link; a link and no guid, so another id than the complete item
gets next time). feed.py asks `cut_off` about every body feedparser found broken and leaves
that last entry out.

The body's structure is read with expat, ignoring the text's encoding (only the markup, which
is ASCII in every encoding this applies to, matters) and without reading any DTD. When the
markup is broken before the end (feedparser's lenient parser read past it), the cut is judged
from the bytes instead: no end tag of the root element, and an <item>/<entry> opened after the
last one closed.

The RSS fast path never sees a cut body: it reads only well-formed documents.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from xml.parsers import expat

_ENTRY_NAMES = frozenset({"item", "entry"})
# Byte-order marks of encodings whose markup is not ASCII bytes.
_WIDE_BOMS = (
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
)
_PROLOGUE = rb"(?:\s|<!--.*?-->|<\?[^>]*>|<!doctype[^>]*>)*"
_ROOT = re.compile(_PROLOGUE + rb"<([A-Za-z_][\w.:-]*)", re.IGNORECASE | re.DOTALL)
_ENTRY_START = re.compile(rb"<(?:[\w.-]+:)?(?:item|entry)(?:\s[^>]*?)?(/?)>", re.IGNORECASE)
_ENTRY_END = re.compile(rb"</(?:[\w.-]+:)?(?:item|entry)\s*>", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Cut:
    """A body that ends before its root element does."""

    complete_entries: int  # <item>/<entry> elements closed before the end
    inside_entry: bool  # the body ends inside an <item>/<entry>


def cut_off(body: bytes) -> Cut | None:
    """How `body` is cut off, or None when its root element is closed (or it has none)."""
    data = _ascii_compatible(body)
    if data is None:
        return None
    depth = 0
    entry_depth = 0  # depth of the open entry, 0 outside any
    complete = 0
    rooted = False

    def start(name: str, _attrs: object) -> None:
        nonlocal depth, entry_depth, rooted
        depth += 1
        rooted = True
        if not entry_depth and name.rpartition(":")[2].lower() in _ENTRY_NAMES:
            entry_depth = depth

    def end(_name: str) -> None:
        nonlocal depth, entry_depth, complete
        if depth == entry_depth:
            complete += 1
            entry_depth = 0
        depth -= 1

    # Latin-1 reads every byte: only the markup matters, and an undeclared or mislabelled
    # encoding must not stop the reading.
    parser = expat.ParserCreate("iso-8859-1")
    # As if the document had an external DTD, never read: an undefined entity (&nbsp;) is
    # then not an error.
    parser.UseForeignDTD(True)
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.ExternalEntityRefHandler = lambda *_: 1
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(data, False)
    except expat.ExpatError:
        return _cut_by_bytes(data)  # broken before the end: the lenient reading decides
    if not rooted or depth == 0:
        return None
    return Cut(complete, entry_depth != 0)


def _ascii_compatible(body: bytes) -> bytes | None:
    """The body with markup as ASCII bytes (UTF-16/32 re-encoded as UTF-8), or None."""
    for bom, name in _WIDE_BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(name, "replace").encode("utf-8")
    if b"\0" in body[:64]:
        return None  # UTF-16/32 without a byte-order mark: not judged
    if body.startswith(codecs.BOM_UTF8):
        return body[len(codecs.BOM_UTF8) :]
    return body


def _cut_by_bytes(data: bytes) -> Cut | None:
    match = _ROOT.match(data)
    if match is None:
        return None
    root = re.escape(match.group(1))
    if re.search(rb"</" + root + rb"\s*>", data, re.IGNORECASE):
        return None
    ends = [m.end() for m in _ENTRY_END.finditer(data)]
    starts = [m.start() for m in _ENTRY_START.finditer(data) if not m.group(1)]
    last_end = ends[-1] if ends else -1
    # A start tag itself cut off ("<ite", "<item att") opens nothing yet.
    return Cut(len(ends), bool(starts) and starts[-1] >= last_end)
