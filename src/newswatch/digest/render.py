"""The digest rendered with Jinja: `render_html` gives an email-safe HTML body (table
layout, CSS inlined) and `render_text` its plain-text alternative. Every value the HTML
template prints is autoescaped, so no feed markup reaches the mail as markup. No I/O besides
reading the templates."""

from __future__ import annotations

import functools
import re
import textwrap
import unicodedata
from pathlib import Path

import css_inline
import jinja2

from newswatch.digest.headline import subject
from newswatch.digest.model import BAR_MAX_PX, Digest, stories_label
from newswatch.match.language import is_rtl, language_name

HTML_TEMPLATE = "digest.html.j2"
TEXT_TEMPLATE = "digest.txt.j2"


def _wrap(text: str, width: int = 76, indent: str = "") -> str:
    return "\n".join(
        textwrap.wrap(
            text,
            width=width,
            initial_indent=indent,
            subsequent_indent=indent,
            break_long_words=False,
            break_on_hyphens=False,
        )
    )


def _isolate(text: str, code: str | None) -> str:
    """Plain text: a right-to-left title set apart (Unicode first-strong isolate), so that in
    a left-to-right line ("1. <title>") it reads right to left without reordering the rest."""
    return f"\u2068{text}\u2069" if is_rtl(code) or _first_strong_rtl(text) else text


def _first_strong_rtl(text: str) -> bool:
    for ch in text:
        kind = unicodedata.bidirectional(ch)
        if kind in ("R", "AL"):
            return True
        if kind == "L":
            return False
    return False


@functools.lru_cache(maxsize=8)
def _environment(templates_dir: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir),
        # HTML templates escape every value; the text template has nothing to escape.
        autoescape=lambda name: bool(name and name.endswith((".html.j2", ".html"))),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["wrap"] = _wrap
    env.filters["isolate"] = _isolate
    env.globals["stories_label"] = stories_label
    env.globals["language_name"] = language_name
    return env


_INLINER = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)


def render_html(digest: Digest, templates_dir: Path) -> str:
    """The HTML mail body: table layout, CSS inlined (media queries kept in <style>)."""
    template = _environment(str(templates_dir)).get_template(HTML_TEMPLATE)
    html = template.render(d=digest, subject=subject(digest), bar_max=BAR_MAX_PX)
    return str(_INLINER.inline(html))


def render_text(digest: Digest, templates_dir: Path) -> str:
    """The plain-text alternative, with the same stories and links."""
    template = _environment(str(templates_dir)).get_template(TEXT_TEMPLATE)
    text = template.render(d=digest, subject=subject(digest))
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
