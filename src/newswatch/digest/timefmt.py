"""One time-zone convention for every command: times are shown in the digest's zone
(sources.yaml `schedule.timezone`, else the machine's), and the output says which zone
with its UTC offset ("Europe/Istanbul, UTC+03:00"). Pure: no I/O."""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime, tzinfo


def offset_label(zone: tzinfo, at: datetime) -> str:
    """ "UTC+03:00" (the zone's offset at `at`)."""
    delta = at.astimezone(zone).utcoffset()
    minutes = int(delta.total_seconds() // 60) if delta is not None else 0
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def zone_label(zone: tzinfo, at: datetime) -> str:
    """ "Europe/Istanbul, UTC+03:00"."""
    name = getattr(zone, "key", None) or at.astimezone(zone).tzname() or "local time"
    return f"{name}, {offset_label(zone, at)}"


def local(t: datetime, zone: tzinfo) -> str:
    """ "2026-12-06 08:27" in `zone`."""
    return f"{t.astimezone(zone):%Y-%m-%d %H:%M}"


def zone_or_local(name: str) -> tzinfo:
    if name:
        try:
            return zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            pass
    local = datetime.now().astimezone().tzinfo
    return local if local is not None else zoneinfo.ZoneInfo("UTC")


def day_label(d: date) -> str:
    return f"{d:%A} {d.day} {d:%B %Y}"


def time_label(t: datetime, year: int | None = None) -> str:
    """ "24 Nov 07:15"; with the year ("5 Jan 2020 00:00") when it is not `year`."""
    if year is not None and t.year != year:
        return f"{t.day} {t:%b %Y %H:%M}"
    return f"{t.day} {t:%b %H:%M}"
