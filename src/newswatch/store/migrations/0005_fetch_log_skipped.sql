-- Schema version 5: entries a feed listed but the poll did not store, per fetch.
-- entries_skipped counts them; skipped_reasons says why, e.g. "2 skipped: no content at all"
-- or "3 skipped: 2 no content at all, 1 repeats an earlier entry" (NULL when none).
ALTER TABLE fetch_log ADD COLUMN entries_skipped INTEGER DEFAULT 0;
ALTER TABLE fetch_log ADD COLUMN skipped_reasons VARCHAR;
