"""The warehouse side of the poll's article-page step (sources.yaml `fetch_article`):
which stored articles want their page, and storing what a page said.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import duckdb

from newswatch.models import Article
from newswatch.store.warehouse import (
    _ARTICLE_COLUMNS,
    TEXT_LIST,
    _article,
    _count,
    _rollback,
    text_list,
)


@dataclass(frozen=True)
class PageCandidate:
    """A stored article whose linked page is still to be fetched."""

    article_id: str
    url: str


@dataclass(frozen=True)
class ArticleFetch:
    """One row of `article_fetches`: what fetching an article's page came to."""

    article_id: str
    poll_id: str
    url: str
    final_url: str | None
    started_at: datetime
    duration_ms: float
    outcome: str  # extracted | no_text | error
    http_status: int | None
    error_kind: str | None
    error: str | None
    bytes: int
    content_type: str | None
    extract_ms: float | None
    text_chars: int


_ARTICLE_FETCH_FIELDS = tuple(f.name for f in dataclasses.fields(ArticleFetch))


def article_page_candidates(
    con: duckdb.DuckDBPyConnection,
    feed_urls: Sequence[str],
    since: datetime,
    limit: int,
    *,
    teaser_feeds: Sequence[str] = (),
    teaser_chars: int = 0,
) -> list[PageCandidate]:
    """Articles of `feed_urls`, and those of `teaser_feeds` whose summary and content together
    are shorter than `teaser_chars`, first seen at or after `since`, with a link and no page
    fetch recorded yet; newest first, at most `limit`."""
    if not feed_urls and not teaser_feeds:
        return []
    rows = con.execute(
        "SELECT a.id, a.url FROM articles a "
        f"WHERE (a.feed_url IN ({TEXT_LIST}) "
        f"OR (a.feed_url IN ({TEXT_LIST}) "
        "AND length(a.summary) + length(a.content) < ?)) "
        "AND a.first_seen_at >= ? AND a.url <> '' "
        "AND NOT EXISTS (SELECT 1 FROM article_fetches f WHERE f.article_id = a.id) "
        "ORDER BY a.first_seen_at DESC, a.published_at DESC, a.id LIMIT ?",
        [text_list(feed_urls), text_list(teaser_feeds), teaser_chars, since, limit],
    ).fetchall()
    return [PageCandidate(str(aid), str(url)) for aid, url in rows]


def articles_by_id(con: duckdb.DuckDBPyConnection, ids: Sequence[str]) -> list[Article]:
    """The stored articles of `ids` (those that exist), ordered by id."""
    if not ids:
        return []
    rows = con.execute(
        f"SELECT {_ARTICLE_COLUMNS} FROM articles a WHERE a.id IN ({TEXT_LIST}) ORDER BY a.id",
        [text_list(ids)],
    ).fetchall()
    return [_article(r) for r in rows]


def set_languages(con: duckdb.DuckDBPyConnection, languages: Mapping[str, str]) -> int:
    """Set `language` of the articles in `languages` (id -> ISO 639-1 code); returns how
    many changed."""
    changed = 0
    for article_id, code in languages.items():
        row = con.execute(
            "UPDATE articles SET language = ? WHERE id = ? AND language IS DISTINCT FROM ?",
            [code, article_id, code],
        ).fetchone()
        changed += int(row[0]) if row else 0
    return changed


def store_page_content(
    con: duckdb.DuckDBPyConnection, contents: Mapping[str, tuple[str, str]]
) -> int:
    """Set `content` and `content_html` of the articles in `contents` (id -> (text, html))
    from their fetched page, where the page's text is longer than the content the feed gave
    (a feed's full text is kept over a page that yields less); returns the articles changed."""
    import pyarrow as pa

    if not contents:
        return 0
    ids = list(contents)
    con.register(
        "_page_content_in",
        pa.table(
            {
                "id": pa.array(ids, pa.string()),
                "content": pa.array([contents[i][0] for i in ids], pa.string()),
                "content_html": pa.array([contents[i][1] for i in ids], pa.string()),
            }
        ),
    )
    try:
        row = con.execute(
            "UPDATE articles SET content = p.content, content_html = p.content_html "
            "FROM _page_content_in p "
            "WHERE articles.id = p.id AND length(articles.content) < length(p.content)"
        ).fetchone()
    finally:
        con.unregister("_page_content_in")
    return int(row[0]) if row else 0


def record_article_fetches(
    con: duckdb.DuckDBPyConnection,
    fetches: Sequence[ArticleFetch],
    contents: Mapping[str, tuple[str, str]] | None = None,
) -> int:
    """Insert `article_fetches` rows (one per article; an article already recorded keeps its
    first row) and store the pages' `contents` (store_page_content), in one transaction;
    returns the rows added."""
    import pyarrow as pa

    if not fetches:
        return 0
    table = pa.Table.from_pylist(
        [{name: getattr(f, name) for name in _ARTICLE_FETCH_FIELDS} for f in fetches],
        schema=pa.schema(
            [
                ("article_id", pa.string()),
                ("poll_id", pa.string()),
                ("url", pa.string()),
                ("final_url", pa.string()),
                ("started_at", pa.timestamp("us", tz="UTC")),
                ("duration_ms", pa.float64()),
                ("outcome", pa.string()),
                ("http_status", pa.int32()),
                ("error_kind", pa.string()),
                ("error", pa.string()),
                ("bytes", pa.int64()),
                ("content_type", pa.string()),
                ("extract_ms", pa.float64()),
                ("text_chars", pa.int32()),
            ]
        ),
    )
    con.register("_article_fetches_in", table)
    con.execute("BEGIN TRANSACTION")
    try:
        before = _count(con, "article_fetches")
        con.execute(
            "INSERT INTO article_fetches BY NAME SELECT * FROM _article_fetches_in i "
            "WHERE i.article_id NOT IN (SELECT article_id FROM article_fetches) "
            "QUALIFY row_number() OVER (PARTITION BY i.article_id ORDER BY i.started_at) = 1"
        )
        added = _count(con, "article_fetches") - before
        store_page_content(con, contents or {})
        con.execute("COMMIT")
    except Exception:
        _rollback(con)
        raise
    finally:
        con.unregister("_article_fetches_in")
    return added


def by_count(counts: Mapping[str, int]) -> tuple[tuple[str, int], ...]:
    """(kind, count) pairs, most first, then by kind: a failure breakdown's order."""
    return tuple(sorted(counts.items(), key=lambda kind_n: (-kind_n[1], kind_n[0])))


def failure_words(failures: Sequence[tuple[str, int]]) -> str:
    """A failure breakdown in words: "2 http status, 1 timeout"."""
    return ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in failures)


@dataclass(frozen=True)
class FeedPages:
    """What fetching one feed's article pages came to since some moment."""

    feed_url: str
    extracted: int
    no_text: int
    failed: int
    # Failures by kind (timeout, http_status, too_large, ...), most first.
    failures: tuple[tuple[str, int], ...] = ()

    @property
    def fetched(self) -> int:
        return self.extracted + self.no_text + self.failed


def pages_by_feed(con: duckdb.DuckDBPyConnection, since: datetime) -> dict[str, FeedPages]:
    """Per feed, its articles' page fetches started at `since` or later."""
    rows = con.execute(
        """
        SELECT a.feed_url, f.outcome, coalesce(f.error_kind, 'error') AS kind, count(*) AS n
        FROM article_fetches f JOIN articles a ON a.id = f.article_id
        WHERE f.started_at >= ?
        GROUP BY ALL
        """,
        [since],
    ).fetchall()
    counts: dict[str, dict[str, int]] = {}
    kinds: dict[str, dict[str, int]] = {}
    for feed_url, outcome, kind, n in rows:
        by_outcome = counts.setdefault(feed_url, {})
        by_outcome[outcome] = by_outcome.get(outcome, 0) + n
        if outcome == "error":
            by_kind = kinds.setdefault(feed_url, {})
            by_kind[kind] = by_kind.get(kind, 0) + n
    return {
        url: FeedPages(
            feed_url=url,
            extracted=c.get("extracted", 0),
            no_text=c.get("no_text", 0),
            failed=c.get("error", 0),
            failures=by_count(kinds.get(url, {})),
        )
        for url, c in counts.items()
    }
