"""The fork server the poll's shard processes are forked from, started ahead of the poll.

Light on purpose (no import beyond the standard library): the command line starts the fork
server first thing, so that the server's own imports (httpx, feedparser, pyarrow, the
matcher: ~0.7 s) overlap the command's, instead of following them.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import threading
from pathlib import Path

from newswatch.paths import resolve_sources_path

# Below this many feeds, starting processes costs more than it saves.
SHARD_MIN_FEEDS = 40
# The sources file the fork server parses ahead of the shards (see newswatch.orchestrate.shard_preload).
SHARD_SOURCES_ENV = "NEWSWATCH_SHARD_SOURCES"


def warm_up_shard_processes(feeds: int, sources: str | Path | None = None) -> None:
    """Start, in the background, the fork server the poll's shard processes come from, with
    newswatch's modules imported, the TLS trust store loaded and `sources` (the poll's
    sources file) parsed in it (newswatch.orchestrate.shard_preload).

    Each shard process would otherwise import httpx, feedparser, pyarrow and the rest itself
    (~1 s of CPU each, measured here) after the poll has started; forked from a warm server
    it starts in milliseconds. Call it as early as possible (the command line does, before
    its own imports); calling it again is harmless, and a poll of fewer feeds than are worth
    sharding starts nothing.
    """
    if feeds < SHARD_MIN_FEEDS or (os.cpu_count() or 1) < 2:
        return  # this poll runs in one process
    named = str(Path(sources).resolve()) if sources is not None else None
    if named is not None and os.environ.get(SHARD_SOURCES_ENV) != named:
        # Read by the fork server when it starts (it inherits this environment). Set here, in
        # the calling thread, before anything runs beside it: changing os.environ while
        # another thread reads it (as Prefect's settings do on import) can fail that thread.
        os.environ[SHARD_SOURCES_ENV] = named
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["newswatch.orchestrate.shard_preload"])
    from multiprocessing import forkserver

    threading.Thread(
        target=forkserver.ensure_running, name="newswatch-forkserver-warm-up", daemon=True
    ).start()


_warmed_for: set[tuple[str, ...]] = set()


def warm_up_for_command(argv: list[str]) -> None:
    """Start the poll's shard fork server for the command line `argv` (`poll ...`, `run ...`),
    before the command imports what it needs and reads and checks the sources file and the
    warehouse, so that the fork server's own imports overlap the command's (~0.5 s of an
    all-304 poll of 1,000 feeds). The console script calls it before it imports the
    command's modules; `cli.main` calls it again (harmless).

    Only a head start, from a glance at the arguments and a count of `url:` keys in the
    sources file: the poll command decides again on the parsed arguments and the loaded
    config, and a wrong guess costs an idle process (or a shard that parses its sources file
    itself).
    """
    if not argv or argv[0] not in ("poll", "run") or any(a.startswith("--runner") for a in argv):
        return
    if tuple(argv) in _warmed_for:
        return  # the console script did, before `cli.main`
    _warmed_for.add(tuple(argv))
    named = next(
        (v for k, v in zip(argv, [*argv[1:], ""], strict=True) if k == "--sources"), None
    ) or next((a.split("=", 1)[1] for a in argv if a.startswith("--sources=")), None)
    path = resolve_sources_path(named)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return  # loading the config reports it
    if re.search(r"^\s*runner\s*:", text, re.MULTILINE):
        return  # another runner may be configured: decided once the config is loaded
    warm_up_shard_processes(len(re.findall(r"\burl\s*:", text)), path)
