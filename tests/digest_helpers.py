"""Digest-shaped data from the captured real-news corpus, for clustering benchmarks.

Parses feeds with feedparser directly and matches topics with a plain regex, bypassing the
pipeline: not what a user would get. The README screenshot and the Chromium tests use a
real `newswatch run` instead (bench/make_screenshot.py).
"""

from __future__ import annotations

import calendar
import hashlib
import re
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import feedparser

from newswatch.config import DigestSettings
from newswatch.digest.build import build_digest
from newswatch.digest.cluster import assign_clusters
from newswatch.digest.model import Digest, DigestItem
from newswatch.models import Article, FeedHealth, Field, TermHit, TopicMatch
from newswatch.parse.text import html_to_text

try:
    from tests.conftest import CORPUS as _CONFTEST_CORPUS
except ImportError:  # run as a script outside the test package
    _CONFTEST_CORPUS = Path("/nonexistent")

CORPUS = _CONFTEST_CORPUS if _CONFTEST_CORPUS.exists() else Path("/work/shared/corpus")
REALNEWS = CORPUS / "realnews"

TOPIC_PATTERNS = {
    "Turkey": re.compile(r"\b(?:Turkey|Türkiye|Turkiye|Turkish|Erdogan|Erdoğan|Ankara)\b", re.I),
    "NATO": re.compile(r"\bNATO\b"),
    "S-400": re.compile(r"\bS-?400s?\b", re.I),
}

SEED_ARTICLE = CORPUS.parent / "seed_article.txt"


def real_feed_files() -> list[str]:
    """Every captured feed (the broken one yields nothing, which is fine)."""
    return sorted(p.name for p in REALNEWS.glob("*.xml"))


def match(title: str, summary: str) -> tuple[TopicMatch, ...]:
    out = []
    for topic, pattern in TOPIC_PATTERNS.items():
        fields: tuple[tuple[Field, str], ...] = (("title", title), ("summary", summary))
        hits = tuple(
            TermHit(field=field, start=m.start(), end=m.end(), term=topic, text=m.group(0))
            for field, text in fields
            for m in pattern.finditer(text)
        )
        if hits:
            out.append(TopicMatch(topic=topic, rule="regex", hits=hits))
    return tuple(out)


def entry_time(entry: feedparser.FeedParserDict) -> datetime | None:
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    return datetime.fromtimestamp(calendar.timegm(parsed), UTC) if parsed else None


def real_articles(files: Sequence[str] | None = None) -> list[Article]:
    files = real_feed_files() if files is None else files
    articles: dict[str, Article] = {}
    for name in files:
        parsed = feedparser.parse((REALNEWS / name).read_bytes())
        source = str(parsed.feed.get("title", name)).split(" - ")[0].split(":")[0].strip()
        source = source.removesuffix(" News").strip() or name
        for i, entry in enumerate(parsed.entries):
            when = entry_time(entry)
            if when is None:
                continue
            link = str(entry.get("link", ""))
            key = str(entry.get("id") or link or f"{name}#{i}")
            aid = hashlib.sha256(f"{name}|{key}".encode()).hexdigest()[:16]
            html = str(entry.get("summary", ""))
            articles.setdefault(
                aid,
                Article(
                    id=aid,
                    feed_url=f"https://feeds.example/{name}",
                    source=source,
                    url=link,
                    title=html_to_text(str(entry.get("title", ""))),
                    summary=html_to_text(html),
                    published_at=when,
                    summary_html=html,
                ),
            )
    return list(articles.values())


def seed_copies(when: datetime) -> list[Article]:
    """The project's seed story (Bloomberg) and a syndicated copy with a tracking URL."""
    if SEED_ARTICLE.exists():
        body = SEED_ARTICLE.read_text(encoding="utf-8")
    else:
        body = "(Bloomberg) -- Turkey’s purchase of an advanced Russian missile system ..."
    summary = " ".join(body.split())[:900]
    title = "Turkey’s S-400 Purchase to Top Agenda When Erdogan Meets Trump"
    return [
        Article(
            id="seed-bloomberg",
            feed_url="https://feeds.bloomberg.example/politics.rss",
            source="Bloomberg",
            url="https://www.bloomberg.com/news/articles/turkey-s-400-purchase-erdogan-trump",
            title=title,
            summary=summary,
            published_at=when,
        ),
        Article(
            id="seed-portal",
            feed_url="https://finance.portal.example/rss",
            source="Yahoo Finance",
            url="https://finance.yahoo.com/news/turkey-s-400-erdogan-trump.html?utm_source=rss",
            title=title.replace("’", "'") + " - Bloomberg",
            summary=summary[:400],
            published_at=when + timedelta(minutes=40),
        ),
    ]


def real_digest(max_per_topic: int = 6, days: int = 7) -> Digest:
    """A digest of the corpus' Turkey/NATO/S-400 stories over its last `days` days, plus
    the seed story told by two outlets."""
    articles = real_articles()
    latest = max(a.published_at for a in articles if a.published_at.year < 2030)
    end = latest + timedelta(minutes=5)
    start = end - timedelta(days=days)
    articles += seed_copies(end - timedelta(hours=5))
    matched = [(a, match(a.title, a.summary)) for a in articles]
    matched = [(a, m) for a, m in matched if m]
    in_window = [(a, m) for a, m in matched if start <= a.published_at < end]
    clusters = assign_clusters([a for a, _ in in_window])
    items = [DigestItem(article=a, matches=m, cluster_id=clusters[a.id]) for a, m in in_window]
    volume: dict[str, list[tuple[date, int]]] = {}
    for topic in TOPIC_PATTERNS:
        per_day = Counter(
            a.published_at.date() for a, ms in matched if any(m.topic == topic for m in ms)
        )
        volume[topic] = sorted(per_day.items())
    health = [
        FeedHealth(url=f"https://feeds.example/{n}", name=n.split(".")[0], status="ok")
        for n in real_feed_files()
        if not n.startswith("MALFORMED")
    ] + [
        FeedHealth(
            url="https://dylanharris.org/ssc.rss",
            name="dylanharris (blog)",
            status="failing",
            last_error="not a feed: XML syntax error at line 1",
            consecutive_failures=5,
            last_success_at=end - timedelta(days=3),
        ),
        FeedHealth(
            url="https://www.economist.com/asia/rss.xml",
            name="Economist Asia",
            status="quiet",
            last_success_at=end - timedelta(days=4),
            items_per_day=6.0,
        ),
    ]
    return build_digest(
        items,
        topics=list(TOPIC_PATTERNS),
        window_start=start,
        window_end=end,
        generated_at=end + timedelta(minutes=1),
        timezone="Europe/Istanbul",
        feed_health=health,
        volume=volume,
        settings=DigestSettings(max_stories_per_topic=max_per_topic),
    )
