"""warehouse.merge_batch on hand-made spooled polls: which articles and topic matches are new,
what a re-merge does, and polls.stored_at when the clock goes back. Real DuckDB files, no
network, no Prefect (fast enough for `make mutate`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

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
