"""The digest's volume charts: each topic's matches per day over the last VOLUME_DAYS
days, as bars on one scale shared by every topic. Pure: no I/O."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date, timedelta

from newswatch.digest.model import BAR_MAX_PX, VolumeBar

VOLUME_DAYS = 7


def day_counts(series: Sequence[tuple[date, int]], last_day: date) -> dict[date, int]:
    days = [last_day - timedelta(days=VOLUME_DAYS - 1 - i) for i in range(VOLUME_DAYS)]
    counts: dict[date, int] = dict.fromkeys(days, 0)
    for day, n in series:
        if day in counts:
            counts[day] += max(int(n), 0)
    return counts


def volume_bars(counts: Mapping[date, int], peak: int) -> tuple[VolumeBar, ...]:
    """The bars of one topic on the shared scale `peak` (the largest day of any topic):
    2 articles draw less than half as tall as 5, whichever topic they are in."""
    bars = []
    for d, n in counts.items():
        height = 0 if n == 0 or peak == 0 else max(3, math.ceil(BAR_MAX_PX * n / peak))
        bars.append(VolumeBar(day=d, count=n, height_px=height, label=f"{d:%a} {d.day}"))
    return tuple(bars)
