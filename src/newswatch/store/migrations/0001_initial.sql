-- Schema version 1: articles, topic matches with explanations, clusters, feeds, fetch log,
-- polls and digests. All timestamps are TIMESTAMPTZ stored in UTC.

CREATE TABLE feeds (
    url                   VARCHAR PRIMARY KEY,
    name                  VARCHAR NOT NULL,
    title                 VARCHAR,
    etag                  VARCHAR,
    last_modified         VARCHAR,
    body_sha256           VARCHAR,
    consecutive_failures  INTEGER NOT NULL DEFAULT 0,
    first_seen_at         TIMESTAMPTZ,
    last_attempt_at       TIMESTAMPTZ,
    last_success_at       TIMESTAMPTZ,
    next_poll_at          TIMESTAMPTZ,
    last_outcome          VARCHAR,
    last_http_status      INTEGER,
    last_error_kind       VARCHAR,
    last_error            VARCHAR,
    last_duration_ms      DOUBLE,
    last_bytes            BIGINT,
    last_new_articles     INTEGER
);

CREATE TABLE articles (
    id                  VARCHAR PRIMARY KEY,
    feed_url            VARCHAR NOT NULL,
    source              VARCHAR NOT NULL,
    url                 VARCHAR NOT NULL,
    title               VARCHAR NOT NULL,
    summary             VARCHAR NOT NULL,
    summary_html        VARCHAR NOT NULL,
    published_at        TIMESTAMPTZ NOT NULL,
    published_at_known  BOOLEAN NOT NULL,
    guid                VARCHAR,
    author              VARCHAR,
    first_seen_at       TIMESTAMPTZ NOT NULL,
    poll_id             VARCHAR NOT NULL
);

CREATE TABLE article_topics (
    article_id  VARCHAR NOT NULL,
    topic       VARCHAR NOT NULL,
    rule        VARCHAR NOT NULL,
    matched_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE match_hits (
    article_id    VARCHAR NOT NULL,
    topic         VARCHAR NOT NULL,
    field         VARCHAR NOT NULL,
    start_pos     INTEGER NOT NULL,
    end_pos       INTEGER NOT NULL,
    term          VARCHAR NOT NULL,
    matched_text  VARCHAR NOT NULL
);

CREATE TABLE article_clusters (
    article_id   VARCHAR NOT NULL,
    cluster_id   VARCHAR NOT NULL,
    assigned_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE fetch_log (
    poll_id         VARCHAR NOT NULL,
    feed_url        VARCHAR NOT NULL,
    started_at      TIMESTAMPTZ NOT NULL,
    duration_ms     DOUBLE NOT NULL,
    outcome         VARCHAR NOT NULL,
    http_status     INTEGER,
    error_kind      VARCHAR,
    error           VARCHAR,
    bytes           BIGINT NOT NULL,
    entries         INTEGER NOT NULL,
    new_articles    INTEGER NOT NULL
);

CREATE TABLE polls (
    id              VARCHAR PRIMARY KEY,
    started_at      TIMESTAMPTZ NOT NULL,
    finished_at     TIMESTAMPTZ,
    stored_at       TIMESTAMPTZ,
    feeds           INTEGER NOT NULL,
    feeds_ok        INTEGER NOT NULL,
    feeds_not_modified INTEGER NOT NULL,
    feeds_failed    INTEGER NOT NULL,
    entries         INTEGER NOT NULL,
    new_articles    INTEGER NOT NULL,
    new_matches     INTEGER NOT NULL,
    timings_json    VARCHAR
);

CREATE TABLE digests (
    id              VARCHAR PRIMARY KEY,
    digest_date     DATE NOT NULL,
    timezone        VARCHAR NOT NULL,
    window_start    TIMESTAMPTZ NOT NULL,
    window_end      TIMESTAMPTZ NOT NULL,
    article_count   INTEGER NOT NULL,
    story_count     INTEGER NOT NULL,
    recipients      VARCHAR,
    subject         VARCHAR,
    status          VARCHAR NOT NULL,   -- rendered | sending | sent | failed | unknown
    message_id      VARCHAR,
    created_at      TIMESTAMPTZ NOT NULL,
    sent_at         TIMESTAMPTZ,
    error           VARCHAR,
    html_path       VARCHAR,
    eml_path        VARCHAR
);
