"""Plain value types passed between the stages of the pipeline.

Every stage (fetch, parse, match, cluster, store, render) takes and returns these
frozen dataclasses, so each can be tested alone and none depends on another's I/O.
All datetimes are timezone-aware and in UTC unless a name says otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

FetchOutcome = Literal["ok", "not_modified", "error"]
Field = Literal["title", "summary", "content"]


@dataclass(frozen=True, slots=True)
class FeedSource:
    """One entry of `feeds:` in sources.yaml."""

    url: str
    name: str
    # Per-feed override of the poll interval; None means "every poll".
    interval_seconds: int | None = None
    enabled: bool = True
    # Fetch the linked page of new entries and match on its article text (sources.yaml
    # `fetch_article`, else `article_pages.enabled`): "off", "all" (every new entry) or
    # "teaser" (entries whose feed text is shorter than `article_pages.teaser_chars`).
    fetch_article: str = "off"
    # Short labels for the outlet (sources.yaml `tags`: country, kind of outlet, ...), as
    # written, each once; one tag has one spelling in the whole file (config.py checks).
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FeedState:
    """What is remembered about a feed between polls (conditional GET, health)."""

    url: str
    etag: str | None = None
    last_modified: str | None = None
    body_sha256: str | None = None
    consecutive_failures: int = 0
    last_attempt_at: datetime | None = None
    last_success_at: datetime | None = None
    next_poll_at: datetime | None = None
    # Of the last attempt, as stored (read back for decisions; a new state leaves them unset).
    last_http_status: int | None = None
    last_error_kind: str | None = None


@dataclass(frozen=True, slots=True)
class FetchResult:
    """The outcome of fetching one feed: always produced, never raised."""

    feed_url: str
    outcome: FetchOutcome
    started_at: datetime
    duration_ms: float
    http_status: int | None = None
    final_url: str | None = None
    body: bytes | None = None
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    bytes_received: int = 0
    body_sha256: str | None = None
    # A short machine-readable reason ("timeout", "http_status", "too_large",
    # "refused_address", "redirects", "network", "tls", "not_a_feed", ...)
    error_kind: str | None = None
    # One line a user can act on, e.g. "HTTP 404 Not Found".
    error: str | None = None
    retry_after_seconds: float | None = None
    max_age_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class Article:
    """One normalised feed entry."""

    id: str
    feed_url: str
    source: str
    url: str
    title: str
    summary: str  # plain text, HTML removed, entities decoded
    published_at: datetime
    # False when the feed gave no usable date and first-seen time was used.
    published_at_known: bool = True
    guid: str | None = None
    author: str | None = None
    summary_html: str = ""  # as delivered by the feed (untrusted; sanitise before display)
    language: str | None = (
        None  # ISO 639-1 code, detected (newswatch.match.language); None: unknown
    )
    # The entry's full content (RSS content:encoded, Atom <content>; later also the text
    # extracted from the article page) as plain text, HTML removed; "" when there is none.
    content: str = ""
    # The same content as HTML, already sanitised (nh3: no scripts, styles, frames or forms).
    content_html: str = ""


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """The result of parsing one body."""

    feed_url: str
    title: str
    articles: tuple[Article, ...]
    # Set when the body is not a usable feed; articles is then empty.
    error: str | None = None
    bozo_message: str | None = None  # feedparser's complaint about a feed that still parsed
    # Entries not stored, as (reason, count) pairs sorted by reason: "no content at all"
    # (nothing a reader could identify), "repeats an earlier entry" (same id, first kept).
    skipped: tuple[tuple[str, int], ...] = ()
    # A problem with a body that still gave articles, for the feed's status line and
    # fetch_log.warning: "body ends mid-document (truncated?): ...".
    warning: str | None = None

    @property
    def skipped_count(self) -> int:
        return sum(n for _, n in self.skipped)


def describe_skipped(skipped: Sequence[tuple[str, int]]) -> str:
    """'2 skipped: no content at all', or '3 skipped: 2 no content at all, 1 repeats an
    earlier entry'; "" when nothing was skipped. Shown in the poll summary and stored in
    fetch_log.skipped_reasons."""
    counted = [(reason, n) for reason, n in skipped if n > 0]
    total = sum(n for _, n in counted)
    if not total:
        return ""
    if len(counted) == 1:
        return f"{total} skipped: {counted[0][0]}"
    return f"{total} skipped: " + ", ".join(f"{n} {reason}" for reason, n in counted)


@dataclass(frozen=True, slots=True)
class TermHit:
    """Where one term of a rule fired: field and [start, end) span in that field's text."""

    field: Field
    start: int
    end: int
    term: str  # the term as written in the rule
    text: str  # the text that matched, as it appears in the article


@dataclass(frozen=True, slots=True)
class TopicMatch:
    """Why an article matched a topic."""

    topic: str
    rule: str  # the rule that fired, in the form the user wrote it
    hits: tuple[TermHit, ...] = field(default_factory=tuple)
    # How much the article is about the topic, in [0, 1] (newswatch.match.relevance); None when
    # not scored (matches stored before relevance existed).
    relevance: float | None = None


@dataclass(frozen=True, slots=True)
class FeedHealth:
    """A feed's health, as shown in the digest footer and `newswatch feeds`."""

    url: str
    name: str
    status: str  # "ok", "failing", "quiet", "never_polled"
    last_error: str | None = None
    last_attempt_at: datetime | None = None
    last_success_at: datetime | None = None
    consecutive_failures: int = 0
    items_per_day: float | None = None
    next_poll_at: datetime | None = None
    last_item_at: datetime | None = None  # the newest dated item, however old
    usual_gap_s: float | None = None  # its usual gap between items (what "quiet" is judged on)


@dataclass(frozen=True, slots=True)
class FeedCadence:
    """How a feed publishes, from its stored dated items of any age (future dates count as
    now): what "gone quiet" and "items per day" are judged on."""

    items: int = 0  # dated items among the newest `recent` (at most `recent`)
    newest: datetime | None = None
    usual_gap_s: float | None = None  # median gap between those newest items
    last_days: int = 0  # items dated within the last `days` days
    oldest: datetime | None = None  # the oldest dated item of all
    recent: int = 50
    days: int = 7
