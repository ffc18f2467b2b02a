-- Feeds that are not healthy right now, worst first, with their 7-day record.
SELECT name, status, consecutive_failures, last_http_status, last_error, last_success_at,
       attempts_7d, failures_7d, success_rate_7d, url
FROM feed_health
WHERE status <> 'ok'
ORDER BY consecutive_failures DESC, name;
