"""Links and feed HTML made safe for a mail.

Feed content is untrusted. A story's snippet comes from the feed's HTML summary cleaned by
`sanitize_html` (nh3: no scripts, handlers, frames, forms, styles or images; text inside
dropped elements goes too), then reduced to text (`feed_text`); links pass `safe_link`
(absolute http/https only). Pure: no I/O.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit, urlunsplit

import nh3

from newswatch.models import Article
from newswatch.parse.text import html_to_text

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Characters a URL may carry unencoded; everything else (quotes, <, >, spaces, non-ASCII)
# is percent-encoded so a link never carries markup into an attribute.
_URL_SAFE = "/:?#[]@!$&'()*+,;=%~-._"
_BAD_HOST_CHARS = re.compile(r"[\s\"'<>`{}|\\^]")


def safe_link(url: str) -> str | None:
    """`url` as an absolute http(s) URL with a host (unsafe characters percent-encoded),
    or None for anything else: other schemes, relative URLs, credentials, bad hosts."""
    if not isinstance(url, str):
        return None
    url = url.strip()
    if not url or _CONTROL.search(url) or "\\" in url:
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not host or "@" in parts.netloc:
        return None
    if _BAD_HOST_CHARS.search(parts.netloc):
        return None
    try:
        netloc = parts.netloc.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    path, query, fragment = (
        quote(x, safe=_URL_SAFE) for x in (parts.path, parts.query, parts.fragment)
    )
    return urlunsplit((scheme, netloc, path, query, fragment))


_ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "cite", "code", "dd", "del", "dl", "dt", "em",
        "figcaption", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "ins", "kbd", "li", "ol",
        "p", "pre", "q", "s", "small", "span", "strong", "sub", "sup", "u", "ul",
    }
)  # fmt: skip
# Removed together with everything inside them, not just unwrapped.
_DROP_WITH_CONTENT = frozenset(
    {
        "script", "style", "iframe", "frame", "frameset", "object", "embed", "applet", "form",
        "noscript", "template", "svg", "math", "select", "textarea", "button", "title", "head",
        "noembed", "noframes", "xmp", "plaintext",
    }
)  # fmt: skip


def _filter_attribute(tag: str, attr: str, value: str) -> str | None:
    if attr == "href":
        return safe_link(value)
    return value


def sanitize_html(fragment: str) -> str:
    """Feed HTML made safe to show in a mail: text formatting and http(s) links only.

    No scripts, event handlers, styles, images (remote images track readers), frames,
    forms or embedded objects; `href` must be absolute http(s).
    """
    if not fragment:
        return ""
    return nh3.clean(
        fragment,
        tags=set(_ALLOWED_TAGS),
        clean_content_tags=set(_DROP_WITH_CONTENT),
        attributes={"a": {"href", "title"}, "abbr": {"title"}},
        attribute_filter=_filter_attribute,
        url_schemes={"http", "https"},
        url_relative="deny",
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def feed_text(article: Article) -> str:
    """The text of an article's summary as the digest shows it: the feed's HTML cleaned by
    nh3 (`sanitize_html`), then reduced to text. Feeds without HTML give the stored text."""
    if not article.summary_html:
        return article.summary
    return html_to_text(sanitize_html(article.summary_html))
