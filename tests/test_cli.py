"""The `newswatch` command as a user runs it (a real subprocess where it matters)."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from newswatch import cli
from tests.conftest import SEED_ARTICLE
from tests.feedserver import FeedServer
from tests.helpers import rss, write_sources

COMMANDS = sorted(cli.build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main([command, "--help"])
    assert done.value.code == 0
    assert f"usage: newswatch {command}" in capsys.readouterr().out


def test_match_reads_json_lines_and_explains(tmp_path: Path) -> None:
    seed = SEED_ARTICLE.read_text(encoding="utf-8")
    lines = [
        {
            "id": "seed",
            "title": "Turkey's S-400 purchase tops Erdogan-Trump agenda",
            "summary": f"<p>{seed}</p>",
        },
        {"id": "bird", "title": "How to roast a turkey", "summary": "Brine it &amp; baste it."},
        {"id": "href", "title": "Markets", "summary": '<a href="https://x.org/nato">link</a>'},
    ]
    stdin = "\n".join(json.dumps(x) for x in lines) + "\nnot json\n"
    done = subprocess.run(
        [sys.executable, "-m", "newswatch.cli", "match"],
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
    )
    out = [json.loads(line) for line in done.stdout.splitlines()]
    assert [o.get("id") for o in out[:3]] == ["seed", "bird", "href"]
    assert out[0]["topics"] == sorted(["Turkey", "S-400", "NATO"])
    assert out[1]["topics"] == [] and out[2]["topics"] == []
    assert "error" in out[3]
    for match in out[0]["matches"]:
        for hit in match["hits"]:
            assert hit["field"] in ("title", "summary") and hit["end"] > hit["start"]


def test_unknown_command_is_a_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "newswatch.cli", "frobnicate"], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "invalid choice" in done.stderr
    assert "Traceback" not in done.stderr


# -- poll runs as Prefect records them ---------------------------------------------------


def _poll_run_record(db: Path) -> tuple[Any, list[Any], list[Any], list[Any]]:
    """(flow run, its logs, its artifacts, its task runs) of the poll of warehouse `db`."""
    from prefect import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterId,
        LogFilter,
        LogFilterFlowRunId,
    )
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["newswatch-poll"])),
            sort=FlowRunSort.EXPECTED_START_TIME_DESC,
        )
        run = next(r for r in runs if r.parameters.get("db") == str(db))
        logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id])))
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id]))
        )
        tasks = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id]))
        )
    return run, logs, artifacts, tasks


def _user_env(**extra: str) -> dict[str, str]:
    """The environment of a user who set nothing for Prefect's logging (conftest does)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_LOGGING")}
    env.update(extra)
    return env


def test_poll_run_logs_and_artifact_reach_prefect_while_the_terminal_stays_quiet(
    feed_server: FeedServer, tmp_path: Path, prefect_harness: None
) -> None:
    from prefect.settings import PREFECT_API_URL

    items = [
        {"title": "NATO summit opens in Vilnius", "link": "https://n.example/1", "guid": "1"},
        {"title": "Turkey weighs S-400 options", "link": "https://n.example/2", "guid": "2"},
        {"title": "Weather: mild week ahead", "link": "https://n.example/3", "guid": "3"},
    ]
    good = feed_server.route("/good.xml", body=rss("Good", items))
    down = feed_server.route("/down.xml", status=500, body=b"oops")
    sources = write_sources(tmp_path / "s.yaml", [(good, "Good wire"), (down, "Down wire")])
    db = tmp_path / "wh" / "n.duckdb"
    done = subprocess.run(
        [sys.executable, "-m", "newswatch.cli", "poll", "--sources", str(sources), "--db", str(db)],
        env=_user_env(PREFECT_API_URL=str(PREFECT_API_URL.value())),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # The terminal: progress lines and the summary, no Prefect INFO chatter, no traceback.
    assert " INFO " not in done.stderr and "Traceback" not in done.stderr, done.stderr
    # A failed feed shows once (progress line, summary), not again as a Prefect warning.
    assert "feed Down wire failed" not in done.stderr and "WARNING" not in done.stderr
    assert "2 feeds: 1 ok, 1 failed; 3 new articles, 3 new topic matches, " in done.stdout
    assert re.search(
        r"new topic matches, \d+ stor(y|ies) among matches stored in the last 3 days\n", done.stdout
    )

    _, logs, artifacts, _ = _poll_run_record(db)
    lines = [(log.level, log.message) for log in logs]
    summary = [m for level, m in lines if level == logging.INFO and m.startswith("poll ")]
    assert len(summary) == 1, lines
    assert "2 feeds, 1 failed, 0 skipped; 3 new articles, 3 new matches" in summary[0]
    failed = [m for level, m in lines if level == logging.WARNING and "Down wire" in m]
    assert failed == [f"feed Down wire failed: HTTP 500 Internal Server Error ({down})"], lines

    table = next(a for a in artifacts if a.key == "newswatch-poll")
    rows = {r["feed"]: r for r in json.loads(str(table.data))}
    assert (rows["Good wire"]["new_articles"], rows["Good wire"]["new_matches"]) == (3, 3)
    assert rows["Good wire"]["outcome"] == "ok"
    assert (rows["Down wire"]["new_articles"], rows["Down wire"]["new_matches"]) == (0, 0)
    assert rows["Down wire"]["outcome"] == "error" and rows["Down wire"]["http"] == 500


def test_poll_by_hand_leaves_backing_off_feeds_alone_unless_all(
    feed_server: FeedServer, tmp_path: Path, prefect_harness: None
) -> None:
    """`newswatch poll` from cron must not hammer a server that said Retry-After, nor a feed
    failing again and again; a feed that failed once or twice is tried again (it may just have
    been fixed); healthy feeds are polled every time; `--all` polls everything."""
    good = feed_server.route(
        "/good.xml", body=rss("Good", [{"title": "NATO", "link": "https://n.example/1"}])
    )
    busy = feed_server.route("/busy.xml", status=503, headers={"Retry-After": "7200"})
    broken = feed_server.route("/broken.xml", status=500, body=b"oops")
    sources = write_sources(
        tmp_path / "s.yaml", [(good, "Good"), (busy, "Busy"), (broken, "Broken")]
    )
    db = tmp_path / "wh" / "n.duckdb"
    digests = tmp_path / "digests"

    def run(*extra: str, command: str = "poll") -> str:
        argv = [command, "--sources", str(sources), "--db", str(db), *extra]
        if command == "run":
            argv += ["--out", str(digests)]
        out = io.StringIO()
        assert cli.main(argv, out=out) == 0
        return out.getvalue()

    def hits() -> tuple[int, int, int]:
        return tuple(
            len(feed_server.requests_for(p)) for p in ("/good.xml", "/busy.xml", "/broken.xml")
        )  # type: ignore[return-value]

    first = run()
    assert hits() == (1, 1, 1)
    assert "3 feeds: 1 ok, 2 failed;" in first and "skipped" not in first

    again = run()
    assert hits() == (2, 1, 2)  # the server that said Retry-After is left alone
    assert "3 feeds: 1 ok, 1 failed, 1 skipped;" in again
    assert "held back: 1 failing feed skipped until the next retry" in again and "`--all`" in again
    busy_line = next(line for line in again.splitlines() if "Busy" in line)
    assert busy_line.startswith("skip") and "backing off after 1 failure" in busy_line

    # `run` polls the same way, then renders the digest: the third failure in a row ...
    assert "1 skipped" in run(command="run") and hits() == (3, 1, 3)
    # ... after which the broken feed's backoff holds too.
    assert "2 skipped" in run() and hits() == (4, 1, 3)
    assert "3 feeds: 1 ok, 2 failed;" in run("--all") and hits() == (5, 2, 4)


def _newer_warehouse(path: Path) -> Path:
    """A real warehouse whose schema says a later newswatch made it."""
    import duckdb

    from newswatch.store import warehouse

    with warehouse.connect(path):
        pass
    con = duckdb.connect(str(path))
    con.execute("INSERT INTO schema_migrations VALUES (99, 'from_the_future', now())")
    con.close()
    return path


@pytest.mark.parametrize("kind", ["not-duckdb", "newer-schema"])
def test_unusable_warehouse_is_one_line_exit_2_before_any_fetch(
    feed_server: FeedServer, tmp_path: Path, kind: str
) -> None:
    url = feed_server.route("/f.xml", body=rss("F", [{"title": "NATO", "link": "https://n/1"}]))
    sources = write_sources(tmp_path / "s.yaml", [(url, "F")])
    if kind == "not-duckdb":
        db = tmp_path / "notes.duckdb"
        db.write_text("my shopping list, not a database\n")
        cause = "is not a valid DuckDB database file"
        fix = "pass --db with a newswatch warehouse, or a new file name to start one"
    else:
        db = _newer_warehouse(tmp_path / "future.duckdb")
        cause = "schema version 99, newer than this newswatch"
        fix = "upgrade newswatch"
    before = db.read_bytes()
    for command in ("poll", "run", "digest", "feeds", "serve"):
        done = subprocess.run(
            [sys.executable, "-m", "newswatch.cli", command, "--sources", str(sources),
             "--db", str(db)],
            env=_user_env(NEWSWATCH_HOME=str(tmp_path / "home")),
            capture_output=True, text=True, timeout=120, cwd=tmp_path,
        )  # fmt: skip
        assert done.returncode == 2, (command, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr, (command, done.stderr)
        assert done.stderr.count("\n") == 1, (command, done.stderr)  # one line
        assert done.stderr.startswith("newswatch: error: ") and str(db) in done.stderr
        assert cause in done.stderr and fix in done.stderr, (command, done.stderr)
    assert feed_server.requests_for("/f.xml") == []  # nothing fetched
    assert db.read_bytes() == before  # nothing written


def test_a_deterministic_warehouse_error_is_not_retried(
    feed_server: FeedServer, tmp_path: Path, prefect_harness: None
) -> None:
    """Called as a deployment would be (no CLI check in front): the run fails at its first
    task, once, before fetching; retrying a newer schema only repeats the error, slower."""
    import asyncio

    from newswatch.errors import WarehouseError
    from newswatch.orchestrate.flows.poll import poll_flow

    url = feed_server.route("/f.xml", body=rss("F", [{"title": "NATO", "link": "https://n/1"}]))
    sources = write_sources(tmp_path / "s.yaml", [(url, "F")])
    db = _newer_warehouse(tmp_path / "future.duckdb")
    with pytest.raises(WarehouseError, match="schema version 99"):
        asyncio.run(poll_flow(sources=str(sources), db=str(db), due_only=True))
    assert feed_server.requests_for("/f.xml") == []
    _, _, _, tasks = _poll_run_record(db)
    assert len(tasks) == 1 and tasks[0].name.startswith("read-feed-state")
    assert tasks[0].run_count == 1  # tried once: no retries
    assert tasks[0].state is not None and tasks[0].state.type.value == "FAILED"


def test_match_verbose_says_which_exclude_vetoed_a_topic(tmp_path: Path) -> None:
    """An article a topic's rule fires on but its `exclude` vetoes looks, by default, like
    one no rule fired on; --verbose says why it is not matched, and what the vetoing term
    matched (a wildcard such as 'opera*' may have matched "operated")."""
    sources = tmp_path / "greece.yaml"
    sources.write_text(
        "feeds:\n  - url: https://example.org/feed.xml\ntopics:\n  - name: Greece\n"
        "    any: [Greece, Athens]\n    exclude: ['Olympic*']\n",
        encoding="utf-8",
    )
    lines = [
        {"id": "1", "title": "Greece wins Olympics gold", "summary": "Athens celebrates."},
        {"id": "2", "title": "Rain in Oslo", "summary": "Umbrellas out."},
    ]

    def run(*args: str) -> list[dict[str, Any]]:
        done = subprocess.run(
            [sys.executable, "-m", "newswatch.cli", "match", "--sources", str(sources), *args],
            input="".join(json.dumps(x) + "\n" for x in lines),
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        return [json.loads(x) for x in done.stdout.splitlines()]

    vetoed, nothing = run("--verbose")
    assert vetoed["topics"] == [] and vetoed["not_matched"] == {
        "Greece": "a rule fired, but `exclude` vetoed it: 'Olympic*' matched \"Olympics\" "
        "in the title"
    }
    assert "not_matched" not in nothing
    assert all("not_matched" not in out for out in run())


def test_match_explains_briefly_by_default_and_in_full_with_verbose() -> None:
    line = json.dumps(
        {"id": "1", "title": "Turkey's S-400 deal", "summary": "Erdogan met NATO envoys."}
    )

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "newswatch.cli", "match", *args],
            input=line + "\n",
            capture_output=True,
            text=True,
        )

    short = run("--topic", "s-400")
    assert short.returncode == 0, short.stderr
    [out] = [json.loads(x) for x in short.stdout.splitlines()]
    assert out["topics"] == ["S-400"]  # --topic, any case
    [m] = out["matches"]
    # The words that matched and where (the rule's context words too).
    assert m["why"].startswith("Turkey's, S-400, deal in title; Erdogan, NATO in summary")
    assert len(m["rule"]) <= 90 and m["hits"]
    assert len(short.stdout) < 1500
    full = run("--verbose", "--topic", "S-400")
    [mf] = json.loads(full.stdout)["matches"]
    assert len(mf["rule"]) > len(m["rule"]) and mf["why"] == m["why"]
    bad = run("--topic", "Atlantis")
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.strip() == (
        "newswatch: error: unknown topic 'Atlantis'; the sources file defines: Turkey, S-400, NATO"
    )


@pytest.mark.parametrize("send", [False, True])
def test_digest_to_a_value_that_is_not_an_address_quotes_it_whole(
    tmp_path: Path, send: bool
) -> None:
    """`--to 'not an address'` is one line quoting the whole value (was: 'not'), also for a
    draft (was: addressed to a placeholder without a word); nothing is written."""
    from newswatch.store import warehouse

    db = tmp_path / "w.duckdb"
    with warehouse.connect(db):
        pass
    env = {
        **os.environ,
        "NEWSWATCH_SMTP_URL": "smtp://127.0.0.1:9",
        "NEWSWATCH_MAIL_FROM": "news@example.org",
    }
    args = ["digest", "--db", str(db), "--out", str(tmp_path / "d"), "--no-prefect"]
    args += ["--to", "not an address", *(["--send"] if send else [])]
    proc = subprocess.run(
        [sys.executable, "-m", "newswatch.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == (
        "newswatch: error: --to: 'not an address' is not an e-mail address; write "
        "user@example.org or 'Name <user@example.org>', separate several with commas\n"
    )
    assert not (tmp_path / "d").exists()
