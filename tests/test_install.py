"""`pip install .` into a fresh venv works from any directory: package data ships in the wheel."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

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
