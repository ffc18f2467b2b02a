-- Daily volume per topic over the last 30 days (UTC days), zero-filled so charts have no gaps.
WITH days AS (
    SELECT unnest(generate_series(
        (now() AT TIME ZONE 'UTC')::DATE - 29, (now() AT TIME ZONE 'UTC')::DATE, INTERVAL 1 DAY
    ))::DATE AS day
),
topics AS (SELECT DISTINCT topic FROM article_topics)
SELECT
    d.day,
    t.topic,
    coalesce(c.articles, 0) AS articles,
    coalesce(c.stories, 0) AS stories,
    coalesce(c.sources, 0) AS sources
FROM days d
CROSS JOIN topics t
LEFT JOIN daily_topic_counts c ON c.day = d.day AND c.topic = t.topic
ORDER BY d.day, t.topic;
