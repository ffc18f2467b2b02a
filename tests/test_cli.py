"""The `newswatch` command as a user runs it (a real subprocess where it matters)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from newswatch import cli
from tests.conftest import SEED_ARTICLE

COMMANDS = sorted(cli.build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main([command, "--help"])
    assert done.value.code == 0
    assert f"usage: newswatch {command}" in capsys.readouterr().out


def test_match_reads_json_lines_and_explains(tmp_path: Path) -> None:
    seed = SEED_ARTICLE.read_text(encoding="utf-8")
    lines = [
        {
            "id": "seed",
            "title": "Turkey's S-400 purchase tops Erdogan-Trump agenda",
            "summary": f"<p>{seed}</p>",
        },
        {"id": "bird", "title": "How to roast a turkey", "summary": "Brine it &amp; baste it."},
        {"id": "href", "title": "Markets", "summary": '<a href="https://x.org/nato">link</a>'},
    ]
    stdin = "\n".join(json.dumps(x) for x in lines) + "\nnot json\n"
    done = subprocess.run(
        [sys.executable, "-m", "newswatch.cli", "match"],
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
    )
    out = [json.loads(line) for line in done.stdout.splitlines()]
    assert [o.get("id") for o in out[:3]] == ["seed", "bird", "href"]
    assert out[0]["topics"] == sorted(["Turkey", "S-400", "NATO"])
    assert out[1]["topics"] == [] and out[2]["topics"] == []
    assert "error" in out[3]
    for match in out[0]["matches"]:
        for hit in match["hits"]:
            assert hit["field"] in ("title", "summary") and hit["end"] > hit["start"]


def test_unknown_command_is_a_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "newswatch.cli", "frobnicate"], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "invalid choice" in done.stderr
    assert "Traceback" not in done.stderr
