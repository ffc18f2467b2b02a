"""The poll's article-page step: fetch the linked page of each new entry of the feeds that ask
for it (sources.yaml `fetch_article`), read its article text, store it and match on it.

It runs after the poll's merge, so every entry is already stored and matched on what its feed
gave before any page is asked for: a page that fails, is slow or is refused costs its entry
nothing. Which entries are new is the warehouse's knowledge (an id not stored before), which
the merge has just applied; a shard would need every stored id to know it. Each page is
fetched through fetch.py like a feed (address refusal and allow_hosts, redirects checked hop
by hop, the User-Agent, a size cap and a deadline), with `article_pages:`'s own limits, and
recorded once per article in `article_fetches`, whatever came of it: an article with a record
is never fetched again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from newswatch.clock import utc_now
from newswatch.config import ArticlePageSettings, Config, FetchSettings
from newswatch.errors import WarehouseLocked
from newswatch.fetch.client import ACCEPT_HTML, Resolver
from newswatch.fetch.extract import article_text, text_html
from newswatch.fetch.stream import FetchRequest, fetch_stream
from newswatch.models import FetchResult
from newswatch.orchestrate.rematch import diff_matches, store_changes
from newswatch.store import article_pages, warehouse
from newswatch.store.dbwait import db_wait_seconds

if TYPE_CHECKING:
    import duckdb

log = logging.getLogger("newswatch.pages")

# Fetched pages allowed to wait for the extractor, on top of the fetches in flight.
EXTRACT_BACKLOG = 8


@dataclass(frozen=True)
class PageStepResult:
    """What one poll's page step did."""

    fetched: int = 0  # pages asked for (one per distinct link)
    extracted: int = 0  # articles that got text from their page
    no_text: int = 0  # pages that came but held no article text
    failed: int = 0  # articles whose page fetch failed (HTTP status, timeout, refused, ...)
    left: int = 0  # candidates not fetched: the step's time budget ran out
    rematched: int = 0  # articles whose topic matches changed with their page's text
    # Why pages failed: (error kind, articles), the commonest first.
    failures: tuple[tuple[str, int], ...] = ()
    # More new entries than `article_pages.max_per_poll` had pages to fetch: the rest wait.
    capped: bool = False
    seconds: float = 0.0
    extract_cpu_s: float = 0.0
    message: str | None = None  # why nothing could be stored (a locked warehouse)

    @property
    def recorded(self) -> int:
        return self.extracted + self.no_text + self.failed


def page_feeds(config: Config, mode: str = "all") -> list[str]:
    """The enabled feeds whose entries' pages are fetched in `mode` ("all": every new entry,
    "teaser": entries with little text)."""
    return [f.url for f in config.feeds if f.enabled and f.fetch_article == mode]


def page_fetch_settings(fetch: FetchSettings, pages: ArticlePageSettings) -> FetchSettings:
    """The feeds' fetch settings (User-Agent, connect timeout, redirects) with the pages' caps."""
    return dataclasses.replace(
        fetch,
        concurrency=pages.concurrency,
        per_host=pages.per_host,
        connections_per_client=min(fetch.connections_per_client, pages.concurrency),
        timeout=pages.timeout,
        connect_timeout=min(fetch.connect_timeout, pages.timeout),
        max_bytes=pages.max_bytes,
        pages_only=True,
    )


@dataclass(frozen=True)
class _Read:
    text: str | None
    cpu_ms: float
    error: str | None = None


def _read_page(body: bytes, url: str, content_type: str | None) -> _Read:
    t0 = time.thread_time()
    try:
        text = article_text(body, url, content_type)
    except Exception as exc:  # one unreadable page must not stop the others
        log.debug("extracting %s failed", url, exc_info=True)
        return _Read(None, (time.thread_time() - t0) * 1000.0, f"could not read the page: {exc}")
    return _Read(text, (time.thread_time() - t0) * 1000.0)


def _record(
    article_id: str, poll_id: str, fetched: FetchResult, read: _Read | None
) -> article_pages.ArticleFetch:
    kind: str | None
    error: str | None
    if fetched.error_kind == "not_page":
        # A PDF, an image, a video: no article to read, and nothing failed.
        outcome, kind, error = "no_text", fetched.error_kind, fetched.error
    elif fetched.outcome != "ok":
        outcome, kind, error = "error", fetched.error_kind, fetched.error
    elif read is not None and read.text:
        outcome, kind, error = "extracted", None, None
    else:
        outcome, kind = "no_text", None
        error = (read.error if read is not None else None) or "no article text found on the page"
    return article_pages.ArticleFetch(
        article_id=article_id,
        poll_id=poll_id,
        url=fetched.feed_url,
        final_url=fetched.final_url,
        started_at=fetched.started_at,
        duration_ms=round(fetched.duration_ms, 3),
        outcome=outcome,
        http_status=fetched.http_status,
        error_kind=kind,
        error=error,
        bytes=fetched.bytes_received,
        content_type=fetched.content_type,
        extract_ms=round(read.cpu_ms, 3) if read is not None else None,
        text_chars=len(read.text) if read is not None and read.text else 0,
    )


async def fetch_pages(
    candidates: Sequence[article_pages.PageCandidate],
    config: Config,
    poll_id: str,
    *,
    resolver: Resolver | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> tuple[list[article_pages.ArticleFetch], dict[str, str], int]:
    """Fetch and read the pages of `candidates` (one fetch per distinct link).

    Returns the records of the articles whose page was fetched, the text read per article
    id, and how many candidates were left when `article_pages.budget_seconds` ran out (they
    have no record, so a later poll still fetches them while they are recent enough).
    """
    by_url: dict[str, list[str]] = {}
    for c in candidates:
        by_url.setdefault(c.url, []).append(c.article_id)
    settings = config.article_pages
    in_memory = asyncio.Semaphore(settings.concurrency + EXTRACT_BACKLOG)
    records: list[article_pages.ArticleFetch] = []
    texts: dict[str, str] = {}
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(1, thread_name_prefix="newswatch-extract") as extractor:

        async def run() -> None:
            async for fetched in fetch_stream(
                [FetchRequest(url) for url in by_url],
                page_fetch_settings(config.fetch, settings),
                allow_hosts=config.allow_hosts,
                resolver=resolver,
                admit=in_memory.acquire,
                accept=ACCEPT_HTML,
                clock=clock,
            ):
                try:
                    read = None
                    if fetched.outcome == "ok" and fetched.body:
                        # In a thread: the other pages keep arriving meanwhile.
                        read = await loop.run_in_executor(
                            extractor,
                            _read_page,
                            fetched.body,
                            fetched.final_url or fetched.feed_url,
                            fetched.content_type,
                        )
                    for article_id in by_url[fetched.feed_url]:
                        records.append(_record(article_id, poll_id, fetched, read))
                        if read is not None and read.text:
                            texts[article_id] = read.text
                finally:
                    in_memory.release()

        try:
            async with asyncio.timeout(settings.budget_seconds):
                await run()
        except TimeoutError:
            log.warning(
                "article pages: the %g s budget ran out; %d page(s) left for the next poll",
                settings.budget_seconds,
                len(candidates) - len(records),
            )
    return records, texts, len(candidates) - len(records)


async def fetch_article_pages(
    config: Config,
    db_path: Path,
    poll_id: str,
    *,
    clock: Callable[[], datetime] = utc_now,
    resolver: Resolver | None = None,
    wait_seconds: float | None = None,
) -> PageStepResult:
    """The poll's page step (see the module's docstring). Never raises for a page's failure;
    a warehouse that stays locked leaves the pages unrecorded, fetched again next poll."""
    feeds, teaser_feeds = page_feeds(config, "all"), page_feeds(config, "teaser")
    if not (feeds or teaser_feeds) or not db_path.exists():
        return PageStepResult()
    start = time.monotonic()
    settings = config.article_pages
    wait = db_wait_seconds() if wait_seconds is None else wait_seconds
    since = clock() - timedelta(hours=settings.max_age_hours)
    try:
        # A short wait: when the poll's own merge found the file locked, this would wait again.
        with warehouse.connect(db_path, wait_seconds=min(10.0, wait)) as con:
            # One more than the cap, to tell whether the cap left some for the next poll.
            candidates = article_pages.article_page_candidates(
                con,
                feeds,
                since,
                settings.max_per_poll + 1,
                teaser_feeds=teaser_feeds,
                teaser_chars=settings.teaser_chars,
            )
    except WarehouseLocked as exc:
        return PageStepResult(message=f"{exc}; article pages are fetched by the next poll")
    if not candidates:
        return PageStepResult(seconds=time.monotonic() - start)
    capped = len(candidates) > settings.max_per_poll
    candidates = candidates[: settings.max_per_poll]
    records, texts, left = await fetch_pages(
        candidates, config, poll_id, resolver=resolver, clock=clock
    )
    try:
        with warehouse.connect(db_path, wait_seconds=wait) as con:
            article_pages.record_article_fetches(
                con, records, {aid: (t, text_html(t)) for aid, t in texts.items()}
            )
            rematched = match_page_texts(con, config, sorted(texts), clock())
    except WarehouseLocked as exc:
        return PageStepResult(
            fetched=len({r.url for r in records}),
            left=len(candidates),
            seconds=time.monotonic() - start,
            message=f"{exc}; the {len(records)} page(s) fetched are fetched again by the next poll",
        )
    result = PageStepResult(
        fetched=len({r.url for r in records}),
        extracted=sum(1 for r in records if r.outcome == "extracted"),
        no_text=sum(1 for r in records if r.outcome == "no_text"),
        failed=sum(1 for r in records if r.outcome == "error"),
        left=left,
        rematched=rematched,
        failures=article_pages.by_count(
            Counter(r.error_kind or "error" for r in records if r.outcome == "error")
        ),
        capped=capped,
        seconds=round(time.monotonic() - start, 3),
        extract_cpu_s=round(sum(r.extract_ms or 0.0 for r in records) / 1000.0, 3),
    )
    log.info(
        "article pages: %d fetched, %d read, %d without article text, %d failed, %d left; "
        "%d articles' matches changed (%.2f s)",
        result.fetched,
        result.extracted,
        result.no_text,
        result.failed,
        result.left,
        result.rematched,
        result.seconds,
    )
    return result


# A page's text of at least this many characters decides its article's language.
PAGE_LANGUAGE_CHARS = 200


def match_page_texts(
    con: duckdb.DuckDBPyConnection, config: Config, ids: Sequence[str], now: datetime
) -> int:
    """Match the articles `ids` again on title, summary and content (their page's text, now
    stored) and store what changed; returns how many articles' matches changed.

    The page's text also says which language the article is in, better than a one-line
    teaser does (a teaser feed's articles take the language of the feed's majority): where
    it says another language, the article's `language` is corrected first."""
    from newswatch.match.language import detect_language

    if not ids:
        return 0
    articles = article_pages.articles_by_id(con, ids)
    corrected = {}
    for a in articles:
        found = detect_language(a.content) if len(a.content) >= PAGE_LANGUAGE_CHARS else None
        if found is not None and found != a.language:
            corrected[a.id] = found
    if corrected:
        article_pages.set_languages(con, corrected)
        articles = [
            dataclasses.replace(a, language=corrected[a.id]) if a.id in corrected else a
            for a in articles
        ]
    old = warehouse.stored_matches(con, [a.id for a in articles])
    new = {
        a.id: config.matcher.match(a.title, a.summary, a.content, language=a.language)
        for a in articles
    }
    changes = diff_matches(articles, old, new)
    store_changes(con, changes, now)
    # Articles whose matches changed (a page that only moved a score is not counted).
    return len({c.article_id for c in changes if c.change != "rescored"})
