"""Topic rules: compile the `topics:` section of sources.yaml and match articles.

Pure: takes strings, returns TopicMatch values; no I/O.
(First version: whole-word, case- and diacritic-insensitive terms with exclusions.)
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from newswatch.models import Field, TermHit, TopicMatch


class TopicRuleError(ValueError):
    """An invalid topic rule. `index` is the topic's position in the list, `path` the key
    path inside that topic (for line numbers), `topic` its name."""

    def __init__(self, topic: str, message: str, index: int | None = None,
                 path: tuple[str | int, ...] = ()) -> None:
        self.topic = topic
        self.message = message
        self.index = index
        self.path = path
        super().__init__(f"topic {topic!r}: {message}")


def _fold_char(ch: str) -> str:
    base = unicodedata.normalize("NFKD", ch)
    base = "".join(c for c in base if not unicodedata.combining(c)) or ch
    out = base[0].lower() if base else ch
    return "i" if out == "ı" else out


class _FoldTable(dict[int, str]):
    """str.translate table filled on first sight of each character (folding is per character)."""

    def __missing__(self, code: int) -> str:
        folded = self[code] = _fold_char(chr(code))
        return folded


_FOLD = _FoldTable()


def fold(text: str) -> str:
    """Case- and diacritic-insensitive form; keeps string length stable per character."""
    # Per-character NFKD in Python was most of a poll's CPU; ASCII needs only lower().
    return text.lower() if text.isascii() else text.translate(_FOLD)


@dataclass(frozen=True)
class _Topic:
    name: str
    terms: tuple[str, ...]
    pattern: re.Pattern[str]
    exclude: re.Pattern[str] | None


def _terms_pattern(terms: Sequence[str]) -> re.Pattern[str]:
    alts = sorted((re.escape(fold(t)) for t in terms), key=len, reverse=True)
    return re.compile(r"(?<!\w)(?:" + "|".join(alts) + r")(?!\w)")


@dataclass(frozen=True)
class Matcher:
    topics: tuple[_Topic, ...]

    @property
    def topic_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.topics)

    def match(self, title: str, summary: str) -> list[TopicMatch]:
        fields: tuple[tuple[Field, str, str], ...] = (
            ("title", title, fold(title)),
            ("summary", summary, fold(summary)),
        )
        out = []
        for topic in self.topics:
            if topic.exclude and any(topic.exclude.search(f) for _, _, f in fields):
                continue
            hits = tuple(
                TermHit(field=name, start=m.start(), end=m.end(), term=m.group(0),
                        text=orig[m.start():m.end()])
                for name, orig, folded in fields
                for m in topic.pattern.finditer(folded)
            )
            if hits:
                out.append(TopicMatch(topic=topic.name, rule="terms", hits=hits))
        return out


def compile_topics(raw: Sequence[Mapping[str, Any]]) -> Matcher:
    topics = []
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            raise TopicRuleError(f"#{i + 1}", "each topic needs a `name`", i, ("name",))
        name = item["name"]
        terms = item.get("terms") or [name]
        if not isinstance(terms, list) or not all(isinstance(t, str) and t for t in terms):
            raise TopicRuleError(name, "`terms` must be a list of strings", i, ("terms",))
        exclude = item.get("exclude") or []
        topics.append(_Topic(name, tuple(terms), _terms_pattern(terms),
                             _terms_pattern(exclude) if exclude else None))
    return Matcher(tuple(topics))
