-- Stories that matched two or more topics (e.g. Turkey + S-400 + NATO), newest first.
SELECT
    cluster_id,
    any_value(title ORDER BY published_at) AS headline,
    list_sort(list(DISTINCT source)) AS sources,
    max(topic_count) AS topic_count,
    list_sort(flatten(list(topics)).list_distinct()) AS topics,
    max(published_at) AS last_published_at
FROM matched_articles
WHERE topic_count >= 2
GROUP BY cluster_id
ORDER BY last_published_at DESC;
