"""The one clock: `utc_now()`, an aware UTC datetime.

Every stage that reads the time takes a `clock` argument defaulting to this function, so
tests pass their own; bench/make_screenshot.py shifts this module's `datetime` to stage a
day. Pure: no I/O.
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["utc_now"]


def utc_now() -> datetime:
    return datetime.now(UTC)
