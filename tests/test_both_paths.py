"""The same end-to-end cases through both paths a one-off command can take: in-process (no
Prefect server about, or --no-prefect) and as Prefect flow runs (a server about, or
--prefect; here the session's Prefect test API). Both leave the same warehouse and print the
same summaries; the flow runs carry their task runs."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from newswatch import cli
from tests.feedserver import FeedServer
from tests.helpers import rss, write_sources
from tests.smtp_helpers import StartServer

NOW = datetime.now(UTC)


def _items(prefix: str, titles: list[str]) -> list[dict[str, Any]]:
    return [
        {"title": t, "link": f"https://{prefix}.example/{i}", "guid": f"{prefix}-{i}",
         "description": "Ankara and NATO allies met." if i % 2 else "Nothing new here.",
         "pubDate": NOW - timedelta(hours=i)}
        for i, t in enumerate(titles)
    ]  # fmt: skip


WIRE = [
    "Turkey weighs new S-400 deliveries as NATO allies object",
    "Erdogan says Ankara will not give up the S-400",
    "City council approves budget for new tram line",
]
DESK = ["NATO summit opens in Vilnius", "Heatwave expected to break records"]
LATER = ["NATO ministers meet again on air defence"]


def _snapshot(db: Path) -> dict[str, Any]:
    """What a poll and a digest leave in the warehouse, without ids and clock readings."""
    con = duckdb.connect(str(db), read_only=True)

    def rows(sql: str) -> list[tuple[Any, ...]]:
        return con.execute(sql).fetchall()

    try:
        clusters: dict[str, set[str]] = {}
        for article, cluster in rows("SELECT article_id, cluster_id FROM article_clusters"):
            clusters.setdefault(cluster, set()).add(article)
        return {
            "articles": rows(
                "SELECT id, feed_url, source, url, title, summary, published_at, guid "
                "FROM articles ORDER BY id"
            ),
            "topics": rows("SELECT article_id, topic, rule FROM article_topics ORDER BY ALL"),
            "hits": rows("SELECT * FROM match_hits ORDER BY ALL"),
            "clusters": sorted(sorted(c) for c in clusters.values()),
            "feeds": rows(
                "SELECT url, name, title, etag, body_sha256, consecutive_failures, last_outcome, "
                "last_http_status, last_error_kind, last_error, last_new_articles "
                "FROM feeds ORDER BY url"
            ),
            "fetch_log": rows(
                "SELECT p.started_at IS NOT NULL, l.feed_url, l.outcome, l.http_status, "
                "l.error_kind, l.entries, l.new_articles FROM fetch_log l "
                "JOIN polls p ON p.id = l.poll_id ORDER BY p.started_at, l.feed_url"
            ),
            "polls": rows(
                "SELECT feeds, feeds_ok, feeds_not_modified, feeds_failed, entries, new_articles, "
                "new_matches, stored_at IS NOT NULL FROM polls ORDER BY started_at"
            ),
            "digests": rows(
                "SELECT digest_date, timezone, article_count, story_count, recipients, subject, "
                "status, message_id IS NOT NULL, error FROM digests ORDER BY created_at"
            ),
        }
    finally:
        con.close()


def _printed(text: str, root: Path) -> list[str]:
    """Printed lines without durations, timings, clock readings and message ids, with the
    run's folder as ROOT."""
    text = text.replace(str(root), "ROOT")
    text = re.sub(r"\s+\d+ ms\s+", " _ ms ", text)
    # Clock readings: "12:03 UTC", "sent at 2026-12-07 03:18 (Etc/UTC, ...)": the two paths
    # may run either side of a minute's turn.
    text = re.sub(r"\d\d:\d\d(?= UTC| \()", "HH:MM", text)
    text = re.sub(r"<[^<>@\s]+@example\.org>", "<MESSAGE-ID>", text)
    return [line for line in text.splitlines() if "timings (s)" not in line]


def _scenario(feed_server: FeedServer, root: Path, path_flag: str) -> tuple[Path, list[str]]:
    root.mkdir()
    # The same feeds at the same addresses for both paths.
    wire = feed_server.route("/wire.xml", body=rss("Wire", _items("wire", WIRE)))
    desk = feed_server.route("/desk.xml", body=rss("Desk", _items("desk", DESK)))
    down = feed_server.route("/down.xml", status=500, body=b"oops")
    sources = write_sources(root / "sources.yaml", [(wire, "Wire"), (desk, "Desk"), (down, "Down")])
    db = root / "wh" / "news.duckdb"
    base = ["--sources", str(sources), "--db", str(db)]
    out_dir = ["--out", str(root / "digests")]
    printed: list[str] = []

    def run(*argv: str, status: int = 0) -> None:
        out = io.StringIO()
        assert cli.main([*argv, path_flag], out=out) == status, out.getvalue()
        printed.extend(_printed(out.getvalue(), root))

    run("poll", *base)  # first poll: everything new, one feed fails
    run("poll", *base)  # all unchanged: 304s
    feed_server.route("/desk.xml", body=rss("Desk", _items("desk", DESK + LATER)))
    run("run", *base, *out_dir)  # one feed changed; then the digest is rendered
    run("digest", *base, *out_dir, "--send", "--to", "desk@example.org")
    run("digest", *base, *out_dir, "--send", "--to", "desk@example.org")  # not sent again
    return db, printed


def test_in_process_and_flow_runs_leave_the_same_warehouse(
    feed_server: FeedServer,
    tmp_path: Path,
    prefect_harness: None,
    start_server: StartServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = start_server()
    monkeypatch.setenv("NEWSWATCH_SMTP_URL", f"smtp://127.0.0.1:{server.port}")
    monkeypatch.setenv("NEWSWATCH_MAIL_FROM", "news@example.org")
    plain_db, plain_out = _scenario(feed_server, tmp_path / "plain", "--no-prefect")
    flow_db, flow_out = _scenario(feed_server, tmp_path / "flow", "--prefect")

    plain, flows = _snapshot(plain_db), _snapshot(flow_db)
    assert plain["articles"] and plain["topics"] and plain["clusters"]
    # feeds, ok, 304, failed, entries, new articles, (new matches), stored
    first, unchanged, changed = plain["polls"]
    assert first[:6] == (3, 2, 0, 1, 5, 5) and first[6] > 0 and first[7]
    assert unchanged == (3, 0, 2, 1, 0, 0, 0, True)
    assert changed[:6] == (3, 1, 1, 1, 3, 1) and changed[7]
    assert [d[6] for d in plain["digests"]] == ["rendered", "sent"]
    assert len(server.handler.received) == 2  # one per path
    for table in plain:
        assert flows[table] == plain[table], table
    assert flow_out == plain_out

    # The flow runs, each with its task runs, are in the Prefect API.
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = [
            r for r in client.read_flow_runs(limit=200) if r.parameters.get("db") == str(flow_db)
        ]
        names = sorted(client.read_flow(r.flow_id).name for r in runs)
        assert names == ["newswatch-digest"] * 3 + ["newswatch-poll"] * 3
        tasks = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[r.id for r in runs]))
        )
    assert {t.name.rsplit("-", 1)[0] for t in tasks} >= {
        "read-feed-state", "fetch-parse-match", "store", "refresh-clusters",
        "gather-digest", "render-digest", "send-digest",
    }  # fmt: skip
