"""Files that ship inside the package: templates, the default sources file, migrations.

In a wheel they sit inside `newswatch/`; in a source checkout they are symlinks to the
top-level folders users edit. Either way they are found relative to this module, never
relative to the current directory.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def templates_dir() -> Path:
    return PACKAGE_DIR / "templates"


def migrations_dir() -> Path:
    return PACKAGE_DIR / "migrations"


def default_sources_path() -> Path:
    return PACKAGE_DIR / "sources.yaml"
