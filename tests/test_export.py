"""`newswatch export` (day-partitioned Parquet) and fetch-log retention."""

from __future__ import annotations

import io
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from newswatch import cli
from newswatch.store import warehouse
from tests import warehouse_helpers
from tests.feedserver import FeedServer
from tests.helpers import rss, write_sources
from tests.warehouse_helpers import assert_one_line_error, run_cli


@pytest.fixture(scope="session")
def db(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return warehouse_helpers.populated_db(tmp_path_factory)


def test_export_writes_hive_partitioned_tables_matching_the_warehouse(
    db: Path, tmp_path: Path
) -> None:
    out_dir = tmp_path / "export"
    for _ in range(2):  # a second export replaces the first, never appends to it
        out = io.StringIO()
        assert (
            cli.main(
                ["export", "--format", "parquet", "--out", str(out_dir), "--db", str(db)], out=out
            )
            == 0
        )
    assert "articles" in out.getvalue()
    days = sorted(p.name for p in (out_dir / "articles").iterdir())
    assert days and all(d.startswith("day=") and len(d) == len("day=2025-01-01") for d in days)
    assert not [p for p in out_dir.iterdir() if p.name.startswith(".")]

    con = duckdb.connect(str(db), read_only=True)
    try:
        for table in ("articles", "article_topics", "match_hits", "article_clusters", "fetch_log"):
            stored = con.execute(f"SELECT count(*) FROM {table}").fetchone()
            exported = con.execute(
                f"SELECT count(*) FROM read_parquet('{out_dir}/{table}/*/*.parquet', hive_partitioning = true)"
            ).fetchone()
            assert stored == exported and stored is not None and stored[0] > 0, table
        for table in ("feeds", "polls"):
            stored = con.execute(f"SELECT count(*) FROM {table}").fetchone()
            exported = con.execute(f"SELECT count(*) FROM '{out_dir}/{table}.parquet'").fetchone()
            assert stored == exported, table
        mismatched = con.execute(
            f"SELECT count(*) FROM read_parquet('{out_dir}/articles/*/*.parquet', hive_partitioning = true) e "
            "JOIN articles a USING (id) WHERE e.day <> (a.published_at AT TIME ZONE 'UTC')::DATE "
            "OR e.title <> a.title OR e.topics <> coalesce((SELECT list_sort(list(DISTINCT topic)) "
            "FROM article_topics t WHERE t.article_id = a.id), []) "
            "OR e.feed_tags <> coalesce((SELECT tags FROM feeds f WHERE f.url = a.feed_url), [])"
        ).fetchone()
        assert mismatched == (0,)
    finally:
        con.close()


def test_exported_articles_carry_their_feed_s_tags(
    feed_server: FeedServer, tmp_path: Path, prefect_harness: None
) -> None:
    """`articles/` has `feed_tags`, as `matched_articles` does: a Parquet reader asks for a
    tag's articles without joining `feeds.parquet`."""
    feeds = warehouse_helpers.serve_one_story_two_outlets(feed_server, datetime.now(UTC))
    tags = {"eKathimerini (GR)": ["GR", "greek-press"]}
    sources = write_sources(
        tmp_path / "sources.yaml", feeds, topics=warehouse_helpers.STORY_TOPICS, tags=tags
    )
    db = tmp_path / "news.duckdb"
    warehouse_helpers.poll_once(sources, db)
    out_dir = tmp_path / "export"
    argv = ["export", "--format", "parquet", "--out", str(out_dir), "--db", str(db)]
    assert cli.main(argv, out=io.StringIO()) == 0
    rows = duckdb.sql(
        f"SELECT source, feed_tags FROM read_parquet('{out_dir}/articles/*/*.parquet', "
        "hive_partitioning = true) ORDER BY source"
    ).fetchall()
    assert rows == [("Sahel Post", []), ("eKathimerini (GR)", ["GR", "greek-press"])]


def test_export_needs_out() -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["export", "--format", "parquet"])
    assert exc.value.code == 2


@pytest.mark.parametrize(
    ("out", "names"),
    [
        ("/proc/nw", ["/proc/nw", "No such file"]),
        ("/proc/self/nw", ["/proc/self/nw", "No such file"]),
        ("{tmp}/a-file", ["{tmp}/a-file", "is a file"]),
        ("{tmp}/a-file/below", ["{tmp}/a-file/below", "Not a directory"]),
    ],
)
def test_export_to_an_unusable_folder_is_one_line_in_a_real_process(
    tmp_path: Path, out: str, names: list[str]
) -> None:
    db = tmp_path / "w.duckdb"
    with warehouse.connect(db):
        pass
    (tmp_path / "a-file").write_text("kept\n")
    proc = run_cli("export", "--out", out.replace("{tmp}", str(tmp_path)), "--db", str(db))
    assert_one_line_error(proc, *(n.replace("{tmp}", str(tmp_path)) for n in names))
    assert (tmp_path / "a-file").read_text() == "kept\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "w.duckdb"]


def test_prune_fetch_log_keeps_articles(db: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.duckdb"
    shutil.copy(db, copy)
    now = datetime.now(UTC)
    with warehouse.connect(copy) as con:
        recent = con.execute("SELECT count(*) FROM fetch_log").fetchone()
        con.execute(
            "INSERT INTO fetch_log SELECT * REPLACE (started_at - INTERVAL 40 DAY AS started_at, "
            "'old-poll' AS poll_id) FROM fetch_log"
        )
        articles = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE id IS NOT NULL) FROM articles"
        ).fetchone()
        feeds = con.execute("SELECT * FROM feeds ORDER BY url").fetchall()
        assert recent is not None
        assert warehouse.prune_fetch_log(con, now - timedelta(days=30)) == recent[0]
        assert con.execute("SELECT count(*) FROM fetch_log").fetchone() == recent
        assert con.execute(
            "SELECT count(*) FROM fetch_log WHERE poll_id = 'old-poll'"
        ).fetchone() == (0,)
        assert con.execute("SELECT count(*), count(*) FROM articles").fetchone() == articles
        assert con.execute("SELECT * FROM feeds ORDER BY url").fetchall() == feeds
        assert warehouse.prune_fetch_log(con, now - timedelta(days=30)) == 0


def test_retention_days_in_sources_prunes_old_fetch_log_rows_at_each_poll(
    feed_server: FeedServer, tmp_path: Path, prefect_harness: None
) -> None:
    now = datetime.now(UTC)
    feed_server.route(
        "/wire.xml",
        body=rss("Wire", [{"title": "Harbour reopens", "guid": "w1", "pubDate": now}]),
    )
    feeds = [(feed_server.url("/wire.xml"), "Wire"), (feed_server.url("/gone.xml"), "Gone")]
    db = tmp_path / "wh" / "news.duckdb"
    keep_all = write_sources(tmp_path / "keep.yaml", feeds, timeout=3)
    warehouse_helpers.poll_once(keep_all, db)
    with warehouse.connect(db) as con:  # the same attempts, as if made 40 days ago
        con.execute(
            "INSERT INTO fetch_log SELECT * REPLACE (started_at - INTERVAL 40 DAY AS started_at, "
            "'old-poll' AS poll_id) FROM fetch_log"
        )

    def state() -> tuple[int, int, int, list[tuple[object, ...]]]:
        con = duckdb.connect(str(db), read_only=True)
        try:
            old = con.execute("SELECT count(*) FROM fetch_log WHERE poll_id = 'old-poll'")
            old_rows = int(old.fetchone()[0])  # type: ignore[index]
            recent = con.execute("SELECT count(*) FROM fetch_log WHERE poll_id <> 'old-poll'")
            recent_rows = int(recent.fetchone()[0])  # type: ignore[index]
            articles = int(con.execute("SELECT count(*) FROM articles").fetchone()[0])  # type: ignore[index]
            feeds_now = con.execute("SELECT url, name, first_seen_at FROM feeds ORDER BY url")
            return old_rows, recent_rows, articles, feeds_now.fetchall()
        finally:
            con.close()

    warehouse_helpers.poll_once(keep_all, db)  # no retention_days: nothing is pruned
    old, recent, articles, feed_rows = state()
    assert (old, recent, articles) == (2, 4, 1)

    pruning = write_sources(tmp_path / "prune.yaml", feeds, timeout=3, extra="retention_days: 30")
    warehouse_helpers.poll_once(pruning, db)
    assert state() == (0, 6, 1, feed_rows)  # only the old attempts went; articles, feeds kept
