"""The daily digest: a pure model built from matched articles, rendered with Jinja.

`build_digest` turns matched, clustered articles into a `Digest` value (one story per
cluster, in its strongest topic, ranked); `render_html` / `render_text` turn that value into
an email-safe HTML body and its plain-text alternative; `subject` gives the mail subject.

Feed content is untrusted. A story's snippet comes from the feed's HTML summary cleaned by
`sanitize_html` (nh3: no scripts, handlers, frames, forms, styles or images; text inside
dropped elements goes too), then reduced to text; every value the templates print is
autoescaped, so no feed markup reaches the mail as markup; links pass `safe_link`
(absolute http/https only). No I/O besides reading the templates.

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

import bisect
import functools
import math
import re
import textwrap
import unicodedata
import zoneinfo
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import css_inline
import jinja2
import nh3

from newswatch.config import DigestSettings
from newswatch.digest.timefmt import offset_label
from newswatch.match.language import is_rtl, language_name
from newswatch.match.relevance import sentence_starts
from newswatch.models import Article, FeedHealth, Field, TermHit, TopicMatch
from newswatch.parse.text import html_to_text

HTML_TEMPLATE = "digest.html.j2"
TEXT_TEMPLATE = "digest.txt.j2"

VOLUME_DAYS = 7
BAR_MAX_PX = 28

# Ranking weights (see `_score`): a title match counts most, then each extra outlet (up to
# MAX_OUTLET_BONUS), then freshness within the digest window.
W_TITLE = 3.0
W_OUTLET = 1.0
MAX_OUTLET_BONUS = 5
W_RECENCY = 2.0


# -- model -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DigestItem:
    """One matched article and the cluster (story) it belongs to."""

    article: Article
    matches: tuple[TopicMatch, ...]
    cluster_id: str


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
    # listed compactly under the section ("Also mentioned"); at most max_stories_per_topic.
    mentioned: tuple[Story, ...] = ()

    @property
    def elsewhere_label(self) -> str:
        return _elsewhere_label(self.elsewhere)

    @property
    def tagged(self) -> int:
        """Stories carrying this topic, wherever they are listed."""
        return self.total + sum(n for _, n in self.elsewhere)

    @property
    def more(self) -> int:
        return self.total - len(self.stories) - len(self.mentioned)

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
    volume_peak: int = 0  # the largest day's count in any topic's bars (their shared scale)

    @property
    def quiet(self) -> bool:
        return self.story_count == 0


# -- links and sanitising --------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Characters a URL may carry unencoded; everything else (quotes, <, >, spaces, non-ASCII)
# is percent-encoded so a link never carries markup into an attribute.
_URL_SAFE = "/:?#[]@!$&'()*+,;=%~-._"
_BAD_HOST_CHARS = re.compile(r"[\s\"'<>`{}|\\^]")


def safe_link(url: str) -> str | None:
    """`url` as an absolute http(s) URL with a host (unsafe characters percent-encoded),
    or None for anything else: other schemes, relative URLs, credentials, bad hosts."""
    if not isinstance(url, str):
        return None
    url = url.strip()
    if not url or _CONTROL.search(url) or "\\" in url:
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not host or "@" in parts.netloc:
        return None
    if _BAD_HOST_CHARS.search(parts.netloc):
        return None
    try:
        netloc = parts.netloc.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    path, query, fragment = (
        quote(x, safe=_URL_SAFE) for x in (parts.path, parts.query, parts.fragment)
    )
    return urlunsplit((scheme, netloc, path, query, fragment))


_ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "cite", "code", "dd", "del", "dl", "dt", "em",
        "figcaption", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "ins", "kbd", "li", "ol",
        "p", "pre", "q", "s", "small", "span", "strong", "sub", "sup", "u", "ul",
    }
)  # fmt: skip
# Removed together with everything inside them, not just unwrapped.
_DROP_WITH_CONTENT = frozenset(
    {
        "script", "style", "iframe", "frame", "frameset", "object", "embed", "applet", "form",
        "noscript", "template", "svg", "math", "select", "textarea", "button", "title", "head",
        "noembed", "noframes", "xmp", "plaintext",
    }
)  # fmt: skip


def _filter_attribute(tag: str, attr: str, value: str) -> str | None:
    if attr == "href":
        return safe_link(value)
    return value


def sanitize_html(fragment: str) -> str:
    """Feed HTML made safe to show in a mail: text formatting and http(s) links only.

    No scripts, event handlers, styles, images (remote images track readers), frames,
    forms or embedded objects; `href` must be absolute http(s).
    """
    if not fragment:
        return ""
    return nh3.clean(
        fragment,
        tags=set(_ALLOWED_TAGS),
        clean_content_tags=set(_DROP_WITH_CONTENT),
        attributes={"a": {"href", "title"}, "abbr": {"title"}},
        attribute_filter=_filter_attribute,
        url_schemes={"http", "https"},
        url_relative="deny",
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


# -- highlighting ----------------------------------------------------------------------


def _valid_spans(text: str, hits: Sequence[TermHit], field: Field) -> list[tuple[int, int]]:
    """Merged, sorted spans of `hits` on `field` that really point into `text`."""
    spans = sorted(
        (h.start, h.end)
        for h in hits
        if h.field == field
        and 0 <= h.start < h.end <= len(text)
        # Offsets computed on another version of the text would highlight garbage.
        and (not h.text or text[h.start : h.end] == h.text)
    )
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def highlight(text: str, spans: Sequence[tuple[int, int]]) -> tuple[Segment, ...]:
    """Split `text` into plain and hit segments at the (merged, sorted) spans."""
    out: list[Segment] = []
    pos = 0
    for start, end in spans:
        if start > pos:
            out.append(Segment(text[pos:start]))
        out.append(Segment(text[start:end], hit=True))
        pos = end
    if pos < len(text):
        out.append(Segment(text[pos:]))
    return tuple(out)


def snippet(summary: str, spans: Sequence[tuple[int, int]], limit: int) -> tuple[Segment, ...]:
    """At most `limit` characters of `summary` around the first hit (plus "…" marks),
    on word boundaries where possible, with the hit offsets moved into the window."""
    if len(summary) <= limit:
        return highlight(summary, spans)
    first = spans[0][0] if spans else 0
    # Start a third of the window before the first hit, so it reads in context.
    start = max(0, min(first - limit // 3, len(summary) - limit))
    if start > 0:
        space = summary.find(" ", start, first + 1)
        start = space + 1 if space != -1 else start
    end = min(len(summary), start + limit)
    if end < len(summary):
        space = summary.rfind(" ", start + limit // 2, end + 1)
        end = space if space != -1 else end
    window = summary[start:end].strip()
    lead = len(summary[start:end]) - len(summary[start:end].lstrip())
    offset = start + lead
    moved = [
        (max(s - offset, 0), min(e - offset, len(window)))
        for s, e in spans
        if e > offset and s < offset + len(window)
    ]
    segments = list(highlight(window, moved))
    if start > 0:
        segments.insert(0, Segment("…\u00a0"))
    if end < len(summary):
        segments.append(Segment("\u00a0…"))
    return tuple(segments)


def matched_sentences(
    text: str, spans: Sequence[tuple[int, int]], first: int, limit: int
) -> tuple[Segment, ...]:
    """The sentence of `text` that holds offset `first` (a hit of the story's topic), and
    the next one too when both fit in `limit` characters; a sentence longer than `limit` is
    cut around the hit (`snippet`). `spans` (sorted, merged) are highlighted."""
    starts = sentence_starts(text)
    i = max(0, bisect.bisect_right(starts, first) - 1)
    begin = starts[i]
    end = starts[i + 1] if i + 1 < len(starts) else len(text)
    if i + 2 <= len(starts) and end - begin < limit // 2:
        after = starts[i + 2] if i + 2 < len(starts) else len(text)
        if after - begin <= limit:
            end = after
    piece = text[begin:end].rstrip()
    moved = [
        (max(a - begin, 0), min(b - begin, len(piece)))
        for a, b in spans
        if b > begin and a < begin + len(piece)
    ]
    if len(piece) > limit:
        return snippet(piece, moved or [(first - begin, first - begin + 1)], limit)
    return highlight(piece, moved)


def story_snippet(
    article: Article, matches: Sequence[TopicMatch], topic: str, limit: int
) -> tuple[Segment, ...]:
    """What the digest shows under a story's title: the sentence (or two) of the summary,
    else of the full content, where the story's topic matched, with every matched term
    highlighted. A story matched on its title alone shows the start of its summary (or of
    its content when the feed gave no summary)."""
    hits = _hits(matches)
    own = [h for m in matches if m.topic == topic for h in m.hits]
    summary = feed_text(article)
    fields: tuple[tuple[Field, str, list[TermHit], list[TermHit]], ...] = (
        (
            "summary",
            summary,
            _moved_hits(hits, article.summary, summary),
            _moved_hits(own, article.summary, summary),
        ),
        ("content", article.content, hits, own),
    )
    for field, text, field_hits, own_hits in fields:
        first = _valid_spans(text, own_hits, field)
        if first:
            return matched_sentences(
                text, _valid_spans(text, field_hits, field), first[0][0], limit
            )
    if summary or not article.content:
        return snippet(summary, _valid_spans(summary, fields[0][2], "summary"), limit)
    return snippet(article.content, [], limit)


# -- building --------------------------------------------------------------------------


def _zone(name: str) -> tzinfo:
    if name:
        try:
            return zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            pass
    local = datetime.now().astimezone().tzinfo
    return local if local is not None else zoneinfo.ZoneInfo("UTC")


def _day_label(d: date) -> str:
    return f"{d:%A} {d.day} {d:%B %Y}"


def _time_label(t: datetime, year: int | None = None) -> str:
    """ "24 Nov 07:15"; with the year ("5 Jan 2020 00:00") when it is not `year`."""
    if year is not None and t.year != year:
        return f"{t.day} {t:%b %Y %H:%M}"
    return f"{t.day} {t:%b %H:%M}"


def _published_label(article: Article, zone: tzinfo, end: datetime) -> str:
    """When the story was published; for an article whose feed gave no usable date (none, or
    one in the future or before 1990), when newswatch first saw it, saying so."""
    label = _time_label(article.published_at.astimezone(zone), end.astimezone(zone).year)
    if article.published_at_known:
        return label
    return f"first seen {label} (no usable date from the feed)"


def feed_text(article: Article) -> str:
    """The text of an article's summary as the digest shows it: the feed's HTML cleaned by
    nh3 (`sanitize_html`), then reduced to text. Feeds without HTML give the stored text."""
    if not article.summary_html:
        return article.summary
    return html_to_text(sanitize_html(article.summary_html))


def _moved_hits(hits: Sequence[TermHit], old: str, new: str) -> list[TermHit]:
    """Summary hits found on `old` moved onto `new` (the sanitised text): the n-th
    occurrence of a hit's words in `old` becomes the n-th one in `new`, if there is one."""
    if old == new:
        return list(hits)
    moved = []
    for h in hits:
        if h.field != "summary" or not h.text or old[h.start : h.end] != h.text:
            continue
        nth = old.count(h.text, 0, h.start)
        pos = -1
        for _ in range(nth + 1):
            pos = new.find(h.text, pos + 1)
            if pos == -1:
                break
        if pos != -1:
            moved.append(TermHit(h.field, pos, pos + len(h.text), h.term, h.text))
    return moved


def _hits(matches: Sequence[TopicMatch]) -> list[TermHit]:
    return [h for m in matches for h in m.hits]


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


def _lead(items: Sequence[DigestItem]) -> DigestItem:
    """The report to show: most title hits, then most hits, then the earliest."""

    def key(item: DigestItem) -> tuple[int, int, datetime, str]:
        hits = _hits(item.matches)
        title = sum(1 for h in hits if h.field == "title")
        return (-title, -len(hits), item.article.published_at, item.article.id)

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
    lead = _lead(cluster.items)
    art = lead.article
    hits = _hits(lead.matches)
    others: dict[str, OtherReport] = {}
    for item in sorted(cluster.items, key=lambda i: (i.article.published_at, i.article.id)):
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
        title=highlight(art.title, _valid_spans(art.title, hits, "title")),
        snippet=story_snippet(art, lead.matches, ranked[0], settings.snippet_chars),
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


def _day_counts(series: Sequence[tuple[date, int]], last_day: date) -> dict[date, int]:
    days = [last_day - timedelta(days=VOLUME_DAYS - 1 - i) for i in range(VOLUME_DAYS)]
    counts: dict[date, int] = dict.fromkeys(days, 0)
    for day, n in series:
        if day in counts:
            counts[day] += max(int(n), 0)
    return counts


def _volume(counts: Mapping[date, int], peak: int) -> tuple[VolumeBar, ...]:
    """The bars of one topic on the shared scale `peak` (the largest day of any topic):
    2 articles draw less than half as tall as 5, whichever topic they are in."""
    bars = []
    for d, n in counts.items():
        height = 0 if n == 0 or peak == 0 else max(3, math.ceil(BAR_MAX_PX * n / peak))
        bars.append(VolumeBar(day=d, count=n, height_px=height, label=f"{d:%a} {d.day}"))
    return tuple(bars)


def _span(seconds: float) -> str:
    """ "3 hours", "2 days", "5 weeks", "10 months" (rounded)."""
    for unit, size in (("year", 365 * 86400), ("month", 30 * 86400), ("week", 7 * 86400),
                       ("day", 86400), ("hour", 3600), ("minute", 60)):  # fmt: skip
        if seconds >= size or unit == "minute":
            n = max(1, round(seconds / size))
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return ""  # pragma: no cover - the loop always returns


def quiet_detail(f: FeedHealth, now: datetime, zone: tzinfo, year: int) -> str:
    """Why a feed is "unusually quiet", judged on its items' publication dates against its
    own rhythm: "newest item published 6 Feb 2026 09:10 (10 months ago); it usually
    publishes every 3 hours"."""
    if f.last_item_at is None:
        return "no dated items"
    newest = _time_label(f.last_item_at.astimezone(zone), year)
    ago = _span(max((now - f.last_item_at).total_seconds(), 0.0))
    usual = f"; it usually publishes every {_span(f.usual_gap_s)}" if f.usual_gap_s else ""
    return f"newest item published {newest} ({ago} ago){usual}"


def _feed_notes(
    feed_health: Sequence[FeedHealth], zone: tzinfo, year: int, now: datetime
) -> dict[str, list[FeedNote]]:
    notes: dict[str, list[FeedNote]] = defaultdict(list)
    for f in sorted(feed_health, key=lambda f: (f.name.casefold(), f.url)):
        if f.status == "failing":
            when = (
                f"; last worked {_time_label(f.last_success_at.astimezone(zone), year)}"
                if f.last_success_at
                else "; has never worked"
            )
            n = f.consecutive_failures
            fails = f"{n} failed poll{'s' if n != 1 else ''}" if n else ""
            error = (f.last_error or "unknown error").strip().splitlines()[0][:200]
            detail = f"{error} ({fails}{when})" if fails else f"{error} ({when[2:]})"
        elif f.status == "quiet":
            detail = quiet_detail(f, now, zone, year)
        elif f.status == "never_polled":
            detail = "not polled yet"
        else:
            continue
        notes[f.status].append(
            FeedNote(name=f.name or f.url, url=safe_link(f.url), status=f.status, detail=detail)
        )
    return notes


def _preheader(topics: Sequence[TopicSummary], sections: Sequence[Section], failing: int) -> str:
    if not sections:
        text = "Nothing matched your topics today."
        if failing:
            text += f" {failing} feed{'s' if failing != 1 else ''} failing."
        return text
    counts = ", ".join(f"{t.topic} {t.tagged}" for t in topics)
    firsts = [(s.stories or s.mentioned)[0] for s in sections if s.stories or s.mentioned]
    if not firsts:
        return f"{counts}."
    top = max(firsts, key=lambda s: (_band(s.relevance), s.score))
    text = f"{counts}. Top: {top.title_text}"
    return text if len(text) <= 140 else text[:139].rstrip() + "…"


def _band(relevance: float) -> int:
    """Relevance in steps of 0.1: within a step, outlets and recency decide the order."""
    return math.floor(relevance * 10 + 1e-9)


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
        kept = tuple(
            m
            for m in item.matches
            if m.relevance is None or m.relevance >= min_relevance.get(m.topic, 0.0)
        )
        if kept:
            out.append(item if len(kept) == len(item.matches) else replace(item, matches=kept))
    return out


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
) -> Digest:
    """Group matched articles into one story per cluster, each in its strongest topic.

    Matches to topics not in `topics` are ignored; an item without any matching topic is
    left out. Sections keep the order of `topics`; stories in a section are ranked by
    relevance to the topic (in steps of 0.1), then title match, number of outlets and
    recency; those below `settings.also_mentioned_below` go to the section's compact
    "Also mentioned" list.
    """
    zone = _zone(timezone)
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
                -_band(s.relevance),
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
            sections.append(
                Section(
                    topic,
                    tuple(full[:limit]),
                    len(stories),
                    elsewhere[topic],
                    see_also,
                    tuple(mentioned[:limit]),
                )
            )

    local_end = window_end.astimezone(zone)
    local_start = window_start.astimezone(zone)
    day_counts = {t: _day_counts(volume.get(t, ()), local_end.date()) for t in topics}
    peak = max((n for counts in day_counts.values() for n in counts.values()), default=0)
    summaries = tuple(
        TopicSummary(
            topic=t,
            listed=len(by_topic.get(t, [])),
            elsewhere=elsewhere[t],
            volume=_volume(day_counts[t], peak),
        )
        for t in topics
    )
    notes = _feed_notes(feed_health, zone, local_end.year, generated_at)
    # The one time-zone convention: the digest's zone, stated with its offset.
    tz_label = f"{timezone or local_end.tzname() or 'local time'}, {offset_label(zone, window_end)}"
    return Digest(
        title=settings.title,
        date=local_end.date(),
        date_label=_day_label(local_end.date()),
        timezone=tz_label,
        window_start=local_start,
        window_end=local_end,
        window_label=(
            f"New since {_time_label(local_start, local_end.year)}, "
            f"up to {_time_label(local_end)} ({tz_label})"
        ),
        generated_at=generated_at.astimezone(zone),
        generated_label=f"{_time_label(generated_at.astimezone(zone))} ({tz_label})",
        topics=summaries,
        sections=tuple(sections),
        story_count=sum(s.total for s in sections),
        volume_peak=peak,
        article_count=article_count,
        failing=tuple(notes["failing"]),
        quiet_feeds=tuple(notes["quiet"]),
        unpolled=tuple(notes["never_polled"]),
        feeds_total=len(feed_health),
        feeds_ok=sum(1 for f in feed_health if f.status == "ok"),
        preheader=_preheader(summaries, sections, len(notes["failing"])),
        too_old=too_old,
        max_age_days=settings.max_age_days,
    )


# -- rendering -------------------------------------------------------------------------


def subject(digest: Digest) -> str:
    """E.g. "newswatch — 25 Nov 2026: 11 stories (Turkey 9, NATO 4, S-400 2)": every topic
    with the stories carrying it (a story about two topics counts under both)."""
    day = f"{digest.date.day} {digest.date:%b %Y}"
    head = f"{digest.title} — {day}"
    if digest.quiet:
        tail = "no matching stories"
        if digest.failing:
            n = len(digest.failing)
            tail += f", {n} feed{'s' if n != 1 else ''} failing"
        return f"{head}: {tail}"
    return f"{head}: {stories_label(digest.story_count)} ({count_line(digest)})"


def count_line(digest: Digest) -> str:
    """ "Turkey 9, NATO 4, S-400 2": every watched topic with the stories carrying it."""
    return ", ".join(f"{t.topic} {t.tagged}" for t in digest.topics)


def _wrap(text: str, width: int = 76, indent: str = "") -> str:
    return "\n".join(
        textwrap.wrap(
            text,
            width=width,
            initial_indent=indent,
            subsequent_indent=indent,
            break_long_words=False,
            break_on_hyphens=False,
        )
    )


def _isolate(text: str, code: str | None) -> str:
    """Plain text: a right-to-left title set apart (Unicode first-strong isolate), so that in
    a left-to-right line ("1. <title>") it reads right to left without reordering the rest."""
    return f"\u2068{text}\u2069" if is_rtl(code) or _first_strong_rtl(text) else text


def _first_strong_rtl(text: str) -> bool:
    for ch in text:
        kind = unicodedata.bidirectional(ch)
        if kind in ("R", "AL"):
            return True
        if kind == "L":
            return False
    return False


@functools.lru_cache(maxsize=8)
def _environment(templates_dir: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir),
        # HTML templates escape every value; the text template has nothing to escape.
        autoescape=lambda name: bool(name and name.endswith((".html.j2", ".html"))),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["wrap"] = _wrap
    env.filters["isolate"] = _isolate
    env.globals["stories_label"] = stories_label
    env.globals["language_name"] = language_name
    return env


_INLINER = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)


def render_html(digest: Digest, templates_dir: Path) -> str:
    """The HTML mail body: table layout, CSS inlined (media queries kept in <style>)."""
    template = _environment(str(templates_dir)).get_template(HTML_TEMPLATE)
    html = template.render(d=digest, subject=subject(digest), bar_max=BAR_MAX_PX)
    return str(_INLINER.inline(html))


def render_text(digest: Digest, templates_dir: Path) -> str:
    """The plain-text alternative, with the same stories and links."""
    template = _environment(str(templates_dir)).get_template(TEXT_TEMPLATE)
    text = template.render(d=digest, subject=subject(digest))
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
