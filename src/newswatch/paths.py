"""Where things live by default: environment variables first, then the repository defaults."""

from __future__ import annotations

import os
from pathlib import Path

from newswatch import resources

DEFAULT_DB = Path("warehouse") / "newswatch.duckdb"


def resolve_sources_path(sources: str | os.PathLike[str] | None = None) -> Path:
    """--sources, else $NEWSWATCH_SOURCES, else the bundled sources.yaml."""
    if sources:
        return Path(sources)
    env = os.environ.get("NEWSWATCH_SOURCES")
    if env:
        return Path(env)
    return resources.default_sources_path()


def resolve_db_path(db: str | os.PathLike[str] | None = None) -> Path:
    """--db, else $NEWSWATCH_DB, else warehouse/newswatch.duckdb (in the current folder)."""
    if db:
        return Path(db).expanduser()
    env = os.environ.get("NEWSWATCH_DB")
    return Path(env).expanduser() if env else DEFAULT_DB


def resolve_out_dir(out: str | os.PathLike[str] | None = None) -> Path:
    if out:
        return Path(out).expanduser()
    env = os.environ.get("NEWSWATCH_OUT")
    return Path(env).expanduser() if env else Path("digests")
