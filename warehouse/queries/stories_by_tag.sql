-- Stories of one topic that feeds with one tag carried in the last 7 days: here S-400 stories
-- from Turkish outlets (feeds with `tags: [TR, ...]` in sources.yaml). Change the topic and
-- the tag in `wanted`. `tagged_sources` names the outlets with the tag, `sources` all of them.
-- Run: newswatch query "$(cat warehouse/queries/stories_by_tag.sql)"
WITH wanted AS (SELECT 'S-400' AS topic, 'TR' AS tag)
SELECT
    s.headline,
    (
        SELECT list_sort(list(DISTINCT m.source))
        FROM matched_articles m
        WHERE m.cluster_id = s.cluster_id AND list_contains(m.feed_tags, w.tag)
    ) AS tagged_sources,
    s.sources,
    s.articles,
    s.last_published_at,
    s.url
FROM latest_stories s, wanted w
WHERE s.topic = w.topic
  AND list_contains(s.feed_tags, w.tag)
  AND s.last_published_at >= now() - INTERVAL 7 DAY
ORDER BY s.last_published_at DESC;
