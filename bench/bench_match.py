"""Benchmark: match 100,000 articles against the default watch list on one core.

Articles are the titles and summaries of the captured real feeds in the shared corpus,
as the feeds deliver them (summaries with HTML), repeated with small variations (shuffled
words, a few injected topic mentions, some accented and NFD text) until there are --count
of them. Two figures are printed: matching alone (text already plain), and html_to_text
plus matching, which is what `newswatch match` and a poll pay per article. A third run does
the same for the benchmark farm's articles (1 KB lorem summaries, 10% topical), the poll
benchmark's workload.

    PYTHONPATH=src python bench/bench_match.py [--count 100000] [--corpus DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
import unicodedata
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import yaml

from newswatch.text import html_to_text
from newswatch.topics import Matcher, compile_topics

if str(Path(__file__).resolve().parent.parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import farm

ROOT = Path(__file__).resolve().parent.parent
TOPICS_FILE = ROOT / "sources.yaml"  # the shipped default watch list
DEFAULT_CORPUS = Path(os.environ.get("NEWSWATCH_CORPUS", "/work/shared/corpus")) / "realnews"
INJECTIONS = (
    "Turkey's parliament",
    "Erdoğan said",
    "the S-400 system",
    "NATO allies",
    "Türkiye",
    "a roast turkey",
    "Mercedes S400",
    "senator Donato",
    "Turkey Point",
    "S\u2011400",
)


def load_articles(corpus: Path) -> list[tuple[str, str]]:
    """(title, summary) as the feeds deliver them: the summary may hold HTML."""
    articles = []
    for path in sorted(corpus.glob("*.xml")):
        feed = feedparser.parse(path.read_bytes())
        for entry in feed.entries:
            title = entry.get("title", "")
            summary = entry.get("summary", "")
            if title or summary:
                articles.append((title, summary))
    return articles


def farm_articles(count: int) -> list[tuple[str, str]]:
    spec = farm.FarmSpec()
    now = datetime.now(UTC)
    out: list[tuple[str, str]] = []
    index = 0
    while len(out) < count:
        feed = feedparser.parse(farm.feed_body(spec, index, now))
        out += [(e.get("title", ""), e.get("summary", "")) for e in feed.entries]
        index += 1
    return out[:count]


def timed(
    matcher: Matcher, articles: list[tuple[str, str]], strip: bool
) -> tuple[float, dict[str, int]]:
    matched = {name: 0 for name in matcher.topic_names}
    start = time.process_time()
    if strip:
        for title, summary in articles:
            for found in matcher.match(html_to_text(title), html_to_text(summary)):
                matched[found.topic] += 1
    else:
        for title, summary in articles:
            for found in matcher.match(title, summary):
                matched[found.topic] += 1
    return time.process_time() - start, matched


def report(label: str, count: int, elapsed: float) -> None:
    print(
        f"{label}: {elapsed:.2f} s CPU, {count / elapsed:,.0f} articles/s "
        f"({elapsed / count * 1e6:.1f} µs/article)"
    )


def vary(base: list[tuple[str, str]], count: int, seed: int = 7) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        title, summary = base[i % len(base)]
        if i >= len(base):
            words = summary.split()
            rng.shuffle(words)
            summary = " ".join(words)
        roll = rng.random()
        if roll < 0.05:
            title = f"{title} {rng.choice(INJECTIONS)}"
        elif roll < 0.07:
            summary = unicodedata.normalize("NFD", f"Ankara ve İstanbul: {summary}")
        out.append((title, summary))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--farm-count", type=int, default=50_000)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    args = parser.parse_args()
    base = load_articles(args.corpus)
    raw = vary(base, args.count)
    plain = [(html_to_text(t), html_to_text(s)) for t, s in raw]
    chars = sum(len(t) + len(s) for t, s in plain)
    matcher = compile_topics(yaml.safe_load(TOPICS_FILE.read_text(encoding="utf-8"))["topics"])
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(
        f"{len(base)} distinct corpus articles, varied to {len(plain)} "
        f"(avg {chars / len(plain):.0f} chars of plain text each)"
    )
    elapsed, matched = timed(matcher, plain, strip=False)
    print(f"matched per topic: {matched}")
    report("corpus, matching alone", len(plain), elapsed)
    elapsed, _ = timed(matcher, raw, strip=True)
    report("corpus, html_to_text + matching", len(raw), elapsed)
    farmed = farm_articles(args.farm_count)
    elapsed, matched = timed(matcher, farmed, strip=True)
    print(f"farm: {len(farmed)} articles, matched per topic: {matched}")
    report("farm, html_to_text + matching", len(farmed), elapsed)


if __name__ == "__main__":
    main()
