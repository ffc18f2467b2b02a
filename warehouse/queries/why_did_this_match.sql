-- Why did this article match? Every term hit with its field, position and surrounding text.
-- Replace the subquery with an article id, e.g. WHERE article_id = '67ded515cd2b...'.
-- This example explains the newest article that matched the most topics.
SELECT topic, rule, field, term, matched_text, start_pos, end_pos, context, title, url
FROM match_explanations
WHERE article_id = (
    SELECT id FROM matched_articles ORDER BY topic_count DESC, published_at DESC, id LIMIT 1
)
ORDER BY topic, field DESC, start_pos;
