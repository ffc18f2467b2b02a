-- All S-400 stories of the last 7 days, one row per story, with the outlets that carried it.
-- Run: newswatch query "$(cat warehouse/queries/s400_stories_this_week.sql)"
SELECT
    headline,
    first_published_at,
    last_published_at,
    articles,
    sources,
    url
FROM latest_stories
WHERE topic = 'S-400'
  AND last_published_at >= now() - INTERVAL 7 DAY
ORDER BY last_published_at DESC;
