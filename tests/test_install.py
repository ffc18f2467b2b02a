"""`pip install .` into a fresh venv works from any directory: package data ships in the wheel."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from newswatch import resources
from tests.conftest import REPO


def test_wheel_install_works_from_another_directory(tmp_path: Path) -> None:
    wheel_dir = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(wheel_dir),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    wheel = next(wheel_dir.glob("newswatch-*.whl"))
    # The package data is inside the wheel, as files (no symlinks in the repository).
    names = set(zipfile.ZipFile(wheel).namelist())
    templates = sorted(p.name for p in (REPO / "templates").iterdir() if p.is_file())
    assert templates and all(f"newswatch/templates/{t}" in names for t in templates), names
    assert "newswatch/sources.yaml" in names
    migrations = sorted(p.name for p in (REPO / "src/newswatch/store/migrations").glob("*.sql"))
    assert migrations and all(f"newswatch/store/migrations/{m}" in names for m in migrations)
    assert "newswatch/orchestrate/flows/poll.py" in names
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    # Reuse the already installed dependencies: point the new venv at this one's site-packages.
    site = next((env_dir / "lib").glob("python3*/site-packages"))
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(site),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    python = env_dir / "bin" / "python"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NEWSWATCH_SOURCES")}
    probe = subprocess.run(
        [
            str(python),
            "-c",
            "import newswatch, newswatch.resources as r, newswatch.config as c;"
            "print(newswatch.__file__);"
            "print(len(list(r.templates_dir().glob('*.j2'))), len(list(r.migrations_dir().glob('*.sql'))));"
            "print(len(c.load_config().feeds))",
        ],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    where, counts, feeds = probe.stdout.split("\n")[:3]
    assert where.startswith(str(site)), where
    templates, migrations = (int(x) for x in counts.split())
    assert templates >= 2 and migrations >= 1
    assert int(feeds) >= 15
    helped = subprocess.run(
        [str(python), "-m", "newswatch.cli", "--help"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "poll" in helped.stdout and "digest" in helped.stdout


def test_shipped_files_are_found_in_the_package_first_then_in_a_checkout(tmp_path: Path) -> None:
    package, checkout = tmp_path / "site" / "newswatch", tmp_path / "repo"
    (package / "templates").mkdir(parents=True)
    (checkout / "templates").mkdir(parents=True)
    (checkout / "sources.yaml").write_text("feeds: []\n")
    # An installed wheel: the package's own copy wins.
    assert resources.shipped("templates", package, checkout) == package / "templates"
    # A source checkout (or an editable install): the top-level file.
    assert resources.shipped("sources.yaml", package, checkout) == checkout / "sources.yaml"
    with pytest.raises(FileNotFoundError, match=r"nothing\.j2 is neither in the package"):
        resources.shipped("nothing.j2", package, checkout)


def test_this_checkout_has_no_symlinks_in_the_package() -> None:
    package = REPO / "src" / "newswatch"
    assert not [p for p in package.rglob("*") if p.is_symlink()]
    assert resources.templates_dir() == REPO / "templates"
    assert resources.default_sources_path() == REPO / "sources.yaml"
    assert resources.migrations_dir() == package / "store" / "migrations"
