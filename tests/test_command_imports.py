"""A command imports only what it uses, measured in a fresh interpreter through sys.modules:
`query`, `feeds`, `search` and `match` never load Prefect or httpx, `poll`, `digest` and `run`
load no Prefect when they run in-process (no Prefect server about), and `digest` loads none of
the poll's modules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from newswatch.store import search, warehouse
from tests.feedserver import FeedServer
from tests.helpers import rss, write_sources

REPO = Path(__file__).resolve().parent.parent

# Runs a command with cli.main, then writes the names of the modules it loaded.
PROBE = """
import json, os, sys
from newswatch import cli
status = cli.main(sys.argv[1:], out=open(os.devnull, "w"))
with open(os.environ["PROBE_OUT"], "w") as fh:
    json.dump({"status": status, "modules": sorted(sys.modules)}, fh)
"""


def _loaded(argv: list[str], tmp_path: Path, stdin: str = "") -> set[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "NEWSWATCH_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), str(REPO)])
    env["NEWSWATCH_HOME"] = str(tmp_path / "home")  # no running `newswatch serve`
    env["PREFECT_HOME"] = str(tmp_path / "prefect")  # no Prefect profile
    env["PROBE_OUT"] = str(tmp_path / "modules.json")
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv],
        env=env, input=stdin, capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads((tmp_path / "modules.json").read_text())
    assert result["status"] == 0, done.stderr
    return set(result["modules"])


def _top(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


@pytest.fixture
def warehouse_file(tmp_path: Path) -> tuple[Path, Path]:
    sources = write_sources(tmp_path / "s.yaml", [("http://127.0.0.1:9/a.xml", "Alpha")])
    db = tmp_path / "wh" / "n.duckdb"
    db.parent.mkdir()
    with warehouse.connect(db) as con:
        search.refresh_search_index(con)
    return sources, db


@pytest.mark.parametrize(
    "command",
    [
        ["query", "SELECT count(*) AS n FROM articles"],
        ["feeds"],
        ["search", "NATO"],
        ["match"],
    ],
    ids=lambda c: c[0],
)
def test_reading_commands_load_neither_prefect_nor_httpx(
    command: list[str], warehouse_file: tuple[Path, Path], tmp_path: Path
) -> None:
    sources, db = warehouse_file
    argv = [*command, "--sources", str(sources)] if command[0] in ("feeds", "match") else command
    if command[0] != "match":
        argv += ["--db", str(db)]
    stdin = '{"id": "1", "title": "NATO summit", "summary": ""}\n' if command[0] == "match" else ""
    top = _top(_loaded(argv, tmp_path, stdin))
    assert "prefect" not in top and "httpx" not in top, sorted(top)
    assert not {"prefect_dask", "distributed", "dask", "uvicorn", "fastapi", "sqlalchemy"} & top


def test_in_process_poll_digest_and_run_load_no_prefect(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    url = feed_server.route("/f.xml", body=rss("F", [{"title": "NATO", "link": "https://n/1"}]))
    sources = write_sources(tmp_path / "s.yaml", [(url, "F")])
    db = tmp_path / "wh" / "n.duckdb"
    common = ["--sources", str(sources), "--db", str(db)]
    out = ["--out", str(tmp_path / "digests")]
    for argv in (["poll", *common], ["digest", *common, *out], ["run", *common, *out]):
        top = _top(_loaded(argv, tmp_path))
        assert "prefect" not in top, (argv[0], sorted(top))
        if argv[0] == "digest":  # nothing of the poll's: HTTP, feed parsing, page extraction
            assert not {"httpx", "feedparser", "trafilatura", "lingua"} & top, sorted(top)
    # The same commands, asked to run on Prefect with no server about, say so in one line.
    done = subprocess.run(
        [sys.executable, "-m", "newswatch.cli", "poll", "--prefect", *common],
        env={**{k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")},
             "NEWSWATCH_HOME": str(tmp_path / "home"), "PREFECT_HOME": str(tmp_path / "p")},
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("newswatch: error: --prefect: no Prefect server")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_a_sharded_poll_stores_and_clusters_without_pyarrow_in_the_command(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    """The shards write the batch (Parquet, pyarrow); the command itself merges it with
    DuckDB's own reader and clusters it, and never imports pyarrow (~0.1 s of CPU and ~40 MB
    in the process that peaks at the merge and the index update). With one core there are no
    shards and the command writes the batch itself."""
    from newswatch.orchestrate.shards import SHARD_MIN_FEEDS

    feeds = []
    for i in range(SHARD_MIN_FEEDS):
        body = rss(f"F{i}", [{"title": f"NATO summit {i}", "link": f"https://n/{i}"}])
        feeds.append((feed_server.route(f"/f{i}.xml", body=body), f"F{i}"))
    sources = write_sources(tmp_path / "s.yaml", feeds)
    db = tmp_path / "wh" / "n.duckdb"
    top = _top(_loaded(["poll", "--sources", str(sources), "--db", str(db)], tmp_path))
    with warehouse.connect(db, read_only=True) as con:
        row = con.execute("SELECT count(*) FROM articles").fetchone()
        clustered = con.execute("SELECT count(*) FROM article_clusters").fetchone()
    assert row == (SHARD_MIN_FEEDS,) and clustered == (SHARD_MIN_FEEDS,)
    if (os.cpu_count() or 1) >= 2:
        assert "pyarrow" not in top, sorted(top)
    else:
        assert "pyarrow" in top
