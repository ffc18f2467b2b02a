"""The README is checked against the code: commands, make targets and settings exist."""

from __future__ import annotations

import re

from newswatch import cli
from tests.conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")


def test_readme_opens_with_the_two_commands() -> None:
    first_block = re.search(r"```sh\n(.*?)```", README, re.S)
    assert first_block is not None
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines()]
    assert commands[:2] == ["make run", "make test"]
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^run:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in ci


def test_every_command_is_documented() -> None:
    commands = cli.build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name in commands:
        assert f"newswatch {name}" in README, f"README does not mention `newswatch {name}`"


def test_every_env_variable_in_the_code_is_documented() -> None:
    names = set()
    for path in (REPO / "src" / "newswatch").rglob("*.py"):
        names |= set(re.findall(r"\bNEWSWATCH_[A-Z_]+\b", path.read_text(encoding="utf-8")))
    missing = sorted(n for n in names if n not in README)
    assert not missing, f"undocumented environment variables: {missing}"
