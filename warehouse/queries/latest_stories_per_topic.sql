-- The five latest stories per topic (one row per story cluster).
SELECT topic, headline, articles, sources, last_published_at, url
FROM latest_stories
QUALIFY row_number() OVER (PARTITION BY topic ORDER BY last_published_at DESC, cluster_id) <= 5
ORDER BY topic, last_published_at DESC;
