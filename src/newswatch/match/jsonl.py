"""`newswatch match`: articles as JSON lines in, their matches (and why) out. Pure."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict
from typing import Any

from newswatch.errors import UserError
from newswatch.match.language import language_code, language_problem
from newswatch.match.topics import Matcher
from newswatch.models import TopicMatch
from newswatch.parse.text import html_to_text


def match_to_dict(found: TopicMatch) -> dict[str, Any]:
    """A TopicMatch as plain JSON-ready data."""
    return asdict(found)


def explain(found: TopicMatch) -> str:
    """The words that matched and where: "S-400, Turkey in title; Erdogan in summary"."""
    by_field: dict[str, list[str]] = {}
    for hit in found.hits:
        words = by_field.setdefault(hit.field, [])
        if hit.text not in words:
            words.append(hit.text)
    return "; ".join(f"{', '.join(words)} in {where}" for where, words in by_field.items())


def short_match(found: TopicMatch, matcher: Matcher) -> dict[str, Any]:
    """A match as `newswatch match` prints it by default: the topic, a short name for the
    rule, the words and where, the hits (with offsets) and the relevance; `--verbose` gives
    `match_to_dict` (the whole rule as written and expanded)."""
    out = match_to_dict(found)
    out["rule"] = matcher.rule_label(found)
    out["why"] = explain(found)
    return out


def match_jsonl(
    lines: Iterable[str],
    matcher: Matcher,
    detect: Callable[[str, str], str | None] | None = None,
    *,
    verbose: bool = False,
    topics: Sequence[str] | None = None,
) -> Iterator[str]:
    """Match JSON lines `{"id", "title", "summary", "content"}` (summary and content may be
    HTML; content is optional, the article's full body as the pipeline matches it; an
    optional `language` gives the article's language); yield one JSON line per non-blank
    input line: `{"id", "language", "topics", "relevance", "matches"}` or `{"id", "error"}`.
    Spans in the output refer to the plain text of title, summary and content (HTML
    removed). Each match says its rule by a short name and "why" (the words and where)
    unless `verbose` (the whole rule); with `topics` (names as the sources file spells
    them) only those topics are reported. A `language` that is no code newswatch knows
    raises UserError (naming the line): rules limited to languages would never fire."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            yield json.dumps(
                {
                    "id": None,
                    "line": number,
                    "error": f"invalid JSON: {exc.msg}"
                    if isinstance(exc, json.JSONDecodeError)
                    else "invalid text",
                }
            )
            continue
        if not isinstance(record, dict):
            yield json.dumps(
                {
                    "id": None,
                    "line": number,
                    "error": f"expected a JSON object, got {_json_kind(record)}",
                }
            )
            continue
        ident = record.get("id")
        problem = None
        for key in ("title", "summary", "content", "language"):
            if record.get(key) is not None and not isinstance(record.get(key), str):
                problem = f"{key!r} must be a string, got {_json_kind(record[key])}"
        if "title" not in record and "summary" not in record and "content" not in record:
            problem = "needs a 'title', a 'summary' or a 'content'"
        if problem:
            yield json.dumps({"id": ident, "line": number, "error": problem})
            continue
        if record.get("language"):
            # A code no article is ever tagged with ("gr") would silently switch off every
            # rule limited to languages: that is a mistake in the input, not in one article.
            wrong = language_problem(record["language"])
            if wrong is not None:
                raise UserError(f"input line {number}: {wrong}")
        title = html_to_text(record.get("title") or "")
        summary = html_to_text(record.get("summary") or "")
        content = html_to_text(record.get("content") or "")
        language = language_code(record["language"]) if record.get("language") else None
        if language is None and detect is not None:
            language = detect(title, summary or content)
        vetoes: dict[str, str] | None = {} if verbose else None
        found = matcher.match(title, summary, content, language=language, vetoes=vetoes)
        if topics is not None:
            found = [m for m in found if m.topic in topics]
        out: dict[str, Any] = {
            "id": ident,
            "language": language,
            "topics": sorted(m.topic for m in found),
            "relevance": {m.topic: m.relevance for m in found},
            "matches": [
                {**match_to_dict(m), "why": explain(m), "names": _names(m, matcher)}
                if verbose
                else short_match(m, matcher)
                for m in found
            ],
        }
        if vetoes:
            out["not_matched"] = {
                name: why for name, why in vetoes.items() if topics is None or name in topics
            }
        yield json.dumps(out, ensure_ascii=False)


def _names(found: TopicMatch, matcher: Matcher) -> list[str]:
    """The terms (as written) whose hits counted as the topic's name for its relevance; the
    other hits are context a rule required (the parts after the first of an AND or NEAR).
    Empty for a match that only rules with `names: false` made (a passing mention)."""
    if not matcher.names_any(found):
        return []
    return list(dict.fromkeys(h.term for h in matcher.naming_hits(found).hits))


def _json_kind(value: Any) -> str:
    return {
        dict: "an object",
        list: "an array",
        str: "a string",
        bool: "true/false",
        type(None): "null",
    }.get(type(value), "a number")
