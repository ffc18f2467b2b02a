"""The README and the docs site are checked against the code: commands, make targets, settings
and links exist."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from markdown.extensions.toc import slugify

from newswatch import cli
from newswatch.config import load_config
from tests.conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
DOCS = REPO / "docs"
PAGES = sorted(DOCS.glob("*.md"))
SNIPPET = re.compile(r'^--8<-- "([^"]+)"$', re.M)


def page_text(path: Path) -> str:
    """A page as the site shows it: with the files it includes (`--8<-- "path"`) in place."""
    text = path.read_text(encoding="utf-8")
    return SNIPPET.sub(lambda m: (REPO / m.group(1)).read_text(encoding="utf-8"), text)


SITE = "\n".join(page_text(p) for p in PAGES)


def test_readme_opens_with_the_two_commands() -> None:
    first_block = re.search(r"```sh\n(.*?)```", README, re.S)
    assert first_block is not None
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines()]
    assert commands[:2] == ["make run", "make test"]
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^run:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in ci


def test_readme_is_short_and_ci_builds_the_docs_strictly() -> None:
    assert len(README.splitlines()) <= 250
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    test_target = re.search(r"^test:(.*)$", makefile, re.M)
    assert test_target is not None and "docs" in test_target.group(1).split()
    docs_target = re.search(r"^docs:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert docs_target is not None and "mkdocs build --strict" in docs_target.group(1)


def test_every_command_is_documented() -> None:
    commands = cli.build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    commands_page = (DOCS / "commands.md").read_text(encoding="utf-8")
    for name in commands:
        assert f"newswatch {name}" in README, f"README does not mention `newswatch {name}`"
        assert f"newswatch {name}" in commands_page, f"docs/commands.md lacks `newswatch {name}`"


def test_every_env_variable_in_the_code_is_documented() -> None:
    names = set()
    for path in (REPO / "src" / "newswatch").rglob("*.py"):
        names |= set(re.findall(r"\bNEWSWATCH_[A-Z_]+\b", path.read_text(encoding="utf-8")))
    assert names
    missing = sorted(n for n in names if n not in SITE)
    assert not missing, f"undocumented environment variables: {missing}"
    table = (DOCS / "commands.md").read_text(encoding="utf-8")
    unlisted = sorted(n for n in names if f"`{n}`" not in table)
    assert not unlisted, f"missing from the table in docs/commands.md: {unlisted}"


def test_every_page_is_in_the_site_nav() -> None:
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text(encoding="utf-8"))
    nav = [next(iter(entry.values())) for entry in config["nav"]]
    assert sorted(nav) == sorted(p.name for p in PAGES)
    assert nav[0] == "index.md" and "code.md" in nav


def _outside_code(text: str) -> str:
    text = re.sub(r"^(```|~~~).*?^\1", "", text, flags=re.M | re.S)
    text = re.sub(r"^(?: {4}|\t).*$", "", text, flags=re.M)  # indented code
    return re.sub(r"`[^`\n]*`", "", text)


def _anchors(path: Path) -> set[str]:
    """The heading ids the site gives a page (Python-Markdown's toc slugify, as MkDocs)."""
    seen: dict[str, int] = {}
    out = set()
    for heading in re.findall(r"^#{1,6} +(.+?)\s*#*$", _fenced_removed(page_text(path)), re.M):
        plain = heading.replace("`", "").replace("**", "")
        plain = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", plain)
        slug = slugify(plain, "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}_{n}")
    return out


def _fenced_removed(text: str) -> str:
    return re.sub(r"^(```|~~~).*?^\1", "", text, flags=re.M | re.S)


def test_every_relative_link_in_the_readme_and_the_docs_exists() -> None:
    checked = 0
    for source in [REPO / "README.md", *PAGES]:
        text = _outside_code(source.read_text(encoding="utf-8"))
        for target in re.findall(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", text):
            if re.match(r"[a-z]+:", target):
                continue  # https:, mailto:
            path_part, _, anchor = target.partition("#")
            dest = (source.parent / path_part).resolve() if path_part else source
            where = f"{source.relative_to(REPO)}: {target}"
            assert dest.is_file(), f"{where}: no such file"
            assert REPO in dest.parents, where
            if source.parent == DOCS:
                assert dest.parent == DOCS, f"{where}: the site links only to its own pages"
            if anchor:
                assert dest.suffix == ".md", where
                assert anchor in _anchors(dest), f"{where}: no such heading"
            checked += 1
    assert checked > 40


def test_the_slugs_are_the_ones_mkdocs_gives() -> None:
    # Spot checks of headings with code spans and punctuation (what `mkdocs build --strict`
    # checks for every anchor).
    assert "1-newswatch-serve-one-machine-nothing-to-set-up" in _anchors(DOCS / "scheduling.md")
    assert "feed-health-and-gone-quiet" in _anchors(DOCS / "scheduling.md")
    assert "which-tool-to-query-with" in _anchors(DOCS / "warehouse.md")


def test_the_readmes_minimal_sources_file_loads(tmp_path: Path) -> None:
    block = re.search(r"## A minimal sources\.yaml.*?```yaml\n(.*?)```", README, re.S)
    assert block is not None
    path = tmp_path / "my.yaml"
    path.write_text(block.group(1), encoding="utf-8")
    config = load_config(path)
    assert len(config.feeds) == 2
    assert sorted(t["name"] for t in config.topics) == ["NATO", "S-400"]


def test_every_whole_sources_file_in_the_docs_loads() -> None:
    """A YAML block with both `feeds:` and `topics:` is a sources file a reader may copy."""
    from newswatch.config import parse_config

    found = 0
    for page in sorted(DOCS.glob("*.md")):
        for block in re.findall(r"```yaml\n(.*?)```", page.read_text(encoding="utf-8"), re.S):
            if "feeds:" in block and "topics:" in block:
                parse_config(block, page.name)
                found += 1
    assert found >= 2  # getting-started.md and sources.md


def test_every_option_of_every_command_is_in_its_table_row() -> None:
    commands = cli.build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for source, text in (
        ("README.md", README),
        ("docs/commands.md", page_text(DOCS / "commands.md")),
    ):
        rows = re.findall(r"^\| `(newswatch [a-z]+|\.\.\.)([^\n]*)$", text, re.M)
        shared = " ".join(rest for head, rest in rows if head == "...")
        for name, parser in commands.items():
            # The command's row: the first table row that starts with it.
            row = next((rest for head, rest in rows if head == f"newswatch {name}"), "")
            assert row, f"{source}: no table row for `newswatch {name}`"
            if "[same options as digest]" in row:
                digest = next(rest for head, rest in rows if head == "newswatch digest")
                row += digest
            options = {
                o
                for action in parser._actions
                for o in action.option_strings
                if o.startswith("--") and o != "--help"
            }
            missing = sorted(o for o in options if o not in row and o not in shared)
            assert not missing, f"{source}: the row of `newswatch {name}` lacks {missing}"
