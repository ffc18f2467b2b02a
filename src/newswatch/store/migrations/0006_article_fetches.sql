-- Schema version 6: the article-page fetches (sources.yaml `fetch_article`). One row per
-- article whose linked page newswatch fetched, whatever came of it: a page is fetched at most
-- once per article, and this table is how the next poll knows.

CREATE TABLE article_fetches (
    article_id    VARCHAR PRIMARY KEY,
    poll_id       VARCHAR NOT NULL,
    url           VARCHAR NOT NULL,
    final_url     VARCHAR,
    started_at    TIMESTAMPTZ NOT NULL,
    duration_ms   DOUBLE NOT NULL,
    outcome       VARCHAR NOT NULL,   -- extracted | no_text | error
    http_status   INTEGER,
    error_kind    VARCHAR,
    error         VARCHAR,
    bytes         BIGINT NOT NULL,
    content_type  VARCHAR,
    extract_ms    DOUBLE,
    text_chars    INTEGER NOT NULL
);
