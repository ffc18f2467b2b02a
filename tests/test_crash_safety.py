"""kill -9 of a real `newswatch poll` / `newswatch digest --send` process at chosen moments.

A poll stages its batch on disk (spool) and merges it into DuckDB in one transaction, so a
poll killed at any point leaves a warehouse that opens, holding all or none of that poll's
batch; the next poll completes and nothing is stored twice. A digest killed after the SMTP
server received the message is not sent again (at-most-once, with a warning).

The subprocesses use the session's Prefect test server (PREFECT_API_URL), so they do not
each start a temporary one; kill moments are taken from what the poll writes to disk.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session

from newswatch import cli
from newswatch.orchestrate import poll
from tests.feedserver import FeedServer
from tests.helpers import rss, write_sources
from tests.smtp_helpers import LoopbackController

REPO = Path(__file__).resolve().parent.parent
FEEDS = 24
ITEMS = 40


@pytest.fixture
def subprocess_env(prefect_harness: None) -> dict[str, str]:
    from prefect.settings import PREFECT_API_URL

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), str(REPO)])
    api = PREFECT_API_URL.value()
    assert api, "the Prefect test harness gives an API URL"
    env["PREFECT_API_URL"] = str(api)
    for name in ("NEWSWATCH_SOURCES", "NEWSWATCH_DB", "NEWSWATCH_SMTP_URL"):
        env.pop(name, None)
    return env


def newswatch(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "newswatch.cli", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=log.parent,
        )


def wait_for(predicate: Any, timeout: float, what: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"process ended (status {proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def publish(server: FeedServer, round_: int) -> None:
    """Every feed gets ITEMS new items, tagged with the round, so each poll's batch is known."""
    now = datetime.now(UTC)
    for f in range(FEEDS):
        items: list[dict[str, str | datetime]] = [
            {
                "title": f"Round {round_} feed {f} item {i}: NATO and Turkey talks",
                "link": f"https://news{f}.example/r{round_}/{i}",
                "guid": f"r{round_}-f{f}-i{i}",
                "description": "Ankara. " * 40,
                "pubDate": now,
            }
            for i in range(ITEMS)
        ]
        server.route(f"/feed{f}.xml", body=rss(f"feed {f}", items))


def warehouse_state(db: Path) -> tuple[dict[int, int], int, int]:
    """(articles per round, polls, duplicate guids); the file must open."""
    if not db.exists():
        return {}, 0, 0
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = {
            r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
        }
        if "articles" not in tables:
            return {}, 0, 0
        rounds = {
            int(r[0]): int(r[1])
            for r in con.execute(
                "SELECT split_part(title, ' ', 2), count(*) FROM articles GROUP BY 1"
            ).fetchall()
        }
        polls = con.execute("SELECT count(*) FROM polls").fetchone()
        dups = con.execute(
            "SELECT count(*) - count(DISTINCT (feed_url, guid)) FROM articles"
        ).fetchone()
    finally:
        con.close()
    assert polls is not None and dups is not None
    return rounds, int(polls[0]), int(dups[0])


# (moment, delay): "fetching" = after the poll's spool folder appears (fetch under way);
# "writing" = after its manifest appears (the batch is complete and being merged);
# "merged" = after the merged batch left the spool (the poll is refreshing clusters).
KILLS = [
    ("fetching", 0.0),
    ("fetching", 0.25),
    ("fetching", 0.6),
    ("writing", 0.0),
    ("writing", 0.05),
    ("writing", 0.15),
    ("merged", 0.0),
]


def test_poll_killed_at_any_moment_stores_all_or_none_and_the_next_poll_completes(
    feed_server: FeedServer, tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    feed_server.route("/slow.xml", body=rss("slow", []), delay=0.8)  # keeps the fetch going
    feeds = [(feed_server.url(f"/feed{f}.xml"), f"feed {f}") for f in range(FEEDS)]
    feeds.append((feed_server.url("/slow.xml"), "slow"))
    sources = write_sources(tmp_path / "sources.yaml", feeds)
    db = tmp_path / "wh" / "news.duckdb"
    spool_dir = poll.spool_root(db)
    log = tmp_path / "poll.log"
    complete_polls = 0
    outcomes: list[str] = []
    for round_, (moment, delay) in enumerate(KILLS, start=1):
        publish(feed_server, round_)
        before = set(os.listdir(spool_dir)) if spool_dir.is_dir() else set()

        def new_batches(before: set[str] = before) -> list[Path]:
            if not spool_dir.is_dir():
                return []
            return [spool_dir / d for d in os.listdir(spool_dir) if d not in before]

        proc = newswatch(["poll", "--sources", str(sources), "--db", str(db)], subprocess_env, log)
        try:
            if moment == "fetching":
                wait_for(lambda: bool(new_batches()), 60, "the poll's spool folder", proc)
            else:
                wait_for(
                    lambda: any((d / "manifest.json").exists() for d in new_batches()),
                    60,
                    "the poll's manifest",
                    proc,
                )
            if moment == "merged":
                wait_for(lambda: not new_batches(), 60, "the batch to leave the spool", proc)
            time.sleep(delay)
        finally:
            kill(proc)
        # The warehouse opens and holds all or none of the killed poll's batch.
        rounds, polls, dups = warehouse_state(db)
        assert dups == 0
        got = rounds.get(round_, 0)
        assert got in (0, FEEDS * ITEMS), (moment, delay, got)
        assert polls == complete_polls + (1 if got else 0)
        outcomes.append(f"{moment}+{delay}: {'all' if got else 'none'}")

        # The next poll completes; the round is then stored exactly once.
        assert (
            cli.main(["poll", "--sources", str(sources), "--db", str(db)], out=io.StringIO()) == 0
        )
        rounds, polls, dups = warehouse_state(db)
        assert dups == 0
        assert rounds == {r: FEEDS * ITEMS for r in range(1, round_ + 1)}
        complete_polls = polls
        # No incomplete batch is left behind in the spool.
        leftovers = [d for d in os.listdir(spool_dir)] if spool_dir.is_dir() else []
        assert leftovers == []
    print("kills:", "; ".join(outcomes))
    # Both kinds of ending were exercised: killed before the commit and after it.
    assert outcomes[0].endswith("none") and outcomes[-1].endswith("all")


# -- digest --------------------------------------------------------------------------


class BlockingHandler:
    """Receives a message, records it, then holds the reply until the client is dead."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.client_killed = threading.Event()

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        self.received.append(bytes(envelope.original_content or b""))
        while not self.client_killed.is_set():
            await asyncio.sleep(0.02)
        return "250 Message accepted for delivery"


@pytest.fixture
def blocking_smtp() -> Iterator[tuple[BlockingHandler, int]]:
    handler = BlockingHandler()
    controller = LoopbackController(handler, hostname="127.0.0.1")
    controller.start()
    try:
        yield handler, controller.port
    finally:
        handler.client_killed.set()
        controller.stop()


def test_digest_killed_after_the_server_got_the_message_is_not_sent_again(
    feed_server: FeedServer,
    tmp_path: Path,
    subprocess_env: dict[str, str],
    blocking_smtp: tuple[BlockingHandler, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    handler, port = blocking_smtp
    publish(feed_server, 1)
    sources = write_sources(tmp_path / "sources.yaml", [(feed_server.url("/feed0.xml"), "feed 0")])
    db = tmp_path / "news.duckdb"
    assert cli.main(["poll", "--sources", str(sources), "--db", str(db)], out=io.StringIO()) == 0
    mail_env = {
        "NEWSWATCH_SMTP_URL": f"smtp://127.0.0.1:{port}",
        "NEWSWATCH_MAIL_FROM": "news@example.org",
        "NEWSWATCH_MAIL_TO": "desk@example.org",
    }
    args = ["digest", "--send", "--sources", str(sources), "--db", str(db)]
    args += ["--out", str(tmp_path / "digests")]
    proc = newswatch(args, {**subprocess_env, **mail_env}, tmp_path / "digest.log")
    try:
        wait_for(lambda: bool(handler.received), 60, "the SMTP server to get the message", proc)
    finally:
        kill(proc)  # after the server has the message, before the client hears "250"
        handler.client_killed.set()
    assert len(handler.received) == 1
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT status FROM digests").fetchall() == [("sending",)]
    con.close()

    for name, value in mail_env.items():
        monkeypatch.setenv(name, value)
    out = io.StringIO()
    assert cli.main(args, out=out) == 0
    printed = out.getvalue()
    assert "interrupted while sending; assuming it was delivered (at-most-once)" in printed
    assert "not sending again" in printed
    time.sleep(0.2)
    assert len(handler.received) == 1  # not sent twice
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT status FROM digests").fetchall() == [("unknown",)]
    con.close()


class SlowHandler:
    """Records each message, and answers it only after a while (two clients overlap)."""

    def __init__(self) -> None:
        self.received: list[bytes] = []

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        self.received.append(bytes(envelope.original_content or b""))
        await asyncio.sleep(1.5)
        return "250 Message accepted for delivery"


def test_two_digest_sends_at_once_send_once(
    feed_server: FeedServer, tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    """A scheduled `digest --send` and one typed by hand at the same moment: one mail."""
    handler = SlowHandler()
    controller = LoopbackController(handler, hostname="127.0.0.1")
    controller.start()
    try:
        publish(feed_server, 1)
        feeds = [(feed_server.url("/feed0.xml"), "feed 0")]
        sources = write_sources(tmp_path / "sources.yaml", feeds)
        db = tmp_path / "news.duckdb"
        assert (
            cli.main(["poll", "--sources", str(sources), "--db", str(db)], out=io.StringIO()) == 0
        )
        env = {
            **subprocess_env,
            "NEWSWATCH_SMTP_URL": f"smtp://127.0.0.1:{controller.port}",
            "NEWSWATCH_MAIL_FROM": "news@example.org",
            "NEWSWATCH_MAIL_TO": "desk@example.org",
        }
        args = ["digest", "--send", "--sources", str(sources), "--db", str(db), "--out"]
        procs = [
            newswatch([*args, str(tmp_path / f"digests{i}")], env, tmp_path / f"digest{i}.log")
            for i in range(3)
        ]
        codes = [proc.wait(timeout=120) for proc in procs]
    finally:
        controller.stop()
    logs = [(tmp_path / f"digest{i}.log").read_text() for i in range(3)]
    assert codes == [0, 0, 0], logs
    assert len(handler.received) == 1, logs
    assert sum("not sending again" in log for log in logs) == 2, logs
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT status FROM digests").fetchall() == [("sent",)]
    con.close()


def test_a_send_that_cannot_get_the_lock_stops_with_one_line(tmp_path: Path) -> None:
    from newswatch.errors import DigestAlreadySending
    from newswatch.orchestrate.locks import send_lock

    db = tmp_path / "news.duckdb"
    with (
        send_lock(db),
        pytest.raises(DigestAlreadySending, match="nothing was sent"),
        send_lock(db, wait_seconds=0.2),
    ):
        pass
    with send_lock(db, wait_seconds=0.2):  # released: taken at once
        pass


def test_a_send_before_the_first_poll_takes_the_lock(tmp_path: Path) -> None:
    """A scheduled digest can run before any poll made the warehouse's folder."""
    from newswatch.orchestrate.locks import send_lock

    db = tmp_path / "not-yet" / "news.duckdb"
    with send_lock(db, wait_seconds=0.2):
        assert db.parent.is_dir()


def test_a_digest_waits_for_a_running_poll(tmp_path: Path) -> None:
    """A digest starting beside a poll (both due at 07:00) waits for it, so that poll's
    articles are in the digest; without a poll it does not wait."""
    from newswatch.orchestrate.locks import poll_lock, wait_for_poll
    from tests.helpers import poll_running

    db = tmp_path / "news.duckdb"
    started = time.monotonic()
    assert wait_for_poll(db, 5) is False  # no poll has ever run
    with poll_lock(db):
        pass
    assert wait_for_poll(db, 5) is False  # none runs now
    assert time.monotonic() - started < 1
    with poll_lock(db):
        started = time.monotonic()
        assert wait_for_poll(db, 0.3) is True  # still running when the wait is over
        assert time.monotonic() - started >= 0.3
    with poll_running(db, 0.6):
        started = time.monotonic()
        told: list[float] = []
        assert wait_for_poll(db, 30, on_wait=lambda: told.append(time.monotonic())) is True
        assert 0.3 < time.monotonic() - started < 5  # returned when the poll ended
        assert len(told) == 1 and told[0] - started < 0.3  # said so once, before waiting
