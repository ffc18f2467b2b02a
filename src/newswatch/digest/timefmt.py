"""One time-zone convention for every command: times are shown in the digest's zone
(sources.yaml `schedule.timezone`, else the machine's), and the output says which zone
with its UTC offset ("Europe/Istanbul, UTC+03:00"). Pure: no I/O."""

from __future__ import annotations

from datetime import datetime, tzinfo


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
