"""The package's shape: pure modules load no I/O library, the public API is exactly what
newswatch.__all__ says, and each layer's API resolves (see docs/code.md)."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys

import pytest

import newswatch
from tests.conftest import REPO

# Decisions and text logic: bytes, strings and values in, values out. They never reach the
# network, the database or Prefect, so they are tested and reused without any of them.
PURE_MODULES = [
    "newswatch.errors",
    "newswatch.clock",
    "newswatch.models",
    "newswatch.config",
    "newswatch.resources",
    "newswatch.paths",
    "newswatch.fetch.netsafety",
    "newswatch.fetch.extract",
    "newswatch.fetch.headers",
    "newswatch.parse.feed",
    "newswatch.parse.rss_fastpath",
    "newswatch.parse.normalise",
    "newswatch.parse.text",
    "newswatch.parse.charset_guess",
    "newswatch.parse.truncation",
    "newswatch.match.topics",
    "newswatch.match.relevance",
    "newswatch.match.language",
    "newswatch.store.snippets",
    "newswatch.store.dbwait",
    "newswatch.digest.build",
    "newswatch.digest.model",
    "newswatch.digest.sanitize",
    "newswatch.digest.highlight",
    "newswatch.digest.charts",
    "newswatch.digest.feed_notes",
    "newswatch.digest.headline",
    "newswatch.digest.render",
    "newswatch.digest.cluster",
    "newswatch.digest.crosslang",
    "newswatch.digest.timefmt",
    "newswatch.orchestrate.schedule",
]
IO_LIBRARIES = {"prefect", "httpx", "duckdb", "pyarrow"}


def test_pure_modules_never_import_prefect_httpx_duckdb_or_pyarrow() -> None:
    code = (
        "import importlib, json, sys\n"
        f"for name in {PURE_MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    loaded = set(json.loads(done.stdout))
    assert not IO_LIBRARIES & loaded, sorted(IO_LIBRARIES & loaded)
    # ...and the pure modules are still there to be checked.
    assert all(importlib.util.find_spec(name) for name in PURE_MODULES)


@pytest.mark.parametrize("name", PURE_MODULES)
def test_each_pure_module_alone_loads_no_io_library(name: str) -> None:
    code = f"import sys, {name}; print(sorted({{m.split('.')[0] for m in sys.modules}}))"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    loaded = set(eval(done.stdout))  # a printed list of module names
    assert not IO_LIBRARIES & loaded, (name, sorted(IO_LIBRARIES & loaded))


def test_the_public_api_is_exactly_newswatch_all() -> None:
    assert sorted(newswatch.__all__) == sorted(
        {
            "__version__", "load_config", "Config",
            "Article", "FeedHealth", "FeedSource", "FeedState", "FetchResult", "ParsedFeed",
            "TermHit", "TopicMatch",
            "NewswatchError", "Interrupted", "AnalystError", "ConfigError", "DbWaitError",
            "DigestAlreadySending", "DigestFailed", "FetchFailure", "MailConfigError", "MailError",
            "PollAlreadyRunning", "QueryError", "RunnerError", "ScheduleError",
            "SearchUnavailable", "SendFailed", "ServeError", "TopicRuleError", "UnknownTopic",
            "UserError", "WarehouseError", "WarehouseLocked",
        }
    )  # fmt: skip
    public = {n for n in vars(newswatch) if not n.startswith("_")}
    # Everything public at the top is in __all__, but for the sub-packages and modules
    # themselves (newswatch.config, newswatch.fetch, ...).
    extra = {
        n for n in public - set(newswatch.__all__) if not hasattr(vars(newswatch)[n], "__path__")
    }
    assert extra <= {"config", "errors", "models", "clock", "resources", "paths", "VERSION"}, extra
    assert newswatch.__version__ == newswatch.config.VERSION


def test_every_exception_is_a_newswatch_error_defined_in_one_module() -> None:
    from newswatch import errors

    classes = [getattr(errors, n) for n in errors.__all__]
    assert all(c.__module__ == "newswatch.errors" for c in classes)
    for cls in classes:
        if cls is errors.Interrupted:
            assert issubclass(cls, KeyboardInterrupt) and not issubclass(cls, Exception)
        else:
            assert issubclass(cls, errors.NewswatchError), cls
    # No module of the package defines an exception of its own but for private signals.
    defined = subprocess.run(
        ["grep", "-rnE", r"^class [A-Za-z]\w*\((\w+\.)?\w*(Exception|Error)\)", "src/newswatch"],
        cwd=REPO, capture_output=True, text=True,
    ).stdout.splitlines()  # fmt: skip
    assert all(line.startswith("src/newswatch/errors.py:") for line in defined), defined


LAYERS = ["fetch", "parse", "match", "store", "digest", "orchestrate", "cli"]


@pytest.mark.parametrize("layer", LAYERS)
def test_each_layer_exports_its_api_lazily(layer: str) -> None:
    package = importlib.import_module(f"newswatch.{layer}")
    assert package.__all__ and package.__doc__
    for name in package.__all__:
        value = getattr(package, name)
        assert getattr(value, "__name__", name) == name or not callable(value)
        # A name of the layer's API never hides a submodule of the same name.
        assert importlib.util.find_spec(f"newswatch.{layer}.{name}") is None, name
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        _ = package.nothing_here


def _documented_modules() -> set[str]:
    """The files of the folder tree in docs/code.md, as paths inside src/newswatch."""
    text = (REPO / "docs" / "code.md").read_text(encoding="utf-8")
    block = re.search(r"```text\nsrc/newswatch/\n(.*?)```", text, re.S)
    assert block is not None, "docs/code.md has no folder tree of src/newswatch/"
    paths: set[str] = set()
    folders: list[str] = []
    for line in block.group(1).splitlines():
        found = re.match(r"^([│ ]*)[├└]── (\S+)", line)
        assert found is not None, line
        depth = len(found.group(1)) // 4
        name = found.group(2)
        folders = folders[:depth]
        if name.endswith("/"):
            folders.append(name.rstrip("/"))
        else:
            paths.add("/".join([*folders, name]))
    return paths


def test_docs_code_md_names_every_module_and_only_modules_that_exist() -> None:
    package = REPO / "src" / "newswatch"
    # Each sub-package's __init__.py and __main__.py are described with their folder.
    modules = {
        p.relative_to(package).as_posix()
        for p in package.rglob("*.py")
        if p.name not in ("__main__.py",) and not (p.name == "__init__.py" and p.parent != package)
    }
    documented = _documented_modules()
    assert documented - modules == set(), "docs/code.md names modules that do not exist"
    assert modules - documented == set(), "modules missing from docs/code.md"
