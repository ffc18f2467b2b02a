"""The docs' topic walkthrough, run as written against a real warehouse file.

The commands and their printed output are read from docs/rules.md ("Walkthrough: add a topic
and test it"), so the walkthrough cannot drift from the code.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from newswatch.config import load_config
from newswatch.models import Article
from newswatch.orchestrate import poll
from newswatch.store import spool
from tests.conftest import REPO

RULES_PAGE = (REPO / "docs" / "rules.md").read_text(encoding="utf-8")
SEEN = datetime(2025, 3, 1, 6, 0, tzinfo=UTC)


def walkthrough() -> str:
    start = RULES_PAGE.index("\n## Walkthrough: add a topic and test it\n")
    return RULES_PAGE[start : RULES_PAGE.index("\n## ", start + 1)]


def blocks(kind: str) -> list[str]:
    return [textwrap_dedent(b) for b in re.findall(rf"```{kind}\n(.*?)```", walkthrough(), re.S)]


def textwrap_dedent(block: str) -> str:
    lines = block.splitlines()
    indent = min(len(x) - len(x.lstrip()) for x in lines if x.strip())
    return "\n".join(x[indent:] for x in lines)


def steps() -> list[tuple[str, list[str]]]:
    """(command, expected output lines) for every `$ ` line of the console blocks."""
    out: list[tuple[str, list[str]]] = []
    for block in blocks("console"):
        for line in block.splitlines():
            if line.startswith("$ "):
                out.append((line[2:], []))
            elif line.strip():
                out[-1][1].append(line)
    return out


def my_sources(tmp: Path) -> Path:
    """Step 1: the shipped sources file with the walkthrough's topic added under `topics:`."""
    (topic,) = blocks("yaml")
    shipped = (REPO / "sources.yaml").read_text(encoding="utf-8")
    path = tmp / "my.yaml"
    indented = "\n".join(f"  {line}" for line in topic.splitlines())
    path.write_text(shipped.replace("\ntopics:\n", f"\ntopics:\n{indented}\n", 1), "utf-8")
    return path


def seed(db: Path, expected: list[str]) -> None:
    """Stored articles: the ones the walkthrough's rematch lists (published in 2025), filler up
    to the walkthrough's count, and a grain story published before --since, first seen later."""
    listed = [re.match(r"\+ Black Sea grain +(\S+)  (.*)", x) for x in expected[:-1]]
    count = int(re.match(r"(\d+) articles checked", expected[-1]).group(1))  # type: ignore[union-attr]
    published = datetime(2025, 2, 1, tzinfo=UTC)
    articles = [
        Article(
            m.group(1),
            "https://example.org/f",
            "Ex",
            f"https://example.org/{i}",
            m.group(2),
            "Ships sailed from Odesa.",
            published,
        )
        for i, m in enumerate(x for x in listed if x)
    ]
    articles += [
        Article(
            f"filler{i:04d}",
            "https://example.org/f",
            "Ex",
            f"https://example.org/f{i}",
            f"Markets update {i}",
            "Shares rose in Tokyo.",
            published + timedelta(hours=i),
        )
        for i in range(count - len(articles))
    ]
    articles.append(
        Article(
            "old-grain",
            "https://example.org/f",
            "Ex",
            "https://example.org/old",
            "Grain corridor talks stall in Odesa",
            "",
            datetime(2024, 12, 30, tzinfo=UTC),
        )
    )
    matcher = load_config(REPO / "sources.yaml").matcher
    root = poll.spool_root(db)
    writer = spool.SpoolWriter(root, "p1")
    writer.add_articles(articles, [matcher.match(a.title, a.summary) for a in articles], SEEN)
    writer.close()
    spool.write_manifest(
        root,
        spool.PollManifest("p1", SEEN.isoformat(), SEEN.isoformat(), 1, 1, 0, 0, len(articles)),
    )
    assert poll.store(db, root).new_articles == len(articles)


def run(command: str, cwd: Path, db: Path) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
    env["NEWSWATCH_DB"] = str(db)
    script = f'newswatch() {{ "{sys.executable}" -m newswatch.cli "$@"; }}\n{command}\n'
    done = subprocess.run(
        ["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_walkthrough_has_the_expected_steps() -> None:
    commands = [c for c, _ in steps()]
    assert len(commands) == 3
    assert "newswatch match --sources my.yaml" in commands[0]
    assert commands[1].startswith("newswatch rematch --dry-run")
    assert "--dry-run" not in commands[2] and commands[2].startswith("newswatch rematch")
    assert all("--sources my.yaml" in c for c in commands)


@pytest.mark.slow
def test_walkthrough_commands_run_as_written(tmp_path: Path) -> None:
    sources = my_sources(tmp_path)
    assert "Black Sea grain" in load_config(sources).matcher.topic_names
    (match_cmd, match_out), (dry_cmd, dry_out), (real_cmd, real_out) = steps()
    db = tmp_path / "w.duckdb"
    seed(db, dry_out)

    # Step 2: the printed JSON, with the elided hits filled in by the real run.
    (line,) = run(match_cmd, tmp_path, db)
    got = json.loads(line)
    shown = json.loads(match_out[0].replace("[...]", "null"))
    assert got["matches"][0]["hits"]
    got["matches"][0]["hits"] = None
    assert got == shown

    # Step 3: exactly the printed lines, and nothing written.
    assert run(dry_cmd, tmp_path, db) == dry_out
    assert run(dry_cmd, tmp_path, db) == dry_out
    # Step 4: the same changes, written; a second run finds nothing left to do.
    assert run(real_cmd, tmp_path, db) == real_out
    again = run(real_cmd, tmp_path, db)
    assert again == [
        re.sub(r"changed: .*", "changed: 0 added, 0 removed, 0 re-explained", real_out[-1])
    ]
