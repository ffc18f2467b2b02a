"""Faults other than kill -9, each end to end through the `newswatch` command (a subprocess):
a disk that fills during the write, a warehouse folder that turns read-only mid-run, a clock
that jumps back an hour between two polls, a feed whose dates are all in the future, an SMTP
server that accepts the connection and then stalls.

Each test shows that the warehouse still opens, that what was stored before is intact, that
the user gets one clear line (no traceback), and that the next run after the fault recovers
fully. The disk faults use a real filesystem: a small tmpfs mounted for the test (these tests
run as root, as CI does) and remounted read-only mid-run. The subprocesses use the session's
Prefect test server (PREFECT_API_URL). Only loopback addresses are contacted.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from tests.feedserver import FeedServer
from tests.helpers import rss, write_sources
from tests.smtp_helpers import StartServer

REPO = Path(__file__).resolve().parent.parent
# Runs `newswatch` with the process's wall clock shifted by argv[1] seconds: every
# `datetime.now()` / `datetime.utcnow()` in newswatch (and the libraries it imports) reads the
# shifted clock, as after an NTP step or a VM restored from a snapshot.
SHIFTED_CLOCK = """
import datetime as _dt, importlib, sys
_shift = _dt.timedelta(seconds=float(sys.argv.pop(1)))
_real = _dt.datetime
class _Shifted(_real):
    __slots__ = ()
    @classmethod
    def now(cls, tz=None):
        return super().now(tz) + _shift
    @classmethod
    def utcnow(cls):
        return super().utcnow() + _shift
_dt.datetime = _Shifted
for _name in ("cli.commands", "orchestrate.pipeline", "orchestrate.poll", "store.warehouse",
              "digest.delivery", "digest.build", "store.spool", "parse.feed", "parse.normalise",
              "digest.mail", "orchestrate.health", "orchestrate.schedule"):
    importlib.import_module("newswatch." + _name)
# newswatch's modules now hold the shifted class; C extensions (DuckDB, Arrow) that look
# datetime.datetime up at run time find the real one again.
_dt.datetime = _real
from newswatch.cli import console_main
console_main()
"""


@pytest.fixture
def subprocess_env(prefect_harness: None) -> dict[str, str]:
    from prefect.settings import PREFECT_API_URL

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), str(REPO)])
    api = PREFECT_API_URL.value()
    assert api, "the Prefect test harness gives an API URL"
    env["PREFECT_API_URL"] = str(api)
    for name in ("NEWSWATCH_SOURCES", "NEWSWATCH_DB", "NEWSWATCH_SMTP_URL", "NEWSWATCH_OUT"):
        env.pop(name, None)
    return env


def newswatch(
    args: list[str], env: dict[str, str], *, shift_s: float | None = None
) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "newswatch.cli", *args]
    if shift_s is not None:
        cmd = [sys.executable, "-c", SHIFTED_CLOCK, str(shift_s), *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)


def one_clear_line(done: subprocess.CompletedProcess[str]) -> str:
    """The command failed with exactly one `newswatch: error:` line and no traceback."""
    assert done.returncode == 1, (done.returncode, done.stdout[-2000:], done.stderr[-3000:])
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    lines = [line for line in done.stderr.splitlines() if line.startswith("newswatch: error:")]
    assert len(lines) == 1, done.stderr[-3000:]
    return lines[0]


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, (done.returncode, done.stdout[-2000:], done.stderr[-3000:])
    return done.stdout


def items(first: int, count: int, *, pad: int = 60, when: datetime | None = None) -> list[dict]:
    when = when or datetime.now(UTC)
    return [
        {
            "title": f"NATO item {n}",
            "link": f"https://news.example/{n}",
            "guid": f"urn:item-{n}",
            "description": f"Item {n}: allies meet. " + "More words follow here. " * pad,
            "pubDate": when,
        }
        for n in range(first, first + count)
    ]


def stored(db: Path) -> tuple[list[str], int]:
    """(sorted guids of the stored articles, polls); the file must open read-only."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        guids = sorted(r[0] for r in con.execute("SELECT guid FROM articles").fetchall())
        polls = con.execute("SELECT count(*) FROM polls").fetchone()
    finally:
        con.close()
    assert polls is not None
    return guids, int(polls[0])


def guids(first: int, count: int) -> list[str]:
    return sorted(f"urn:item-{n}" for n in range(first, first + count))


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 24 MB tmpfs of its own, so filling it (or making it read-only) touches nothing else."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, f"these tests mount a tmpfs (as root): {done.stderr.strip()}"
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(disk: Path) -> Path:
    """Write a file until the disk is full; returns it (delete it to free the space)."""
    filler = disk / "filler"
    with filler.open("wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass
    return filler


def test_disk_full_during_the_write_keeps_the_warehouse_and_the_next_poll_recovers(
    feed_server: FeedServer, small_disk: Path, subprocess_env: dict[str, str]
) -> None:
    url = feed_server.route("/f.xml", body=rss("F", items(0, 10)))
    sources = write_sources(small_disk.parent / "sources.yaml", [(url, "F")])
    db = small_disk / "news.duckdb"
    poll = ["poll", "--sources", str(sources), "--db", str(db)]
    ok(newswatch(poll, subprocess_env))
    assert stored(db) == (guids(0, 10), 1)

    # 300 new items (~1 MB of text) arrive while the disk is full.
    feed_server.route("/f.xml", body=rss("F", items(10, 300) + items(0, 10)))
    filler = fill(small_disk)
    line = one_clear_line(newswatch(poll, subprocess_env))
    assert "the disk is full" in line and "No space left on device" in line
    assert "everything stored before is intact" in line
    assert stored(db) == (guids(0, 10), 1)  # opens, and holds exactly what it held

    filler.unlink()
    out = ok(newswatch(poll, subprocess_env))
    assert "300 new articles" in out
    assert stored(db) == (guids(0, 310), 2)


def test_warehouse_made_read_only_mid_run_keeps_its_data_and_the_next_poll_recovers(
    feed_server: FeedServer, small_disk: Path, subprocess_env: dict[str, str]
) -> None:
    url = feed_server.route("/f.xml", body=rss("F", items(0, 10)))
    slow = feed_server.route("/slow.xml", body=rss("S", items(1000, 5)), delay=3)
    sources = write_sources(
        small_disk.parent / "sources.yaml", [(url, "F"), (slow, "S")], timeout=20
    )
    db = small_disk / "news.duckdb"
    poll = ["poll", "--sources", str(sources), "--db", str(db)]
    ok(newswatch(poll, subprocess_env))
    before = stored(db)
    assert before == (sorted(guids(0, 10) + guids(1000, 5)), 1)

    feed_server.route("/f.xml", body=rss("F", items(10, 20) + items(0, 10)))
    feed_server.route("/slow.xml", body=rss("S", items(1005, 5) + items(1000, 5)), delay=3)
    cmd = [sys.executable, "-m", "newswatch.cli", *poll]
    proc = subprocess.Popen(
        cmd, env=subprocess_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    # Mid-run: the poll has fetched the quick feed and waits on the slow one.
    seen = len(feed_server.requests_for("/slow.xml"))
    deadline = time.monotonic() + 120
    while len(feed_server.requests_for("/slow.xml")) == seen:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    remount = ["mount", "-o", "remount,ro", str(small_disk)]
    subprocess.run(remount, check=True)
    try:
        stdout, stderr = proc.communicate(timeout=240)
        line = one_clear_line(subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr))
        assert "Read-only file system" in line
        assert "everything stored before is intact" in line
        assert stored(db) == before
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    ok(newswatch(poll, subprocess_env))
    assert stored(db) == (sorted(guids(0, 30) + guids(1000, 10)), 2)


def _digest_env(env: dict[str, str], port: int, timeout: float = 30) -> dict[str, str]:
    return {
        **env,
        "NEWSWATCH_SMTP_URL": f"smtp://127.0.0.1:{port}?timeout={timeout:g}",
        "NEWSWATCH_MAIL_FROM": "news@example.org",
        "NEWSWATCH_MAIL_TO": "desk@example.org",
    }


def _digest_rows(db: Path) -> list[tuple[str, str]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return [
            (str(d), s)
            for d, s in con.execute(
                "SELECT digest_date, status FROM digests ORDER BY window_end"
            ).fetchall()
        ]
    finally:
        con.close()


def test_clock_jumping_back_an_hour_loses_no_window_and_sends_no_duplicate(
    feed_server: FeedServer,
    tmp_path: Path,
    subprocess_env: dict[str, str],
    start_server: StartServer,
) -> None:
    server = start_server()
    env = _digest_env(subprocess_env, server.port)
    url = feed_server.route("/f.xml", body=rss("F", items(0, 3)))
    sources = write_sources(
        tmp_path / "sources.yaml", [(url, "F")], extra="schedule:\n  timezone: UTC"
    )
    db = tmp_path / "news.duckdb"
    poll = ["poll", "--sources", str(sources), "--db", str(db)]
    digest = ["digest", "--send", "--sources", str(sources), "--db", str(db)]
    digest += ["--out", str(tmp_path / "digests")]
    # The scenario is one day's: run just after midnight, an hour back would be yesterday
    # (whose digest was never sent), so the clock then starts three hours later.
    base = 0.0 if datetime.now(UTC).hour >= 2 else 3 * 3600.0
    ok(newswatch(poll, env, shift_s=base))
    ok(newswatch(digest, env, shift_s=base))
    assert len(server.handler.received) == 1

    # The clock steps back an hour; the next poll stores new items at the earlier time.
    feed_server.route("/f.xml", body=rss("F", items(3, 2) + items(0, 3)))
    ok(newswatch(poll, env, shift_s=base - 3600))
    assert stored(db)[0] == guids(0, 5)
    # A digest run with the clock still behind: today's digest was delivered, none is sent.
    ok(newswatch(digest, env, shift_s=base - 3600))
    assert len(server.handler.received) == 1
    # Tomorrow's digest carries exactly what was stored after today's: the two new items.
    tomorrow = ok(newswatch(digest, env, shift_s=base + 86400))
    assert len(server.handler.received) == 2, tomorrow
    body = server.handler.received[1].content.decode("utf-8", "replace")
    assert "NATO item 3" in body and "NATO item 4" in body, tomorrow
    assert "NATO item 0" not in body
    assert [s for _, s in _digest_rows(db)] == ["sent", "sent"]


def test_future_dated_entries_are_stored_shown_with_a_note_and_not_pinned_on_top(
    feed_server: FeedServer, tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    future = datetime.now(UTC) + timedelta(days=400)
    url = feed_server.route("/f.xml", body=rss("F", items(0, 3, when=future)))
    sources = write_sources(tmp_path / "sources.yaml", [(url, "F")])
    db = tmp_path / "news.duckdb"
    ok(newswatch(["poll", "--sources", str(sources), "--db", str(db)], subprocess_env))
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute(
            "SELECT guid, published_at, published_at_known, first_seen_at FROM articles"
        ).fetchall()
    finally:
        con.close()
    assert sorted(r[0] for r in rows) == guids(0, 3)
    # Stored at the time first seen (not in 400 days: it would head every list until then).
    for _, published, known, first_seen in rows:
        assert known is False and published == first_seen
    out_dir = tmp_path / "digests"
    digest = ["digest", "--sources", str(sources), "--db", str(db), "--out", str(out_dir)]
    ok(newswatch(digest, subprocess_env))
    [html_file] = out_dir.glob("digest-*.html")
    text = html_file.with_suffix(".txt").read_text(encoding="utf-8")
    assert "NATO item 0" in text
    assert "first seen" in text and "no usable date" in text


class _StallingSmtp:
    """Greets, answers EHLO, then never says another word (holds the connection open)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.sessions = 0
        self.commands: list[str] = []
        self._open: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.sessions += 1
            self._open.append(conn)
            conn.sendall(b"220 stall.example ESMTP\r\n")
            data = b""
            while b"\r\n" not in data:
                chunk = conn.recv(1024)
                if not chunk:
                    break
                data += chunk
            self.commands.append(data.decode(errors="replace").strip())
            conn.sendall(b"250-stall.example\r\n250 8BITMIME\r\n")
            # ...and silence: whatever comes next is read and never answered.

    def close(self) -> None:
        self.sock.close()
        for conn in self._open:
            conn.close()


def test_smtp_server_stalling_after_ehlo_times_out_is_recorded_and_retried_next_run(
    feed_server: FeedServer,
    tmp_path: Path,
    subprocess_env: dict[str, str],
    start_server: StartServer,
) -> None:
    url = feed_server.route("/f.xml", body=rss("F", items(0, 3)))
    sources = write_sources(tmp_path / "sources.yaml", [(url, "F")])
    db = tmp_path / "news.duckdb"
    ok(newswatch(["poll", "--sources", str(sources), "--db", str(db)], subprocess_env))
    digest = ["digest", "--send", "--sources", str(sources), "--db", str(db)]
    digest += ["--out", str(tmp_path / "digests")]
    stall = _StallingSmtp()
    try:
        t0 = time.monotonic()
        done = newswatch(digest, _digest_env(subprocess_env, stall.port, timeout=2))
        took = time.monotonic() - t0
    finally:
        stall.close()
    # The digest's summary says it on its status line (stdout); exit status 1, no traceback.
    assert done.returncode == 1, (done.stdout[-2000:], done.stderr[-2000:])
    assert "Traceback" not in done.stdout + done.stderr
    [line] = [ln for ln in done.stdout.splitlines() if ln.strip().startswith("status:")]
    assert "SEND FAILED" in line and "stopped answering: no reply within 2 s" in line, line
    assert stall.sessions >= 1 and stall.commands[0].upper().startswith("EHLO")
    assert took < 120  # bounded by the timeout (and its retries), not hung
    assert [s for _, s in _digest_rows(db)] == ["failed"]
    assert stored(db)[0] == guids(0, 3)

    server = start_server()
    ok(newswatch(digest, _digest_env(subprocess_env, server.port)))
    assert len(server.handler.received) == 1
    body = server.handler.received[0].content.decode("utf-8", "replace")
    assert "NATO item 0" in body
    assert [s for _, s in _digest_rows(db)] == ["failed", "sent"]
