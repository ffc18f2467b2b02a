"""Re-apply the current topic rules to stored articles (editing a topic never needs a re-poll)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from newswatch.match.topics import Matcher
from newswatch.models import Article, TopicMatch
from newswatch.store import warehouse

if TYPE_CHECKING:
    import duckdb


@dataclass(frozen=True)
class TopicChange:
    article_id: str
    title: str
    topic: str
    # "added" | "removed" | "updated" (still matches, other rule or hits) | "rescored" (the
    # same rule and hits, another relevance: a `related` edit, or a score never stored)
    change: str
    match: TopicMatch | None = None  # the new match (None when removed)
    before: TopicMatch | None = None  # the stored match (None when added)

    @property
    def other_words(self) -> bool:
        """An update whose hits differ (not only its rule's text)."""
        return (
            self.change == "updated"
            and self.match is not None
            and self.before is not None
            and set(self.match.hits) != set(self.before.hits)
        )


@dataclass(frozen=True)
class RematchResult:
    checked: int
    changes: tuple[TopicChange, ...]
    applied: bool
    # Stored matches of topics the watch list does not have, per topic: kept as they are
    # (unless the rematch was asked to drop them).
    unlisted: Mapping[str, int] = field(default_factory=dict)

    def count(self, change: str) -> int:
        return sum(1 for c in self.changes if c.change == change)


def _same(a: TopicMatch, b: TopicMatch) -> bool:
    return a.rule == b.rule and set(a.hits) == set(b.hits)


# Relevance is compared to this many decimals (the digest shows two).
RELEVANCE_DIGITS = 3


def _same_score(a: TopicMatch, b: TopicMatch) -> bool:
    if a.relevance is None or b.relevance is None:
        return a.relevance is b.relevance
    return round(a.relevance, RELEVANCE_DIGITS) == round(b.relevance, RELEVANCE_DIGITS)


def diff_matches(
    articles: Sequence[Article],
    old: Mapping[str, Sequence[TopicMatch]],
    new: Mapping[str, Sequence[TopicMatch]],
    only_topic: str | None = None,
    listed: Collection[str] | None = None,
) -> list[TopicChange]:
    """What the new matches add, remove and re-explain compared with the stored ones (pure).

    `listed`: the watch list's topics; stored matches of other topics are left alone (not
    removed). None: every stored topic is compared."""
    out = []
    for a in articles:
        before = {
            m.topic: m
            for m in old.get(a.id, ())
            if only_topic in (None, m.topic) and (listed is None or m.topic in listed)
        }
        after = {m.topic: m for m in new.get(a.id, ()) if only_topic in (None, m.topic)}
        for topic in sorted(before.keys() | after.keys()):
            was, now = before.get(topic), after.get(topic)
            if was is None:
                out.append(TopicChange(a.id, a.title, topic, "added", now))
            elif now is None:
                out.append(TopicChange(a.id, a.title, topic, "removed", None, was))
            elif not _same(was, now):
                out.append(TopicChange(a.id, a.title, topic, "updated", now, was))
            elif not _same_score(was, now):
                out.append(TopicChange(a.id, a.title, topic, "rescored", now, was))
    return out


def store_changes(
    con: duckdb.DuckDBPyConnection, changes: Sequence[TopicChange], now: datetime
) -> None:
    """Write what `diff_matches` found, in one transaction: added and re-explained matches
    whole, removed ones dropped, re-scored ones by their score alone (`matched_at` stays)."""
    warehouse.apply_match_changes(
        con,
        [
            (c.article_id, c.match)
            for c in changes
            if c.match is not None and c.change != "rescored"
        ],
        [(c.article_id, c.topic) for c in changes if c.change == "removed"],
        now,
        [
            (c.article_id, c.topic, c.match.relevance)
            for c in changes
            if c.change == "rescored" and c.match is not None
        ],
    )


def rematch(
    db_path: Path,
    matcher: Matcher,
    *,
    now: datetime,
    since: datetime | None = None,
    topic: str | None = None,
    dry_run: bool = False,
    drop_unlisted: bool = False,
) -> RematchResult:
    """Match stored articles published on or after `since` again and store what changed:
    new matches, dropped ones, matches whose rule or hits differ, and matches whose relevance
    differs (a `related` edit; a score never stored). Unchanged matches are not rewritten
    (their `matched_at` stays).

    Stored matches of a topic the watch list does not have (polled with another sources
    file, or a topic since deleted) are kept and counted in `unlisted`; `drop_unlisted`
    removes them."""
    if topic is not None:
        topic = matcher.topic_named(topic)  # UnknownTopic (a ValueError) lists the known ones
    with warehouse.connect(db_path, read_only=dry_run) as con:
        articles = warehouse.articles_published_since(con, since)
        old = warehouse.stored_matches(con, [a.id for a in articles])
        new = {
            a.id: matcher.match(a.title, a.summary, a.content, language=a.language)
            for a in articles
        }
        listed = None if drop_unlisted else frozenset(matcher.topic_names)
        changes = diff_matches(articles, old, new, topic, listed)
        unlisted = Counter(
            m.topic
            for matches in old.values()
            for m in matches
            if listed is not None and m.topic not in listed and topic in (None, m.topic)
        )
        if not dry_run:
            store_changes(con, changes, now)
    if any(c.change != "rescored" for c in changes) and not dry_run:
        # Stories group matched articles: a newly matched article joins its story now, not
        # at the next poll that stores something (`latest_stories` agrees with the digest).
        from newswatch.orchestrate.poll import recluster

        recluster(db_path, clock=lambda: now)
    return RematchResult(len(articles), tuple(changes), not dry_run, dict(sorted(unlisted.items())))
