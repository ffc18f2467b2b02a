"""Files that ship with the package: templates, the default sources file, migrations.

The templates and the default sources file live at the top of the repository, where users
look for them and edit them. A wheel carries them inside the package (hatchling's
`force-include` in pyproject.toml maps them to `newswatch/templates` and
`newswatch/sources.yaml`); a source checkout or an editable install (`pip install -e .`,
which `make setup` uses, and which does not apply force-include) finds them at the top of
the repository. Either way they are found relative to this module, never relative to the
current directory. The migrations are package code's own data: always in the package.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
# src/newswatch -> the repository's top level, in a source checkout.
CHECKOUT_DIR = PACKAGE_DIR.parent.parent


def shipped(name: str, package_dir: Path = PACKAGE_DIR, checkout_dir: Path = CHECKOUT_DIR) -> Path:
    """The path of the shipped file or folder `name`: inside the package when installed from
    a wheel, else at the top of the source checkout. Raises FileNotFoundError, naming both
    places, when neither has it (a broken install)."""
    for base in (package_dir, checkout_dir):
        path = base / name
        if path.exists():
            return path
    raise FileNotFoundError(
        f"newswatch: {name} is neither in the package ({package_dir}) nor in a source "
        f"checkout ({checkout_dir}); reinstall newswatch"
    )


def templates_dir() -> Path:
    return shipped("templates")


def default_sources_path() -> Path:
    return shipped("sources.yaml")


def migrations_dir() -> Path:
    return PACKAGE_DIR / "store" / "migrations"
