"""Full-text search of the warehouse: the DuckDB `fts` index of the articles, kept up to
date after each poll, and the search the `newswatch search` command runs.

The `fts` extension comes from the `duckdb-extension-fts` wheel, LOADed by file path:
nothing is downloaded and nothing is written to ~/.duckdb, so it works offline on a fresh
install. The index is a snapshot (it does not follow inserts), brought up to date after each
poll by `refresh_search_index`. Every function here takes an open connection; opening
(read-only for analysts, with lock retry) stays with `warehouse.connect`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from newswatch.errors import SearchUnavailable
from newswatch.store.snippets import fold
from newswatch.store.warehouse import (
    _LANGUAGE_COLUMN,
    _count,
    _first_line,
    _log,
    _missing_columns,
    _rollback,
    _scalar,
    _utc,
    roomy_on_oom,
    settings,
)

FTS_SCHEMA = "fts_main_articles"


# Title hits weigh more than summary hits: a headline about a topic beats a passing mention.
TITLE_WEIGHT = 2.0


# The article's full content counts, but less than the summary: a long body mentions much.
CONTENT_WEIGHT = 0.5


# Letters and digits of every script are word characters (the extension's default keeps only
# a-z: no digits, so "S-400" would not be searchable, and no Cyrillic, Greek or Arabic word,
# nor Turkish "ı"); everything else separates words.
_FTS_IGNORE = r"(\\.|[^\p{L}\p{N}])+"


# Each article's words are stemmed by its language's Snowball stemmer (articles.language;
# the fts extension's stemmers), a query's words by all of them (its language is unknown):
# "Турция" finds "Турции", "füze" finds "füzeleri", "missile" finds "missiles". Languages
# without a stemmer there keep their words as they are; articles of unknown language (stored
# before languages were detected) are stemmed as English, as they always were. Measured in
# bench/search_languages.py: recall 0.44 -> 0.93 over queries in tr, ru, el, ar and en.
SEARCH_STEMMERS: dict[str, str] = {
    "en": "porter", "tr": "turkish", "ru": "russian", "el": "greek", "ar": "arabic",
    "fr": "french", "de": "german", "es": "spanish", "it": "italian", "pt": "portuguese",
    "nl": "dutch", "ro": "romanian", "hi": "hindi",
}  # fmt: skip


UNKNOWN_LANGUAGE_STEMMER = "porter"


def _stem_by_language(word: str, language: str) -> str:
    """SQL: `word` stemmed by the stemmer of the language in column `language`."""
    cases = " ".join(
        f"WHEN {language} = '{code}' THEN stem({word}, '{s}')"
        for code, s in SEARCH_STEMMERS.items()
    )
    return (
        f"CASE WHEN {language} IS NULL THEN stem({word}, '{UNKNOWN_LANGUAGE_STEMMER}') "
        f"{cases} ELSE {word} END"
    )


def _query_forms_sql() -> str:
    """SQL over one parameter (the query): its words, each in every stemmer's form, distinct."""
    stemmers = sorted({*SEARCH_STEMMERS.values(), UNKNOWN_LANGUAGE_STEMMER})
    forms = ", ".join(["w", *(f"stem(w, '{s}')" for s in stemmers)])
    return (
        f"SELECT DISTINCT unnest([{forms}]) AS t FROM (SELECT unnest(string_split_regex("
        f"strip_accents(lower(?)), '{_FTS_IGNORE}')) AS w) WHERE w <> ''"
    )


def fts_extension_path() -> Path:
    """The fts extension file shipped by the `duckdb-extension-fts` wheel for this DuckDB."""
    import importlib.util

    spec = importlib.util.find_spec("duckdb_extension_fts")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / "extensions" / f"v{duckdb.__version__}" / "fts.duckdb_extension"
        if path.is_file():
            return path
    raise SearchUnavailable(
        f"full-text search needs the package duckdb-extension-fts=={duckdb.__version__} "
        "(pip install 'duckdb-extension-fts==" + duckdb.__version__ + "')"
    )


def load_fts(con: duckdb.DuckDBPyConnection) -> None:
    """LOAD the fts extension from its file (no INSTALL, no network, no ~/.duckdb)."""
    loaded = con.execute(
        "SELECT count(*) FROM duckdb_extensions() WHERE extension_name = 'fts' AND loaded"
    ).fetchone()
    if loaded and loaded[0]:
        return
    path = str(fts_extension_path()).replace("'", "''")
    try:
        con.execute(f"LOAD '{path}'")
    except duckdb.Error as exc:
        raise SearchUnavailable(f"cannot load the fts extension: {_first_line(exc)}") from None


def has_search_index(con: duckdb.DuckDBPyConnection) -> bool:
    row = con.execute(
        "SELECT count(*) FROM duckdb_schemas() WHERE schema_name = ?", [FTS_SCHEMA]
    ).fetchone()
    return bool(row and row[0])


def prepare_search_index(con: duckdb.DuckDBPyConnection) -> None:
    """Create the (empty) index while the warehouse holds no article yet, so that every later
    refresh only appends. Call before the first merge; a no-op otherwise."""
    try:
        load_fts(con)
    except SearchUnavailable:
        return  # search reports this itself; storing articles must not depend on it
    if not has_search_index(con) and not _count(con, "articles"):
        _build_search_index(con)


def refresh_search_index(con: duckdb.DuckDBPyConnection, *, rebuild: bool = False) -> int:
    """Bring the BM25 index over articles' title, summary and content up to date; returns articles
    indexed.

    Needs a writable connection. Call after each poll's merge (the extension's index does not
    follow inserts); readers keep the previous index until this commits. Normally only the
    articles the index lacks are indexed, by our own SQL writing into the extension's tables
    (stemming each distinct word once: 50,000 farm articles take ~2.5 s here, the extension's
    own build ~8.7 s). The extension's own build (`PRAGMA create_fts_index`, overwrite = 1)
    replaces the index instead when `rebuild=True` (`newswatch search --reindex`), when there
    is no index yet, when the index's tables are not laid out as the append expects (another
    fts version; see `search_index_layout_problem`), or when the index does not cover a
    prefix of the articles (something was deleted).
    """
    load_fts(con)
    if rebuild or not has_search_index(con):
        _build_search_index(con)
        return _count(con, "articles")
    problem = search_index_layout_problem(con)
    if problem is not None:
        _log.warning("full-text index rebuilt by the fts extension: %s", problem)
        _build_search_index(con)
        return _count(con, "articles")
    try:
        with settings(con, memory_limit=INDEX_MEMORY_LIMIT):
            appended = roomy_on_oom(
                con, lambda: _append_to_search_index(con), "updating the full-text index"
            )
    except (duckdb.CatalogException, duckdb.BinderException) as exc:
        # A layout the check above did not foresee: the append rolled back, nothing written.
        _log.warning("full-text index rebuilt by the fts extension: %s", _first_line(exc))
        appended = False
    if not appended:
        _build_search_index(con)
    return _count(con, "articles")


# What `_append_to_search_index` writes into: the tables, columns and types the fts
# extension 1.5.5 creates for the index, and the tokenizer it defines. Anything else (another
# fts version, an index built by hand with other options) is rebuilt by the extension itself
# rather than appended to.
_FTS_LAYOUT: dict[str, tuple[tuple[str, str], ...]] = {
    "dict": (("termid", "BIGINT"), ("term", "VARCHAR"), ("df", "BIGINT")),
    "docs": (("docid", "BIGINT"), ("name", "VARCHAR"), ("len", "BIGINT")),
    "fields": (("fieldid", "BIGINT"), ("field", "VARCHAR")),
    "stats": (("num_docs", "BIGINT"), ("avgdl", "DOUBLE")),
    "stopwords": (("sw", "VARCHAR"),),
    "terms": (("docid", "BIGINT"), ("fieldid", "BIGINT"), ("termid", "BIGINT")),
}


# The article columns the index covers, in field-id order.
FTS_COLUMNS: tuple[str, ...] = ("title", "summary", "content")


# New documents one slice of the index append covers (`_append_slice`).
FTS_DOCS_PER_PASS = 50_000


# At most this many branches tokenise one field of a slice side by side (`_append_slice`):
# a writer connection has at most 4 threads (warehouse.ALL_CORES); a connection made
# elsewhere may have one per core.
TOKEN_BRANCHES_MAX = 4


def search_index_layout_problem(con: duckdb.DuckDBPyConnection) -> str | None:
    """None when the index's tables look exactly as the append expects, else what differs."""
    rows = con.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? ORDER BY table_name, ordinal_position",
        [FTS_SCHEMA],
    ).fetchall()
    found: dict[str, list[tuple[str, str]]] = {}
    for table, column, kind in rows:
        found.setdefault(table, []).append((column, kind))
    for table, columns in _FTS_LAYOUT.items():
        if tuple(found.get(table, ())) != columns:
            got = ", ".join(f"{c} {k}" for c, k in found.get(table, ())) or "missing"
            return f"{FTS_SCHEMA}.{table} has ({got}), expected " + (
                "(" + ", ".join(f"{c} {k}" for c, k in columns) + ")"
            )
    fields = con.execute(f"SELECT fieldid, field FROM {FTS_SCHEMA}.fields ORDER BY 1").fetchall()
    expected = list(enumerate(FTS_COLUMNS))
    if fields != expected:
        return f"{FTS_SCHEMA}.fields is {fields}, expected {expected}"
    macros = dict(
        con.execute(
            "SELECT function_name, macro_definition FROM duckdb_functions() "
            "WHERE schema_name = ? AND function_name IN ('tokenize', 'match_bm25')",
            [FTS_SCHEMA],
        ).fetchall()
    )
    tokenize = macros.get("tokenize") or ""
    if f"'{_FTS_IGNORE}'" not in tokenize or "lower(strip_accents(" not in tokenize:
        return (
            f"{FTS_SCHEMA}.tokenize is {tokenize or 'missing'!r}, not the tokenizer appended with"
        )
    match_bm25 = macros.get("match_bm25") or ""
    if "stem(" not in match_bm25 or "'none'" not in match_bm25:
        # Queries are stemmed before they reach it (every language's forms); an index whose
        # macro stems them again (the English-only index of earlier versions) is rebuilt.
        return f"{FTS_SCHEMA}.match_bm25 stems queries itself (not with 'none')"
    return None


# The cap on DuckDB's memory while the index is appended to, below the writer's: the append
# also holds memory outside the cap, and a lower cap leaves less beside it. A poll of 1,000
# feeds with 3 KB of content per item, largest process: 430-460 MB at the writer's 128 MB;
# 383-415 MB at 96 MB (8 runs); 368-404 MB at 80 MB (10 runs), no slower; at 64 MB
# ~300-400 MB, but 2 runs in ~20 ran out of memory and were retried (`roomy_on_oom`):
# ~600 MB and ~10 s more.
INDEX_MEMORY_LIMIT = "80MB"


def _build_search_index(con: duckdb.DuckDBPyConnection) -> None:
    """The extension's own build creates the index's tables and its macros (stemmer 'none':
    queries arrive stemmed); the words it indexed unstemmed are then replaced by each
    article's words stemmed by its language (`_append_to_search_index`, from empty). On an
    empty warehouse (the first poll: `prepare_search_index`) that costs nothing; a rebuild of
    a full one indexes twice."""
    columns = ", ".join(f"'{c}'" for c in FTS_COLUMNS)
    con.execute(
        f"PRAGMA create_fts_index('articles', 'id', {columns}, "
        f"stemmer = 'none', stopwords = 'english', ignore = '{_FTS_IGNORE}', "
        "strip_accents = 1, lower = 1, overwrite = 1)"
    )
    fts = FTS_SCHEMA
    if _count(con, f"{fts}.docs"):
        for table in ("terms", "docs", "dict"):
            con.execute(f"DELETE FROM {fts}.{table}")
        con.execute(f"UPDATE {fts}.stats SET num_docs = 0, avgdl = 0")
        _append_to_search_index(con)


def _tokenize(column: str) -> str:
    """The extension's tokenize macro, but splitting on the single spaces its replacement
    leaves (string_split) instead of a second regex pass (string_split_regex on \\s+): the
    same tokens, half the time. Queries still go through the extension's macro."""
    return (
        f"string_split(regexp_replace(lower(strip_accents(CAST({column} AS VARCHAR))), "
        f"'{_FTS_IGNORE}', ' ', 'g'), ' ')"
    )


def _append_to_search_index(con: duckdb.DuckDBPyConnection) -> bool:
    """Index the articles the index lacks, exactly as the extension would have (same
    tokenizer macro, stopwords, stemmer; document frequencies and averages updated).
    Returns False when the index does not cover a prefix of the articles (something was
    deleted), so the caller has the extension rebuild it."""
    fts = FTS_SCHEMA
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _fts_new AS "
            f"SELECT (SELECT coalesce(max(docid), -1) FROM {fts}.docs) "
            "+ row_number() OVER (ORDER BY a.rowid) AS docid, a.id AS name, a.rowid AS rid "
            f"FROM articles a ANTI JOIN {fts}.docs d ON d.name = a.id"
        )
        before, new = _count(con, f"{fts}.docs"), _count(con, "_fts_new")
        if before + new != _count(con, "articles"):
            con.execute("ROLLBACK")
            return False
        if new:
            first = _scalar(con, f"SELECT coalesce(max(docid), -1) + 1 FROM {fts}.docs")
            # Field ids as the extension numbers them: title 0, summary 1, content 2. Stopwords are
            # dropped before stemming, and empty tokens never count. Stemming is most of the
            # extension's build time and news text repeats its words, so each distinct word
            # of a slice is stemmed once; tokens stream into the index as term ids, never
            # materialised as strings (the writer's memory cap would spill them to disk).
            # Text is read from articles itself (a temporary copy costs memory, and loses
            # DuckDB's per-dictionary evaluation of repeated values).
            # One slice of new documents at a time: over a whole 4,000-feed poll at once
            # (200,000 articles, 7.2 M tokens) the distinct words and (term, document) pairs
            # outgrew the writer's cap, and the peak was ~40-55 MB above a 1,000-feed poll's.
            for low in range(first, first + new, FTS_DOCS_PER_PASS):
                _append_slice(con, low, low + FTS_DOCS_PER_PASS)
            con.execute(
                f"UPDATE {fts}.stats SET num_docs = s.n, avgdl = s.total / s.n FROM "
                f"(SELECT count(*) AS n, sum(len) AS total FROM {fts}.docs) s"
            )
        con.execute("COMMIT")
    except Exception:
        _rollback(con)
        raise
    finally:
        for table in ("_fts_new", "_fts_words", "_fts_word_ids"):
            con.execute(f"DROP TABLE IF EXISTS {table}")
    return True


def _append_slice(con: duckdb.DuckDBPyConnection, low: int, high: int) -> None:
    """Index the new documents with low <= docid < high (see `_append_to_search_index`)."""
    fts = FTS_SCHEMA
    new_text = (
        "_fts_new n JOIN articles a ON a.rowid = n.rid "
        f"WHERE n.docid >= {int(low)} AND n.docid < {int(high)}"
    )
    # DuckDB runs a scan of one row group (122,880 rows: a whole slice) on one thread, but
    # the branches of a UNION ALL side by side: each field's documents are split in as
    # many branches as DuckDB has threads (up to TOKEN_BRANCHES_MAX).
    threads = _scalar(con, "SELECT current_setting('threads')")
    parts = max(1, min(TOKEN_BRANCHES_MAX, threads))
    tokens = " UNION ALL ".join(
        f"SELECT n.docid, {i} AS fieldid, {_LANGUAGE_COLUMN} AS lang, "
        f"unnest({_tokenize('a.' + column)}) AS w FROM {new_text}"
        + (f" AND n.docid % {parts} = {part}" if parts > 1 else "")
        for i, column in enumerate(FTS_COLUMNS)
        for part in range(parts)
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _fts_words AS "
        f"SELECT w, lang, {_stem_by_language('w', 'lang')} AS term "
        f"FROM (SELECT DISTINCT w, lang FROM ({tokens})) "
        f"WHERE w <> '' AND w NOT IN (SELECT sw FROM {fts}.stopwords)"
    )
    con.execute(
        f"INSERT INTO {fts}.dict "
        f"SELECT (SELECT coalesce(max(termid), -1) FROM {fts}.dict) "
        "+ row_number() OVER (ORDER BY t.term), t.term, 0 "
        f"FROM (SELECT DISTINCT term FROM _fts_words) t ANTI JOIN {fts}.dict d "
        "ON d.term = t.term"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _fts_word_ids AS "
        f"SELECT w.w, w.lang, d.termid FROM _fts_words w JOIN {fts}.dict d ON d.term = w.term"
    )
    con.execute(
        f"INSERT INTO {fts}.terms SELECT t.docid, t.fieldid, i.termid "
        f"FROM ({tokens}) t JOIN _fts_word_ids i ON i.w = t.w "
        "AND i.lang IS NOT DISTINCT FROM t.lang"
    )
    in_slice = f"FROM {fts}.terms WHERE docid >= ? AND docid < ?"
    con.execute(
        f"UPDATE {fts}.dict SET df = df + n.c FROM "
        f"(SELECT termid, count(DISTINCT docid) AS c {in_slice} GROUP BY termid) n "
        f"WHERE {fts}.dict.termid = n.termid",
        [low, high],
    )
    con.execute(
        f"INSERT INTO {fts}.docs SELECT n.docid, n.name, coalesce(c.len, 0) "
        f"FROM _fts_new n LEFT JOIN (SELECT docid, count(*) AS len {in_slice} GROUP BY docid) c "
        "ON c.docid = n.docid WHERE n.docid >= ? AND n.docid < ?",
        [low, high, low, high],
    )


@dataclass(frozen=True)
class SearchHit:
    id: str
    score: float
    title: str
    summary: str
    source: str
    url: str
    published_at: datetime
    topics: tuple[str, ...]
    cluster_id: str
    content: str = ""  # the body's plain text ('' when the feed gave none)


def search_articles(
    con: duckdb.DuckDBPyConnection,
    terms: str,
    *,
    topic: str | None = None,
    since: datetime | None = None,
    limit: int = 20,
    boost_topics: Sequence[str] = (),
    exclude: str = "",
    tag: str | None = None,
    phrases: Sequence[str] = (),
    exclude_phrases: Sequence[str] = (),
) -> list[SearchHit]:
    """Articles ranked by BM25 over title (weighted), summary and content, best first;
    articles that matched one of `boost_topics` first (a topic match outranks an incidental
    hit: a Mercedes S 400 review is not an S-400 story); none whose title, summary or
    content has a word of `exclude` (in any of its stemmed forms); with `tag`, only articles
    of feeds with that tag (any case). With `phrases`, only articles whose text has each
    phrase, its words in that order (any case and accents, any spaces or punctuation
    between them); none with a phrase of `exclude_phrases`."""
    indexed = _require_index(con)
    # An index built before the content column existed answers on title and summary until
    # the next poll rebuilds it.
    content_score = (
        f"+ {CONTENT_WEIGHT} * coalesce({FTS_SCHEMA}.match_bm25(id, ?, fields := 'content'), 0)"
        if "content" in indexed
        else ""
    )
    where = ["s.score IS NOT NULL"]
    # The query as the index's terms: every word in every language's stemmed form.
    query = " ".join(search_stems(con, terms))
    params: list[Any] = [query, query] + ([query] if content_score else [])
    if topic is not None:
        where.append(
            "a.id IN (SELECT article_id FROM article_topics WHERE lower(topic) = lower(?))"
        )
        params.append(topic)
    _add_filters(con, where, params, since=since, tag=tag)
    excluded = _exclusion(con, exclude, with_content=bool(content_score))
    if excluded is not None:
        where.append(excluded[0])
        params.extend(excluded[1])
    _add_phrases(where, params, phrases, exclude_phrases)
    on_topic = "0"
    if boost_topics:
        on_topic = (
            "CASE WHEN a.id IN (SELECT article_id FROM article_topics WHERE topic IN "
            f"({', '.join('?' for _ in boost_topics)})) THEN 1 ELSE 0 END"
        )
    params = (
        params[: 2 + bool(content_score)] + list(boost_topics) + params[2 + bool(content_score) :]
    )
    params.append(limit)
    rows = con.execute(
        f"""
        WITH s AS (
            SELECT id,
                   {TITLE_WEIGHT} * coalesce({FTS_SCHEMA}.match_bm25(id, ?, fields := 'title'), 0)
                   + coalesce({FTS_SCHEMA}.match_bm25(id, ?, fields := 'summary'), 0)
                   {content_score} AS score
            FROM articles
        )
        SELECT a.id, s.score, a.title, a.summary, a.source, a.url, a.published_at,
               coalesce(m.topics, []::VARCHAR[]), coalesce(c.cluster_id, a.id),
               {on_topic} AS on_topic, coalesce(a.content, '')
        FROM (SELECT * FROM s WHERE score > 0) s
        JOIN articles a ON a.id = s.id
        LEFT JOIN (
            SELECT article_id, list_sort(list(DISTINCT topic)) AS topics
            FROM article_topics GROUP BY article_id
        ) m ON m.article_id = a.id
        LEFT JOIN article_clusters c ON c.article_id = a.id
        WHERE {" AND ".join(where)}
        ORDER BY on_topic DESC, s.score DESC, a.published_at DESC, a.id
        LIMIT ?
        """,
        params,
    ).fetchall()
    return [
        SearchHit(r[0], float(r[1]), r[2], r[3], r[4], r[5], _utc(r[6]), tuple(r[7]), r[8], r[10])
        for r in rows
    ]


def _require_index(con: duckdb.DuckDBPyConnection) -> set[str]:
    """The fields the search index covers; SearchUnavailable when there is no index."""
    load_fts(con)
    if not has_search_index(con):
        raise SearchUnavailable(
            "no search index yet; it is built after each poll (or run `newswatch search --reindex`)"
        )
    return {str(r[0]) for r in con.execute(f"SELECT field FROM {FTS_SCHEMA}.fields").fetchall()}


def _exclusion(
    con: duckdb.DuckDBPyConnection, exclude: str, *, with_content: bool
) -> tuple[str, list[Any]] | None:
    """The WHERE condition (on articles `a`) and its parameters that leave out the articles
    whose title, summary or content has a word of `exclude` in any stemmed form; None when
    `exclude` has no word."""
    excluded = " ".join(search_stems(con, exclude)) if exclude.strip() else ""
    if not excluded:
        return None
    fields = ["title", "summary", *(["content"] if with_content else [])]
    found = ", ".join(f"{FTS_SCHEMA}.match_bm25(a.id, ?, fields := '{field}')" for field in fields)
    return f"coalesce({found}) IS NULL", [excluded] * len(fields)


def _add_filters(
    con: duckdb.DuckDBPyConnection,
    where: list[str],
    params: list[Any],
    *,
    since: datetime | None,
    tag: str | None,
) -> None:
    """The `--since` and `--tag` conditions of a search, onto `where` and `params`."""
    if since is not None:
        where.append("a.published_at >= ?")
        params.append(since)
    if tag is not None:
        where.append(_tag_condition(con))
        params.append(tag)


# An article's whole text as phrases are looked for in it: lower case, accents stripped.
_PHRASE_TEXT = (
    "lower(strip_accents(coalesce(a.title, '') || ' ' || coalesce(a.summary, '') || ' ' || "
    "coalesce(a.content, '')))"
)


def phrase_pattern(phrase: str) -> str | None:
    """The regex (DuckDB's RE2) that finds `phrase` in `_PHRASE_TEXT`: its words in order,
    whole, with anything but letters and digits between them; None for a phrase with no
    word."""
    words = re.findall(r"[^\W_]+", fold(phrase))
    if not words:
        return None
    inner = r"[^\pL\pN]+".join(re.escape(w) for w in words)
    return rf"(^|[^\pL\pN]){inner}($|[^\pL\pN])"


def _add_phrases(
    where: list[str], params: list[Any], phrases: Sequence[str], exclude: Sequence[str]
) -> None:
    """Conditions that keep the articles with every phrase and none of `exclude`."""
    for phrase in phrases:
        pattern = phrase_pattern(phrase)
        if pattern is not None:
            where.append(f"regexp_matches({_PHRASE_TEXT}, ?)")
            params.append(pattern)
    for phrase in exclude:
        pattern = phrase_pattern(phrase)
        if pattern is not None:
            where.append(f"NOT regexp_matches({_PHRASE_TEXT}, ?)")
            params.append(pattern)


def feed_tags(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Every tag the warehouse's feeds carry, sorted; [] before schema version 10."""
    if _missing_columns(con, "feeds", ["tags"]):
        return []
    rows = con.execute(
        "SELECT DISTINCT unnest(tags) AS tag FROM feeds WHERE tags IS NOT NULL ORDER BY tag"
    ).fetchall()
    return [row[0] for row in rows]


def _tag_condition(con: duckdb.DuckDBPyConnection) -> str:
    """The WHERE condition (on articles `a`, one parameter: the tag) that keeps the articles
    of feeds with the tag, in any case (sources.yaml spells each tag one way)."""
    if _missing_columns(con, "feeds", ["tags"]):
        raise SearchUnavailable(
            "this warehouse has no feed tags yet (schema version 10); the next poll adds them"
        )
    return (
        "a.feed_url IN (SELECT url FROM feeds "
        "WHERE list_contains(list_transform(tags, t -> lower(t)), lower(?)))"
    )


def topic_articles(
    con: duckdb.DuckDBPyConnection,
    topic: str,
    *,
    since: datetime | None = None,
    limit: int = 20,
    exclude: str = "",
    tag: str | None = None,
    exclude_phrases: Sequence[str] = (),
) -> list[SearchHit]:
    """The articles that matched `topic`, newest first (`newswatch search "" --topic T`): no
    ranking, so every score is 0. Needs the search index only to leave out `exclude`."""
    where = ["a.id IN (SELECT article_id FROM article_topics WHERE lower(topic) = lower(?))"]
    params: list[Any] = [topic]
    _add_filters(con, where, params, since=since, tag=tag)
    _add_phrases(where, params, (), exclude_phrases)
    if exclude.strip():
        indexed = _require_index(con)
        excluded = _exclusion(con, exclude, with_content="content" in indexed)
        if excluded is not None:
            where.append(excluded[0])
            params.extend(excluded[1])
    params.append(limit)
    rows = con.execute(
        f"""
        SELECT a.id, a.title, a.summary, a.source, a.url, a.published_at,
               coalesce(m.topics, []::VARCHAR[]), coalesce(c.cluster_id, a.id),
               coalesce(a.content, '')
        FROM articles a
        LEFT JOIN (
            SELECT article_id, list_sort(list(DISTINCT topic)) AS topics
            FROM article_topics GROUP BY article_id
        ) m ON m.article_id = a.id
        LEFT JOIN article_clusters c ON c.article_id = a.id
        WHERE {" AND ".join(where)}
        ORDER BY a.published_at DESC, a.id
        LIMIT ?
        """,
        params,
    ).fetchall()
    return [
        SearchHit(r[0], 0.0, r[1], r[2], r[3], r[4], _utc(r[5]), tuple(r[6]), r[7], r[8])
        for r in rows
    ]


def search_stems(con: duckdb.DuckDBPyConnection, terms: str) -> list[str]:
    """The query's words as the index sees them (lower-cased, accents stripped), each in the
    form of every language's stemmer (see SEARCH_STEMMERS), in a stable order."""
    load_fts(con)
    rows = con.execute(f"SELECT t FROM ({_query_forms_sql()}) ORDER BY t", [terms]).fetchall()
    return [r[0] for r in rows if r[0]]
