-- Which outlets cover NATO most: NATO-matched articles per source, and their share of
-- everything that source published (all time; add a published_at filter for a period).
SELECT
    a.source,
    count(*) FILTER (WHERE t.article_id IS NOT NULL) AS nato_articles,
    count(*) AS all_articles,
    round(100.0 * count(*) FILTER (WHERE t.article_id IS NOT NULL) / count(*), 1) AS nato_pct
FROM articles a
LEFT JOIN (SELECT DISTINCT article_id FROM article_topics WHERE topic = 'NATO') t
    ON t.article_id = a.id
GROUP BY a.source
HAVING nato_articles > 0
ORDER BY nato_articles DESC, nato_pct DESC;
