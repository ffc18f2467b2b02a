"""The poll benchmark works end to end in a small configuration (figures are not judged here)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(600)
def test_bench_poll_prints_its_figures(tmp_path: Path) -> None:
    compare = shutil.which("newsboat") is not None
    argv = [
        sys.executable,
        str(REPO / "bench" / "bench_poll.py"),
        "--feeds",
        "30",
        "--items",
        "10",
        "--latency",
        "0.05",
        *(["--compare"] if compare else []),
    ]
    env = dict(os.environ, PREFECT_HOME=str(tmp_path / "prefect"))
    env.pop("PREFECT_API_URL", None)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=500, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.splitlines()

    def line(prefix: str) -> str:
        found = [x for x in lines if x.startswith(prefix)]
        assert found, f"no line starting with {prefix!r} in:\n{done.stdout}"
        return found[0]

    cold = line("cold ").split()
    repoll = line("repoll ").split()
    assert float(cold[1]) > 0 and float(cold[4]) > 0  # wall s, cpu s
    # run, wall s, poll s, other s, cpu s, maxrss, tree RSS, tree PSS, articles, ...
    assert 0 < float(cold[7]) <= float(cold[6])  # PSS splits what RSS counts per process
    assert float(cold[5]) > 0 and float(repoll[5]) > 0  # largest process
    assert int(cold[8]) == 300  # articles: 30 feeds x 10 items
    assert "ok 30, 304 0" in line("cold ")
    assert "ok 0, 304 30" in line("repoll ")  # every feed answered 304 the second time
    assert int(repoll[8]) == 0
    for stage in ("fetch", "parse_cpu", "normalise_cpu", "match_cpu", "store", "refresh"):
        assert f" {stage} " in line("stages cold")
    assert line("floor:")
    reference = re.search(
        r"feedparser alone, ([\d.]+) ms cpu a feed on (\d+) of the farm's bodies.*"
        r"cold poll / that floor = ([\d.]+)x",
        line("reference floor"),
    )
    assert reference, line("reference floor")
    assert float(reference.group(1)) > 0 and int(reference.group(2)) == 30
    assert "in-process" in line("overhead:")
    # The same polls on a running Prefect server, as flow runs with their task runs.
    assert "ok 30, 304 0" in line("cold@srv ") and "ok 0, 304 30" in line("repoll@srv ")
    for row in ("poll, 30 feeds, cold", "run, 27 feeds, nothing new", "digest, 27 feeds"):
        figures = [float(f.strip("()")) for f in line(row)[34:].split()]  # wall (cpu), twice
        assert len(figures) == 4 and all(f > 0 for f in figures), line(row)
    recorded = line("prefect server recorded:")
    assert "'newswatch-poll': 4" in recorded and "'newswatch-digest': 3" in recorded, recorded
    assert "'fetch-parse-match'" in recorded and "'render-digest'" in recorded, recorded
    assert re.search(
        r"`run` with nothing new <= 1.5 s +[\d.]+ s +(met|NOT MET)$", done.stdout, re.M
    )
    assert line("  with a server: commands appear as flow runs").endswith(" met")
    served = re.search(r"(\d+) x 304", line("farm served:"))
    assert served and int(served.group(1)) >= 30
    if compare:
        assert "newsboat" in done.stdout
        assert line("cold wall s")
        assert line("repoll wall s")


def test_the_largest_process_is_the_commands_own_not_the_benchmarks(tmp_path: Path) -> None:
    """wait4's ru_maxrss would report the benchmark's own peak, carried over the exec."""
    from bench.bench_poll import measure

    ballast = bytearray(400 * 2**20)
    ballast[::4096] = b"\x01" * len(range(0, len(ballast), 4096))  # resident: our own peak
    command = (
        "import time; b = bytearray(80 * 2**20); b[::4096] = b'\\x01' * (len(b) // 4096); "
        "time.sleep(0.6)"
    )
    run = measure("small", [sys.executable, "-c", command], dict(os.environ), tmp_path)
    del ballast
    assert run.status == 0
    assert 80 <= run.max_rss_mb < 200
