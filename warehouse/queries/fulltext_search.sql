-- Full-text search (BM25) over titles and summaries; title hits count double.
-- The index is brought up to date by each poll that stores new articles (so it lags only
-- while a poll's batch waits in the spool); see "Full-text search" in warehouse/README.md.
-- `newswatch query` loads the fts extension for you; in a DuckDB 1.5.5 CLI run
-- LOAD '<site-packages>/duckdb_extension_fts/extensions/v1.5.5/fts.duckdb_extension' first.
-- (`newswatch search "S-400 battery"` does the same with snippets.)
-- The index holds each article's words stemmed by its language's stemmer, so the query goes
-- in as its words in every stemmer's form (what `newswatch search` does).
WITH query AS (
    SELECT string_agg(DISTINCT t, ' ') AS terms
    FROM (
        SELECT unnest([w, stem(w, 'porter'), stem(w, 'turkish'), stem(w, 'russian'),
                       stem(w, 'greek'), stem(w, 'arabic'), stem(w, 'french'), stem(w, 'german'),
                       stem(w, 'spanish'), stem(w, 'italian'), stem(w, 'portuguese'),
                       stem(w, 'dutch'), stem(w, 'romanian'), stem(w, 'hindi')]) AS t
        FROM (SELECT unnest(string_split_regex(strip_accents(lower('S-400 battery')),
                                               '(\\.|[^\p{L}\p{N}])+')) AS w)
        WHERE w <> ''
    )
),
hits AS (
    SELECT
        id,
        2 * coalesce(fts_main_articles.match_bm25(id, (SELECT terms FROM query), fields := 'title'), 0)
        + coalesce(fts_main_articles.match_bm25(id, (SELECT terms FROM query), fields := 'summary'), 0)
            AS score
    FROM articles
)
SELECT round(h.score, 3) AS score, a.title, a.source, a.published_at, a.url
FROM hits h
JOIN articles a ON a.id = h.id
WHERE h.score > 0
ORDER BY h.score DESC
LIMIT 20;
