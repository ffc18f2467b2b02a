-- Slowest feeds over the last 7 days: median and 95th percentile fetch time (milliseconds),
-- counting every attempt (failed ones too: a timeout is slow as well).
SELECT
    coalesce(f.name, l.feed_url) AS feed,
    count(*) AS attempts,
    round(median(l.duration_ms)) AS median_ms,
    round(quantile_cont(l.duration_ms, 0.95)) AS p95_ms,
    round(max(l.duration_ms)) AS max_ms,
    count(*) FILTER (WHERE l.outcome = 'error') AS failures
FROM fetch_log l
LEFT JOIN feeds f ON f.url = l.feed_url
WHERE l.started_at >= now() - INTERVAL 7 DAY
GROUP BY ALL
ORDER BY median_ms DESC
LIMIT 10;
