"""Print parse_feed throughput over the captured real feeds (no network).

Run: PYTHONPATH=src python bench/bench_parse.py [repeats]
"""

from __future__ import annotations

import io
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import feedparser

from newswatch.parse.feed import parse_feed

REALNEWS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus" / "realnews"
if not REALNEWS.is_dir():
    REALNEWS = Path("/work/shared/corpus/realnews")
NOW = datetime(2026, 2, 18, 12, tzinfo=UTC)


def main(repeats: int = 5) -> None:
    feeds = [(p.name, p.read_bytes()) for p in sorted(REALNEWS.glob("*.xml"))]
    ours: list[float] = []
    bare: list[float] = []
    per_entry: list[float] = []
    items = 0
    print(f"{'feed':34} {'KiB':>6} {'items':>5} {'ms':>7} {'ms/item':>8} {'feedparser ms':>13}")
    for name, body in feeds:
        t_ours = min(
            _time(lambda b=body, n=name: parse_feed(b, feed_url=n, source=n, now=NOW))
            for _ in range(repeats)
        )
        t_bare = min(
            _time(
                lambda b=body: feedparser.parse(
                    io.BytesIO(b), response_headers={"content-type": "application/xml"}
                )
            )
            for _ in range(repeats)
        )
        n = len(parse_feed(body, feed_url=name, source=name, now=NOW).articles)
        ours.append(t_ours)
        bare.append(t_bare)
        items += n
        if n:
            per_entry.append(t_ours / n)
        print(
            f"{name[:34]:34} {len(body) / 1024:6.0f} {n:5d} {t_ours:7.1f} {t_ours / max(n, 1):8.2f} {t_bare:13.1f}"
        )
    print(
        f"total: {sum(ours):.0f} ms for {items} articles in {len(feeds)} feeds "
        f"(feedparser alone, default options: {sum(bare):.0f} ms)"
    )
    print(
        f"median ms per item: {statistics.median(per_entry):.2f}; "
        f"a 50-item feed ~ {50 * statistics.median(per_entry):.0f} ms; "
        f"1,000 such feeds ~ {50 * statistics.median(per_entry):.0f} s of one core"
    )


def _time(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return (time.perf_counter() - start) * 1000


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
