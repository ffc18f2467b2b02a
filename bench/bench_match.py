"""Benchmark: match 100,000 articles against the default watch list on one core.

Articles are the titles and summaries of the captured real feeds in the shared corpus
(HTML removed), repeated with small variations (shuffled words, a few injected topic
mentions, some accented and NFD text) until there are --count of them.

    PYTHONPATH=src python bench/bench_match.py [--count 100000] [--corpus DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import time
import unicodedata
from pathlib import Path

import feedparser
import yaml

from newswatch.text import html_to_text
from newswatch.topics import compile_topics

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
    articles = []
    for path in sorted(corpus.glob("*.xml")):
        feed = feedparser.parse(path.read_bytes())
        for entry in feed.entries:
            title = html_to_text(entry.get("title", ""))
            summary = html_to_text(entry.get("summary", ""))
            if title or summary:
                articles.append((title, summary))
    return articles


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
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    args = parser.parse_args()
    base = load_articles(args.corpus)
    articles = vary(base, args.count)
    chars = sum(len(t) + len(s) for t, s in articles)
    matcher = compile_topics(yaml.safe_load(TOPICS_FILE.read_text(encoding="utf-8"))["topics"])
    start = time.perf_counter()
    matched = {name: 0 for name in matcher.topic_names}
    for title, summary in articles:
        for found in matcher.match(title, summary):
            matched[found.topic] += 1
    elapsed = time.perf_counter() - start
    print(
        f"{len(base)} distinct corpus articles, varied to {len(articles)} "
        f"(avg {chars / len(articles):.0f} chars each)"
    )
    print(f"matched per topic: {matched}")
    print(
        f"total {elapsed:.2f} s, {len(articles) / elapsed:,.0f} articles/s "
        f"({elapsed / len(articles) * 1e6:.1f} µs/article)"
    )


if __name__ == "__main__":
    main()
