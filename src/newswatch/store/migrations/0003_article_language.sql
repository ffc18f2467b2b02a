-- Schema version 3: the language each article is written in, as an ISO 639-1 code ("en",
-- "tr", "ru", "el", "ar", ...), detected from its title and summary by the poll that stored
-- it (lingua-language-detector); NULL when the text says too little to tell, and for
-- articles stored before this version.
ALTER TABLE articles ADD COLUMN language VARCHAR;

-- matched_articles (version 2) gains the language, after the summary.
CREATE OR REPLACE VIEW matched_articles AS
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
    a.language,
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
