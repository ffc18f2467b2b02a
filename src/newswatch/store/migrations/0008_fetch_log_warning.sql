-- Schema version 8: a problem with a fetched body that still gave articles, per fetch, e.g.
-- "body ends mid-document (truncated?): the last, incomplete entry was left out" (NULL when none).
ALTER TABLE fetch_log ADD COLUMN warning VARCHAR;
