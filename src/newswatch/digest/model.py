"""The digest as a value: its sections, stories, cross-references, volume bars and feed
notes. `build.build_digest` makes one; `render` shows it. Pure: no I/O."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from newswatch.models import Article, TermHit, TopicMatch

BAR_MAX_PX = 28


@dataclass(frozen=True)
class DigestItem:
    """One matched article and the cluster (story) it belongs to."""

    article: Article
    matches: tuple[TopicMatch, ...]
    cluster_id: str
    # Every term hit to highlight. The matches may carry only the hits that name each
    # topic (ranking goes by those); the context words a rule needed are highlighted too,
    # since they are why it matched.
    highlights: tuple[TermHit, ...] = ()


@dataclass(frozen=True, slots=True)
class Segment:
    """A run of text; `hit` runs are highlighted matched terms."""

    text: str
    hit: bool = False


@dataclass(frozen=True, slots=True)
class OtherReport:
    """Another outlet's report of the same story ("also reported by")."""

    source: str
    title: str
    url: str | None
    language: str | None = None  # ISO 639-1 (newswatch.match.language)


@dataclass(frozen=True, slots=True)
class Story:
    cluster_id: str
    article: Article  # the lead report shown
    url: str | None  # safe absolute http(s) link, or None
    title: tuple[Segment, ...]
    snippet: tuple[Segment, ...]
    topic: str  # the section it appears in (its strongest topic)
    topics: tuple[str, ...]  # every topic it matched, strongest first
    terms: tuple[str, ...]  # matched terms as written in the rules
    also: tuple[OtherReport, ...]
    outlets: int
    published_label: str  # local time, e.g. "24 Nov 07:15" ("5 Jan 2020 00:00" another year)
    score: float
    # How much the story is about its section's topic (the best of its reports), in [0, 1];
    # 1.0 for matches stored before relevance was scored.
    relevance: float = 1.0

    @property
    def title_text(self) -> str:
        return "".join(s.text for s in self.title)

    @property
    def snippet_text(self) -> str:
        return "".join(s.text for s in self.snippet)


@dataclass(frozen=True, slots=True)
class CrossRef:
    """A story carrying a topic but listed in full under another one."""

    title: str
    url: str | None
    source: str
    listed_under: str


@dataclass(frozen=True, slots=True)
class Section:
    topic: str
    stories: tuple[Story, ...]  # at most settings.max_stories_per_topic, most relevant first
    total: int  # stories listed under this topic (their placement topic), mentioned ones too
    # Stories tagged with this topic too but listed under another: ((topic, count), ...).
    elsewhere: tuple[tuple[str, int], ...] = ()
    # Cross-reference lines to those stories (at most settings.max_stories_per_topic).
    see_also: tuple[CrossRef, ...] = ()
    # Stories that only mention the topic (relevance below settings.also_mentioned_below),
    # listed compactly under the section ("Also mentioned"); at most max_stories_per_topic,
    # less the `more_stories` shown.
    mentioned: tuple[Story, ...] = ()
    # Stories about the topic beyond max_stories_per_topic, listed as compactly ("More"),
    # before any passing mention: all of them.
    more_stories: tuple[Story, ...] = ()
    # Of those, how many this HTML leaves out to stay under Gmail's size limit (the plain
    # text lists them): only when one story in full per topic is not small enough.
    more_elided: int = 0

    @property
    def elsewhere_label(self) -> str:
        return _elsewhere_label(self.elsewhere)

    @property
    def tagged(self) -> int:
        """Stories carrying this topic, wherever they are listed."""
        return self.total + sum(n for _, n in self.elsewhere)

    @property
    def more(self) -> int:
        """Stories listed under this topic and not shown: passing mentions beyond the limit
        (every story about the topic is shown, in full or one line)."""
        shown = len(self.stories) + len(self.more_stories) + len(self.mentioned)
        return self.total - shown - self.more_elided

    @property
    def more_see_also(self) -> int:
        return sum(n for _, n in self.elsewhere) - len(self.see_also)


@dataclass(frozen=True, slots=True)
class VolumeBar:
    day: date
    count: int
    height_px: int  # 0..BAR_MAX_PX, on one scale across every topic's chart
    label: str  # the day, dated: "Mon 23"

    @property
    def space_px(self) -> int:
        """Empty cell above the bar: the chart is table cells with height attributes,
        which Outlook's Word renderer honours (it ignores heights on divs)."""
        return BAR_MAX_PX - max(self.height_px, 1)


@dataclass(frozen=True, slots=True)
class TopicSummary:
    topic: str
    listed: int  # stories listed in this topic's section (their strongest topic)
    # Stories tagged with this topic too but listed under another: ((topic, count), ...).
    elsewhere: tuple[tuple[str, int], ...]
    volume: tuple[VolumeBar, ...]  # the last VOLUME_DAYS days, oldest first

    @property
    def volume_total(self) -> int:
        return sum(b.count for b in self.volume)

    @property
    def tagged(self) -> int:
        """Stories carrying this topic, wherever they are listed."""
        return self.listed + sum(n for _, n in self.elsewhere)

    @property
    def elsewhere_label(self) -> str:
        return _elsewhere_label(self.elsewhere)


def _elsewhere_label(elsewhere: Sequence[tuple[str, int]]) -> str:
    """ "1 listed under Turkey, 2 under NATO" (empty when there are none)."""
    return ", ".join(
        f"{n} listed under {topic}" if i == 0 else f"{n} under {topic}"
        for i, (topic, n) in enumerate(elsewhere)
    )


def stories_label(n: int) -> str:
    return f"{n} stor{'ies' if n != 1 else 'y'}"


@dataclass(frozen=True, slots=True)
class FeedNote:
    """A feed worth a line in the health footer."""

    name: str
    url: str | None
    status: str
    detail: str


@dataclass(frozen=True)
class Digest:
    title: str
    date: date
    date_label: str  # "Wednesday 25 November 2026"
    timezone: str
    window_start: datetime  # local time
    window_end: datetime
    # What the window is, in words: "new since 24 Nov 07:00, up to 25 Nov 06:55
    # (Europe/Istanbul)": articles whose poll stored them in that time, whatever their date.
    window_label: str
    generated_at: datetime
    generated_label: str
    topics: tuple[TopicSummary, ...]
    sections: tuple[Section, ...]  # topics carrying stories, in the order of `topics`
    story_count: int
    article_count: int
    failing: tuple[FeedNote, ...]
    quiet_feeds: tuple[FeedNote, ...]
    unpolled: tuple[FeedNote, ...]
    feeds_total: int
    feeds_ok: int
    preheader: str
    # Matched articles stored in the window but published more than max_age_days earlier
    # (a first poll stores each feed's backlog): left out, and said so.
    too_old: int = 0
    max_age_days: int = 0
    # Per topic with a `min_relevance`: its matches scored below it, left out ((topic, n), ...).
    below_min: tuple[tuple[str, int], ...] = ()
    volume_peak: int = 0  # the largest day's count in any topic's bars (their shared scale)
    # The HTML shows at most this many stories in full per topic, fewer than the settings
    # say, to stay under Gmail's clipping (build.fit_for_mail); 0: not shortened.
    shortened_to: int = 0

    @property
    def quiet(self) -> bool:
        return self.story_count == 0


def relevance_band(relevance: float) -> int:
    """Relevance in steps of 0.1: within a step, outlets and recency decide the order."""
    return math.floor(relevance * 10 + 1e-9)
