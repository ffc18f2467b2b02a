"""Benchmark the `newswatch` commands a user types, end to end, against a loopback feed farm:
in-process (no Prefect server about) and as flow runs on a running `prefect server`; optionally
against newsboat on the same farm.

    .venv/bin/python bench/bench_poll.py [--feeds 1000] [--items 50] [--size 55000]
        [--latency 0.2] [--topical 0.1] [--no-etag] [--concurrency 100] [--small 27]
        [--no-server] [--compare]

It starts a feed farm (bench/farm.py: every feed on its own 127.1.x.y address, raw asyncio
HTTP in separate processes), writes a sources file with `allow_hosts: [127.0.0.0/8]`, and runs
the real CLI (`python -m newswatch.cli ...`) as a subprocess, timing the whole command:
- `poll` of every feed into a fresh DuckDB file (cold), then again (re-poll: every feed answers
  304; with --no-etag, 200 with the same body, which must not be parsed again);
- on the first `--small` feeds (a newsroom's list) and a warehouse of their own: `run` the
  first time, `run` with nothing new, and `digest`;
first in-process (no Prefect server reachable, as a first-time user), then the same commands
again with a `prefect server` running (as under `newswatch serve`), where they run as flow runs
(and the benchmark counts the flow runs and task runs the server recorded).
For the polls it prints wall time of the command and of the poll itself, per-stage timings,
CPU seconds and peak RSS of the command and its children, and articles per second. It also
times a plain fetch of the farm (the network floor) and states the floors. With --compare,
newsboat (`-x reload`, `reload-threads` = concurrency) polls the same farm with a temporary
config and cache. Last, it prints the targets of issue 19 and whether this run met them.

Only loopback addresses are contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
for _p in (str(REPO / "src"), str(REPO)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from bench.farm import Farm, FarmSpec  # noqa: E402

from newswatch.config import FetchSettings  # noqa: E402

NEWSBOAT = shutil.which("newsboat") or "/usr/bin/newsboat"
TIMINGS_LINE = re.compile(r"^timings \(s\): (.*)$", re.MULTILINE)


@dataclass
class Run:
    label: str
    wall_s: float
    cpu_s: float
    max_rss_mb: float  # the largest single process of the command's tree (VmHWM)
    tree_rss_mb: float  # sampled sum over the command's process tree (shared pages counted
    # once per process that maps them, so a forked tree looks bigger than it is)
    tree_pss_mb: float  # sampled sum of proportional set sizes: shared pages split, the
    # tree's real share of the machine's memory
    status: int
    timings: dict[str, float] = field(default_factory=dict)
    db: dict[str, Any] = field(default_factory=dict)
    output: str = ""

    @property
    def flow_s(self) -> float:
        return self.timings.get("flow_s", self.wall_s)


# -- measuring a command ------------------------------------------------------------------


def _proc_table() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, CPU seconds so far) for every process on the machine."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[int, tuple[int, float]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        out[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    return out


def _tree(root: int, table: dict[int, tuple[int, float]]) -> list[int]:
    kids: dict[int, list[int]] = {}
    for pid, (ppid, _cpu) in table.items():
        kids.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, []))
    return out


def wait_until_idle(
    root: int, *, below: float = 0.1, window: float = 1.0, most: float = 60.0
) -> float:
    """Wait until the process tree of `root` uses less than `below` of a core over `window`
    seconds (at most `most` seconds); returns the seconds waited. A `prefect server` answers
    its health check while its services still start (~2 s of CPU on this VM), and a poll
    timed meanwhile shares the cores with it."""
    start = time.perf_counter()

    def tree_cpu() -> float:
        table = _proc_table()
        return sum(table[pid][1] for pid in _tree(root, table) if pid in table)

    before = tree_cpu()
    while time.perf_counter() - start < most:
        time.sleep(window)
        now = tree_cpu()
        if now - before < below * window:
            break
        before = now
    return time.perf_counter() - start


def _rss_kb(pids: list[int]) -> tuple[int, int]:
    """(sum of RSS, sum of PSS) in KiB over `pids`."""
    rss = pss = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as fh:
                for line in fh:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            pass
    return rss, pss


def _high_water_kb(pid: int) -> int:
    """The kernel's peak RSS of the process (VmHWM), 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def measure(label: str, argv: list[str], env: dict[str, str], cwd: Path) -> Run:
    """Run a command; wall time and CPU from os.wait4, the tree's RSS and PSS sampled, and
    the largest process's peak from each process's own high-water mark.

    Not wait4's ru_maxrss: the kernel carries the forking process's peak over the exec
    into it, so it reported this benchmark's own memory (8,000 feeds: 502 MB for a command
    whose largest process peaked at 372 MB)."""
    out_path = cwd / f"{label}.out"
    with open(out_path, "wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        peak = [0, 0]
        high_water: dict[int, int] = {}  # KiB, per process seen in the tree
        cpu: dict[int, float] = {}  # CPU of every process seen in the tree (pool workers too)
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.1):
                table = _proc_table()
                pids = _tree(proc.pid, table)
                rss, pss = _rss_kb(pids)
                peak[0], peak[1] = max(peak[0], rss), max(peak[1], pss)
                for pid in pids:
                    high_water[pid] = max(high_water.get(pid, 0), _high_water_kb(pid))
                    if pid in table:  # the command itself may end between the two reads
                        cpu[pid] = table[pid][1]

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        done.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
    return Run(
        label=label,
        wall_s=wall,
        # wait4 counts the command and the children it reaped; forkserver pool workers are
        # reaped by the fork server, so the sampled tree CPU is taken when it is larger.
        cpu_s=max(usage.ru_utime + usage.ru_stime, sum(cpu.values())),
        max_rss_mb=max(high_water.values(), default=0) / 1024,
        tree_rss_mb=peak[0] / 1024,
        tree_pss_mb=peak[1] / 1024,
        status=proc.returncode,
        output=out_path.read_text(errors="replace"),
    )


# -- newswatch ----------------------------------------------------------------------------


def write_sources(path: Path, urls: list[str], args: argparse.Namespace) -> None:
    import yaml

    from newswatch import resources

    topics = yaml.safe_load(resources.default_sources_path().read_text(encoding="utf-8"))["topics"]
    doc = {
        "allow_hosts": ["127.0.0.0/8"],
        "fetch": {"concurrency": args.concurrency, "timeout": 60},
        "feeds": [{"url": u, "name": f"farm-{i:05d}"} for i, u in enumerate(urls)],
        "topics": topics,
    }
    if args.runner == "dask":
        doc["runner"] = {"kind": "dask", "address": None, "workers": args.dask_workers}
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")


def command_env(work: Path, api_url: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO / "src"), str(REPO), *filter(None, [env.get("PYTHONPATH")])]
    )
    env["PREFECT_HOME"] = str(work / "prefect-home")  # no Prefect profile of the user's
    env["NEWSWATCH_HOME"] = str(work / "newswatch-home")  # no `newswatch serve` of the user's
    if api_url:
        env["PREFECT_API_URL"] = api_url  # a running server, as under `newswatch serve`
    else:
        env.pop("PREFECT_API_URL", None)  # none: the commands run in-process
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    env.setdefault("DO_NOT_TRACK", "1")
    return env


def run_command(
    label: str, args: list[str], work: Path, api_url: str | None, db: Path | None = None
) -> Run:
    """`newswatch ARGS` as a user types it; the poll's own timings from its summary."""
    argv = [sys.executable, "-m", "newswatch.cli", *args]
    run = measure(label, argv, command_env(work, api_url), work)
    found = TIMINGS_LINE.findall(run.output)
    if run.status != 0:
        tail = "\n".join(run.output.splitlines()[-30:])
        raise SystemExit(f"newswatch {args[0]} ({label}) failed with status {run.status}:\n{tail}")
    if found:
        for part in found[-1].split(", "):
            key, _, value = part.rpartition(" ")
            run.timings[key] = float(value)
    if db is not None:
        run.db = poll_row(db)
        # Feeds whose 200 body was byte-identical to the last one (not parsed again).
        run.db["unchanged"] = len(re.findall(r"^same  ", run.output, re.MULTILINE))
    return run


def run_poll(label: str, sources: Path, db: Path, work: Path, api_url: str | None = None) -> Run:
    args = ["poll", "--sources", str(sources), "--db", str(db)]
    run = run_command(label, args, work, api_url, db)
    if not run.timings:
        raise SystemExit(f"newswatch poll ({label}) printed no timings:\n{run.output[-2000:]}")
    return run


@dataclass
class Session:
    """The commands timed in one setting (in-process, or on a Prefect server)."""

    where: str
    cold: Run
    repoll: Run
    run_first: Run
    run_again: Run
    digest: Run


def time_commands(
    where: str, work: Path, sources: Path, small: Path, api_url: str | None, tag: str
) -> Session:
    db = work / f"wh-{tag}" / "bench.duckdb"
    small_db = work / f"wh-{tag}" / "small.duckdb"
    digests = work / f"digests-{tag}"
    small_args = ["--sources", str(small), "--db", str(small_db), "--out", str(digests)]
    session = Session(
        where,
        cold=run_poll(f"cold-{tag}", sources, db, work, api_url),
        repoll=run_poll(f"repoll-{tag}", sources, db, work, api_url),
        run_first=run_command(f"run-first-{tag}", ["run", *small_args], work, api_url, small_db),
        run_again=run_command(f"run-again-{tag}", ["run", *small_args], work, api_url, small_db),
        digest=run_command(f"digest-{tag}", ["digest", *small_args], work, api_url),
    )
    print(
        f"{where}: cold poll {session.cold.wall_s:.2f} s, re-poll {session.repoll.wall_s:.2f} s, "
        f"run (first) {session.run_first.wall_s:.2f} s, run (nothing new) "
        f"{session.run_again.wall_s:.2f} s, digest {session.digest.wall_s:.2f} s",
        flush=True,
    )
    return session


def recorded_runs(api_url: str, dbs: set[str]) -> tuple[dict[str, int], dict[str, int]]:
    """Flow runs (by flow name) and task runs (by task name) the server holds for `dbs`."""
    import httpx

    flows = {f["id"]: f["name"] for f in httpx.post(f"{api_url}/flows/filter", json={}).json()}
    runs = [
        r
        for r in httpx.post(f"{api_url}/flow_runs/filter", json={"limit": 200}).json()
        if r["parameters"].get("db") in dbs
    ]
    by_flow: dict[str, int] = {}
    for r in runs:
        by_flow[flows.get(r["flow_id"], "?")] = by_flow.get(flows.get(r["flow_id"], "?"), 0) + 1
    tasks = httpx.post(
        f"{api_url}/task_runs/filter",
        json={"flow_runs": {"id": {"any_": [r["id"] for r in runs]}}, "limit": 200},
    ).json()
    by_task: dict[str, int] = {}
    for t in tasks:
        name = t["name"].rsplit("-", 1)[0]
        by_task[name] = by_task.get(name, 0) + 1
    return by_flow, by_task


def poll_row(db: Path) -> dict[str, Any]:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        row = con.execute(
            "SELECT feeds, feeds_ok, feeds_not_modified, feeds_failed, entries, new_articles, "
            "new_matches, timings_json FROM polls ORDER BY started_at DESC LIMIT 1"
        ).fetchone()
        articles = con.execute("SELECT count(*) FROM articles").fetchone()
    finally:
        con.close()
    assert row is not None and articles is not None
    keys = (
        "feeds",
        "feeds_ok",
        "feeds_not_modified",
        "feeds_failed",
        "entries",
        "new_articles",
        "new_matches",
    )
    out: dict[str, Any] = dict(zip(keys, row[:7], strict=True))
    out["timings_json"] = json.loads(row[7] or "{}")
    out["articles_total"] = articles[0]
    return out


def fetch_floor(urls: list[str], concurrency: int) -> tuple[float, int]:
    """Wall time of a plain fetch of every feed at the configured concurrency (no parsing)."""
    from newswatch.config import FetchSettings
    from newswatch.fetch.stream import FetchRequest, fetch_all

    settings = FetchSettings(concurrency=concurrency, timeout=60)
    start = time.perf_counter()
    results = asyncio.run(
        fetch_all([FetchRequest(u) for u in urls], settings, allow_hosts=["127.0.0.0/8"])
    )
    return time.perf_counter() - start, sum(1 for r in results if r.outcome == "ok")


def feedparser_ms_per_feed(spec: FarmSpec, sample: int = 40) -> tuple[float, int]:
    """CPU ms feedparser alone takes per farm feed: the issue's reference parser, timed on
    every k-th of the farm's own bodies (about `sample` of them), no network."""
    from datetime import UTC, datetime

    import feedparser
    from bench.farm import feed_body

    indexes = list(range(0, spec.feeds, max(1, spec.feeds // sample)))
    bodies = [feed_body(spec, i, datetime.now(UTC)) for i in indexes]
    feedparser.parse(bodies[0])  # imports and caches outside the timing
    best = []
    for body in bodies:  # the best of three per body: this VM's noise only ever adds time
        runs = []
        for _ in range(3):
            start = time.process_time()
            feedparser.parse(body)
            runs.append(time.process_time() - start)
        best.append(min(runs))
    return sum(best) * 1000 / len(bodies), len(bodies)


# -- newsboat -----------------------------------------------------------------------------


def run_newsboat(label: str, urls: list[str], work: Path, threads: int) -> Run:
    home = work / "newsboat"
    home.mkdir(exist_ok=True)
    (home / "urls").write_text("\n".join(urls) + "\n")
    (home / "config").write_text(
        f"reload-threads {threads}\ndownload-timeout 60\nshow-read-feeds yes\n"
        "cleanup-on-quit no\nsuppress-first-reload yes\n"
    )
    env = dict(os.environ, HOME=str(home), XDG_CONFIG_HOME=str(home), XDG_DATA_HOME=str(home))
    argv = [
        NEWSBOAT,
        "-u",
        str(home / "urls"),
        "-c",
        str(home / "cache.db"),
        "-C",
        str(home / "config"),
        "-x",
        "reload",
    ]
    run = measure(label, argv, env, work)
    if run.status != 0:
        raise SystemExit(
            f"newsboat ({label}) failed with status {run.status}:\n{run.output[-2000:]}"
        )
    return run


# -- report -------------------------------------------------------------------------------


def stage_line(run: Run) -> str:
    t = run.timings
    keys = (
        "fetch_s",
        "parse_wait_s",
        "parse_cpu_s",
        "normalise_cpu_s",
        "match_cpu_s",
        "language_cpu_s",
        "spool_s",
        "store_s",
        "refresh_s",
    )
    return "  ".join(f"{k[:-2]} {t[k]:.2f}" for k in keys if k in t)


def compile_bytecode() -> None:
    """Compile newswatch's modules to bytecode (__pycache__) before anything is timed, as an
    installed package is and as a user's second command finds it. The commands run from this
    checkout's src/ (PYTHONPATH), which has no bytecode until something writes it, and never
    gets any where PYTHONDONTWRITEBYTECODE is set (as on the machine these figures were
    taken): each command then compiled every module it imported, ~0.1 s of CPU in the
    command and as much in its shards' fork server."""
    compileall.compile_dir(str(REPO / "src"), quiet=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--items", type=int, default=50, help="items per feed")
    parser.add_argument("--size", type=int, default=55_000, help="approximate bytes per feed")
    parser.add_argument("--latency", type=float, default=0.2, help="server delay per response, s")
    parser.add_argument("--topical", type=float, default=0.1, help="share of topical items")
    parser.add_argument(
        "--content",
        type=int,
        default=0,
        help="bytes of full content (content:encoded HTML) per item; 0: none",
    )
    parser.add_argument(
        "--no-etag", action="store_true", help="no ETag/Last-Modified (re-poll gets 200s)"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=FetchSettings().concurrency,
        help="feeds in flight (newsboat: reload-threads); default: newswatch's default",
    )
    parser.add_argument(
        "--small",
        type=int,
        default=27,
        help="feeds of the `run` and `digest` timings (default 27, the bundled sources.yaml's)",
    )
    parser.add_argument("--farm-processes", type=int, default=2)
    parser.add_argument("--runner", choices=("default", "dask"), default="default")
    parser.add_argument("--dask-workers", type=int, default=2)
    parser.add_argument("--compare", action="store_true", help="also run newsboat on the same farm")
    parser.add_argument(
        "--no-server",
        action="store_true",
        help="only the in-process commands (no `prefect server` started)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)

    if args.compare and not os.path.exists(NEWSBOAT):
        raise SystemExit(
            f"--compare needs newsboat (apt-get install newsboat); not found at {NEWSBOAT}"
        )
    cores = os.cpu_count() or 1
    spec = FarmSpec(
        feeds=args.feeds,
        items=args.items,
        size=args.size,
        latency=args.latency,
        topical=args.topical,
        content=args.content,
        etag=not args.no_etag,
        processes=args.farm_processes,
    )
    compile_bytecode()
    work = Path(tempfile.mkdtemp(prefix="newswatch-bench-"))
    print(
        f"farm: {spec.feeds} feeds x {spec.items} items, ~{spec.size} B, latency {spec.latency} s, "
        f"{spec.topical:.0%} topical, content {spec.content} B/item, etag {'on' if spec.etag else 'off'}, one 127.1.x.y address "
        f"per feed, {spec.processes} farm processes; concurrency {args.concurrency}; {cores} cores; "
        f"runner {args.runner}",
        flush=True,
    )
    served: Session | None = None
    recorded: tuple[dict[str, int], dict[str, int]] = ({}, {})
    server_start = 0.0
    try:
        with Farm(spec) as farm:
            floor_fetch, ok = fetch_floor(farm.urls, args.concurrency)
            print(
                f"fetch only (floor):  {floor_fetch:6.2f} s  ({ok} bodies, no parsing)", flush=True
            )
            feedparser_ms, sampled = feedparser_ms_per_feed(spec)
            sources = work / "sources.yaml"
            write_sources(sources, farm.urls, args)
            small = work / "small.yaml"
            write_sources(small, farm.urls[: args.small], args)
            local = time_commands("in-process", work, sources, small, None, "local")
            if not args.no_server:
                from newswatch.orchestrate.serve import local_prefect_server

                t0 = time.perf_counter()
                with local_prefect_server(work / "prefect-server") as server:
                    server_start = time.perf_counter() - t0
                    settled = wait_until_idle(server.process.pid)
                    print(
                        f"prefect server:      {server_start:6.2f} s to healthy, "
                        f"{settled:.1f} s more until idle",
                        flush=True,
                    )
                    served = time_commands(
                        "on a prefect server", work, sources, small, server.api_url, "served"
                    )
                    dbs = {str(work / "wh-served" / n) for n in ("bench.duckdb", "small.duckdb")}
                    recorded = recorded_runs(server.api_url, dbs)
            boat: list[Run] = []
            if args.compare:
                boat = [
                    run_newsboat("newsboat-cold", farm.urls, work, args.concurrency),
                    run_newsboat("newsboat-repoll", farm.urls, work, args.concurrency),
                ]
            farm_stats = farm.stats()
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"work folder kept: {work}")

    cold, repoll = local.cold, local.repoll
    polls = [(cold, "cold"), (repoll, "repoll")]
    if served is not None:
        polls += [(served.cold, "cold@srv"), (served.repoll, "repoll@srv")]
    print()
    print(
        f"{'run':<10} {'wall s':>7} {'poll s':>7} {'other s':>7} {'cpu s':>6} "
        f"{'maxrss MB':>9} {'tree RSS':>8} {'tree PSS':>8} {'articles':>8} {'art/s':>7}  outcomes"
    )
    for run, label in polls:
        entries = int(run.db["entries"])
        rate = entries / run.flow_s if run.flow_s else 0.0
        outcomes = (
            f"ok {run.db['feeds_ok']}, 304 {run.db['feeds_not_modified']}, "
            f"same body {run.db['unchanged']}, failed {run.db['feeds_failed']}, "
            f"new {run.db['new_articles']}"
        )
        print(
            f"{label:<10} {run.wall_s:7.2f} {run.flow_s:7.2f} {run.wall_s - run.flow_s:7.2f} "
            f"{run.cpu_s:6.2f} {run.max_rss_mb:9.0f} {run.tree_rss_mb:8.0f} "
            f"{run.tree_pss_mb:8.0f} {entries:8d} "
            f"{rate:7.0f}  {outcomes}"
        )
    for run, label in polls[:2]:
        print(f"stages {label:<7} {stage_line(run)}")
    parse_cpu = sum(
        cold.timings.get(k, 0.0) for k in ("parse_cpu_s", "normalise_cpu_s", "match_cpu_s")
    )
    floor = max(floor_fetch, parse_cpu / cores)
    print(
        f"floor: max(fetch {floor_fetch:.2f} s, parse+normalise+match cpu {parse_cpu:.2f} s"
        f" / {cores} cores)"
        f" = {floor:.2f} s; cold poll / floor = {cold.flow_s / floor:.2f}x"
    )
    # The issue's own wording counts parse CPU alone; that floor is lower, the ratio higher.
    parse_only = max(floor_fetch, cold.timings.get("parse_cpu_s", 0.0) / cores)
    print(
        f"floor counting parse cpu alone: {parse_only:.2f} s; "
        f"cold poll / that floor = {cold.flow_s / max(parse_only, 1e-9):.2f}x"
    )
    # The issue sized its floor with feedparser (10.5 ms a feed there: ~10.5 s of CPU, ~5 s
    # over two cores); newswatch's own RSS reader is faster, which lowers the floors above.
    reference = max(floor_fetch, feedparser_ms * spec.feeds / 1000 / cores)
    ours_ms = parse_cpu * 1000 / max(1, int(cold.db["feeds_ok"]))
    print(
        f"reference floor (the issue's: feedparser alone, {feedparser_ms:.1f} ms cpu a feed on "
        f"{sampled} of the farm's bodies; newswatch's parse+normalise+match {ours_ms:.1f} ms): "
        f"max(fetch {floor_fetch:.2f} s, {feedparser_ms * spec.feeds / 1000:.2f} s / {cores} cores)"
        f" = {reference:.2f} s; cold poll / that floor = {cold.flow_s / reference:.2f}x"
    )
    print(
        f"overhead: command wall - poll = {cold.wall_s - cold.flow_s:.2f} s (cold), "
        f"{repoll.wall_s - repoll.flow_s:.2f} s (re-poll), in-process: imports, reading "
        "sources.yaml, the summary, exit"
    )
    print()
    sessions = [local] + ([served] if served is not None else [])
    print(f"{'whole command: wall s (cpu s)':<34}" + "".join(f"{s.where:>22}" for s in sessions))
    rows = [
        (f"poll, {spec.feeds} feeds, cold", "cold"),
        (f"poll, {spec.feeds} feeds, re-poll", "repoll"),
        (f"run, {args.small} feeds, first time", "run_first"),
        (f"run, {args.small} feeds, nothing new", "run_again"),
        (f"digest, {args.small} feeds", "digest"),
    ]
    for title, attr in rows:
        cells = [getattr(s, attr) for s in sessions]
        print(f"{title:<34}" + "".join(f"{f'{c.wall_s:.2f} ({c.cpu_s:.2f})':>22}" for c in cells))
    if served is not None:
        by_flow, by_task = recorded
        print(
            f"prefect server recorded: flow runs {dict(sorted(by_flow.items()))}; "
            f"task runs {dict(sorted(by_task.items()))}; it took {server_start:.2f} s to "
            "become healthy"
        )
    if boat:
        print()
        print(f"{'':<18} {'newswatch':>10} {'newsboat':>10} {'ratio':>7}")
        for (ours, label), theirs in zip(polls[:2], boat, strict=True):
            print(
                f"{label + ' wall s':<18} {ours.wall_s:10.2f} {theirs.wall_s:10.2f} "
                f"{theirs.wall_s / ours.wall_s:6.1f}x   (whole command; the poll itself "
                f"{ours.flow_s:.2f} s: {theirs.wall_s / ours.flow_s:.1f}x)"
            )
            print(f"{label + ' cpu s':<18} {ours.cpu_s:10.2f} {theirs.cpu_s:10.2f}")
            print(
                f"{label + ' maxrss MB':<18} {ours.max_rss_mb:10.0f} {theirs.max_rss_mb:10.0f}"
                f"   (largest process; newswatch's whole tree: PSS {ours.tree_pss_mb:.0f} MB)"
            )
    print()
    print("targets (issue 19; whole commands, in-process, this run):")

    def target(text: str, met: bool | None, figure: str) -> None:
        verdict = "not measured" if met is None else ("met" if met else "NOT MET")
        print(f"  {text:<58} {figure:<34} {verdict}")

    target("`run` with nothing new <= 1.5 s", local.run_again.wall_s <= 1.5,
           f"{local.run_again.wall_s:.2f} s")  # fmt: skip
    target("`digest` <= 1 s", local.digest.wall_s <= 1.0, f"{local.digest.wall_s:.2f} s")
    if boat:
        cold_x, repoll_x = boat[0].wall_s / cold.wall_s, boat[1].wall_s / repoll.wall_s
        target(f"cold poll of {spec.feeds} feeds >= 4x newsboat", cold_x >= 4,
               f"{cold.wall_s:.2f} s vs {boat[0].wall_s:.2f} s: {cold_x:.1f}x")  # fmt: skip
        target(
            f"all-304 re-poll of {spec.feeds} feeds <= 2.5 s, >= 20x newsboat",
            repoll.wall_s <= 2.5 and repoll_x >= 20,
            f"{repoll.wall_s:.2f} s vs {boat[1].wall_s:.2f} s: {repoll_x:.1f}x",
        )
    else:
        target(f"cold poll of {spec.feeds} feeds >= 4x newsboat", None, f"{cold.wall_s:.2f} s")
        target(
            f"all-304 re-poll of {spec.feeds} feeds <= 2.5 s, >= 20x newsboat",
            None if repoll.wall_s <= 2.5 else False,
            f"{repoll.wall_s:.2f} s",
        )
    # Issue 7's targets for the poll itself (issue 16 asks for them with full content on:
    # `--content 3000`); judged on the in-process polls of this run.
    print(f"targets (issue 7; the poll itself, in-process, content {spec.content} B/item):")
    if boat:
        ratio = boat[0].wall_s / cold.flow_s
        target("cold poll >= 3x newsboat", ratio >= 3,
               f"{cold.flow_s:.2f} s vs {boat[0].wall_s:.2f} s: {ratio:.1f}x")  # fmt: skip
    else:
        target("cold poll >= 3x newsboat", None, f"{cold.flow_s:.2f} s")
    target("cold poll within 1.5x of the reference floor", cold.flow_s <= 1.5 * reference,
           f"{cold.flow_s:.2f} s vs {reference:.2f} s: {cold.flow_s / reference:.2f}x")  # fmt: skip
    target("re-poll (all 304) < 2 s", repoll.flow_s < 2.0, f"{repoll.flow_s:.2f} s")
    target("peak memory < 400 MB (largest process)", cold.max_rss_mb < 400,
           f"{cold.max_rss_mb:.0f} MB (tree PSS {cold.tree_pss_mb:.0f} MB)")  # fmt: skip
    print(f"match cpu, cold: {cold.timings.get('match_cpu_s', 0.0):.2f} s "
          f"({cold.timings.get('match_cpu_s', 0.0) * 1e6 / max(1, int(cold.db['entries'])):.0f} us "
          "an article)")  # fmt: skip
    if served is not None:
        by_flow, by_task = recorded
        want_tasks = {"read-feed-state", "fetch-parse-match", "store", "refresh-clusters",
                      "gather-digest", "render-digest"}  # fmt: skip
        flows_ok = by_flow.get("newswatch-poll", 0) >= 4 and by_flow.get("newswatch-digest", 0) >= 3
        target(
            "with a server: commands appear as flow runs with task runs",
            flows_ok and want_tasks <= set(by_task),
            f"{sum(by_flow.values())} flow runs, {sum(by_task.values())} task runs",
        )
    print()
    print(
        f"farm served: {int(farm_stats.get('requests', 0))} requests, {int(farm_stats.get('ok', 0))} x 200, "
        f"{int(farm_stats.get('not_modified', 0))} x 304, {farm_stats.get('cpu_s', 0):.2f} s cpu"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
