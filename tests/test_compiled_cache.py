"""The disk cache of compiled watch lists: the second load of the same topics by the same
code reads the compiled matcher instead of compiling; any change compiles afresh; a damaged,
unreadable or unwritable cache is never an error."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import pytest

from newswatch import config, resources
from newswatch.match import compiled_cache

TEXTS = [
    ("Erdogan meets Rutte at NATO summit", "Ankara discussed the S-400 purchase."),
    ("Roast turkey recipe", "Brine the bird overnight."),
    ("Türkiye'nin S-400 kararı", "Ankara açıklama yaptı."),
]


@pytest.fixture
def compiles(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[int]:
    """Counts real compiles; the cache in a folder of this test's own."""
    monkeypatch.setenv("NEWSWATCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(compiled_cache, "MIN_COMPILE_SECONDS", 0.0)
    calls: list[int] = []
    real = config.compile_topics

    def counting(raw: Any) -> Any:
        calls.append(1)
        return real(raw)

    monkeypatch.setattr(config, "compile_topics", counting)
    return calls


def shipped_text() -> str:
    return resources.default_sources_path().read_text(encoding="utf-8")


def results(cfg: config.Config) -> list[list[tuple[str, float]]]:
    return [
        sorted((m.topic, round(m.relevance, 6)) for m in cfg.matcher.match(title, summary))
        for title, summary in TEXTS
    ]


def test_the_second_load_reads_the_compiled_matcher(compiles: list[int], tmp_path: Path) -> None:
    first = config.parse_config(shipped_text(), "a.yaml")
    assert len(compiles) == 1
    assert len(list((tmp_path / "cache").glob("topics-*.pickle"))) == 1
    second = config.parse_config(shipped_text(), "b.yaml")
    assert len(compiles) == 1, "the same topics were compiled again"
    assert second.matcher is not first.matcher
    assert results(second) == results(first)
    assert any(r for r in results(first)), "the texts match nothing: the comparison says nothing"


def test_a_changed_rule_is_compiled_afresh(compiles: list[int]) -> None:
    text = shipped_text()
    config.parse_config(text, "a.yaml")
    assert "  - name: NATO\n" in text
    changed = text.replace("  - name: NATO\n", "  - name: North Atlantic Alliance\n", 1)
    cfg = config.parse_config(changed, "a.yaml")
    assert len(compiles) == 2
    assert "North Atlantic Alliance" in cfg.matcher.topic_names


def test_new_code_is_compiled_afresh(compiles: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    config.parse_config(shipped_text(), "a.yaml")
    monkeypatch.setattr(compiled_cache, "code_fingerprint", lambda: "another release")
    config.parse_config(shipped_text(), "a.yaml")
    assert len(compiles) == 2


def test_a_damaged_file_is_compiled_and_replaced(compiles: list[int], tmp_path: Path) -> None:
    first = config.parse_config(shipped_text(), "a.yaml")
    (path,) = (tmp_path / "cache").glob("topics-*.pickle")
    path.write_bytes(b"not a pickle")
    again = config.parse_config(shipped_text(), "a.yaml")
    assert len(compiles) == 2
    assert results(again) == results(first)
    assert pickle.loads(path.read_bytes()).topic_names == first.matcher.topic_names


def test_an_unwritable_cache_folder_is_no_error(
    compiles: list[int], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    monkeypatch.setenv("NEWSWATCH_CACHE", str(blocker / "cache"))  # under a file: unwritable
    cfg = config.parse_config(shipped_text(), "a.yaml")
    config.parse_config(shipped_text(), "a.yaml")
    assert len(compiles) == 2
    assert any(results(cfg))


def test_off_writes_nothing(
    compiles: list[int], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("NEWSWATCH_CACHE", "off")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    config.parse_config(shipped_text(), "a.yaml")
    config.parse_config(shipped_text(), "a.yaml")
    assert len(compiles) == 2
    assert not (tmp_path / "xdg").exists() and not (tmp_path / "home").exists()


def test_a_rule_error_is_never_cached(compiles: list[int], tmp_path: Path) -> None:
    bad = shipped_text().replace("  - name: NATO\n", "  - name: NATO\n    unknown_key: 1\n", 1)
    for _ in range(2):
        with pytest.raises(config.ConfigError, match="unknown_key"):
            config.parse_config(bad, "bad.yaml")
    assert len(compiles) == 2
    assert not list((tmp_path / "cache").glob("topics-*.pickle"))


def test_the_folder_keeps_only_the_newest_files(
    compiles: list[int], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(compiled_cache, "KEEP_FILES", 2)
    text = shipped_text()
    for i in range(4):
        config.parse_config(text.replace("  - name: NATO\n", f"  - name: NATO {i}\n", 1), "a.yaml")
    assert len(list((tmp_path / "cache").glob("topics-*.pickle"))) == 2


def test_where_the_cache_lives(tmp_path: Path) -> None:
    assert compiled_cache.cache_dir({"NEWSWATCH_CACHE": str(tmp_path)}) == tmp_path
    assert compiled_cache.cache_dir({"NEWSWATCH_CACHE": "off"}) is None
    assert compiled_cache.cache_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "newswatch"
    assert compiled_cache.cache_dir({}) == Path.home() / ".cache" / "newswatch"


def test_the_fingerprint_follows_the_source_bytes_and_the_python(tmp_path: Path) -> None:
    """An edit that keeps a module's size and modification time still retires the cache."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    module = pkg / "sub" / "terms.py"
    module.write_text("LIMIT = 1\n")
    (pkg / "notes.txt").write_text("not code")
    stamp = module.stat().st_mtime_ns
    before = compiled_cache.source_fingerprint(pkg, "3.11.7")
    assert compiled_cache.source_fingerprint(pkg, "3.11.7") == before
    module.write_text("LIMIT = 2\n")  # same size
    os.utime(module, ns=(stamp, stamp))  # same modification time
    assert compiled_cache.source_fingerprint(pkg, "3.11.7") != before
    module.write_text("LIMIT = 1\n")
    assert compiled_cache.source_fingerprint(pkg, "3.11.7") == before
    assert compiled_cache.source_fingerprint(pkg, "3.12.1") != before
    (pkg / "notes.txt").write_text("other text")  # not a module: no change
    assert compiled_cache.source_fingerprint(pkg, "3.11.7") == before


def test_a_cached_matcher_compiles_its_regexes_only_when_they_are_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Unpickling compiles nothing (a command that loads the watch list but matches little
    does not pay for ~900 regexes); the first match compiles what it uses, and the results
    are the freshly compiled matcher's."""
    import re

    fresh = config.parse_config(shipped_text()).matcher
    data = pickle.dumps(fresh, protocol=pickle.HIGHEST_PROTOCOL)
    compiled: list[str] = []
    real = re.compile

    def counting(pattern: Any, flags: int = 0) -> Any:
        compiled.append(pattern)
        return real(pattern, flags)

    monkeypatch.setattr(re, "compile", counting)
    loaded = pickle.loads(data)
    assert compiled == []
    for title, summary in TEXTS:
        assert loaded.match(title, summary) == fresh.match(title, summary)
    assert 0 < len(compiled) < 200  # what three articles needed, not the whole list
