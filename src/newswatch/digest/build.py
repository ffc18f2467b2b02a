"""The daily digest built from matched articles: a pure `Digest` value (see `model`).

`build_digest` turns matched, clustered articles into a `Digest` (one story per cluster, in
its strongest topic, ranked). The pieces it uses live beside it: `model` (the value),
`sanitize` (safe links and feed HTML), `highlight` (matched terms and snippets), `charts`
(volume bars), `feed_notes` (the health footer), `headline` (subject and preheader) and
`timefmt` (times in the digest's zone); `render` turns the value into HTML and text.
Pure: no I/O.

Placement rule: a story is listed in full once, under the topic it is most about: the
topic with the highest relevance score when the matches carry one (issue 16's
`article_topics.relevance`); otherwise the topic whose terms hit its title most, then the one
more of its reports match, then the one with more hits, then the earlier topic in the
sources file. Under every other topic it carries, the story gets a cross-reference line
("see 'Turkey seeks to keep …' under Turkey"), so a watched topic with any story is never
hidden: each such topic has a section, even when all its stories are listed elsewhere.

Counting rule (header, sections, subject, preheader, plain text and the flow's artifact
alike): a topic's count is the stories that carry it, wherever they are listed; the total is
the distinct stories, each counted once (a story about two topics counts under both).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, tzinfo

from newswatch.config import DigestSettings
from newswatch.digest import charts
from newswatch.digest.cluster import is_flash
from newswatch.digest.feed_notes import feed_notes
from newswatch.digest.headline import preheader
from newswatch.digest.highlight import all_hits, highlight, story_snippet, valid_spans
from newswatch.digest.model import (
    CrossRef,
    Digest,
    DigestItem,
    OtherReport,
    Section,
    Story,
    TopicSummary,
    relevance_band,
)
from newswatch.digest.sanitize import safe_link
from newswatch.digest.timefmt import day_label, offset_label, time_label, zone_or_local
from newswatch.models import Article, FeedHealth, TopicMatch

# Ranking weights (see `_score`): a title match counts most, then each extra outlet (up to
# MAX_OUTLET_BONUS), then freshness within the digest window.
W_TITLE = 3.0
W_OUTLET = 1.0
MAX_OUTLET_BONUS = 5
W_RECENCY = 2.0


def _published_label(article: Article, zone: tzinfo, end: datetime) -> str:
    """When the story was published; for an article whose feed gave no usable date (none, or
    one in the future or before 1990), when newswatch first saw it, saying so."""
    label = time_label(article.published_at.astimezone(zone), end.astimezone(zone).year)
    if article.published_at_known:
        return label
    return f"first seen {label} (no usable date from the feed)"


@dataclass
class _Cluster:
    cluster_id: str
    items: list[DigestItem]


def _strength(items: Sequence[DigestItem], topic: str) -> tuple[int, int, int]:
    """How strongly a story matches `topic`: title hits, articles matching, all hits."""
    title_hits = articles = hits = 0
    for item in items:
        ms = [m for m in item.matches if m.topic == topic]
        if ms:
            articles += 1
        for m in ms:
            hits += len(m.hits)
            title_hits += sum(1 for h in m.hits if h.field == "title")
    return (title_hits, articles, hits)


def _relevance(items: Sequence[DigestItem]) -> dict[str, float]:
    """Per topic, the highest relevance score of the story's matches (newswatch.match.relevance);
    topics whose matches were stored unscored are left out (the placement rule then falls
    back on `_strength`)."""
    out: dict[str, float] = {}
    for item in items:
        for m in item.matches:
            if m.relevance is not None:
                out[m.topic] = max(out.get(m.topic, 0.0), m.relevance)
    return out


def _lead(items: Sequence[DigestItem], topic: str) -> DigestItem:
    """The report to show: not an outlet's one-line flash when a report is there; then the
    most title hits of `topic` (the story's section: a Greek headline naming the Turks does
    not lead a NATO story over one naming NATO), the most relevant to it, the most hits, the
    earliest."""

    def key(item: DigestItem) -> tuple[bool, int, float, int, datetime, str]:
        own = [m for m in item.matches if m.topic == topic]
        hits = all_hits(own or item.matches)
        title = sum(1 for h in hits if h.field == "title")
        relevance = max((m.relevance or 0.0 for m in own), default=0.0)
        return (
            is_flash(item.article.title),
            -title,
            -relevance,
            -len(hits),
            item.article.published_at,
            item.article.id,
        )

    return min(items, key=key)


def _score(
    items: Sequence[DigestItem], topic: str, outlets: int, start: datetime, end: datetime
) -> float:
    title_hit = _strength(items, topic)[0] > 0
    newest = max(i.article.published_at for i in items)
    span = (end - start).total_seconds()
    fresh = (newest - start).total_seconds() / span if span > 0 else 1.0
    return (
        W_TITLE * title_hit
        + W_OUTLET * min(outlets - 1, MAX_OUTLET_BONUS)
        + W_RECENCY * min(max(fresh, 0.0), 1.0)
    )


def _story(
    cluster: _Cluster,
    topics: Sequence[str],
    settings: DigestSettings,
    zone: tzinfo,
    start: datetime,
    end: datetime,
) -> Story | None:
    order = {t: i for i, t in enumerate(topics)}
    matched = {m.topic for item in cluster.items for m in item.matches if m.topic in order}
    if not matched:
        return None
    relevance = _relevance(cluster.items)
    ranked = sorted(
        matched,
        key=lambda t: (
            -relevance.get(t, 0.0),
            tuple(-x for x in _strength(cluster.items, t)),
            order[t],
        ),
    )
    lead = _lead(cluster.items, ranked[0])
    art = lead.article
    hits = [*all_hits(lead.matches), *lead.highlights]
    others: dict[str, OtherReport] = {}
    # Each other outlet once, by its first report; its flash only when it sent nothing else.
    for item in sorted(
        cluster.items,
        key=lambda i: (is_flash(i.article.title), i.article.published_at, i.article.id),
    ):
        a = item.article
        if item is lead or a.source == art.source or a.source in others:
            continue
        others[a.source] = OtherReport(
            source=a.source, title=a.title, url=safe_link(a.url), language=a.language
        )
    terms = sorted(
        {h.term for item in cluster.items for m in item.matches if m.topic in order for h in m.hits}
    )
    outlets = len({i.article.source for i in cluster.items})
    return Story(
        cluster_id=cluster.cluster_id,
        article=art,
        url=safe_link(art.url),
        title=highlight(art.title, valid_spans(art.title, hits, "title")),
        snippet=story_snippet(
            art, lead.matches, ranked[0], settings.snippet_chars, lead.highlights
        ),
        topic=ranked[0],
        topics=tuple(ranked),
        terms=tuple(terms),
        also=tuple(others.values()),
        outlets=outlets,
        published_label=_published_label(art, zone, end),
        score=_score(cluster.items, ranked[0], outlets, start, end),
        relevance=_topic_relevance(cluster.items, ranked[0]),
    )


def _topic_relevance(items: Sequence[DigestItem], topic: str) -> float:
    """The story's relevance to `topic`: the best of its reports' (unscored matches,
    stored before relevance existed, count as fully relevant)."""
    scores = [
        1.0 if m.relevance is None else m.relevance
        for item in items
        for m in item.matches
        if m.topic == topic
    ]
    return max(scores, default=1.0)


def drop_below_min_relevance(
    items: Sequence[DigestItem], min_relevance: Mapping[str, float]
) -> list[DigestItem]:
    """`items` without their matches to a topic scored below that topic's `min_relevance`
    (unscored matches are kept); an item left with no match is dropped. The warehouse keeps
    every match: this only decides what the digest shows."""
    if not min_relevance:
        return list(items)
    out = []
    for item in items:
        kept = tuple(m for m in item.matches if not _below_min(m, min_relevance))
        if kept:
            out.append(item if len(kept) == len(item.matches) else replace(item, matches=kept))
    return out


def below_min_relevance(
    items: Sequence[DigestItem], min_relevance: Mapping[str, float]
) -> dict[str, int]:
    """Per topic with a `min_relevance`, how many of `items` match it below that score (what
    drop_below_min_relevance leaves out of the digest, so the digest can say so)."""
    out: dict[str, int] = {}
    for item in items:
        for m in item.matches:
            if _below_min(m, min_relevance):
                out[m.topic] = out.get(m.topic, 0) + 1
    return out


def _below_min(match: TopicMatch, min_relevance: Mapping[str, float]) -> bool:
    """A scored match below its topic's `min_relevance` (unscored ones never are)."""
    floor = min_relevance.get(match.topic)
    return floor is not None and match.relevance is not None and match.relevance < floor


def build_digest(
    items: Sequence[DigestItem],
    *,
    topics: Sequence[str],
    window_start: datetime,
    window_end: datetime,
    generated_at: datetime,
    timezone: str,
    feed_health: Sequence[FeedHealth],
    volume: Mapping[str, Sequence[tuple[date, int]]],
    settings: DigestSettings,
    too_old: int = 0,
    below_min: Mapping[str, int] | None = None,
    day: date | None = None,
) -> Digest:
    """Group matched articles into one story per cluster, each in its strongest topic.

    `day`: the day the digest is for (its title, subject and the volume charts' last day);
    by default the day the window ends on. A past day's window ends at the next midnight, so
    its caller passes the day.

    Matches to topics not in `topics` are ignored; an item without any matching topic is
    left out. Sections keep the order of `topics`; stories in a section are ranked by
    relevance to the topic (in steps of 0.1), then title match, number of outlets and
    recency; those below `settings.also_mentioned_below` go to the section's compact
    "Also mentioned" list.
    """
    zone = zone_or_local(timezone)
    clusters: dict[str, _Cluster] = {}
    seen_ids: set[str] = set()
    for item in items:
        if item.article.id in seen_ids:
            continue
        seen_ids.add(item.article.id)
        clusters.setdefault(item.cluster_id, _Cluster(item.cluster_id, [])).items.append(item)

    by_topic: dict[str, list[Story]] = defaultdict(list)
    article_count = 0
    for cluster in clusters.values():
        story = _story(cluster, topics, settings, zone, window_start, window_end)
        if story is not None:
            by_topic[story.topic].append(story)
            article_count += len(cluster.items)

    elsewhere: dict[str, tuple[tuple[str, int], ...]] = {}
    for topic in topics:
        under = [
            (other, sum(1 for st in by_topic.get(other, []) if topic in st.topics))
            for other in topics
            if other != topic
        ]
        elsewhere[topic] = tuple((other, n) for other, n in under if n)

    def rank(stories: Sequence[Story]) -> list[Story]:
        return sorted(
            stories,
            key=lambda s: (
                -relevance_band(s.relevance),
                -s.score,
                -s.article.published_at.timestamp(),
                s.cluster_id,
            ),
        )

    sections = []
    limit = settings.max_stories_per_topic
    for topic in topics:
        stories = rank(by_topic.get(topic, []))
        listed_elsewhere = rank(
            [st for other in topics if other != topic for st in by_topic.get(other, [])
             if topic in st.topics]
        )  # fmt: skip
        if stories or listed_elsewhere:
            see_also = tuple(
                CrossRef(
                    title=st.title_text,
                    url=st.url,
                    source=st.article.source,
                    listed_under=st.topic,
                )
                for st in listed_elsewhere[:limit]
            )
            full = [st for st in stories if st.relevance >= settings.also_mentioned_below]
            mentioned = [st for st in stories if st.relevance < settings.also_mentioned_below]
            # Stories about the topic beyond the limit come first in the compact lines (one
            # line each), all of them, before the passing mentions: a story about the topic
            # is never hidden (only passing mentions beyond the limit are counted).
            more_full = full[limit:]
            sections.append(
                Section(
                    topic,
                    tuple(full[:limit]),
                    len(stories),
                    elsewhere[topic],
                    see_also,
                    tuple(mentioned[: max(0, limit - len(more_full))]),
                    tuple(more_full),
                )
            )

    local_end = window_end.astimezone(zone)
    local_start = window_start.astimezone(zone)
    day = day or local_end.date()
    day_counts = {t: charts.day_counts(volume.get(t, ()), day) for t in topics}
    peak = max((n for counts in day_counts.values() for n in counts.values()), default=0)
    summaries = tuple(
        TopicSummary(
            topic=t,
            listed=len(by_topic.get(t, [])),
            elsewhere=elsewhere[t],
            volume=charts.volume_bars(day_counts[t], peak),
        )
        for t in topics
    )
    notes = feed_notes(feed_health, zone, local_end.year, generated_at)
    # The one time-zone convention: the digest's zone, stated with its offset.
    tz_label = f"{timezone or local_end.tzname() or 'local time'}, {offset_label(zone, window_end)}"
    return Digest(
        title=settings.title,
        date=day,
        date_label=day_label(day),
        timezone=tz_label,
        window_start=local_start,
        window_end=local_end,
        window_label=(
            f"New since {time_label(local_start, local_end.year)}, "
            f"up to {time_label(local_end)} ({tz_label})"
        ),
        generated_at=generated_at.astimezone(zone),
        generated_label=f"{time_label(generated_at.astimezone(zone))} ({tz_label})",
        topics=summaries,
        sections=tuple(sections),
        story_count=sum(s.total for s in sections),
        volume_peak=peak,
        article_count=article_count,
        failing=tuple(notes["failing"]),
        quiet_feeds=tuple(notes["quiet"]),
        unpolled=tuple(notes["never_polled"]),
        # A feed turned off (enabled: false) is not one of the feeds the digest speaks for.
        feeds_total=sum(1 for f in feed_health if f.status != "disabled"),
        feeds_ok=sum(1 for f in feed_health if f.status == "ok"),
        preheader=preheader(summaries, sections, len(notes["failing"])),
        too_old=too_old,
        max_age_days=settings.max_age_days,
        below_min=tuple((t, n) for t in topics if (n := (below_min or {}).get(t, 0))),
    )


# Gmail clips an HTML body past ~102 KB ("[Message clipped]"), hiding what comes last: the
# feed-health footer. The HTML is kept under this many bytes as sent (its part's encoded
# body, which is never smaller than the HTML itself).
HTML_BUDGET = 100_000


def shortened(digest: Digest, in_full: int) -> Digest:
    """`digest` with at most `in_full` stories per topic shown in full: the others move to
    the head of the section's one-line "More:" list; every story shown before still is."""
    sections = [
        replace(
            s, stories=s.stories[:in_full], more_stories=(*s.stories[in_full:], *s.more_stories)
        )
        for s in digest.sections
    ]
    return replace(digest, sections=tuple(sections), shortened_to=in_full)


def elided(digest: Digest, lines: int) -> Digest:
    """`digest` with at most `lines` one-line "More:" stories per topic; the others are
    counted (`more_elided`: the plain text lists them)."""
    sections = [
        replace(
            s,
            more_stories=s.more_stories[:lines],
            more_elided=s.more_elided + max(0, len(s.more_stories) - lines),
        )
        for s in digest.sections
    ]
    return replace(digest, sections=tuple(sections))


def fit_for_mail(
    digest: Digest,
    render: Callable[[Digest], str],
    size: Callable[[str], int],
    budget: int = HTML_BUDGET,
) -> tuple[Digest, str]:
    """The digest and its HTML, with fewer stories in full per topic until the HTML's `size`
    (as sent) is under `budget` bytes, down to one each, then fewer one-line "More:" stories
    per topic (the plain text, rendered from the whole digest, keeps them all)."""
    html = render(digest)
    in_full = max((len(s.stories) for s in digest.sections), default=0)
    fitted = digest
    while size(html) > budget and in_full > 1:
        in_full -= 1
        fitted = shortened(digest, in_full)
        html = render(fitted)
    one_each = fitted
    lines = max((len(s.more_stories) for s in one_each.sections), default=0)
    while size(html) > budget and lines > 0:
        lines //= 2
        fitted = elided(one_each, lines)
        html = render(fitted)
    return fitted, html
