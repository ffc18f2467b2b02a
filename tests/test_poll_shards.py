"""The poll's shard processes: a sharded collect stores exactly what one process stores, with
the config the poll started with, and the fetch respects the open-files limit."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from newswatch.config import config_from_source, config_source, load_config, parse_config
from newswatch.orchestrate import poll, shards
from newswatch.store import spool
from tests.feedserver import FeedServer
from tests.helpers import rss, write_sources

NOW = datetime.now(UTC).replace(microsecond=0)
TOPICS = """topics:
  - name: NATO
    terms: [NATO]
"""
# The same file, edited while a poll runs: no topic would match anything.
EDITED_TOPICS = """topics:
  - name: Nothing
    terms: [zzzqqq]
"""


@pytest.fixture
def two_hosts() -> Iterator[tuple[FeedServer, FeedServer]]:
    """Feed servers on two loopback addresses: the poll shards by host."""
    a, b = FeedServer("127.0.0.1").start(), FeedServer("127.0.0.2").start()
    try:
        yield a, b
    finally:
        a.stop()
        b.stop()


def _feeds(servers: tuple[FeedServer, FeedServer], count: int) -> list[tuple[str, str]]:
    out = []
    for n in range(count):
        server = servers[n % 2]
        items = [
            {
                "title": f"NATO item {n}-{k}" if k % 3 == 0 else f"Weather item {n}-{k}",
                "link": f"http://example.org/{n}/{k}",
                "guid": f"g-{n}-{k}",
                "pubDate": NOW - timedelta(minutes=k),
            }
            for k in range(6)
        ]
        out.append((server.route(f"/f{n}.xml", body=rss(f"Feed {n}", items)), f"feed-{n:02d}"))
    return out


def _poll_into(db: Path, config_path: Path, processes: int) -> tuple[list[str], set[str]]:
    config = load_config(config_path)
    if processes > 1:
        # The file changes after the poll read it: the shards must still use what it read.
        text = config_path.read_text(encoding="utf-8")
        config_path.write_text(text.replace(TOPICS, EDITED_TOPICS), encoding="utf-8")
    spool_dir = poll.spool_root(db)
    poll_id = spool.new_poll_id(NOW)
    batch = asyncio.run(
        poll.collect_batch(
            config,
            list(config.feeds),
            {},
            spool_dir=spool_dir,
            poll_id=poll_id,
            processes=processes,
        )
    )
    labels = sorted({p.name.split("-")[1] for p in (spool_dir / poll_id).glob("*.parquet")})
    poll.finish_poll(spool_dir, poll_id, NOW, NOW, [batch])
    poll.store(db, spool_dir)
    outcomes = sorted(f"{r.name} {r.outcome} {r.entries}" for r in batch.reports)
    (rows,) = _read(
        db,
        "SELECT a.url || ' ' || coalesce(t.topic, '-') FROM articles a "
        "LEFT JOIN article_topics t ON t.article_id = a.id",
    )
    return outcomes + labels, {r[0] for r in rows}


def _read(db: Path, *queries: str) -> list[list[tuple[object, ...]]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return [con.execute(q).fetchall() for q in queries]
    finally:
        con.close()


def test_sharded_collect_stores_what_one_process_stores(
    two_hosts: tuple[FeedServer, FeedServer], tmp_path: Path
) -> None:
    feeds = _feeds(two_hosts, shards.SHARD_MIN_FEEDS + 4)
    single_src = write_sources(tmp_path / "single.yaml", feeds, topics=TOPICS)
    sharded_src = write_sources(tmp_path / "sharded.yaml", feeds, topics=TOPICS)
    shards.warm_up_shard_processes(len(feeds), sharded_src)

    single, single_rows = _poll_into(tmp_path / "single.duckdb", single_src, processes=1)
    sharded, sharded_rows = _poll_into(tmp_path / "sharded.duckdb", sharded_src, processes=2)

    # Two shard processes staged their own parts (labels b0s0, b0s1); one process: b0.
    assert [x for x in sharded if x.startswith("b0")] == ["b0s0", "b0s1"]
    assert [x for x in single if x.startswith("b0")] == ["b0"]
    assert [x for x in sharded if not x.startswith("b0")] == [
        x for x in single if not x.startswith("b0")
    ]
    assert len(single_rows) == len(feeds) * 6
    assert sharded_rows == single_rows
    # Matched with the topics the poll started with, not the edited file's.
    assert sum(1 for r in sharded_rows if r.endswith(" NATO")) == len(feeds) * 2


def test_a_config_travels_to_shards_as_its_source_text(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    write_sources(path, [("http://127.0.0.1:9/a.xml", "a")], topics=TOPICS)
    config = load_config(path)
    source = config_source(config)
    assert source == (str(path.resolve()), path.read_text(encoding="utf-8"))
    assert config_from_source(*source) is config  # already compiled in this process
    path.write_text(path.read_text(encoding="utf-8").replace(TOPICS, EDITED_TOPICS))
    load_config(path)  # the cache now holds the edited file
    again = config_from_source(*source)  # parsed from the text sent, not from the file
    assert again.topic_names == ("NATO",)
    assert config_source(parse_config(source[1], path)) is None  # not loaded from a file


def _limits_probe(soft: int, hard: int, concurrency: int) -> str:
    code = (
        "import logging, resource, sys\n"
        "logging.basicConfig(stream=sys.stdout, format='%(message)s')\n"
        f"resource.setrlimit(resource.RLIMIT_NOFILE, ({soft}, {hard}))\n"
        "from newswatch.fetch.client import open_files_allow\n"
        f"print('allowed', open_files_allow({concurrency}))\n"
        "print('soft', resource.getrlimit(resource.RLIMIT_NOFILE)[0])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout


def test_the_open_files_limit_is_raised_for_the_fetch_concurrency() -> None:
    out = _limits_probe(soft=256, hard=4096, concurrency=500)
    assert "allowed 500" in out
    assert "soft 628" in out  # 500 sockets + the spare descriptors
    assert "instead of" not in out


def test_a_hard_open_files_limit_lowers_concurrency_with_a_warning() -> None:
    out = _limits_probe(soft=200, hard=300, concurrency=500)
    assert "allowed 172" in out  # 300 - 128 spare
    assert "soft 300" in out
    assert "fetching 172 feeds at a time instead of 500" in out
    assert "ulimit -n" in out


def test_an_article_repeated_in_one_poll_is_stored_with_its_topics_once(
    two_hosts: tuple[FeedServer, FeedServer], tmp_path: Path
) -> None:
    server = two_hosts[0]
    item = {
        "title": "NATO ministers meet",
        "link": "http://example.org/n",
        "guid": "same-guid",
        "pubDate": NOW,
    }
    url = server.route("/dup.xml", body=rss("Dup", [item, item, dict(item, title="NATO again")]))
    sources = write_sources(tmp_path / "dup.yaml", [(url, "dup")], topics=TOPICS)
    db = tmp_path / "dup.duckdb"
    _outcomes, rows = _poll_into(db, sources, processes=1)
    counts, stored = _read(
        db,
        "SELECT count(*), count(DISTINCT article_id) FROM article_topics",
        "SELECT count(*) FROM articles",
    )
    assert stored == [(1,)]
    assert counts == [(1, 1)]
    assert rows == {"http://example.org/n NATO"}
