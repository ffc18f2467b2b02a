-- Schema version 10: a feed's tags (sources.yaml `tags:`, e.g. [GR, wire]), so analysts can
-- ask for the stories of outlets of a country or a kind without encoding it in feed names.
-- Written by every poll from its sources file (an edit shows after the next poll); a feed
-- without tags, and every feed stored before this version until then, has []. (Nullable:
-- DuckDB 1.5 can neither add a column with NOT NULL nor set it in the migration's transaction;
-- newswatch never writes NULL, and the views read a NULL as [].)
ALTER TABLE feeds ADD COLUMN tags VARCHAR[] DEFAULT [];

-- matched_articles (version 3) gains the article's feed's current tags, as its last column.
CREATE OR REPLACE VIEW matched_articles AS
SELECT
    a.id,
    a.published_at,
    a.published_at_known,
    a.first_seen_at,
    a.source,
    a.feed_url,
    a.title,
    a.url,
    a.summary,
    a.language,
    t.topics,
    len(t.topics) AS topic_count,
    coalesce(c.cluster_id, a.id) AS cluster_id,
    coalesce(f.tags, []) AS feed_tags
FROM articles a
JOIN (
    SELECT article_id, list_sort(list(DISTINCT topic)) AS topics
    FROM article_topics
    GROUP BY article_id
) t ON t.article_id = a.id
LEFT JOIN article_clusters c ON c.article_id = a.id
LEFT JOIN feeds f ON f.url = a.feed_url;

-- latest_stories (version 9) gains `feed_tags`: every tag of the feeds that carried the story,
-- over the same articles as `sources` (all the story's matched articles, any topic).
CREATE OR REPLACE VIEW latest_stories AS
WITH m AS (
    SELECT DISTINCT
        t.topic,
        coalesce(c.cluster_id, a.id) AS cluster_id,
        a.id,
        a.title,
        a.url,
        a.source,
        a.feed_url,
        a.published_at
    FROM article_topics t
    JOIN articles a ON a.id = t.article_id
    LEFT JOIN article_clusters c ON c.article_id = a.id
),
story_sources AS (
    SELECT
        m.cluster_id,
        list_sort(list(DISTINCT m.source)) AS sources,
        list_sort(list_distinct(flatten(list(coalesce(f.tags, []))))) AS feed_tags
    FROM m
    LEFT JOIN feeds f ON f.url = m.feed_url
    GROUP BY m.cluster_id
)
SELECT
    m.topic,
    m.cluster_id,
    first(m.title ORDER BY m.published_at, m.id) AS headline,
    first(m.url ORDER BY m.published_at, m.id) AS url,
    first(m.source ORDER BY m.published_at, m.id) AS first_source,
    any_value(s.sources) AS sources,
    count(DISTINCT m.id) AS articles,
    min(m.published_at) AS first_published_at,
    max(m.published_at) AS last_published_at,
    any_value(s.feed_tags) AS feed_tags
FROM m
JOIN story_sources s ON s.cluster_id = m.cluster_id
GROUP BY m.topic, m.cluster_id;

-- feed_health (version 2) gains the feed's tags, as its last column.
CREATE OR REPLACE VIEW feed_health AS
WITH recent AS (
    SELECT
        feed_url,
        count(*) AS attempts_7d,
        count(*) FILTER (WHERE outcome = 'error') AS failures_7d,
        avg(duration_ms) AS avg_duration_ms_7d,
        max(duration_ms) AS max_duration_ms_7d,
        sum(bytes) AS bytes_7d,
        sum(new_articles) AS new_articles_7d
    FROM fetch_log
    WHERE started_at >= now() - INTERVAL 7 DAY
    GROUP BY feed_url
),
stored AS (
    SELECT feed_url, count(*) AS articles, max(published_at) AS newest_article_at
    FROM articles
    GROUP BY feed_url
)
SELECT
    f.url,
    f.name,
    f.title,
    CASE
        WHEN f.last_attempt_at IS NULL THEN 'never polled'
        WHEN f.last_success_at IS NULL THEN 'never succeeded'
        WHEN f.consecutive_failures > 0 THEN 'failing'
        ELSE 'ok'
    END AS status,
    f.consecutive_failures,
    f.last_outcome,
    f.last_http_status,
    f.last_error_kind,
    f.last_error,
    f.last_attempt_at,
    f.last_success_at,
    f.next_poll_at,
    f.last_duration_ms,
    f.last_bytes,
    f.last_new_articles,
    coalesce(r.attempts_7d, 0) AS attempts_7d,
    coalesce(r.failures_7d, 0) AS failures_7d,
    CASE WHEN r.attempts_7d > 0 THEN 1 - r.failures_7d / r.attempts_7d END AS success_rate_7d,
    r.avg_duration_ms_7d,
    r.max_duration_ms_7d,
    coalesce(r.bytes_7d, 0) AS bytes_7d,
    coalesce(r.new_articles_7d, 0) AS new_articles_7d,
    coalesce(s.articles, 0) AS articles,
    s.newest_article_at,
    f.tags
FROM feeds f
LEFT JOIN recent r ON r.feed_url = f.url
LEFT JOIN stored s ON s.feed_url = f.url;
