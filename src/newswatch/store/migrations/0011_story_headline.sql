-- Schema version 11: `latest_stories.headline` (and `url`) is the story's first report that is
-- not an outlet's one-line flash ("BREAKING: ...", "SON DAKİKA: ...", "СРОЧНО: ..."), as the
-- digest shows it; a flash only when the story has nothing else. `first_source` stays the
-- outlet that was first, flash or not. The markers are newswatch.digest.cluster.FLASH_MARKERS,
-- written here in DuckDB's regex dialect (tests/test_cluster.py holds the two equal).
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
        a.published_at,
        regexp_matches(
            lower(replace(a.title, 'İ', 'i')),
            '^[^\pL\pN]*(?:breaking news|breaking|flash|urgent|just in|son dakika|sıcak gelişme|срочно|молния|έκτακτο|εκτακτο|عاجل|eilmeldung|eil|dernière minute|alerte|última hora|urgente|ultim''ora|ultima ora|pilne|z ostatniej chwili)\s*[:|\-–—]'
        ) AS flash
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
    first(m.title ORDER BY m.flash, m.published_at, m.id) AS headline,
    first(m.url ORDER BY m.flash, m.published_at, m.id) AS url,
    first(m.source ORDER BY m.published_at, m.id) AS first_source,
    any_value(s.sources) AS sources,
    count(DISTINCT m.id) AS articles,
    min(m.published_at) AS first_published_at,
    max(m.published_at) AS last_published_at,
    any_value(s.feed_tags) AS feed_tags
FROM m
JOIN story_sources s ON s.cluster_id = m.cluster_id
GROUP BY m.topic, m.cluster_id;
