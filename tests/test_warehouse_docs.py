"""warehouse/README.md and the docs' "Querying the warehouse" are checked against the code.

The schema reference must list exactly the tables, views, columns, types and nullability of a
freshly migrated warehouse, and every `newswatch ...` command line in either document must
name a command and flags that exist.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import duckdb

from newswatch import cli, warehouse
from tests.conftest import REPO

WAREHOUSE_README = (REPO / "warehouse" / "README.md").read_text(encoding="utf-8")
WAREHOUSE_PAGE = (REPO / "docs" / "warehouse.md").read_text(encoding="utf-8")
ANALYST_COMMANDS = ("query", "search", "export")

Documented = dict[str, list[tuple[str, ...]]]


def _section(text: str, heading: str) -> str:
    match = re.search(rf"^## {re.escape(heading)}.*?$(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match is not None, f"no section '## {heading}'"
    return match.group(1)


def documented(section: str) -> Documented:
    """`### \\`name\\`` headings -> the rows of the table under each: (column, type[, null])."""
    out: Documented = {}
    current = None
    for line in section.splitlines():
        heading = re.match(r"^### `(\w+)`", line)
        if heading:
            current = heading.group(1)
            assert current not in out, f"{current} documented twice"
            out[current] = []
            continue
        row = re.match(r"^\| `(\w+)` \| ([A-Z][A-Z0-9 \[\]]*?) \|(?: (key|no|yes) \|)?", line)
        if row and current is not None:
            out[current].append(tuple(g for g in row.groups() if g is not None))
    return out


def live_schema(db: Path) -> tuple[Documented, Documented]:
    with warehouse.connect(db) as con:
        rows = con.execute(
            "SELECT t.table_type, c.table_name, c.column_name, c.data_type, c.is_nullable "
            "FROM information_schema.columns c JOIN information_schema.tables t "
            "USING (table_catalog, table_schema, table_name) "
            "WHERE c.table_schema = 'main' ORDER BY c.table_name, c.ordinal_position"
        ).fetchall()
        keys = _primary_keys(con)
    tables: Documented = {}
    views: Documented = {}
    for kind, table, column, data_type, nullable in rows:
        data_type = "TIMESTAMPTZ" if data_type == "TIMESTAMP WITH TIME ZONE" else data_type
        if kind == "VIEW":
            views.setdefault(table, []).append((column, data_type))
        else:
            null = "key" if (table, column) in keys else "yes" if nullable == "YES" else "no"
            tables.setdefault(table, []).append((column, data_type, null))
    return tables, views


def _primary_keys(con: duckdb.DuckDBPyConnection) -> set[tuple[str, str]]:
    rows = con.execute(
        "SELECT table_name, constraint_column_names FROM duckdb_constraints() "
        "WHERE constraint_type = 'PRIMARY KEY' AND schema_name = 'main'"
    ).fetchall()
    return {(table, column) for table, columns in rows for column in columns}


def test_schema_reference_matches_a_freshly_migrated_warehouse(tmp_path: Path) -> None:
    tables, views = live_schema(tmp_path / "w.duckdb")
    assert tables and views
    doc_tables = documented(_section(WAREHOUSE_README, "Tables"))
    doc_views = documented(_section(WAREHOUSE_README, "Views"))
    assert sorted(doc_tables) == sorted(tables), "tables documented vs in the schema"
    assert sorted(doc_views) == sorted(views), "views documented vs in the schema"
    for name, columns in tables.items():
        assert doc_tables[name] == columns, f"table {name}: (column, type, null) differ"
    for name, columns in views.items():
        assert doc_views[name] == columns, f"view {name}: (column, type) differ"


def test_every_example_query_is_listed() -> None:
    listed = set(re.findall(r"`(\w+)`", _section(WAREHOUSE_README, "Example queries")))
    files = {p.stem for p in (REPO / "warehouse" / "queries").glob("*.sql")}
    assert files and files <= listed


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    action = next(
        a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction)
    )
    return dict(action.choices)


def _command_lines(text: str) -> list[tuple[str, list[str]]]:
    """(command, flags) of every `newswatch CMD ...` in a code span or an indented code line."""
    found = []
    spans = re.findall(r"`([^`\n]+)`", text)
    spans += [line for line in text.splitlines() if line.startswith("    ")]
    for span in spans:
        for match in re.finditer(r"(?<!from )\bnewswatch ([a-z]+)((?:[^|;`]*))", span):
            found.append((match.group(1), re.findall(r"(?<![\w-])--[a-z][a-z-]*", match.group(2))))
    return found


def test_command_lines_in_the_docs_name_commands_and_flags_that_exist() -> None:
    commands = _subcommands()
    texts = {
        "warehouse/README.md": WAREHOUSE_README,
        "docs/warehouse.md#Querying the warehouse": _section(
            WAREHOUSE_PAGE, "Querying the warehouse"
        ),
    }
    seen: set[str] = set()
    for where, text in texts.items():
        lines = _command_lines(text)
        assert lines, where
        for command, flags in lines:
            assert command in commands, f"{where}: no command `newswatch {command}`"
            options = commands[command]._option_string_actions
            for flag in flags:
                assert flag in options, f"{where}: `newswatch {command}` has no {flag}"
                seen.add(f"{command} {flag}")
    # ...and every option of the analyst commands is documented somewhere in them.
    for command in ANALYST_COMMANDS:
        for flag in commands[command]._option_string_actions:
            if flag.startswith("--") and flag != "--help":
                assert f"{command} {flag}" in seen or flag in WAREHOUSE_README, (command, flag)


def test_the_docs_site_includes_the_warehouse_reference() -> None:
    # warehouse/README.md stays where analysts look; the site's warehouse page includes it.
    assert re.search(r'^--8<-- "warehouse/README\.md"$', WAREHOUSE_PAGE, re.M)
