-- Schema version 7: `match_explanations.context` for a hit in the article's body. Version 2
-- took every hit's context from the summary unless the hit was in the title, so a body hit
-- (schema version 4 added the body) showed summary text at the body's offsets. Now each hit's
-- context comes from the field it is in.
CREATE OR REPLACE VIEW match_explanations AS
SELECT
    h.article_id,
    a.title,
    a.source,
    a.url,
    h.topic,
    t.rule,
    h.field,
    h.term,
    h.matched_text,
    h.start_pos,
    h.end_pos,
    substr(
        CASE h.field
            WHEN 'title' THEN a.title
            WHEN 'content' THEN a.content
            ELSE a.summary
        END,
        greatest(1, h.start_pos + 1 - 60),
        h.end_pos - h.start_pos + 120
    ) AS context
FROM match_hits h
JOIN articles a ON a.id = h.article_id
LEFT JOIN article_topics t ON t.article_id = h.article_id AND t.topic = h.topic;
