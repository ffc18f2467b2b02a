"""Search-result snippets: a window of text around the first word that matched the query.

Pure text logic. The index matches stemmed words ("sanctions" finds "sanctioned"), so a word
counts as matched when it starts with one of the query's stems, or equals a query word.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
ELLIPSIS = "…"


def fold(text: str) -> str:
    """Lower case, accents stripped: as the index's `lower(strip_accents(...))` reads text."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def first_match(text: str, stems: Sequence[str]) -> tuple[int, int] | None:
    """The [start, end) span of the first word of `text` that matches any stem."""
    keys = [fold(s) for s in stems if s]
    if not keys:
        return None
    for m in _WORD.finditer(text):
        word = fold(m.group(0))
        if any(word.startswith(k) for k in keys):
            return m.start(), m.end()
    return None


def snippet(text: str, stems: Sequence[str], width: int = 160) -> str:
    """About `width` characters of `text` around its first matched word, cut at spaces.

    Without a match (the hit was in the title only), the start of the text.
    """
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    span = first_match(text, stems)
    # Put the match about a third into the window, so the reader sees what leads up to it.
    start = 0 if span is None else max(0, min(span[0] - width // 3, len(text) - width))
    end = min(len(text), start + width)
    if start > 0:
        space = text.find(" ", start)
        start = space + 1 if 0 <= space < (span[0] if span else end) else start
    if end < len(text):
        space = text.rfind(" ", start, end)
        end = space if space > (span[1] if span else start) else end
    return (ELLIPSIS if start > 0 else "") + text[start:end] + (ELLIPSIS if end < len(text) else "")


# A summary this short is a teaser ("Opinion.", "Read more"): the body's start says more.
TEASER_CHARS = 60


def best_snippet(texts: Sequence[str], stems: Sequence[str], width: int = 160) -> str:
    """The snippet of the first of `texts` (summary, then body) that has a matched word; the
    start of the first non-empty one when none has (the hit was in the title only), passing
    over a teaser of under TEASER_CHARS characters when a longer text follows."""
    for text in texts:
        if text and first_match(text, stems) is not None:
            return snippet(text, stems, width)
    present = [t for t in texts if t.strip()]
    if not present:
        return ""
    longer = [t for t in present if len(t.strip()) >= TEASER_CHARS]
    return snippet((longer or present)[0], stems, width)
