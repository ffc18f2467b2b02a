"""Make docs/digest-screenshot.png from a real run of the pipeline over the captured feeds.

    .venv/bin/python bench/make_screenshot.py [--out docs/digest-screenshot.png]

What it does, all on this machine:
1. serves the 25 captured feeds of shared/corpus/realnews (one is deliberately broken) from
   an HTTP server on 127.0.0.1;
2. runs `newswatch run` (the CLI: poll flow, parse, normalise, topics, DuckDB warehouse,
   clusters, digest flow) with the bundled watch list into a scratch warehouse, the clock
   set to the morning after the feeds were captured (2026-02-18 07:00 Europe/Istanbul) so
   their articles are that day's news;
3. screenshots the digest HTML the run wrote with headless Chromium.

The only thing staged is the clock: `newswatch.clock.utc_now` (the pipeline's one clock)
reads a shifted time. Everything else is the code a user runs. Prints the figures and
where the files went (the run's .html/.txt/.eml are kept under build/screenshot-run/).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import io
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
# The feeds were captured on 2026-02-17/18; the digest is the one due at 07:00 the next
# morning in Istanbul (04:00 UTC), half an hour after the newest captured item.
CLOCK = datetime(2026, 2, 18, 4, 0, tzinfo=UTC)
TIMEZONE = "Europe/Istanbul"

# file -> outlet name, as a user would write them in sources.yaml
FEEDS = {
    "abc-au-topstories.rss.xml": "ABC News (Australia)",
    "abcnews-international.rss.xml": "ABC News International",
    "al-monitor.rss.xml": "Al-Monitor",
    "aljazeera-all.rss.xml": "Al Jazeera",
    "allafrica-latest.rss.xml": "AllAfrica",
    "bbc-world.rss.xml": "BBC World",
    "boston-world.rss.xml": "Boston Globe World",
    "cbsnews-world.rss.xml": "CBS News World",
    "csmonitor-all.rss.xml": "Christian Science Monitor",
    "dawn-world.rss.xml": "Dawn",
    "dw-english-all.rdf.xml": "DW",
    "economist-asia.rss.xml": "The Economist Asia",
    "elpais-english.mrss.xml": "El País English",
    "foreignpolicy.rss.xml": "Foreign Policy",
    "japantoday-world.rss.xml": "Japan Today",
    "mercopress.rss.xml": "MercoPress",
    "ndtv-world.rss.xml": "NDTV World",
    "npr-world.rss.xml": "NPR World",
    "nytimes-world.rss.xml": "New York Times World",
    "restofworld-latest.rss.xml": "Rest of World",
    "theweek.rss.xml": "The Week",
    "time-world.rss.xml": "TIME World",
    "washingtonpost-world.rss.xml": "Washington Post World",
    "wsj-world.rss.xml": "WSJ World",
    "MALFORMED-dylanharris-ssc.rss.xml": "Dylan Harris (blog)",
}


def find_corpus() -> Path:
    candidates = [REPO.parent / "shared" / "corpus", Path("/work/shared/corpus")]
    if os.environ.get("NEWSWATCH_CORPUS"):
        candidates.insert(0, Path(os.environ["NEWSWATCH_CORPUS"]))
    for path in candidates:
        if (path / "realnews").is_dir():
            return path / "realnews"
    raise SystemExit("the captured feeds (shared/corpus/realnews) are not there")


@contextmanager
def serve_folder(folder: Path) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 serving `folder`; yields its base URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def write_sources(path: Path, base_url: str, corpus: Path) -> Path:
    from newswatch import resources

    bundled = yaml.safe_load(resources.default_sources_path().read_text(encoding="utf-8"))
    missing = sorted(set(FEEDS) - {p.name for p in corpus.glob("*.xml")})
    if missing:
        raise SystemExit(f"feeds missing from {corpus}: {', '.join(missing)}")
    data = {
        "allow_hosts": ["127.0.0.1"],
        "schedule": {"timezone": TIMEZONE},
        "feeds": [{"url": f"{base_url}/{name}", "name": title} for name, title in FEEDS.items()],
        "topics": bundled["topics"],  # the default watch list: Turkey, S-400, NATO
    }
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@contextmanager
def pipeline_clock(now: datetime) -> Iterator[None]:
    """Shift the pipeline's clock (the `datetime` of newswatch.clock, whose `utc_now` the
    poll and the digest read) so that `now` is now."""
    import newswatch.clock as clock_module

    offset = now - datetime.now(UTC)
    real = clock_module.datetime

    class Shifted(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Shifted:  # type: ignore[override]
            return real.now(tz) + offset  # type: ignore[return-value]

    modules = (clock_module,)
    for module in modules:
        module.datetime = Shifted  # type: ignore[misc]
    try:
        yield
    finally:
        for module in modules:
            module.datetime = real  # type: ignore[misc]


def run_pipeline(workdir: Path, corpus: Path | None = None, now: datetime = CLOCK) -> Path:
    """`newswatch run` over the captured feeds into `workdir`; returns the digest HTML."""
    from newswatch import cli

    corpus = corpus or find_corpus()
    workdir.mkdir(parents=True, exist_ok=True)
    out = io.StringIO()
    with serve_folder(corpus) as base_url, pipeline_clock(now):
        sources = write_sources(workdir / "sources.yaml", base_url, corpus)
        argv = ["run", "--sources", str(sources), "--db", str(workdir / "news.duckdb")]
        status = cli.main([*argv, "--out", str(workdir / "digests")], out=out)
    (workdir / "run.log").write_text(out.getvalue(), encoding="utf-8")
    if status != 0:
        raise SystemExit(f"newswatch run exited {status}:\n{out.getvalue()}")
    day = now.astimezone(ZoneInfo(TIMEZONE)).date()
    return workdir / "digests" / f"digest-{day.isoformat()}.html"


def chromium_command(profile: Path) -> list[str]:
    return [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        f"--user-data-dir={profile}",
    ]


def screenshot(html_file: Path, png: Path, width: int, height: int, profile: Path) -> None:
    """Render `html_file` in headless Chromium at `width` x `height` CSS px into `png`."""
    cmd = [
        *chromium_command(profile),
        f"--window-size={width},{height}",
        f"--screenshot={png}",
        html_file.as_uri(),
    ]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "digest-screenshot.png")
    parser.add_argument("--width", type=int, default=600)
    parser.add_argument("--height", type=int, default=1500)
    args = parser.parse_args()
    if not CHROMIUM.exists():
        raise SystemExit(f"{CHROMIUM} is needed (apt-get install chromium)")
    os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="newswatch-shot-prefect-"))
    keep = REPO / "build" / "screenshot-run"
    shutil.rmtree(keep, ignore_errors=True)
    started = time.perf_counter()
    html = run_pipeline(keep)
    run_s = time.perf_counter() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        screenshot(html, args.out, args.width, args.height, Path(profile))
    summary = (keep / "run.log").read_text(encoding="utf-8").strip().splitlines()
    digest_lines = [line for line in summary if line.startswith(("digest ", "  "))]
    print("\n".join(digest_lines[-8:]))
    print(f"pipeline:   {run_s:.1f} s (newswatch run over {len(FEEDS)} loopback feeds)")
    print(f"clock:      {CLOCK:%Y-%m-%d %H:%M} UTC (07:00 {TIMEZONE})")
    print(f"screenshot: {args.out} ({args.out.stat().st_size / 1024:.0f} KB)")
    print(f"run files:  {keep}")


if __name__ == "__main__":
    sys.exit(main())
