"""The response header values a poll reads: `Retry-After` and Cache-Control's `max-age`, in
seconds, and whether a Content-Type can hold a web page. Pure: no I/O."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """`Retry-After` as seconds from `now`: either delta-seconds or an HTTP date."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(int(text))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def parse_max_age(value: str | None) -> float | None:
    """The `max-age` directive of a Cache-Control header, in seconds."""
    if not value:
        return None
    for part in value.split(","):
        name, _, arg = part.partition("=")
        if name.strip().lower() == "max-age":
            arg = arg.strip().strip('"')
            return float(int(arg)) if arg.isdigit() else None
    return None


def media_type(content_type: str | None) -> str:
    """The media type of a Content-Type header, lower-cased, without its parameters."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def may_be_page(content_type: str | None) -> bool:
    """Whether a response of this Content-Type may hold a web page: HTML, any text, an
    undeclared or generic type; not a PDF, an image, audio, video or an archive."""
    media = media_type(content_type)
    return (
        not media
        or media.startswith("text/")
        or media in ("application/xhtml+xml", "application/octet-stream")
    )
