"""The response header values a poll remembers: `Retry-After` and Cache-Control's
`max-age`, in seconds. Pure: no I/O."""

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
