-- Schema version 9: `latest_stories.sources` names every outlet of the story. Version 2 listed
-- only the outlets whose article matched the row's topic, so a story that a second outlet
-- carried under another topic's words (the digest's "Also reported by") did not name that
-- outlet. Now `sources` is every outlet among the story's matched articles (any topic), as the
-- digest shows it; `headline`, `url`, `first_source`, `articles` and the times stay those of
-- the articles that matched the row's topic.
CREATE OR REPLACE VIEW latest_stories AS
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
),
story_sources AS (
    SELECT cluster_id, list_sort(list(DISTINCT source)) AS sources
    FROM m
    GROUP BY cluster_id
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
    max(m.published_at) AS last_published_at
FROM m
JOIN story_sources s ON s.cluster_id = m.cluster_id
GROUP BY m.topic, m.cluster_id;
