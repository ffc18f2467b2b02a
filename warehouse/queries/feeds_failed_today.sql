-- Feeds with at least one failed fetch today (UTC day), with the last error seen.
SELECT
    f.name,
    l.feed_url,
    count(*) AS failed_attempts,
    max(l.started_at) AS last_failure_at,
    arg_max(l.http_status, l.started_at) AS http_status,
    arg_max(l.error_kind, l.started_at) AS error_kind,
    arg_max(l.error, l.started_at) AS error
FROM fetch_log l
LEFT JOIN feeds f ON f.url = l.feed_url
WHERE l.outcome = 'error'
  AND (l.started_at AT TIME ZONE 'UTC')::DATE = (now() AT TIME ZONE 'UTC')::DATE
GROUP BY ALL
ORDER BY last_failure_at DESC;
