"""Soak benchmark: `newswatch serve` against a loopback farm of churning feeds, watched over time.

    nice -n 10 .venv/bin/python bench/soak.py --minutes 30

Starts a farm (bench/farm.py) of `--feeds` feeds on 127.1.x.y where `--churn` of each feed's
items are replaced every `--churn-period` seconds, writes a sources.yaml that polls every
`--interval` seconds (each feed is fetched at most once a minute, newswatch's floor) with
`retention_days` set so that fetch-log pruning happens within the run, and runs
`newswatch serve` on it in a fresh NEWSWATCH_HOME (its own private Prefect server). Every
`--sample` seconds it records, with psutil, over serve and all its descendants: resident
memory (total, and of the largest long-lived process), open files, threads and processes;
and the warehouse file's size, its fetch_log rows, articles and polls (read-only, retried when
a poll holds the file), and the Prefect database's size.

Prints a table of samples and the growth in the first and second half of the run, writes
the samples as CSV and a PNG plot (matplotlib) of memory and sizes over time. Only loopback
addresses are bound or contacted.
"""

from __future__ import annotations

import argparse
import csv
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import duckdb
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from farm import Farm, FarmSpec

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Sample:
    t_min: float
    rss_mb: float  # serve and all its descendants
    largest_rss_mb: float  # the largest single process (a poll, the runner or Prefect's server)
    largest: str
    fds: int
    threads: int
    processes: int
    warehouse_mb: float
    fetch_log_rows: int
    articles: int
    polls: int
    fetches: int  # feeds fetched over all polls (polls.feeds summed: never pruned)
    prefect_db_mb: float


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _label(proc: psutil.Process) -> str:
    try:
        cmd = " ".join(proc.cmdline())
    except (psutil.Error, OSError):
        return "?"
    if "uvicorn" in cmd or "prefect.server" in cmd or "server start" in cmd:
        return "prefect-server"
    if "newswatch.orchestrate.serve runner" in cmd:
        return "runner"
    if "serve" in cmd and "newswatch" in cmd:
        return "serve"
    if "forkserver" in cmd or "multiprocessing" in cmd:
        return "poll-shard"
    return proc.name()


def _files_mb(paths: list[Path]) -> float:
    return sum(p.stat().st_size for p in paths if p.exists()) / 1e6


def _warehouse_counts(db: Path, last: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """(fetch_log rows, articles, polls, fetches); the previous values while a poll holds the
    file (DuckDB allows one writing process and no reader beside it)."""
    if not db.exists():
        return last
    for _ in range(10):
        try:
            con = duckdb.connect(str(db), read_only=True)
        except duckdb.Error:
            time.sleep(0.5)
            continue
        try:
            row = con.execute(
                "SELECT (SELECT count(*) FROM fetch_log), (SELECT count(*) FROM articles), "
                "(SELECT count(*) FROM polls), (SELECT coalesce(sum(feeds), 0) FROM polls)"
            ).fetchone()
        except duckdb.Error:
            row = None
        finally:
            con.close()
        if row is not None:
            return (int(row[0]), int(row[1]), int(row[2]), int(row[3]))
    return last


def sample(pid: int, t0: float, db: Path, prefect_dir: Path, last: Sample | None) -> Sample:
    rss = 0
    largest = (0, "")
    fds = threads = 0
    procs = _tree(pid)
    for proc in procs:
        try:
            with proc.oneshot():
                r = proc.memory_info().rss
                fds += proc.num_fds()
                threads += proc.num_threads()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        rss += r
        if r > largest[0]:
            largest = (r, _label(proc))
    prev = (last.fetch_log_rows, last.articles, last.polls, last.fetches) if last else (0,) * 4
    counts = _warehouse_counts(db, prev)  # type: ignore[arg-type]
    return Sample(
        t_min=round((time.monotonic() - t0) / 60, 2),
        rss_mb=round(rss / 1e6, 1),
        largest_rss_mb=round(largest[0] / 1e6, 1),
        largest=largest[1],
        fds=fds,
        threads=threads,
        processes=len(procs),
        warehouse_mb=round(_files_mb([db, db.with_name(db.name + ".wal")]), 2),
        fetch_log_rows=counts[0],
        articles=counts[1],
        polls=counts[2],
        fetches=counts[3],
        prefect_db_mb=round(_files_mb(sorted(prefect_dir.rglob("*.db*"))), 2),
    )


def write_sources(path: Path, urls: list[str], interval: int, retention_days: float) -> None:
    lines = [
        "allow_hosts: [127.0.0.0/8]",
        "fetch:\n  timeout: 20\n  connect_timeout: 5",
        f"schedule:\n  poll: {interval}\n  digest: '0 7 * * *'\n  timezone: UTC",
        f"retention_days: {retention_days}",
        "feeds:",
        *(f"  - {{url: {u!r}, name: 'Farm {i}'}}" for i, u in enumerate(urls)),
        "topics:",
        "  - name: NATO\n    terms: [NATO]",
        "  - name: Turkey\n    terms: [Turkey, Türkiye, Ankara, Erdogan]",
        "  - name: S-400\n    terms: [S-400]",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _growth(samples: list[Sample], key: str) -> tuple[float, float]:
    """Change of `key` over the first half and over the second half of the run."""
    mid = samples[len(samples) // 2]
    first, last = samples[0], samples[-1]
    return (
        getattr(mid, key) - getattr(first, key),
        getattr(last, key) - getattr(mid, key),
    )


def plot(samples: list[Sample], png: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [s.t_min for s in samples]
    fig, axes = plt.subplots(2, 2, figsize=(12, 8), sharex=True)
    ax = axes[0][0]
    ax.plot(t, [s.rss_mb for s in samples], label="RSS, serve + descendants")
    ax.plot(t, [s.largest_rss_mb for s in samples], label="RSS, largest process")
    ax.set_ylabel("MB")
    ax.set_title("memory")
    ax.legend()
    ax = axes[0][1]
    ax.plot(t, [s.fds for s in samples], label="open files")
    ax.plot(t, [s.threads for s in samples], label="threads")
    ax.plot(t, [s.processes for s in samples], label="processes")
    ax.set_title("open files, threads, processes (whole tree)")
    ax.legend()
    ax = axes[1][0]
    ax.plot(t, [s.warehouse_mb for s in samples], label="warehouse (DuckDB file)")
    ax.plot(t, [s.prefect_db_mb for s in samples], label="Prefect database")
    ax.set_ylabel("MB")
    ax.set_xlabel("minutes")
    ax.set_title("sizes on disk")
    ax.legend()
    ax = axes[1][1]
    ax.plot(t, [s.fetch_log_rows for s in samples], label="fetch_log rows (retention)")
    ax.plot(t, [s.fetches for s in samples], label="feed fetches so far")
    ax.plot(t, [s.articles for s in samples], label="articles")
    ax.set_xlabel("minutes")
    ax.set_title("rows")
    ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(png, dpi=90)
    plt.close(fig)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--feeds", type=int, default=500)
    ap.add_argument("--items", type=int, default=30)
    ap.add_argument("--size", type=int, default=20_000, help="approximate bytes per feed body")
    ap.add_argument("--churn", type=float, default=0.1, help="share of items new each period")
    ap.add_argument("--churn-period", type=float, default=60.0)
    ap.add_argument("--interval", type=int, default=5, help="poll schedule, seconds")
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--sample", type=float, default=20.0, help="seconds between samples")
    ap.add_argument("--retention-days", type=float, default=0.005, help="fetch_log retention")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "soak")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)

    tmp = Path(tempfile.mkdtemp(prefix="newswatch-soak-"))
    spec = FarmSpec(
        feeds=args.feeds,
        items=args.items,
        size=args.size,
        latency=0.02,
        churn=args.churn,
        churn_period=args.churn_period,
        processes=1,
    )
    samples: list[Sample] = []
    with Farm(spec) as farm:
        sources = tmp / "sources.yaml"
        write_sources(sources, farm.urls, args.interval, args.retention_days)
        db = tmp / "warehouse" / "news.duckdb"
        home = tmp / "home"
        env = {
            **os.environ,
            "NEWSWATCH_HOME": str(home),
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("PREFECT_API_URL", None)
        log = open(tmp / "serve.log", "wb")  # noqa: SIM115 - closed below
        cmd = [
            sys.executable, "-m", "newswatch.cli", "serve", "--sources", str(sources),
            "--db", str(db), "--out", str(tmp / "digests"), "--no-send",
        ]  # fmt: skip
        serve = subprocess.Popen(
            cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        print(f"soak: {args.feeds} feeds, poll every {args.interval} s, {args.minutes} min; {tmp}")
        t0 = time.monotonic()
        end = t0 + args.minutes * 60
        try:
            while time.monotonic() < end:
                if serve.poll() is not None:
                    raise SystemExit(
                        f"serve exited early ({serve.returncode}); see {tmp}/serve.log"
                    )
                s = sample(serve.pid, t0, db, home / "prefect", samples[-1] if samples else None)
                samples.append(s)
                print(
                    f"{s.t_min:6.1f} min  rss {s.rss_mb:7.1f} MB (largest {s.largest_rss_mb:6.1f} "
                    f"{s.largest})  fds {s.fds:4d}  threads {s.threads:4d}  procs {s.processes:3d}  "
                    f"warehouse {s.warehouse_mb:7.1f} MB  fetch_log {s.fetch_log_rows:6d}  "
                    f"articles {s.articles:7d}  polls {s.polls:4d}  fetches {s.fetches:6d}  "
                    f"prefect {s.prefect_db_mb:6.1f} MB",
                    flush=True,
                )
                time.sleep(max(0.0, min(args.sample, end - time.monotonic())))
        finally:
            os.killpg(serve.pid, signal.SIGINT)
            try:
                serve.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(serve.pid, signal.SIGKILL)
                serve.wait()
            log.close()
        stats = farm.stats()
    csv_path = args.out.with_suffix(".csv")
    with csv_path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=[f.name for f in fields(Sample)])
        writer.writeheader()
        writer.writerows(asdict(s) for s in samples)
    png = args.out.with_suffix(".png")
    plot(
        samples,
        png,
        f"newswatch serve, {args.feeds} churning feeds, poll every {args.interval} s "
        f"({int(stats.get('requests', 0))} requests, {samples[-1].polls} polls)",
    )
    print(
        f"\nfarm: {int(stats.get('requests', 0))} requests, {int(stats.get('ok', 0))} x 200, "
        f"{int(stats.get('not_modified', 0))} x 304"
    )
    print("growth, first half -> second half of the run:")
    for key in (
        "rss_mb", "largest_rss_mb", "fds", "threads", "warehouse_mb", "fetch_log_rows",
        "articles", "prefect_db_mb",
    ):  # fmt: skip
        a, b = _growth(samples, key)
        print(f"  {key:16s} {a:+10.1f}  {b:+10.1f}")
    print(f"samples: {csv_path}\nplot: {png}\nlog: {tmp}/serve.log")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
