"""CPU cost of parsing, normalising and matching feeds whose items carry full content.

Generates farm feeds (bench/farm.py) with `--content` bytes of content:encoded per item and
times, on one core (process CPU time), `parse_feed` (parse + normalise, the content kept as
text and sanitised HTML) and matching against the shipped watch list (title + summary +
content where the code matches content). Runs on older code too, for before/after figures:

    PYTHONPATH=src python bench/bench_content.py [--feeds 200] [--items 50] [--content 3000]
"""

from __future__ import annotations

import argparse
import inspect
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from farm import FarmSpec, feed_body
from newswatch.match.topics import compile_topics
from newswatch.parse.feed import parse_feed

NOW = datetime(2026, 2, 18, 12, tzinfo=UTC)
SOURCES = Path(__file__).resolve().parent.parent / "sources.yaml"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--content", type=int, default=3000, help="bytes of content per item")
    args = parser.parse_args(argv)
    spec = FarmSpec(feeds=args.feeds, items=args.items, content=args.content)
    bodies = [feed_body(spec, i, NOW) for i in range(args.feeds)]
    matcher = compile_topics(yaml.safe_load(SOURCES.read_text(encoding="utf-8"))["topics"])
    with_content = "content" in inspect.signature(matcher.match).parameters
    t0 = time.process_time()
    parsed = [
        parse_feed(b, feed_url=f"http://127.1.0.{i % 250 + 1}/f{i}", source="s", now=NOW,
                   content_type="application/rss+xml")
        for i, b in enumerate(bodies)
    ]  # fmt: skip
    t1 = time.process_time()
    matched = 0
    for feed in parsed:
        for a in feed.articles:
            if with_content:
                found = matcher.match(a.title, a.summary, getattr(a, "content", ""))  # type: ignore[call-arg]
            else:
                found = matcher.match(a.title, a.summary)
            matched += bool(found)
    t2 = time.process_time()
    articles = sum(len(f.articles) for f in parsed)
    mb = sum(len(b) for b in bodies) / 1e6
    print(
        f"{args.feeds} feeds x {args.items} items, {args.content} B content/item, {mb:.1f} MB; "
        f"matching {'title + summary + content' if with_content else 'title + summary'}"
    )
    print(
        f"parse+normalise: {t1 - t0:6.2f} s cpu ({1000 * (t1 - t0) / args.feeds:.2f} ms/feed); "
        f"match: {t2 - t1:6.2f} s cpu ({1000 * (t2 - t1) / args.feeds:.2f} ms/feed, "
        f"{1e6 * (t2 - t1) / max(1, articles):.0f} us/article); {matched} of {articles} matched"
    )
    print(f"per 1,000 feeds: {1000 * (t2 - t0) / args.feeds:.1f} s cpu")
    return 0


if __name__ == "__main__":
    sys.exit(main())
