"""Re-apply the current topic rules to stored articles (editing a topic never needs a re-poll)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from newswatch import warehouse
from newswatch.models import Article, TopicMatch
from newswatch.topics import Matcher


@dataclass(frozen=True)
class TopicChange:
    article_id: str
    title: str
    topic: str
    change: str  # "added" | "removed"


@dataclass(frozen=True)
class RematchResult:
    checked: int
    changes: tuple[TopicChange, ...]
    applied: bool

    def count(self, change: str) -> int:
        return sum(1 for c in self.changes if c.change == change)


def diff_topics(
    articles: Sequence[Article],
    old: dict[str, set[str]],
    new: dict[str, list[TopicMatch]],
    only_topic: str | None = None,
) -> list[TopicChange]:
    """What the new matches add and remove compared with the stored ones (pure)."""
    out = []
    for a in articles:
        before = old.get(a.id, set())
        after = {m.topic for m in new.get(a.id, [])}
        if only_topic is not None:
            before &= {only_topic}
            after &= {only_topic}
        out += [TopicChange(a.id, a.title, t, "added") for t in sorted(after - before)]
        out += [TopicChange(a.id, a.title, t, "removed") for t in sorted(before - after)]
    return out


def rematch(
    db_path: Path,
    matcher: Matcher,
    *,
    now: datetime,
    since: datetime | None = None,
    topic: str | None = None,
    dry_run: bool = False,
) -> RematchResult:
    if topic is not None and topic not in matcher.topic_names:
        known = ", ".join(matcher.topic_names)
        raise ValueError(f"unknown topic {topic!r}; the sources file defines: {known}")
    with warehouse.connect(db_path, read_only=dry_run) as con:
        articles = warehouse.articles_since(con, since)
        old = warehouse.topics_of(con, [a.id for a in articles])
        new = {a.id: matcher.match(a.title, a.summary) for a in articles}
        changes = diff_topics(articles, old, new, topic)
        if not dry_run:
            # Rewriting every article's explanations keeps spans in step with the current rules.
            warehouse.replace_matches(con, new, now, topics=[topic] if topic else None)
    return RematchResult(len(articles), tuple(changes), not dry_run)
