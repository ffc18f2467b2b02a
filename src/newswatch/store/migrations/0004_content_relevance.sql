-- Schema version 4: the entry's full content (plain text and sanitised HTML) beside its
-- summary, and a relevance score per (article, topic) match. Older rows get empty content
-- and no score (NULL): `newswatch rematch` scores them.
ALTER TABLE articles ADD COLUMN content VARCHAR DEFAULT '';
ALTER TABLE articles ADD COLUMN content_html VARCHAR DEFAULT '';
ALTER TABLE article_topics ADD COLUMN relevance DOUBLE;
