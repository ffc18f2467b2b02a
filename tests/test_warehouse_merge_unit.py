"""warehouse.merge_batch on hand-made spooled polls: which articles and topic matches are new,
what a re-merge does, and polls.stored_at when the clock goes back. Real DuckDB files, no
network, no Prefect (fast enough for `make mutate`)."""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from newswatch.models import Article, FetchResult, TermHit, TopicMatch
from newswatch.store import spool, warehouse

FEED = "https://feeds.example/f.xml"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def article(n: int) -> Article:
    return Article(
        id=f"{n:032x}",
        feed_url=FEED,
        source="F",
        url=f"https://news.example/{n}",
        title=f"NATO item {n}",
        summary="Allies meet.",
        published_at=T0,
        guid=f"urn:{n}",
    )


def nato(title: str) -> list[TopicMatch]:
    return [TopicMatch("NATO", "NATO", (TermHit("title", 0, 4, "NATO", title[:4]),))]


def spooled(root: Path, numbers: list[int], started: datetime) -> spool.SpooledPoll:
    poll_id = spool.new_poll_id(started)
    writer = spool.SpoolWriter(root, poll_id)
    articles = [article(n) for n in numbers]
    writer.add_articles(articles, [nato(a.title) for a in articles], started)
    writer.add_fetch(
        FetchResult(FEED, "ok", started, 10.0, http_status=200, bytes_received=100),
        len(articles),
        0,
        (("no content at all", 2),),
    )
    writer.close()
    spool.write_manifest(
        root,
        spool.PollManifest(
            poll_id=poll_id,
            started_at=started.isoformat(),
            finished_at=started.isoformat(),
            feeds=1,
            feeds_ok=1,
            feeds_not_modified=0,
            feeds_failed=0,
            entries=len(articles),
        ),
    )
    [batch] = [b for b in spool.pending(root) if b.manifest.poll_id == poll_id]
    return batch


def counts(con: duckdb.DuckDBPyConnection) -> tuple[int, int, int, int]:
    row = con.execute(
        "SELECT (SELECT count(*) FROM articles), (SELECT count(*) FROM article_topics), "
        "(SELECT count(*) FROM match_hits), (SELECT count(*) FROM polls)"
    ).fetchone()
    assert row is not None
    return (int(row[0]), int(row[1]), int(row[2]), int(row[3]))


def test_a_changed_feed_merged_again_adds_only_the_new_articles_matches(tmp_path: Path) -> None:
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        first = warehouse.merge_batch(con, spooled(tmp_path / "s", [1, 2], T0), T0)
        assert (first.new_articles, first.new_matches) == (2, 2)
        assert counts(con) == (2, 2, 2, 1)
        # The feed changed: one new item on top, both stored matched items still listed.
        later = T0 + timedelta(minutes=15)
        second = warehouse.merge_batch(con, spooled(tmp_path / "s", [3, 1, 2], later), later)
        assert (second.new_articles, second.new_matches) == (1, 1)
        assert second.by_feed == {FEED: (1, 1)}
        assert counts(con) == (3, 3, 3, 2)
        rows = con.execute(
            "SELECT new_articles, new_matches FROM polls ORDER BY stored_at"
        ).fetchall()
        assert rows == [(2, 2), (1, 1)]
        logged = con.execute(
            "SELECT new_articles, entries_skipped, skipped_reasons FROM fetch_log "
            "ORDER BY started_at"
        ).fetchall()
        assert logged == [(2, 2, "2 skipped: no content at all")] * 1 + [
            (1, 2, "2 skipped: no content at all")
        ]


def test_the_same_batch_is_merged_once(tmp_path: Path) -> None:
    batch = spooled(tmp_path / "s", [1], T0)
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        assert warehouse.merge_batch(con, batch, T0).new_articles == 1
        again = warehouse.merge_batch(con, batch, T0 + timedelta(minutes=1))
        assert again.already_merged and again.new_articles == 0
        assert counts(con) == (1, 1, 1, 1)


def test_stored_at_never_goes_back_when_the_clock_does(tmp_path: Path) -> None:
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        warehouse.merge_batch(con, spooled(tmp_path / "s", [1], T0), T0)
        earlier = T0 - timedelta(hours=1)
        warehouse.merge_batch(con, spooled(tmp_path / "s", [2], earlier), earlier)
        later = T0 + timedelta(hours=1)
        warehouse.merge_batch(con, spooled(tmp_path / "s", [3], later), later)
        stored = [r[0] for r in con.execute("SELECT stored_at FROM polls ORDER BY 1").fetchall()]
    assert stored == [T0, T0 + timedelta(microseconds=1), later]


def test_two_merges_at_the_same_clock_reading_get_distinct_stored_at(tmp_path: Path) -> None:
    # Found by mutation testing: `now <= last` weakened to `now < last` survived.
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        warehouse.merge_batch(con, spooled(tmp_path / "s", [1], T0), T0)
        second = spooled(tmp_path / "s", [2], T0 + timedelta(seconds=1))  # another poll id
        warehouse.merge_batch(con, second, T0)
        stored = [r[0] for r in con.execute("SELECT stored_at FROM polls ORDER BY 1").fetchall()]
    assert stored == [T0, T0 + timedelta(microseconds=1)]


def test_a_merge_and_an_index_update_that_outgrow_the_writers_cap_are_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The writer keeps DuckDB small (WRITER_MEMORY_LIMIT, search.INDEX_MEMORY_LIMIT); a step
    that cannot spill what it needs (a big warehouse's primary-key index, say) runs out of
    memory there, rolls back, and runs again under each larger cap until one is enough: the
    poll is stored and indexed all the same, and the log says what happened."""
    from newswatch.store import search

    with warehouse.connect(tmp_path / "w.duckdb") as con:
        search.prepare_search_index(con)  # as the first poll does, before the caps shrink
    monkeypatch.setattr(warehouse, "WRITER_MEMORY_LIMIT", "2MB")
    monkeypatch.setattr(search, "INDEX_MEMORY_LIMIT", "2MB")
    monkeypatch.setattr(warehouse, "ROOMY_MEMORY_LIMITS_MB", (3, 512))
    body = " ".join(f"word{i} Alliance meeting" for i in range(400))
    root = tmp_path / "s"
    poll_id = spool.new_poll_id(T0)
    writer = spool.SpoolWriter(root, poll_id)
    articles = [
        dataclasses.replace(article(n), content=f"{n} {body}", summary=f"Summary {n} {body[:300]}")
        for n in range(3000)
    ]
    writer.add_articles(articles, [nato(a.title) for a in articles], T0)
    writer.close()
    spool.write_manifest(
        root,
        spool.PollManifest(
            poll_id=poll_id, started_at=T0.isoformat(), finished_at=T0.isoformat(), feeds=1,
            feeds_ok=1, feeds_not_modified=0, feeds_failed=0, entries=len(articles),
        ),
    )  # fmt: skip
    [batch] = spool.pending(root)
    caplog.set_level(logging.WARNING, logger="newswatch.warehouse")
    # Two connections, as a poll's merge and refresh are.
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        assert warehouse.merge_batch(con, batch, T0).new_articles == 3000
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        assert search.refresh_search_index(con) == 3000
    with warehouse.connect(tmp_path / "w.duckdb", read_only=True) as con:
        assert counts(con) == (3000, 3000, 3000, 1)
        hits = search.search_articles(con, "word399")
    assert len(hits) > 0
    retried = [r.getMessage() for r in caplog.records if "ran out of memory" in r.getMessage()]
    merge = [m for m in retried if m.startswith(f"merging poll {poll_id}")]
    index = [m for m in retried if m.startswith("updating the full-text index")]
    # Too little at 2 MB, then at 3 MB; enough at 512 MB.
    assert [("under 3 MB" in m, "under 512 MB" in m) for m in merge] == [(1, 0), (0, 1)], retried
    assert index and "under 512 MB" in index[-1], retried


def test_a_merge_that_no_cap_fits_is_one_clear_error_and_stays_spooled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with warehouse.connect(tmp_path / "w.duckdb"):
        pass  # created and migrated under the usual cap
    monkeypatch.setattr(warehouse, "WRITER_MEMORY_LIMIT", "1MB")
    monkeypatch.setattr(warehouse, "ROOMY_MEMORY_LIMITS_MB", (1,))
    root = tmp_path / "s"
    batch = spooled(root, list(range(3000)), T0)
    with (
        warehouse.connect(tmp_path / "w.duckdb") as con,
        pytest.raises(warehouse.WarehouseError) as failed,
    ):
        warehouse.merge_batch(con, batch, T0)
    message = str(failed.value)
    assert message.startswith(f"merging poll {batch.manifest.poll_id} ran out of memory")
    assert "\n" not in message and "stays spooled" in message
    assert [b.manifest.poll_id for b in spool.pending(root)] == [batch.manifest.poll_id]
    with warehouse.connect(tmp_path / "w.duckdb", read_only=True) as con:
        assert counts(con) == (0, 0, 0, 0)


def test_replace_clusters_writes_the_assignment_and_replaces_it(tmp_path: Path) -> None:
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        warehouse.replace_clusters(con, {"a1": "a1", "a2": "a1", "a3": "a3"}, T0)
        warehouse.replace_clusters(con, {"a3": "a1", "a4": "a4"}, T0 + timedelta(hours=1))
        warehouse.replace_clusters(con, {}, T0)
        rows = con.execute(
            "SELECT article_id, cluster_id FROM article_clusters ORDER BY 1"
        ).fetchall()
        assert rows == [("a1", "a1"), ("a2", "a1"), ("a3", "a1"), ("a4", "a4")]
        with pytest.raises(ValueError):
            warehouse.replace_clusters(con, {"a\nb": "a"}, T0)
