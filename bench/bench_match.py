"""Benchmark: match 100,000 articles against the default watch list on one core.

Articles are the titles and summaries of the captured real feeds in the shared corpus,
as the feeds deliver them (summaries with HTML), repeated with small variations (shuffled
words, a few injected topic mentions, some accented and NFD text) until there are --count
of them. Two figures are printed: matching alone (text already plain), and html_to_text
plus matching, which is what `newswatch match` and a poll pay per article. A third run does
the same for the benchmark farm's articles (1 KB lorem summaries, 10% topical), the poll
benchmark's workload.

Two more runs match 100,000 articles in the ten languages of the default watch list, each
passed with its language: a tenth each in English (the corpus articles above) and in tr, ru,
el, ar, fr, de, es, it, pl (Cyrillic, Greek and Arabic script among them). The non-English
articles are made of everyday news sentences (bench/data/neutral_sentences.yaml) and, one in
ten, of a headline and summaries from the multilingual evaluation set
(tests/data/topics_multilingual.yaml: topics and their look-alikes), words shuffled. The
second run is the pessimistic one: every non-English article from the evaluation set, so
most of them name a topic or a look-alike and pass the gate.

A last run adds a topic of --names made-up two-word names (a watch list of people, say)
to the default list, prints how long compiling it takes, and matches the corpus articles
against it: the gate looks for all the pieces in one pass, so a long list costs little.

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

from newswatch.match.topics import Matcher, compile_topics
from newswatch.parse.text import html_to_text

if str(Path(__file__).resolve().parent.parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import farm

ROOT = Path(__file__).resolve().parent.parent
TOPICS_FILE = ROOT / "sources.yaml"  # the shipped default watch list
MULTILINGUAL_SET = ROOT / "tests" / "data" / "topics_multilingual.yaml"
NEUTRAL_SENTENCES = Path(__file__).resolve().parent / "data" / "neutral_sentences.yaml"
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


def multilingual_articles(
    count: int, topical: float, seed: int = 11
) -> list[tuple[str, str, str | None]]:
    """(title, summary, language) in the nine languages other than English: a `topical`
    share from the evaluation set, the rest everyday sentences; words shuffled."""
    cases = yaml.safe_load(MULTILINGUAL_SET.read_text(encoding="utf-8"))["cases"]
    neutral = yaml.safe_load(NEUTRAL_SENTENCES.read_text(encoding="utf-8"))
    by_lang: dict[str, list[tuple[str, str]]] = {}
    for case in cases:
        if case["lang"] != "en":
            by_lang.setdefault(case["lang"], []).append((case["title"], case["summary"]))
    langs = sorted(by_lang)
    rng = random.Random(seed)
    out: list[tuple[str, str, str | None]] = []
    for i in range(count):
        lang = langs[i % len(langs)]
        if rng.random() < topical:
            pool = by_lang[lang]
            title = rng.choice(pool)[0]
            summary = " ".join(rng.choice(pool)[1] for _ in range(3))
        else:
            title = rng.choice(neutral[lang])
            summary = " ".join(rng.sample(neutral[lang], 3))
        words = title.split()
        rng.shuffle(words)
        title = " ".join(words)
        words = summary.split()
        rng.shuffle(words)
        summary = " ".join(words)
        out.append((title, summary, lang))
    return out


def timed_languages(
    matcher: Matcher, articles: list[tuple[str, str, str | None]]
) -> tuple[float, dict[str, int]]:
    matched = {name: 0 for name in matcher.topic_names}
    start = time.process_time()
    for title, summary, language in articles:
        for found in matcher.match(title, summary, language=language):
            matched[found.topic] += 1
    return time.process_time() - start, matched


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
    parser.add_argument("--names", type=int, default=1000)
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
    tenth = args.count // 10
    foreign = multilingual_articles(args.count - tenth, topical=0.1)
    mixed: list[tuple[str, str, str | None]] = [(t, s, "en") for t, s in plain[:tenth]] + foreign
    random.Random(3).shuffle(mixed)
    elapsed, matched = timed_languages(matcher, mixed)
    print(f"ten languages: {len(mixed)} articles, matched per topic: {matched}")
    report("ten languages, matching alone", len(mixed), elapsed)
    worst = [(t, s, "en") for t, s in plain[:tenth]] + multilingual_articles(
        args.count - tenth, topical=1.0
    )
    elapsed, matched = timed_languages(matcher, worst)
    print(f"ten languages, all topical: {len(worst)} articles, matched per topic: {matched}")
    report("ten languages, all topical, matching alone", len(worst), elapsed)
    topics = yaml.safe_load(TOPICS_FILE.read_text(encoding="utf-8"))["topics"]
    people = {"name": "People", "rules": [{"any": made_up_names(args.names)}]}
    started = time.process_time()
    big = compile_topics([*topics, people])
    print(f"compiling the default list + {args.names} names: {time.process_time() - started:.2f} s")
    elapsed, matched = timed(big, plain, strip=False)
    print(f"matched per topic: {matched}")
    report(f"corpus, default list + {args.names} names, matching alone", len(plain), elapsed)


def made_up_names(count: int, seed: int = 1) -> list[str]:
    """`count` made-up "Forename Surname" pairs of lowercase letters, the same every run."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"

    def word() -> str:
        return "".join(rng.choice(letters) for _ in range(rng.randint(4, 9))).title()

    return [f"{word()} {word()}" for _ in range(count)]


if __name__ == "__main__":
    main()
