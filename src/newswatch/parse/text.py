"""Plain text out of feed HTML: tags removed, entities decoded, whitespace folded.

Feeds put HTML (often escaped twice) in summaries; matching and snippets need the words a
reader sees, not markup or URLs inside attributes.
"""

from __future__ import annotations

import functools
import html
import re
import unicodedata
from dataclasses import dataclass
from html.parser import HTMLParser

import nh3

_BLOCK_TAGS = {
    "p",
    "div",
    "br",
    "li",
    "ul",
    "ol",
    "tr",
    "td",
    "th",
    "table",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "pre",
    "section",
    "article",
    "header",
    "footer",
    "figure",
    "figcaption",
    "hr",
    "dd",
    "dt",
}
_SKIP_TAGS = {"script", "style", "noscript", "template", "iframe", "object", "svg", "head", "title"}


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip_depth += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt and not self._skip_depth:
                self.parts.append(f" {alt} ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self.parts.append(data)


def html_to_text(markup: str | None) -> str:
    """Return the visible text of an HTML fragment as one line of normal whitespace.

    Markup escaped twice (`&lt;p&gt;Hi`) is decoded and stripped as well."""
    if not markup:
        return ""
    text = markup
    for _ in range(2):
        if "<" not in text and "&" not in text:
            break
        text = _strip_once(text)
        if not _LOOKS_LIKE_TAG.search(text):
            break
    if "<" in text:
        # A tag escaped twice and cut off by the feed surfaces only after decoding.
        text = _without_unclosed_tag(text)
    return one_line(_without_shortcodes(text))


_BLOCK_TAG_START = re.compile(
    r"<(?=/?(?:" + "|".join(sorted(_BLOCK_TAGS, key=len, reverse=True)) + r")\b)", re.I
)


def content_text(markup: str | None) -> str:
    """`html_to_text` for long article bodies, ~5x faster: nh3 (Rust) drops the tags (and
    scripts, styles and the like with their text), a space stands for each block tag, and
    entities are decoded. Images' alt text is not kept. Markup escaped twice goes through
    `html_to_text` afterwards."""
    if not markup:
        return ""
    if "<" not in markup and "&" not in markup:
        return one_line(_without_shortcodes(markup))
    try:
        text = nh3.clean(
            _BLOCK_TAG_START.sub(" <", markup),
            tags=set(),
            clean_content_tags=_SKIP_TAGS,
            strip_comments=True,
        )
    except Exception:  # nh3 is lenient; never let markup crash a poll
        return html_to_text(markup)
    text = html.unescape(text)
    if "<" in text and _LOOKS_LIKE_TAG.search(text):
        return html_to_text(text)
    return one_line(_without_shortcodes(text))


# Publishing-system shortcodes that feeds leak into text ("[time-brightcove not-tgx=”true”]",
# "[video id=XbUA4awZ autostart=...]", "[homepage_regional_europe]", "[caption]"): a bracketed
# lower-case name with an attribute, or joined with "_" or "-", or one of WordPress's own.
# An editor's insertion ("[the alliance]", "[sic]") has neither and stays.
_SHORTCODE = re.compile(
    r"\[/?(?:[a-z][a-z0-9]*(?:[_-][a-z0-9]+)+|caption|embed|gallery|video|audio|playlist)"
    r"(?:\s+[\w-]+=[^\[\]]*)?\]"
    r"|\[/?[a-z][\w-]*\s+[\w-]+=[^\[\]]*\]"
)


def _without_shortcodes(text: str) -> str:
    return _SHORTCODE.sub(" ", text) if "[" in text else text


def one_line(text: str) -> str:
    """`text` with every run of whitespace made one space, and none at either end."""
    if text.isascii() and text.isprintable() and "  " not in text:
        # Printable ASCII has no whitespace but the space: nothing to fold (most titles and
        # summaries), and this costs a tenth of splitting a long summary into its words.
        return text.strip()
    # str.split() splits on exactly the characters `\s` matches (no-break space included),
    # and costs a tenth of the regex on a long summary.
    return " ".join(text.split())


_LOOKS_LIKE_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*(?:\s[^<>]*)?/?>")
# A tag (or comment) that starts but never ends: feeds cut summaries at a length limit, often
# inside `<a href="https://...`. What follows its `<` is markup, not article text.
_UNCLOSED_TAG = re.compile(r"<(?:/?[a-zA-Z][a-zA-Z0-9]*(?:\s[^<>]*)?|!--(?:(?!-->).)*)\Z", re.S)


def _without_unclosed_tag(text: str) -> str:
    m = _UNCLOSED_TAG.search(text)
    return text[: m.start()] if m else text


def _strip_once(markup: str) -> str:
    if "<" in markup:
        markup = _without_unclosed_tag(markup)
    parser = _TextExtractor()
    try:
        parser.feed(markup)
        parser.close()
        text = "".join(parser.parts)
    except Exception:  # html.parser is lenient, but never let markup crash a poll
        text = re.sub(r"<[^>]*>", " ", markup)
    # Entities escaped twice (`&amp;amp;`) survive one pass; decode what is left.
    if "&" in text:
        text = html.unescape(text)
    return text


# -- Folding for matching ---------------------------------------------------------------
# Matching runs on a folded copy of the text: lower case, diacritics removed, compatibility
# forms (ligatures, full-width letters) decomposed, invisible format characters dropped.
# Folding can change the length (NFD "g\u0306" -> "g", "\ufb01" -> "fi"), so a Folded keeps
# the map back to offsets in the original string; for the usual text the map is the identity.

_DROP_CATEGORIES = {"Mn", "Me", "Cf"}
# Letters NFKD leaves alone but that readers treat as a plain letter plus a mark.
_SPECIAL_LETTERS = {
    "ı": "i",
    "ø": "o",
    "Ø": "O",
    "đ": "d",
    "Đ": "D",
    "ł": "l",
    "Ł": "L",
    "ħ": "h",
    "Ħ": "H",
    "ß": "ss",
    "ẞ": "SS",
    "æ": "ae",
    "Æ": "AE",
    "œ": "oe",
    "Œ": "OE",
    "þ": "th",
    "Þ": "TH",
    # Arabic: the tatweel only stretches a word ("الـناتو"); Arabic-Indic digits are digits
    # ("إس-٤٠٠" is S-400).
    "\u0640": "",
    **{chr(0x0660 + d): str(d) for d in range(10)},
    **{chr(0x06F0 + d): str(d) for d in range(10)},
}
# Code point ranges scanned for characters whose fold differs from themselves.
_SCAN_RANGES = ((0x80, 0xD800), (0xE000, 0x10000), (0x1D400, 0x1D800), (0x1F100, 0x1F200))


def _fold_char(ch: str, lower: bool) -> str:
    special = _SPECIAL_LETTERS.get(ch)
    if special is not None:
        return special.lower() if lower else special
    category = unicodedata.category(ch)
    if category in _DROP_CATEGORIES:
        return ""
    if category[0] not in "LN":
        return ch  # punctuation, symbols, spaces: matching handles these itself
    parts = unicodedata.normalize("NFKD", ch)
    kept = "".join(c for c in parts if unicodedata.category(c) not in _DROP_CATEGORIES)
    out = unicodedata.normalize("NFC", kept)
    if lower:
        out = "".join(_SPECIAL_LETTERS.get(c, c) for c in out.lower())
        out = "".join(c for c in out if unicodedata.category(c) not in _DROP_CATEGORIES)
    return out


def _char_class(chars: list[str]) -> re.Pattern[str]:
    points = sorted(ord(c) for c in chars)
    ranges: list[tuple[int, int]] = []
    for cp in points:
        if ranges and cp == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], cp)
        else:
            ranges.append((cp, cp))
    body = "".join(
        re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
        for a, b in ranges
    )
    return re.compile(f"[{body}]" if body else "(?!)")


# Non-ASCII characters common in English news that folding never changes (curly quotes,
# dashes, ellipsis, currency signs...); text made only of these and ASCII needs no table.
_USUALLY_SAFE_RANGES = ((0xA0, 0xBF), (0x2000, 0x206F), (0x20A0, 0x20CF), (0x2100, 0x215F))


@dataclass(frozen=True, slots=True)
class _FoldTable:
    table: dict[int, str]  # code point -> fold, for str.translate
    needs_fold: re.Pattern[str]  # any character that might be changed by the table
    irregular: frozenset[str]  # characters whose fold is not exactly one character
    irregular_re: re.Pattern[str]
    # The table as a list indexed by code point below _LIST_END (str.translate looks a list
    # up ~3x faster than a dict: Greek, Cyrillic and Arabic text is folded by it), and the
    # characters at or above it, for which the dict is used.
    by_index: list[int | str]
    beyond_list: re.Pattern[str]


@functools.cache
def _fold_table(lower: bool) -> _FoldTable:
    table: dict[int, str] = {}
    is_normalized, category = unicodedata.is_normalized, unicodedata.category
    for lo, hi in _SCAN_RANGES:
        for cp in range(lo, hi):
            ch = chr(cp)
            # Most code points (CJK, Hangul, ...) fold to themselves: already decomposed, no
            # mark, nothing to lower. Skipping them halves the build (~0.35 -> ~0.2 s), which
            # every process that matches non-ASCII text pays once.
            if (
                ch not in _SPECIAL_LETTERS
                and is_normalized("NFKD", ch)
                and category(ch) not in _DROP_CATEGORIES
                and (not lower or ch.lower() == ch)
            ):
                continue
            out = _fold_char(ch, lower)
            if out != ch:
                table[cp] = out
    irregular = [chr(cp) for cp, out in table.items() if len(out) != 1]
    # A negated class of a few ranges is quick to rule out; most news text stops there.
    safe = [
        chr(cp)
        for lo, hi in ((0, 0x7F), *_USUALLY_SAFE_RANGES)
        for cp in range(lo, hi + 1)
        if cp not in table and (not lower or chr(cp).lower() == chr(cp))
    ]
    needs_fold = re.compile("[^" + _char_class(safe).pattern[1:])
    by_index: list[int | str] = [table.get(cp, cp) for cp in range(_LIST_END)]
    return _FoldTable(
        table,
        needs_fold,
        frozenset(irregular),
        _char_class(irregular),
        by_index,
        re.compile(f"[^\\x00-{re.escape(chr(_LIST_END - 1))}]"),
    )


# Code points below this are folded through a list (Latin, Greek, Cyrillic, Arabic,
# punctuation and letter-like symbols); above it through the dict.
_LIST_END = 0x3000


@dataclass(frozen=True, slots=True)
class Folded:
    """Folded text plus the way back to the original: `starts[i]`/`ends[i]` give the
    original span of folded character i (None when folding kept every offset)."""

    original: str
    text: str
    starts: list[int] | None = None
    ends: list[int] | None = None

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """The span in the original string that folded[start:end] came from."""
        if self.starts is None or self.ends is None:
            return start, end
        if start >= end:
            pos = self.starts[start] if start < len(self.starts) else len(self.original)
            return pos, pos
        return self.starts[start], self.ends[end - 1]


def fold(text: str, *, lower: bool = True) -> Folded:
    """Fold `text` for matching: NFKC/NFD-insensitive, diacritics removed, lower-cased
    unless `lower=False`. Offsets map back to `text` through Folded.original_span."""
    if text.isascii():
        return Folded(text, text.lower() if lower else text)
    tables = _fold_table(lower)
    # U+0130 (İ) is the one BMP letter whose lower case is two characters; it folds to "i".
    base = text.replace("\u0130", "I").lower() if lower else text
    if len(base) != len(text):
        return _fold_by_char(text, lower, tables)
    if not tables.needs_fold.search(base):
        return Folded(text, base)
    if tables.irregular_re.search(base) is None:
        if tables.beyond_list.search(base) is None:
            return Folded(text, base.translate(tables.by_index))
        return Folded(text, base.translate(tables.table))
    return _fold_by_segment(text, base, tables)


def _fold_by_segment(text: str, base: str, tables: _FoldTable) -> Folded:
    """Folding that changes lengths: regular runs are translated whole, and only the
    characters that fold to nothing or to several characters are handled one by one."""
    parts: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    table: dict[int, str] | list[int | str] = tables.table
    if tables.beyond_list.search(base) is None:
        table = tables.by_index
    pos = 0
    for m in tables.irregular_re.finditer(base):
        i = m.start()
        if i > pos:
            parts.append(base[pos:i].translate(table))
            starts.extend(range(pos, i))
            ends.extend(range(pos + 1, i + 1))
        out = tables.table[ord(base[i])]  # irregular characters are all in the dict
        if out:
            parts.append(out)
            starts.extend([i] * len(out))
            ends.extend([i + 1] * len(out))
        elif ends and ends[-1] == i and unicodedata.category(base[i]) in ("Mn", "Me"):
            ends[-1] = i + 1  # a dropped accent belongs to the letter before it
        pos = i + 1
    if pos < len(base):
        parts.append(base[pos:].translate(table))
        starts.extend(range(pos, len(base)))
        ends.extend(range(pos + 1, len(base) + 1))
    return Folded(text, "".join(parts), starts, ends)


def _fold_by_char(text: str, lower: bool, tables: _FoldTable) -> Folded:
    parts: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    table = tables.table
    for i, ch in enumerate(text):
        base = ch.lower() if lower else ch
        out = "".join(table.get(ord(c), c) for c in base)
        if out:
            parts.append(out)
            starts.extend([i] * len(out))
            ends.extend([i + 1] * len(out))
        elif ends and unicodedata.category(ch) in ("Mn", "Me") and ends[-1] == i:
            ends[-1] = i + 1  # a dropped accent belongs to the letter before it
    return Folded(text, "".join(parts), starts, ends)
