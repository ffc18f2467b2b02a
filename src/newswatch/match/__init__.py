"""Matching: which watched topics an article is about (pure: no I/O).

`topics` compiles the rules of sources.yaml and matches articles against them, `relevance`
scores how much an article is about a topic, and `language` detects an article's language.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from newswatch._lazy import exports

if TYPE_CHECKING:
    from newswatch.match.jsonl import match_jsonl as match_jsonl
    from newswatch.match.language import detect_language as detect_language
    from newswatch.match.relevance import Evidence as Evidence
    from newswatch.match.relevance import score as score
    from newswatch.match.topics import Matcher as Matcher
    from newswatch.match.topics import compile_topics as compile_topics

_API = {
    "Evidence": "relevance",
    "Matcher": "topics",
    "compile_topics": "topics",
    "detect_language": "language",
    "match_jsonl": "jsonl",
    "score": "relevance",
}
__all__ = sorted(_API)
__getattr__, __dir__ = exports(__name__, _API)
