"""Ctrl-C or SIGTERM during `newswatch poll`: one line, exit 130 at once, no process left
behind, nothing lost (the next poll stores everything), and a flow run on a Prefect server is
recorded as crashed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from newswatch import cli
from tests.feedserver import FeedServer
from tests.helpers import rss, write_sources

REPO = Path(__file__).resolve().parent.parent


def _items(prefix: str, n: int) -> list[dict[str, str]]:
    return [
        {"title": f"NATO {prefix} briefing {i}", "link": f"https://{prefix}.example/{i}",
         "guid": f"{prefix}-{i}"}
        for i in range(n)
    ]  # fmt: skip


FAST_FEEDS = 39  # with the slow one, enough feeds for the poll to run in shard processes


def descendants(pid: int) -> set[int]:
    """All live descendants of `pid` (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat[stat.rfind(")") + 2 :].split()[1]), []).append(
                int(entry.name)
            )
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _interrupted_poll(
    feed_server: FeedServer,
    tmp_path: Path,
    env: dict[str, str],
    signum: signal.Signals = signal.SIGINT,
    extra: tuple[str, ...] = (),
) -> tuple[subprocess.CompletedProcess[str], set[int], Path, Path]:
    """Start a poll whose last feed answers only after 60 s; once another feed is done, press
    Ctrl-C (SIGINT to the command's process group, as a terminal does) or send SIGTERM to the
    command (as a service manager or `kill` does)."""
    feeds = [
        (feed_server.route(f"/fast{k}.xml", body=rss("Fast", _items(f"fast{k:02d}", 1))),
         f"Fast wire {k:02d}")
        for k in range(FAST_FEEDS)
    ]  # fmt: skip
    slow = feed_server.route("/slow.xml", body=rss("Slow", _items("slow", 2)), delay=60)
    sources = write_sources(tmp_path / "sources.yaml", [*feeds, (slow, "Slow wire")], timeout=90)
    db = tmp_path / "wh" / "news.duckdb"
    err_path = tmp_path / "poll.err"
    with err_path.open("w+") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "newswatch.cli", "poll", "--sources", str(sources),
             "--db", str(db), *extra],
            env=env, stdout=subprocess.PIPE, stderr=err, text=True, cwd=tmp_path,
            start_new_session=True,
        )  # fmt: skip
        seen: set[int] = set()
        try:
            deadline = time.monotonic() + 120
            while "Fast wire" not in err_path.read_text():
                assert proc.poll() is None and time.monotonic() < deadline, err_path.read_text()
                seen |= descendants(proc.pid)
                time.sleep(0.1)
            seen |= descendants(proc.pid)
            if signum == signal.SIGINT:
                os.killpg(proc.pid, signum)
            else:
                proc.send_signal(signum)
            # (With a temporary Prefect API this once took 85 s: Prefect retried it.)
            stdout, _ = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    done = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, err_path.read_text())
    return done, seen, sources, db


def _assert_quiet_prompt_exit(done: subprocess.CompletedProcess[str], seen: set[int]) -> None:
    assert done.returncode == cli.EXIT_INTERRUPTED, done.stdout + done.stderr
    assert "newswatch: interrupted; the next poll fetches again" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    assert "Crash detected" not in done.stderr, done.stderr
    time.sleep(0.5)
    left = [pid for pid in seen if _alive(pid)]
    assert left == [], left  # the poll's shards and their fork server are gone


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _articles(db: Path) -> list[str]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return sorted(r[0] for r in con.execute("SELECT url FROM articles").fetchall())
    finally:
        con.close()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_poll_exits_at_once_and_the_next_poll_stores_everything(
    feed_server: FeedServer, tmp_path: Path, signum: signal.Signals
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["PREFECT_HOME"] = str(tmp_path / "prefect")  # a first-time user: no Prefect server
    env["NEWSWATCH_HOME"] = str(tmp_path / "home")  # and no running serve
    done, seen, sources, db = _interrupted_poll(feed_server, tmp_path, env, signum)
    _assert_quiet_prompt_exit(done, seen)
    assert len(seen) >= 3  # the shards' fork server, two shards
    assert not (tmp_path / "prefect").exists()  # in-process: Prefect was not even imported

    feed_server.route("/slow.xml", body=rss("Slow", _items("slow", 2)))  # answers at once now
    again = subprocess.run(
        [sys.executable, "-m", "newswatch.cli", "poll", "--sources", str(sources), "--db",
         str(db)],
        env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert again.returncode == 0, again.stdout + again.stderr
    assert (
        f"{FAST_FEEDS + 1} feeds: {FAST_FEEDS + 1} ok, 0 failed; {FAST_FEEDS + 2} new articles"
        in (again.stdout)
    ), again.stdout
    assert _articles(db) == [
        *(f"https://fast{k:02d}.example/0" for k in range(FAST_FEEDS)),
        "https://slow.example/0",
        "https://slow.example/1",
    ]


def test_ctrl_c_with_a_running_api_records_the_run_as_crashed(
    feed_server: FeedServer, tmp_path: Path, prefect_harness: None
) -> None:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName
    from prefect.settings import PREFECT_API_URL

    env = dict(os.environ, PREFECT_API_URL=str(PREFECT_API_URL.value()))
    done, seen, _, db = _interrupted_poll(feed_server, tmp_path, env, extra=("--prefect",))
    _assert_quiet_prompt_exit(done, seen)
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["newswatch-poll"]))
        )
    run = next(r for r in runs if r.parameters.get("db") == str(db))
    assert run.state is not None and run.state.is_crashed(), run.state
