"""Living next to ad hoc readers: another process holds the DuckDB file open.

A real subprocess opens the database and keeps it open longer than the pipeline may wait.
The poll then leaves its batch spooled and says so; once the reader is gone, the next poll
merges the spooled batch with nothing lost and nothing duplicated.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from newswatch import cli
from newswatch.clock import utc_now
from newswatch.config import load_config
from newswatch.errors import DbWaitError
from newswatch.orchestrate import poll
from newswatch.store import spool
from newswatch.store.dbwait import db_wait_seconds
from tests.feedserver import FeedServer
from tests.helpers import rss, write_sources
from tests.warehouse_helpers import assert_one_line_error, poll_once, run_cli, serve_farm

HOLD = (
    "import duckdb, sys\n"
    "con = duckdb.connect(sys.argv[1], read_only=sys.argv[2] == 'ro')\n"
    "con.execute('SELECT count(*) FROM articles').fetchall()\n"
    "print('holding', flush=True)\n"
    "sys.stdin.read()\n"
    "con.close()\n"
)


@contextmanager
def held(db: Path, mode: str = "ro") -> Iterator[None]:
    """Another process (like `duckdb -readonly`) keeps the file open until the block ends."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(db), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
        yield
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=30)
        assert proc.stdout is not None
        proc.stdout.close()


def counts(db: Path) -> tuple[int, int, int]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        row = con.execute(
            "SELECT count(*), count(DISTINCT id), (SELECT count(*) FROM polls) FROM articles"
        ).fetchone()
        assert row is not None
        return int(row[0]), int(row[1]), int(row[2])
    finally:
        con.close()


def breaking_item(now: datetime, n: int) -> dict[str, str | datetime]:
    return {
        "title": f"Breaking {n}: Turkey confirms S-400 activation",
        "link": f"https://ankara.example/breaking-{n}",
        "guid": f"breaking-{n}",
        "description": "NATO allies respond.",
        "pubDate": now - timedelta(minutes=n),
    }


def test_poll_spools_while_reader_holds_the_file_and_next_poll_merges(
    feed_server: FeedServer,
    tmp_path: Path,
    prefect_harness: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NEWSWATCH_DB_WAIT", "0.5")
    now = datetime.now(UTC)
    feeds = serve_farm(feed_server, now)
    sources = write_sources(tmp_path / "sources.yaml", feeds, timeout=3)
    db = tmp_path / "wh" / "news.duckdb"
    poll_once(sources, db)
    first, distinct, polls = counts(db)
    assert first == distinct and polls == 1

    # New stories appear while an analyst has the warehouse open.
    feed_server.route(
        "/breaking.xml", body=rss("Breaking", [breaking_item(now, 1), breaking_item(now, 2)])
    )
    feeds.append((feed_server.url("/breaking.xml"), "Breaking"))
    sources = write_sources(tmp_path / "sources.yaml", feeds, timeout=3)
    config = load_config(str(sources))
    spool_dir = poll.spool_root(db)
    wait = db_wait_seconds()
    with held(db, "ro"):
        # The same stages the poll flow runs, with the configured wait.
        started = utc_now()
        poll_id = spool.new_poll_id(started)
        state = poll.read_states(db, wait_seconds=wait)  # a read-only reader does not block reads
        assert state.warning is None and state.states
        batch = asyncio.run(
            poll.collect_batch(
                config, list(config.feeds), state.states, spool_dir=spool_dir, poll_id=poll_id
            )
        )
        poll.finish_poll(spool_dir, poll_id, started, utc_now(), [batch])
        stored = poll.store(db, spool_dir, wait_seconds=wait)
        assert stored.waiting == 1 and stored.new_articles == 0
        assert stored.message is not None
        assert (
            "locked by another process" in stored.message
            and "merged by the next poll" in stored.message
        )
        assert [b.manifest.poll_id for b in spool.pending(spool_dir)] == [poll_id]
    assert counts(db) == (first, first, 1)  # nothing written while held

    # Reader gone: the next real poll merges the spooled batch, then its own.
    text = poll_once(sources, db)
    assert "note:" not in text
    total, distinct, polls = counts(db)
    assert total == distinct == first + 2
    assert polls == 3
    assert spool.pending(spool_dir) == []
    con = duckdb.connect(str(db), read_only=True)
    try:
        spooled = con.execute(
            "SELECT count(*) FROM articles WHERE poll_id = ?", [poll_id]
        ).fetchone()
        assert spooled == (2,)  # the breaking stories came from the spooled batch
    finally:
        con.close()


def test_cli_poll_exits_0_with_a_note_when_the_file_stays_locked(
    feed_server: FeedServer,
    tmp_path: Path,
    prefect_harness: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NEWSWATCH_DB_WAIT", "0.5")
    feeds = serve_farm(feed_server, datetime.now(UTC))
    sources = write_sources(tmp_path / "sources.yaml", feeds[:3], timeout=3)
    db = tmp_path / "wh" / "news.duckdb"
    poll_once(sources, db)
    first = counts(db)
    feed_server.route("/breaking.xml", body=rss("Breaking", [breaking_item(datetime.now(UTC), 1)]))
    sources = write_sources(
        tmp_path / "sources.yaml",
        [*feeds[:3], (feed_server.url("/breaking.xml"), "Breaking")],
        timeout=3,
    )
    with held(db, "ro"):
        out = io.StringIO()
        assert cli.main(["poll", "--sources", str(sources), "--db", str(db)], out=out) == 0
    assert "is locked by another process" in out.getvalue()
    assert "kept in" in out.getvalue()
    assert counts(db) == first
    poll_once(sources, db)
    assert counts(db) == (first[0] + 1, first[0] + 1, 3)


def test_readers_share_the_file_but_wait_for_a_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "w.duckdb"
    assert cli.main(["query", "SELECT 1", "--db", str(db)]) == 2  # no database yet
    capsys.readouterr()
    from newswatch.store import warehouse

    with warehouse.connect(db):
        pass
    monkeypatch.setenv("NEWSWATCH_DB_WAIT", "0.3")
    with held(db, "ro"):  # DuckDB 1.5: several read-only processes may share the file
        out = io.StringIO()
        assert (
            cli.main(["query", "SELECT count(*) AS n FROM articles", "--db", str(db)], out=out) == 0
        )
    with held(db, "rw"):  # ...but nobody may open it while a writer holds it
        assert cli.main(["query", "SELECT 1", "--db", str(db)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "locked by another process" in err


def test_analyst_commands_name_the_writer_lock_in_one_line(tmp_path: Path) -> None:
    from newswatch.store import warehouse

    db = tmp_path / "w.duckdb"
    with warehouse.connect(db):
        pass
    env = {**os.environ, "NEWSWATCH_DB_WAIT": "0.3"}
    with held(db, "rw"):
        for args in (
            ["query", "SELECT 1"],
            ["search", "nato"],
            ["search", "nato", "--reindex"],
            ["export", "--out", str(tmp_path / "snap")],
        ):
            proc = run_cli(*args, "--db", str(db), env=env)
            assert_one_line_error(proc, str(db), "locked by another process", "0.3 s")


def test_a_reader_waits_for_a_writer_to_leave_then_answers(tmp_path: Path) -> None:
    from newswatch.store import warehouse

    db = tmp_path / "w.duckdb"
    with warehouse.connect(db):
        pass
    env = {**os.environ, "NEWSWATCH_DB_WAIT": "60"}
    with held(db, "rw"):
        query = subprocess.Popen(
            [sys.executable, "-m", "newswatch.cli", "query", "SELECT 41 + 1 AS n", "--db", str(db)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        # Long enough for the process to start and meet the lock several times.
        with contextlib.suppress(subprocess.TimeoutExpired):
            query.wait(timeout=3)
        assert query.returncode is None, query.communicate()  # still waiting for the writer
    out, err = query.communicate(timeout=60)
    assert query.returncode == 0, err
    assert out.splitlines()[2].strip() == "42" and err == ""


def test_a_read_only_attach_blocks_writers_until_detach(tmp_path: Path) -> None:
    # What warehouse/README.md tells analysts with long sessions to do.
    from newswatch.store import warehouse

    db = tmp_path / "w.duckdb"
    with warehouse.connect(db):
        pass
    env = {**os.environ, "NEWSWATCH_DB_WAIT": "0.3"}
    writer = ["search", "nato", "--reindex", "--db", str(db)]  # a newswatch write
    session = duckdb.connect()  # an analyst's long-lived in-memory session
    try:
        session.execute(f"ATTACH '{db}' AS nw (READ_ONLY)")
        assert session.execute("SELECT count(*) FROM nw.articles").fetchone() == (0,)
        assert_one_line_error(run_cli(*writer, env=env), "locked by another process")
        session.execute("DETACH nw")
        proc = run_cli(*writer, env=env)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == "no articles match 'nato'\n"
    finally:
        session.close()


def test_db_wait_setting() -> None:
    assert db_wait_seconds({}) == 30.0
    assert db_wait_seconds({"NEWSWATCH_DB_WAIT": " 2.5 "}) == 2.5
    assert db_wait_seconds({"NEWSWATCH_DB_WAIT": ""}, default=4) == 4
    for bad in ("soon", "-1", "nan", "inf"):
        with pytest.raises(DbWaitError, match="NEWSWATCH_DB_WAIT"):
            db_wait_seconds({"NEWSWATCH_DB_WAIT": bad})
