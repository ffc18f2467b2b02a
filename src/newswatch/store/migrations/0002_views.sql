-- Schema version 2: views for the common questions. Views only: no stored data changes.
-- Days are UTC calendar days of the publication time (`published_at AT TIME ZONE 'UTC'`),
-- whatever TimeZone the reading session uses. An article without a cluster row (clusters
-- are recomputed after each poll) counts as a story of its own.

-- Articles that matched at least one topic, with their topics and their story cluster.
CREATE VIEW matched_articles AS
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
    t.topics,
    len(t.topics) AS topic_count,
    coalesce(c.cluster_id, a.id) AS cluster_id
FROM articles a
JOIN (
    SELECT article_id, list_sort(list(DISTINCT topic)) AS topics
    FROM article_topics
    GROUP BY article_id
) t ON t.article_id = a.id
LEFT JOIN article_clusters c ON c.article_id = a.id;

-- Matched articles, stories and outlets per topic per UTC day.
CREATE VIEW daily_topic_counts AS
SELECT
    (a.published_at AT TIME ZONE 'UTC')::DATE AS day,
    t.topic,
    count(DISTINCT a.id) AS articles,
    count(DISTINCT coalesce(c.cluster_id, a.id)) AS stories,
    count(DISTINCT a.source) AS sources
FROM article_topics t
JOIN articles a ON a.id = t.article_id
LEFT JOIN article_clusters c ON c.article_id = a.id
GROUP BY ALL;

-- All articles and matched articles per source (outlet) per UTC day.
CREATE VIEW daily_source_counts AS
SELECT
    (a.published_at AT TIME ZONE 'UTC')::DATE AS day,
    a.source,
    count(*) AS articles,
    count(*) FILTER (WHERE a.id IN (SELECT article_id FROM article_topics)) AS matched_articles
FROM articles a
GROUP BY ALL;

-- One row per feed: its current state plus what its fetch log says about the last 7 days.
CREATE VIEW feed_health AS
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
    s.newest_article_at
FROM feeds f
LEFT JOIN recent r ON r.feed_url = f.url
LEFT JOIN stored s ON s.feed_url = f.url;

-- One row per (topic, story cluster): the first report's headline, how many articles and
-- outlets carried it, and when. Order by last_published_at DESC for "latest stories".
CREATE VIEW latest_stories AS
WITH m AS (
    SELECT DISTINCT
        t.topic,
        coalesce(c.cluster_id, a.id) AS cluster_id,
        a.id,
        a.title,
        a.url,
        a.source,
        a.published_at
    FROM article_topics t
    JOIN articles a ON a.id = t.article_id
    LEFT JOIN article_clusters c ON c.article_id = a.id
)
SELECT
    topic,
    cluster_id,
    first(title ORDER BY published_at, id) AS headline,
    first(url ORDER BY published_at, id) AS url,
    first(source ORDER BY published_at, id) AS first_source,
    list_sort(list(DISTINCT source)) AS sources,
    count(DISTINCT id) AS articles,
    min(published_at) AS first_published_at,
    max(published_at) AS last_published_at
FROM m
GROUP BY topic, cluster_id;

-- Why an article matched: every term hit with its rule and the text around it.
CREATE VIEW match_explanations AS
SELECT
    h.article_id,
    a.title,
    a.source,
    a.url,
    h.topic,
    t.rule,
    h.field,
    h.term,
    h.matched_text,
    h.start_pos,
    h.end_pos,
    substr(
        CASE h.field WHEN 'title' THEN a.title ELSE a.summary END,
        greatest(1, h.start_pos + 1 - 60),
        h.end_pos - h.start_pos + 120
    ) AS context
FROM match_hits h
JOIN articles a ON a.id = h.article_id
LEFT JOIN article_topics t ON t.article_id = h.article_id AND t.topic = h.topic;
