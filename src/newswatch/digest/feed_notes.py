"""The digest's feed-health footer: a line for each failing, unusually quiet or not yet
polled feed, saying why. Pure: no I/O."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, tzinfo

from newswatch.digest.model import FeedNote
from newswatch.digest.sanitize import safe_link
from newswatch.digest.timefmt import time_label
from newswatch.models import FeedHealth


def _span(seconds: float) -> str:
    """ "3 hours", "2 days", "5 weeks", "10 months" (rounded)."""
    for unit, size in (("year", 365 * 86400), ("month", 30 * 86400), ("week", 7 * 86400),
                       ("day", 86400), ("hour", 3600), ("minute", 60)):  # fmt: skip
        if seconds >= size or unit == "minute":
            n = max(1, round(seconds / size))
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return ""  # pragma: no cover - the loop always returns


def quiet_detail(f: FeedHealth, now: datetime, zone: tzinfo, year: int) -> str:
    """Why a feed is "unusually quiet", judged on its items' publication dates against its
    own rhythm: "newest item published 6 Feb 2026 09:10 (10 months ago); it usually
    publishes every 3 hours"."""
    if f.last_item_at is None:
        return "no dated items"
    newest = time_label(f.last_item_at.astimezone(zone), year)
    ago = _span(max((now - f.last_item_at).total_seconds(), 0.0))
    usual = f"; it usually publishes every {_span(f.usual_gap_s)}" if f.usual_gap_s else ""
    return f"newest item published {newest} ({ago} ago){usual}"


def feed_notes(
    feed_health: Sequence[FeedHealth], zone: tzinfo, year: int, now: datetime
) -> dict[str, list[FeedNote]]:
    notes: dict[str, list[FeedNote]] = defaultdict(list)
    for f in sorted(feed_health, key=lambda f: (f.name.casefold(), f.url)):
        if f.status == "failing":
            when = (
                f"; last worked {time_label(f.last_success_at.astimezone(zone), year)}"
                if f.last_success_at
                else "; has never worked"
            )
            n = f.consecutive_failures
            fails = f"{n} failed poll{'s' if n != 1 else ''}" if n else ""
            error = (f.last_error or "unknown error").strip().splitlines()[0][:200]
            detail = f"{error} ({fails}{when})" if fails else f"{error} ({when[2:]})"
        elif f.status == "quiet":
            detail = quiet_detail(f, now, zone, year)
        elif f.status == "never_polled":
            detail = "not polled yet"
        else:
            continue
        notes[f.status].append(
            FeedNote(name=f.name or f.url, url=safe_link(f.url), status=f.status, detail=detail)
        )
    return notes
