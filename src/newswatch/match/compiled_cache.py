"""A disk cache of compiled watch lists, so that a command does not compile the same topics
again (~0.15-0.25 s for the default list: folding tables, term patterns, the gate).

Every process that loads a sources file compiles its `topics:`: the command itself, the fork
server its poll shards come from, a flow run. The compiled matcher is pickled under the cache
folder (`$NEWSWATCH_CACHE`, else `$XDG_CACHE_HOME/newswatch`, else `~/.cache/newswatch`),
keyed by the topics as written and a fingerprint of the code (a hash of the source of
the package's modules, and the Python version), so an edited rule or an upgraded
newswatch compiles afresh. Only successful compiles are stored (a rule error is always found
by compiling), and only those that took long enough to be worth a file. The cache is a
shortcut, never a source of truth: an unreadable, unwritable or damaged file is ignored (and
replaced), and `NEWSWATCH_CACHE=off` turns it off.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import pickle
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

# Compiles quicker than this are not worth a file (tests compile thousands of tiny lists).
MIN_COMPILE_SECONDS = 0.02
# Files kept in the folder; the oldest beyond this are removed when one is written.
KEEP_FILES = 16
_PREFIX = "topics-"


def cache_dir(environ: Mapping[str, str] | None = None) -> Path | None:
    """The cache folder, or None when the cache is off (`NEWSWATCH_CACHE=off`)."""
    env = os.environ if environ is None else environ
    value = env.get("NEWSWATCH_CACHE", "").strip()
    if value.lower() in {"off", "0", "no", "false"}:
        return None
    if value:
        return Path(value).expanduser()
    xdg = env.get("XDG_CACHE_HOME", "").strip()
    return (Path(xdg) if xdg else Path.home() / ".cache") / "newswatch"


@functools.cache
def code_fingerprint() -> str:
    """A hash of the source of every module of the package and of the Python version: a new
    release, an edited checkout or another interpreter changes it (and so retires what other
    code pickled). Hashing the bytes, not sizes and times, also catches an edit that keeps
    both (a few milliseconds for the whole package)."""
    return source_fingerprint(Path(__file__).resolve().parent.parent, sys.version)


def source_fingerprint(package: Path, python: str) -> str:
    """A hash of `python` and of the path and bytes of every .py file below `package`."""
    digest = hashlib.sha256(python.encode())
    for path in sorted(package.rglob("*.py")):
        with contextlib.suppress(OSError):
            digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def cache_key(raw: Sequence[Any]) -> str:
    text = json.dumps(raw, sort_keys=True, ensure_ascii=False, default=repr)
    return hashlib.sha256(f"{code_fingerprint()}\n{text}".encode()).hexdigest()[:32]


def cached_compile(raw: Sequence[Any], compile_fn: Callable[[Sequence[Any]], T]) -> T:
    """compile_fn(raw), from the cache when this code compiled these topics before."""
    folder = cache_dir()
    if folder is None:
        return compile_fn(raw)
    try:
        path = folder / f"{_PREFIX}{cache_key(raw)}.pickle"
    except (TypeError, ValueError):
        return compile_fn(raw)  # topics that do not serialise: nothing to key them by
    with contextlib.suppress(Exception):  # missing, unreadable or damaged: compile instead
        return pickle.loads(path.read_bytes())  # type: ignore[no-any-return]
    start = time.perf_counter()
    compiled = compile_fn(raw)
    if time.perf_counter() - start >= MIN_COMPILE_SECONDS:
        _store(folder, path, compiled)
    return compiled


def _store(folder: Path, path: Path, compiled: object) -> None:
    try:
        data = pickle.dumps(compiled, protocol=pickle.HIGHEST_PROTOCOL)
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".pickle")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, path)  # readers see the whole file or none
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        _prune(folder)
    except Exception:
        return  # a read-only home, a full disk: the cache is only a shortcut


def _prune(folder: Path) -> None:
    files = sorted(folder.glob(f"{_PREFIX}*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in files[KEEP_FILES:]:
        with contextlib.suppress(OSError):
            old.unlink()
