"""Plain text out of feed HTML: tags removed, entities decoded, whitespace folded.

Feeds put HTML (often escaped twice) in summaries; matching and snippets need the words a
reader sees, not markup or URLs inside attributes.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

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
_WS = re.compile(r"\s+")


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
    """Return the visible text of an HTML fragment as one line of normal whitespace."""
    if not markup:
        return ""
    if "<" not in markup and "&" not in markup:
        return _WS.sub(" ", markup).strip()
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
    return _WS.sub(" ", text.replace("\u00a0", " ")).strip()
