"""The poll on a local Dask cluster (two worker processes) stores exactly what the default runner
stores: same article ids, titles, urls and topics, against the same loopback feed server."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from newswatch import cli
from newswatch.config import RunnerSettings, load_config
from newswatch.errors import RunnerError
from newswatch.models import FeedSource
from newswatch.orchestrate.runners import resolve, split_batches
from tests.conftest import CORPUS
from tests.feedserver import FeedServer
from tests.helpers import rss, write_sources

REALNEWS = (
    CORPUS / "realnews" if (CORPUS / "realnews").is_dir() else Path("/work/shared/corpus/realnews")
)
TITLES = (
    "Turkey weighs new S-400 deliveries as NATO allies object",
    "City council approves budget for new tram line",
    "Erdogan says Ankara will not give up the S-400",
    "Heatwave expected to break records across the south",
)


def _synthetic(n: int) -> bytes:
    now = datetime.now(UTC)
    return rss(
        f"Synthetic {n}",
        [
            {
                "title": f"{TITLES[(n + k) % len(TITLES)]} ({n}-{k})",
                "link": f"https://synthetic{n}.example/{k}",
                "guid": f"syn-{n}-{k}",
                "description": "NATO ministers met." if k % 3 == 0 else "Nothing to see.",
                "pubDate": now - timedelta(hours=k),
            }
            for k in range(8)
        ],
    )


def _articles(db: Path) -> set[tuple[str, str, str, tuple[str, ...]]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute(
            "SELECT a.id, a.title, a.url, list_sort(list(t.topic) FILTER (WHERE t.topic IS NOT NULL)) "
            "FROM articles a LEFT JOIN article_topics t ON t.article_id = a.id "
            "GROUP BY a.id, a.title, a.url"
        ).fetchall()
    finally:
        con.close()
    return {(r[0], r[1], r[2], tuple(r[3] or ())) for r in rows}


def test_dask_runner_stores_the_same_articles_as_the_default_runner(
    feed_server: FeedServer, tmp_path: Path, prefect_harness: None, request: pytest.FixtureRequest
) -> None:
    # Three hosts, so the poll is split into several batches (a host's feeds stay in one batch).
    others = [FeedServer(host=f"127.0.0.{k}").start() for k in (2, 3)]
    request.addfinalizer(lambda: [s.stop() for s in others])
    servers = [feed_server, *others]
    feeds = []
    for n in range(12):
        server = servers[n % 3]
        feeds.append((server.route(f"/syn{n}.xml", body=_synthetic(n)), f"Synthetic {n}"))
    for name in ("bbc-world.rss.xml", "al-monitor.rss.xml", "dawn-world.rss.xml"):
        feeds.append((feed_server.route(f"/{name}", body=(REALNEWS / name).read_bytes()), name))
    feeds.append((feed_server.url("/missing.xml"), "Gone"))
    sources = write_sources(tmp_path / "sources.yaml", feeds, timeout=10)
    assert len(split_batches(load_config(sources).feeds, 4)) == 3

    default_db = tmp_path / "default" / "news.duckdb"
    assert (
        cli.main(["poll", "--sources", str(sources), "--db", str(default_db)], out=io.StringIO())
        == 0
    )
    expected = _articles(default_db)
    assert len(expected) > 100
    assert any(topics for *_, topics in expected)
    # In-process the batches go to Dask through dask.distributed; on a flow run through
    # Prefect's DaskTaskRunner (one fetch-parse-match task per batch).
    for path in ("--no-prefect", "--prefect"):
        out = io.StringIO()
        dask_db = tmp_path / f"dask{path}" / "news.duckdb"
        argv = ["poll", "--sources", str(sources), "--db", str(dask_db), "--runner", "dask", path]
        assert cli.main(argv, out=out) == 0
        assert _articles(dask_db) == expected, path
        assert "16 feeds: 15 ok, 1 failed" in out.getvalue()
        con = duckdb.connect(str(dask_db), read_only=True)
        try:
            # The poll ran as several batches, each staged under its own label, merged by one
            # writer.
            assert con.execute("SELECT count(*) FROM polls").fetchone() == (1,)
            assert con.execute("SELECT count(*) FROM feeds").fetchone() == (16,)
        finally:
            con.close()


def test_runner_from_the_command_line_overrides_sources_yaml() -> None:
    configured = RunnerSettings(kind="default", address=None, workers=3)
    assert resolve(configured).kind == "default"
    assert resolve(configured, kind="dask") == RunnerSettings("dask", None, 3)
    assert resolve(configured, address="tcp://10.0.0.5:8786") == RunnerSettings(
        "dask", "tcp://10.0.0.5:8786", 3
    )
    with pytest.raises(RunnerError, match="unknown runner"):
        resolve(configured, kind="ray")


def test_batches_keep_each_host_in_one_batch_and_cover_every_feed() -> None:
    feeds = [FeedSource(url=f"https://h{i % 5}.example/f{i}.xml", name=f"f{i}") for i in range(23)]
    batches = split_batches(feeds, 4)
    assert len(batches) == 4
    assert sorted(f.url for b in batches for f in b) == sorted(f.url for f in feeds)
    hosts = [{f.url.split("/")[2] for f in b} for b in batches]
    for i, a in enumerate(hosts):
        for b in hosts[i + 1 :]:
            assert not a & b
    assert split_batches(feeds[:2], 8) == [[feeds[0]], [feeds[1]]]
