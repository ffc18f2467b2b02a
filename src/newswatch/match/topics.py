"""Topic rules: compile the `topics:` section of sources.yaml and match articles.

Pure: takes strings, returns TopicMatch values; no I/O. The rule language is documented in
docs/rules.md ("Watching topics"). In short, a topic has one or more rules (any rule firing matches the topic);
a rule is a boolean combination of terms (`any`/`all`/`none`, a `query` string, a `near`
proximity condition) over chosen fields; `ignore` phrases hide term occurrences inside them
and `exclude` terms veto the topic.

Terms match whole words on folded text (case, diacritics, NFC/NFD, ligatures), accept
possessives and hyphenated compounds, treat `-`, dashes, spaces or nothing alike between
letters and digits (S-400 = S400 = S 400 = S–400), and accept a plural `s` after a final
number (S-400s). `=Term` (or `{term: X, case_sensitive: true}`) matches only in that case.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import itertools
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from newswatch.errors import TopicRuleError, UnknownTopic
from newswatch.match.relevance import relevance
from newswatch.models import Field, TermHit, TopicMatch
from newswatch.parse.text import Folded, fold, html_to_text

Path_ = tuple[str | int, ...]
ALL_FIELDS: tuple[Field, ...] = ("title", "summary", "content")
# `fields: both` predates the content field and keeps meaning the feed's title and summary.
_BOTH: tuple[Field, ...] = ("title", "summary")


class _Invalid(Exception):
    """A rule problem found below the topic level; re-raised as TopicRuleError."""

    def __init__(self, message: str, path: Path_ = ()) -> None:
        super().__init__(message)
        self.message = message
        self.path = path


# -- Terms ------------------------------------------------------------------------------

_DASHES = "\\-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"
_DASH = f"[{_DASHES}]"
# Between letters and digits of one term: a dash, a space or nothing (S-400, S400, S 400).
_SEP_OPTIONAL = f"(?:\\s*{_DASH}\\s*|\\s+)?"
# Between two words of a phrase: spaces or a dash (air defence, air-defence).
_SEP_REQUIRED = f"(?:\\s*{_DASH}\\s*|\\s+)"
_APOSTROPHE = "['\u2018\u2019\u02bc`\u00b4]"
_TERM_TOKENS = re.compile(f"\\w+|\\s+|{_DASH}+|{_APOSTROPHE}|[^\\w\\s]")
_ALNUM_RUNS = re.compile(r"[^\W\d_]+|\d+|_+")
_ASCII_RUNS = re.compile(r"[A-Za-z]+|[0-9]+|_+")  # the same runs in ASCII text, twice as fast
# Endings written after an apostrophe (Russia's, it's, don't, we'd, I'm, we'll, they're,
# we've): a term starting with one of these never starts right after "letter + apostrophe".
# Elisions before a word ("l'OTAN", "d'Ankara") are different: there the term follows.
_CLITICS = frozenset({"s", "t", "d", "m", "ll", "re", "ve"})


@dataclass(frozen=True, slots=True)
class _Term:
    written: str  # the term as the user wrote it, without the `=` marker
    case_sensitive: bool
    pattern: str  # regex source over lower-case folded text
    folded_re: re.Pattern[str]
    exact_re: re.Pattern[str] | None  # case-kept regex, checked on each hit's original text
    # Runs of letters or digits that any match must contain in the folded text; plain
    # substring tests on these skip the regex for almost every article.
    chunks: tuple[str, ...]
    # The same, as whole runs of the text: every chunk but a wildcard's last one is a
    # complete run of letters (or of digits) there; that last one begins a run.
    whole_runs: tuple[str, ...]
    run_prefix: str | None
    # The first run of a term in Arabic script, which the text may write with attached
    # prefixes ("وتركيا", "بالناتو"): it is looked for as a substring, not as a whole run.
    contains: str | None = None

    @property
    def anchor(self) -> str:
        """The chunk least likely to turn up by chance: the longest, digits first."""
        return max(self.chunks, key=lambda c: (len(c) + c.isdigit(), c))

    def may_occur(self, present: _ChunkPresence) -> bool:
        runs = present.runs()
        for run in self.whole_runs:
            if run not in runs:
                return False
        if self.contains is not None and self.contains not in present.text:
            return False
        return self.run_prefix is None or present.has_run_starting(self.run_prefix)

    def render(self) -> str:
        text = f'"{self.written}"' if re.search(r"[\s()\"]", self.written) else self.written
        return f"={text}" if self.case_sensitive else text


class _ChunkPresence:
    """The runs of letters and of digits in an article's folded text, found once (only for
    articles past the gate): each term then costs a set look-up, not a scan of the text."""

    __slots__ = ("_heads", "_prefixes", "_runs", "_sorted", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._runs: frozenset[str] | None = None
        self._sorted: list[str] | None = None
        self._heads: frozenset[str] | None = None
        self._prefixes: dict[str, bool] = {}

    def runs(self) -> frozenset[str]:
        if self._runs is None:
            pattern = _ASCII_RUNS if self.text.isascii() else _ALNUM_RUNS
            self._runs = frozenset(pattern.findall(self.text))
        return self._runs

    def heads(self) -> frozenset[str]:
        """The first `_HEAD` characters of every run (whole runs if shorter)."""
        if self._heads is None:
            self._heads = frozenset(run[:_HEAD] for run in self.runs())
        return self._heads

    def has_run_starting(self, prefix: str) -> bool:
        known = self._prefixes.get(prefix)
        if known is None:
            if self._sorted is None:
                self._sorted = sorted(self.runs())
            i = bisect.bisect_left(self._sorted, prefix)
            known = i < len(self._sorted) and self._sorted[i].startswith(prefix)
            self._prefixes[prefix] = known
        return known


# Arabic writes conjunctions (و "and", ف "so"), prepositions (ب "in/with", ل "for", ك "like")
# and the article ال as part of the next word: "وتركيا", "بتركيا", "لتركيا", "بالناتو",
# "للناتو" (ل + ال + ناتو). A term in Arabic script matches after any of these.
_AR_CONJ = ("", "و", "ف")
_AR_PREP = ("", "ب", "ل", "ك")


def _ar_prefixes(article: bool) -> list[str]:
    """Attached prefixes before an Arabic word: with the article ال (required when the term
    was written with it), or any combination of conjunction, preposition and article."""
    out = set()
    for conj in _AR_CONJ:
        for prep in _AR_PREP:
            for art in ("ال",) if article else ("", "ال"):
                out.add(conj + ("لل" if prep == "ل" and art else prep + art))
    out.discard("")
    return sorted(out, key=lambda p: (-len(p), p))


_AR_ANY_PREFIX = "|".join(_ar_prefixes(False))
_AR_ARTICLE_PREFIX = "|".join(_ar_prefixes(True))


def _is_arabic(ch: str) -> bool:
    return "\u0600" <= ch <= "\u06ff" or "\u0750" <= ch <= "\u077f" or "\u08a0" <= ch <= "\u08ff"


def _arabic_core(run: str) -> str:
    """The first run of an Arabic term as the text may contain it under a prefix: without
    its article ("الناتو" -> "ناتو"), which "للناتو" does not spell out."""
    return run[2:] if run.startswith("ال") and len(run) > 2 else run


def _term_pattern(folded: str) -> str:
    """Regex source for one term, already folded (the same way article text is)."""
    wildcard = folded.endswith("*")
    body = folded[:-1] if wildcard else folded
    if "*" in body:
        raise _Invalid(f"'*' is only allowed at the end of a term: {folded!r}")
    tokens = _TERM_TOKENS.findall(body.strip())
    if not any(t[0].isalnum() for t in tokens):
        raise _Invalid(f"a term needs at least one letter or digit: {folded!r}")
    out: list[str] = []
    prev_kind = ""  # "alpha", "digit", "sep", "punct"
    pending_sep = False
    for tok in tokens:
        if tok[0].isspace() or re.fullmatch(f"{_DASH}+", tok):
            pending_sep = True
            continue
        if tok[0] == "_" or tok[0].isalnum():
            for run in _ALNUM_RUNS.findall(tok):
                kind = "digit" if run[0].isdigit() else "alpha"
                if prev_kind in ("alpha", "digit"):
                    if kind != prev_kind:
                        out.append(_SEP_OPTIONAL)
                    elif pending_sep:
                        out.append(_SEP_REQUIRED)
                elif pending_sep and prev_kind:
                    out.append("\\s*")
                out.append(re.escape(run))
                prev_kind = kind
                pending_sep = False
        else:
            if re.fullmatch(_APOSTROPHE, tok):
                out.append(_APOSTROPHE)
            else:
                out.append(("\\s*" if pending_sep else "") + re.escape(tok) + "\\s*")
            prev_kind = "punct"
            pending_sep = False
    pattern = "".join(out)
    if pattern.endswith("\\s*"):
        pattern = pattern[: -len("\\s*")]
    if wildcard:
        pattern += "\\w*"
    elif prev_kind == "digit":
        pattern += "s?"  # plural of a designation: S-400s, F-35s
    first = body.strip()[0]
    last = body.strip()[-1]
    trail = "(?!\\w)" if wildcard or last.isalnum() or last == "_" else ""
    head = _ALNUM_RUNS.match(body.strip())
    if head is None or not (first.isalnum() or first == "_"):
        return f"{pattern}{trail}"
    # Whole word at the start. The checks look behind the first run of letters or digits
    # rather than ahead of it, so the pattern starts with a literal: the regex engine then
    # scans for that literal instead of trying every position (30x faster on a summary).
    word = re.escape(head.group())
    if _is_arabic(head.group()[0]):
        core = _arabic_core(head.group())
        if core != head.group():  # written with the article: it (or "لل") is required
            return f"(?<!\\w)(?:{_AR_ARTICLE_PREFIX}){re.escape(core)}{pattern[len(word) :]}{trail}"
        return f"(?<!\\w)(?:{_AR_ANY_PREFIX})?{pattern}{trail}"
    lead = f"(?<!\\w{word})"
    if head.group() in _CLITICS:
        # "s 400" in "Russia's 400 tanks" is the tail of a possessive, not the start of S-400.
        lead += f"(?<!\\w{_APOSTROPHE}{word})"
    assert pattern.startswith(word)
    return f"{word}{lead}{pattern[len(word) :]}{trail}"


def _make_term(written: str, case_sensitive: bool) -> _Term:
    written = written.strip()
    if not written:
        raise _Invalid("a term must not be empty")
    folded = fold(written).text
    pattern = _term_pattern(folded)
    exact = None
    if case_sensitive:
        exact = re.compile(_term_pattern(fold(written, lower=False).text))
    runs = _ALNUM_RUNS.findall(folded.rstrip("*"))
    contains = None
    if runs and _is_arabic(runs[0][0]) and folded.strip()[0] == runs[0][0]:
        contains = runs[0] = _arabic_core(runs[0])
    chunks = tuple(dict.fromkeys(runs))
    prefix = runs[-1] if folded.endswith("*") else None
    whole_list = runs[:-1] if prefix is not None else runs
    if contains is not None:
        whole_list = whole_list[1:]
        if prefix is not None and len(runs) == 1:
            prefix = None  # "تركي*": the substring test and the regex do the work
    whole = tuple(dict.fromkeys(whole_list))
    return _Term(
        written,
        case_sensitive,
        pattern,
        re.compile(pattern),
        exact,
        chunks,
        whole,
        prefix,
        contains,
    )


def _term_from_value(value: Any, path: Path_) -> tuple[str, bool]:
    """A list item naming a term: "NATO", "=NATO" or {term: NATO, case_sensitive: true}."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("="):
            return text[1:], True
        return text, False
    if isinstance(value, Mapping):
        unknown = set(value) - {"term", "case_sensitive"}
        if unknown:
            raise _Invalid(
                f"unknown key {sorted(unknown)[0]!r} in a term; use `term` and `case_sensitive`",
                (*path, sorted(unknown)[0]),
            )
        term = value.get("term")
        if not isinstance(term, str):
            raise _Invalid("a term mapping needs `term: <text>`", (*path, "term"))
        case = value.get("case_sensitive", False)
        if not isinstance(case, bool):
            raise _Invalid("`case_sensitive` must be true or false", (*path, "case_sensitive"))
        return term, case
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value), False
    raise _Invalid(f"a term must be a string, got {_kind(value)}", path)


# -- Rule trees -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _TermNode:
    term: int  # index into the topic's term table


@dataclass(frozen=True, slots=True)
class _Or:
    children: tuple[_Node, ...]
    # The term indexes when every child is a term (a list): looked up in bulk.
    terms: tuple[int, ...] | None = field(init=False, compare=False)

    def __post_init__(self) -> None:
        only_terms = all(isinstance(c, _TermNode) for c in self.children)
        indexes = tuple(c.term for c in self.children if isinstance(c, _TermNode))
        object.__setattr__(self, "terms", indexes if only_terms else None)


@dataclass(frozen=True, slots=True)
class _And:
    children: tuple[_Node, ...]


@dataclass(frozen=True, slots=True)
class _Not:
    child: _Node


@dataclass(frozen=True, slots=True)
class _Near:
    groups: tuple[tuple[int, ...], ...]  # each group: term indexes, any of which will do
    within: int | None  # at most this many words between; None = in the same sentence


@dataclass(frozen=True, slots=True)
class _NotNear:
    """Occurrences of `terms` with none of `away` within reach: `within` words, or the same
    sentence when None. `=Turkey NOT NEAR/4 recipe*` fires on "Turkey and the EU" even in an
    article that elsewhere says "Turkey recipe"."""

    terms: tuple[int, ...]
    away: tuple[int, ...]
    within: int | None


_Node = _TermNode | _Or | _And | _Not | _Near | _NotNear


class _TermTable:
    """The distinct terms of one topic; rule trees refer to them by index."""

    def __init__(self) -> None:
        self.terms: list[_Term] = []
        self._index: dict[tuple[str, bool], int] = {}

    def add(self, written: str, case_sensitive: bool, path: Path_) -> int:
        key = (written.strip(), case_sensitive)
        if key not in self._index:
            try:
                term = _make_term(written, case_sensitive)
            except _Invalid as exc:
                raise _Invalid(exc.message, path) from None
            self._index[key] = len(self.terms)
            self.terms.append(term)
        return self._index[key]


def _render(node: _Node, terms: Sequence[_Term], top: bool = True) -> str:
    if isinstance(node, _TermNode):
        return terms[node.term].render()
    if isinstance(node, _Not):
        return f"NOT {_render(node.child, terms, False)}"
    if isinstance(node, _NotNear):
        op = "NOT NEAR/S" if node.within is None else f"NOT NEAR/{node.within}"
        text = f"{_render_group(node.terms, terms)} {op} {_render_group(node.away, terms)}"
        return text if top else f"({text})"
    if isinstance(node, _Near):
        op = "NEAR/S" if node.within is None else f"NEAR/{node.within}"
        parts = [
            terms[g[0]].render()
            if len(g) == 1
            else "(" + " OR ".join(terms[t].render() for t in g) + ")"
            for g in node.groups
        ]
        text = f" {op} ".join(parts)
        return text if top else f"({text})"
    joiner = " OR " if isinstance(node, _Or) else " AND "
    if len(node.children) == 1:
        return _render(node.children[0], terms, top)
    text = joiner.join(_render(c, terms, False) for c in node.children)
    return text if top else f"({text})"


def _render_group(group: Sequence[int], terms: Sequence[_Term]) -> str:
    if len(group) == 1:
        return terms[group[0]].render()
    return "(" + " OR ".join(terms[t].render() for t in group) + ")"


# -- Query syntax -----------------------------------------------------------------------

_QUERY_TOKEN = re.compile(
    r"""\s*(?:
        (?P<lparen>\() | (?P<rparen>\)) |
        (?P<near>NEAR/(?P<within>\d+|[Ss])(?![^\s()])) |
        (?P<op>AND|OR|NOT)(?![^\s()]) |
        (?P<phrase>=?"[^"]*") |
        (?P<unclosed>=?"[^"]*$) |
        (?P<word>[^\s()"]+)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # lparen rparen near op term
    value: str
    column: int  # 1-based
    within: int | None = None
    case_sensitive: bool = False


def _tokenize(query: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(query):
        if query[pos:].strip() == "":
            break
        m = _QUERY_TOKEN.match(query, pos)
        if m is None:  # pragma: no cover - the word alternative accepts everything else
            raise _Invalid(f"cannot read the query at column {pos + 1}")
        col = m.start(m.lastgroup or 0) + 1
        if m.group("unclosed") is not None:
            raise _Invalid(f'unclosed quote at column {col}: add the closing "')
        if m.group("lparen"):
            tokens.append(_Token("lparen", "(", col))
        elif m.group("rparen"):
            tokens.append(_Token("rparen", ")", col))
        elif m.group("near"):
            w = m.group("within")
            within = None if w in ("S", "s") else int(w)
            tokens.append(_Token("near", m.group("near"), col, within))
        elif m.group("op"):
            tokens.append(_Token("op", m.group("op"), col))
        else:
            raw = m.group("phrase") or m.group("word")
            case = raw.startswith("=")
            text = raw[1:] if case else raw
            if text.startswith('"'):
                text = text[1:-1]
            if not text.strip():
                raise _Invalid(f"empty term at column {col}")
            tokens.append(_Token("term", text, col, case_sensitive=case))
        pos = m.end()
    return tokens


class _QueryParser:
    """or := and (OR and)* ; and := not (AND not)* ; not := NOT not | near ;
    near := atom (NEAR/n atom)* ; atom := term | "phrase" | ( or )"""

    def __init__(self, query: str, table: _TermTable, path: Path_) -> None:
        self.tokens = _tokenize(query)
        self.pos = 0
        self.table = table
        self.path = path

    def parse(self) -> _Node:
        if not self.tokens:
            raise _Invalid("the query is empty")
        node = self._or()
        if self.pos < len(self.tokens):
            tok = self.tokens[self.pos]
            if tok.kind == "term":
                raise _Invalid(
                    f"expected AND, OR or NOT before {tok.value!r} at column {tok.column}; "
                    'put phrases in quotes ("air defence") and operators in capitals'
                )
            raise _Invalid(f"unexpected {tok.value!r} at column {tok.column}")
        return node

    def _peek(self) -> _Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _or(self) -> _Node:
        children = [self._and()]
        while (tok := self._peek()) and tok.kind == "op" and tok.value == "OR":
            self.pos += 1
            children.append(self._and())
        return children[0] if len(children) == 1 else _Or(tuple(children))

    def _and(self) -> _Node:
        children = [self._not()]
        while (tok := self._peek()) and tok.kind == "op" and tok.value == "AND":
            self.pos += 1
            children.append(self._not())
        return children[0] if len(children) == 1 else _And(tuple(children))

    def _not(self) -> _Node:
        tok = self._peek()
        if tok and tok.kind == "op" and tok.value == "NOT":
            self.pos += 1
            return _Not(self._not())
        return self._near()

    def _near(self) -> _Node:
        first = self._atom()
        tok = self._peek()
        after = self.tokens[self.pos + 1] if self.pos + 1 < len(self.tokens) else None
        if tok and tok.kind == "op" and tok.value == "NOT" and after and after.kind == "near":
            # `a NOT NEAR/n b`: occurrences of a with no b within reach.
            self.pos += 2
            op = _Token("near", f"NOT {after.value}", tok.column, after.within)
            left = self._group(first, op)
            right = self._group(self._atom(), op)
            follow = self._peek()
            if follow and follow.kind == "near":
                raise _Invalid(
                    f"{follow.value} at column {follow.column} cannot follow NOT NEAR; "
                    "use parentheses"
                )
            return _NotNear(left, right, after.within)
        if not (tok and tok.kind == "near"):
            return first
        groups = [self._group(first, tok)]
        within = tok.within
        while (tok := self._peek()) and tok.kind == "near":
            if tok.within != within:
                raise _Invalid(f"mixed NEAR distances at column {tok.column}; use one distance")
            self.pos += 1
            groups.append(self._group(self._atom(), tok))
        return _Near(tuple(groups), within)

    def _group(self, node: _Node, tok: _Token) -> tuple[int, ...]:
        if isinstance(node, _TermNode):
            return (node.term,)
        if isinstance(node, _Or) and all(isinstance(c, _TermNode) for c in node.children):
            return tuple(c.term for c in node.children if isinstance(c, _TermNode))
        raise _Invalid(f"{tok.value} at column {tok.column} joins terms or (a OR b) groups only")

    def _atom(self) -> _Node:
        tok = self._peek()
        if tok is None:
            raise _Invalid("the query ends too early: a term or '(' is missing")
        self.pos += 1
        if tok.kind == "term":
            return _TermNode(self.table.add(tok.value, tok.case_sensitive, self.path))
        if tok.kind == "lparen":
            node = self._or()
            close = self._peek()
            if close is None or close.kind != "rparen":
                raise _Invalid(f"'(' at column {tok.column} is never closed")
            self.pos += 1
            if isinstance(node, _Near):
                # Keep NEAR inside parentheses from merging with an outer NEAR chain.
                return _And((node,))
            return node
        raise _Invalid(f"expected a term at column {tok.column}, got {tok.value!r}")


# -- Rules and topics -------------------------------------------------------------------

_RULE_KEYS = ("terms", "any", "all", "none", "query", "near", "not_near")
_TOPIC_KEYS = {
    "name",
    "description",
    "fields",
    "languages",
    "rules",
    "ignore",
    "exclude",
    "min_relevance",
    *_RULE_KEYS,
}
_RULE_ONLY_KEYS = {"fields", "languages", *_RULE_KEYS}
_LANGUAGE_CODE = re.compile(r"[a-z]{2}")


@dataclass(frozen=True, slots=True)
class _Rule:
    text: str  # as shown in explanations
    node: _Node
    fields: tuple[Field, ...]
    uses_words: bool  # needs word/sentence positions (NEAR)
    # Only for articles in these languages (ISO 639-1); None: any language.
    languages: frozenset[str] | None = None


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    return type(value).__name__


def _fields(value: Any, path: Path_) -> tuple[Field, ...]:
    names = [value] if isinstance(value, str) else value
    if isinstance(names, list) and names:
        out: list[Field] = []
        for name in names:
            if name == "both":
                out.extend(_BOTH)
            elif name in ALL_FIELDS:
                out.append(name)
            else:
                break
        else:
            return tuple(f for f in ALL_FIELDS if f in out)
    raise _Invalid(
        f"must be title, summary, content, both (title and summary) or a list, got {value!r}", path
    )


def _languages(value: Any, path: Path_) -> frozenset[str]:
    """`languages: [tr, ru]` (or one code): ISO 639-1 codes, two letters."""
    codes = [value] if isinstance(value, str) else value
    if isinstance(codes, list) and codes:
        out = set()
        for i, code in enumerate(codes):
            if not isinstance(code, str) or not _LANGUAGE_CODE.fullmatch(code.strip().lower()):
                raise _Invalid(
                    f"must be ISO 639-1 language codes (two letters: en, tr, ru), got {code!r}",
                    (*path, i) if not isinstance(value, str) else path,
                )
            out.add(code.strip().lower())
        return frozenset(out)
    raise _Invalid(
        f"must be a list of ISO 639-1 language codes such as [tr, ru], got {_kind(value)}", path
    )


def _language_of(language: str | None) -> str | None:
    """The primary language of a tag as the matcher compares it ("pt-BR" -> "pt")."""
    if not language:
        return None
    return language.split("-", 1)[0].split("_", 1)[0].strip().lower() or None


def _term_list(value: Any, path: Path_, table: _TermTable, nested: bool = False) -> list[_Node]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise _Invalid(f"must be a non-empty list of terms, got {_kind(value)}", path)
    nodes: list[_Node] = []
    for i, item in enumerate(value):
        if nested and isinstance(item, list):
            inner = _term_list(item, (*path, i), table)
            nodes.append(inner[0] if len(inner) == 1 else _Or(tuple(inner)))
            continue
        text, case = _term_from_value(item, (*path, i))
        nodes.append(_TermNode(table.add(text, case, (*path, i))))
    return nodes


def _terms_within_mapping(value: Any, path: Path_) -> Mapping[str, Any]:
    """`near:` and `not_near:` take a mapping of exactly `terms` and `within`."""
    if not isinstance(value, Mapping):
        raise _Invalid("must be a mapping with `terms` and `within`", path)
    unknown = set(value) - {"terms", "within"}
    if unknown:
        key = sorted(unknown)[0]
        raise _Invalid(f"unknown key {key!r}; expected terms, within", (*path, key))
    return value


def _near(value: Any, path: Path_, table: _TermTable) -> _Near:
    value = _terms_within_mapping(value, path)
    groups_raw = value.get("terms")
    if not isinstance(groups_raw, list) or len(groups_raw) < 2:
        raise _Invalid("needs at least two terms (or lists of alternatives)", (*path, "terms"))
    groups: list[tuple[int, ...]] = []
    for i, item in enumerate(groups_raw):
        nodes = _term_list(item, (*path, "terms", i), table)
        groups.append(tuple(n.term for n in nodes if isinstance(n, _TermNode)))
    return _Near(tuple(groups), _within(value, path))


def _within(value: Mapping[str, Any], path: Path_) -> int | None:
    within = value.get("within", "sentence")
    if within == "sentence":
        return None
    if isinstance(within, bool) or not isinstance(within, int) or within < 0:
        raise _Invalid(
            f"must be a number of words (0 or more) or `sentence`, got {within!r}",
            (*path, "within"),
        )
    return within


def _not_near(value: Any, path: Path_, table: _TermTable, terms: _Node) -> _NotNear:
    """`not_near: {terms: [...], within: n}`: the rule's `any` terms count only where none
    of these terms is within n words (or in the same sentence)."""
    value = _terms_within_mapping(value, path)
    if "terms" not in value:
        raise _Invalid("needs `terms`: the words that must not be close", (*path, "terms"))
    away = _term_list(value["terms"], (*path, "terms"), table)
    left = terms.children if isinstance(terms, _Or) else (terms,)
    return _NotNear(
        tuple(n.term for n in left if isinstance(n, _TermNode)),
        tuple(n.term for n in away if isinstance(n, _TermNode)),
        _within(value, path),
    )


def _rule(
    data: Mapping[str, Any],
    path: Path_,
    table: _TermTable,
    fields: tuple[Field, ...],
    default_term: str | None,
) -> _Rule:
    parts: list[_Node] = []
    for key in ("terms", "any"):
        if key in data:
            nodes = _term_list(data[key], (*path, key), table)
            parts.append(nodes[0] if len(nodes) == 1 else _Or(tuple(nodes)))
    if "not_near" in data:
        if not parts:
            raise _Invalid(
                "`not_near` qualifies the rule's `any` terms; add `any: [...]`",
                (*path, "not_near"),
            )
        parts = [_not_near(data["not_near"], (*path, "not_near"), table, p) for p in parts]
    if "all" in data:
        nodes = _term_list(data["all"], (*path, "all"), table, nested=True)
        parts.append(nodes[0] if len(nodes) == 1 else _And(tuple(nodes)))
    if "near" in data:
        parts.append(_near(data["near"], (*path, "near"), table))
    if "query" in data:
        query = data["query"]
        if not isinstance(query, str):
            raise _Invalid(f"must be a query string, got {_kind(query)}", (*path, "query"))
        try:
            parts.append(_QueryParser(query, table, (*path, "query")).parse())
        except _Invalid as exc:
            raise _Invalid(exc.message, exc.path or (*path, "query")) from None
    if not parts and default_term is not None and "none" not in data:
        parts.append(_TermNode(table.add(default_term, False, (*path, "name"))))
    if "none" in data:
        nodes = _term_list(data["none"], (*path, "none"), table)
        parts.append(_Not(nodes[0] if len(nodes) == 1 else _Or(tuple(nodes))))
    if not parts:
        raise _Invalid("a rule needs terms, any, all, near or query", path)
    if "none" in data and len(parts) == 1:
        raise _Invalid(
            "`none` alone says what must not appear, not what must: add `any: [...]` "
            "(or use the topic's `exclude` to veto the topic)",
            path,
        )
    node = parts[0] if len(parts) == 1 else _And(tuple(parts))
    if _required_terms(node, table.terms) is None:
        raise _Invalid(
            "this rule matches articles that contain none of its terms; "
            "add a term that must appear",
            path,
        )
    if "fields" in data:
        fields = _fields(data["fields"], (*path, "fields"))
    languages = _languages(data["languages"], (*path, "languages")) if "languages" in data else None
    text = data["query"] if set(data) & set(_RULE_KEYS) == {"query"} else _render(node, table.terms)
    return _Rule(str(text), node, fields, _uses_words(node), languages)


def _uses_words(node: _Node) -> bool:
    if isinstance(node, _Near | _NotNear):
        return True
    if isinstance(node, _TermNode):
        return False
    if isinstance(node, _Not):
        return _uses_words(node.child)
    return any(_uses_words(c) for c in node.children)


def _required_terms(node: _Node, terms: Sequence[_Term], negated: bool = False) -> set[int] | None:
    """Terms of which at least one occurs whenever `node` holds (or, when `negated`,
    whenever it does not): what a cheap prefilter can look for. None: it can hold with no
    term present. For AND and NEAR one part suffices: the one least likely by chance."""
    if isinstance(node, _Not):
        return _required_terms(node.child, terms, not negated)
    if negated and isinstance(node, _TermNode | _Near | _NotNear):
        return None  # "no X here" holds in an empty article
    if isinstance(node, _TermNode):
        return {node.term}
    if isinstance(node, _NotNear):
        return set(node.terms)
    if isinstance(node, _Near):
        options: list[set[int]] = [set(group) for group in node.groups]
    else:
        parts = [_required_terms(c, terms, negated) for c in node.children]
        if isinstance(node, _Or) != negated:  # OR, or NOT over AND: any part may hold
            if any(p is None for p in parts):
                return None
            return {t for p in parts if p is not None for t in p}
        options = [p for p in parts if p is not None]
        if not options:
            return None
    return min(options, key=lambda group: sum(_term_cost(terms[t]) for t in group))


def _numbered(term: _Term) -> bool:
    """A word with a short number ("Article 5", "статья 5"): the word alone is common, the
    pair is rare, so the prefilter looks for the pair with the term's regex."""
    return (
        term.run_prefix is None
        and any(c.isdigit() and len(c) < 3 for c in term.chunks)
        and any(not c.isdigit() for c in term.chunks)
    )


def _strong_chunks(term: _Term) -> list[str]:
    """Chunks of a term that rarely turn up by chance: 3+ letters or 3+ digits (none for a
    numbered word, whose word alone is not rare)."""
    if _numbered(term):
        return []
    return [c for c in term.chunks if len(c) >= 3]


def _term_cost(term: _Term) -> float:
    # Each term is one more way to pass the prefilter by chance; short chunks turn up by
    # chance more often ("air" in "chair"), numbers less than words. A term with no strong
    # chunk ("40N6", "SA-21") needs a regex in the prefilter; a numbered word's regex only
    # runs where its word is, and rarely finds anything.
    if _numbered(term):
        return 2.0
    chunks = _strong_chunks(term)
    if not chunks:
        return 6.0
    best = max(chunks, key=len)
    return 1 + 4.0 ** max(0, (3 if best.isdigit() else 5) - len(best))


# Scripts a gate's pieces are grouped by (the first character of a piece decides).
_SCRIPT_RE = {
    "greek": re.compile("[\u0370-\u03ff\u1f00-\u1fff]"),
    "cyrillic": re.compile("[\u0400-\u052f]"),
    "arabic": re.compile("[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff]"),
}


_NON_LATIN = re.compile(
    "[\u0370-\u03ff\u1f00-\u1fff\u0400-\u052f\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff]"
)


def _script_of(piece: str) -> str:
    if piece.isascii():
        return "ascii"
    for name in ("greek", "cyrillic", "arabic"):
        if _SCRIPT_RE[name].match(piece):
            return name
    return "other"


# Regexes behind one first chunk: (the other chunks they need, the regexes).
_WeakGroup = tuple[tuple[tuple[str, ...], tuple[re.Pattern[str], ...]], ...]


def _weak_found(group: _WeakGroup, folded: str) -> bool:
    for rest, patterns in group:
        for chunk in rest:
            if chunk not in folded:
                break
        else:
            for pattern in patterns:
                if pattern.search(folded) is not None:
                    return True
    return False


@dataclass(frozen=True, slots=True)
class _Gate:
    """A cheap test that every article any rule can match passes: one of `substrings` is in
    the folded text, or `weak` (the regexes of terms with no long chunk, such as 40N6)
    finds something."""

    substrings: tuple[str, ...]
    # (chunks it must contain, cheapest first; regex): a numbered word ("Article 5") is
    # looked for only in text with its digit, then its word.
    weak_patterns: tuple[tuple[tuple[str, ...], str], ...]
    weak: tuple[tuple[tuple[str, ...], re.Pattern[str]], ...]
    # The same, split by script: ASCII text (most articles, and most Latin-script text once
    # folded) is searched for the ASCII pieces only, other text also for the pieces of the
    # scripts it contains (a Greek article is not searched for Cyrillic and Arabic names).
    _ascii: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _scripts: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = field(
        init=False, repr=False, compare=False
    )
    _other: tuple[str, ...] = field(init=False, repr=False, compare=False)
    # The weak regexes by their first chunk, then by the rest of their chunks.
    _ascii_weak: tuple[tuple[str, _WeakGroup], ...] = field(init=False, repr=False, compare=False)
    _other_weak: tuple[tuple[str, _WeakGroup], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_script: dict[str, list[str]] = {}
        for piece in self.substrings:
            by_script.setdefault(_script_of(piece), []).append(piece)
        weak: dict[str, dict[tuple[str, ...], list[re.Pattern[str]]]] = {}
        for chunks, pattern in self.weak:
            weak.setdefault(chunks[0], {}).setdefault(chunks[1:], []).append(pattern)

        def grouped(ascii_: bool) -> tuple[tuple[str, _WeakGroup], ...]:
            out = []
            for first, by_rest in weak.items():
                group = tuple(
                    (rest, tuple(patterns))
                    for rest, patterns in by_rest.items()
                    if all(c.isascii() for c in (first, *rest)) == ascii_
                )
                if group:
                    out.append((first, group))
            return tuple(out)

        setattr_ = object.__setattr__
        setattr_(self, "_ascii", tuple(by_script.pop("ascii", ())))
        setattr_(self, "_other", tuple(by_script.pop("other", ())))
        setattr_(
            self,
            "_scripts",
            tuple((_SCRIPT_RE[name], tuple(pieces)) for name, pieces in sorted(by_script.items())),
        )
        setattr_(self, "_ascii_weak", grouped(True))
        setattr_(self, "_other_weak", grouped(False))

    def passes(self, folded: str) -> bool:
        for piece in self._ascii:
            if piece in folded:
                return True
        ascii_text = folded.isascii()
        # Curly quotes and dashes make most English text non-ASCII: one search for a
        # Greek, Cyrillic or Arabic letter rules those scripts out at once.
        if not ascii_text and _NON_LATIN.search(folded) is not None:
            for script, pieces in self._scripts:
                if script.search(folded) is not None:
                    for piece in pieces:
                        if piece in folded:
                            return True
        if not ascii_text:
            for piece in self._other:
                if piece in folded:
                    return True
        for first, group in self._ascii_weak:
            if first in folded and _weak_found(group, folded):
                return True
        if not ascii_text:
            for first, group in self._other_weak:
                if first in folded and _weak_found(group, folded):
                    return True
        return False

    @staticmethod
    def make(needs: Sequence[Sequence[str]], weak: Iterable[tuple[tuple[str, ...], str]]) -> _Gate:
        patterns = tuple(sorted(set(weak)))
        compiled = tuple((chunk, re.compile(p)) for chunk, p in patterns)
        return _Gate(_cover(needs), patterns, compiled)

    @staticmethod
    def covering(terms: Iterable[_Term]) -> _Gate:
        strong: list[list[str]] = []
        weak: list[tuple[tuple[str, ...], str]] = []
        for term in terms:
            chunks = _strong_chunks(term)
            if chunks:
                strong.append(chunks)
            else:
                digits = [c for c in term.chunks if c.isdigit()] if _numbered(term) else []
                guard = (max(digits, key=len),) if digits else ()
                weak.append(((*guard, term.anchor), term.pattern))
        return _Gate.make(strong, weak)

    @staticmethod
    def union(gates: Sequence[_Gate]) -> _Gate:
        return _Gate.make(
            [[p] for g in gates for p in g.substrings], [p for g in gates for p in g.weak_patterns]
        )


def _cover(needs: Sequence[Sequence[str]]) -> tuple[str, ...]:
    """Few substrings such that each need (a list of chunks, any of which is enough) has a
    chunk containing one of them. Greedy: a common piece of 4+ characters stands in for
    several ("turk" for turkey, turkish, turks, "Republic of Turkey"); longer is rarer."""
    todo = [tuple(n) for n in needs]
    kept: list[str] = []
    while todo:
        pieces = {
            c[i:j] for n in todo for c in n for i in range(len(c)) for j in range(i + 4, len(c) + 1)
        } | {c for n in todo for c in n if len(c) < 4}
        best = max(pieces, key=lambda p: (sum(any(p in c for c in n) for n in todo), len(p), p))
        kept.append(best)
        todo = [n for n in todo if not any(best in c for c in n)]
    return tuple(sorted(kept))


def _positive_terms(node: _Node, out: set[int]) -> set[int]:
    """Terms that must appear for the rule to fire (negated branches do not count)."""
    if isinstance(node, _TermNode):
        out.add(node.term)
    elif isinstance(node, _NotNear):
        out.update(node.terms)
    elif isinstance(node, _Near):
        out.update(t for g in node.groups for t in g)
    elif isinstance(node, _Or | _And):
        for c in node.children:
            _positive_terms(c, out)
    return out


# -- Matching ---------------------------------------------------------------------------

_WORD = re.compile(r"\w+")
# A sentence ends at . ! ? (plus closing quotes) followed by space and a capital or digit.
_SENTENCE_END = re.compile(r"[.!?][\"'\u201d\u2019)\]]*\s+(?=[\"'\u201c\u2018(\[]*[^\W_a-z])")
_ABBREVIATIONS = {
    "mr",
    "mrs",
    "ms",
    "dr",
    "st",
    "gen",
    "lt",
    "col",
    "sgt",
    "capt",
    "gov",
    "sen",
    "rep",
    "prof",
    "jr",
    "sr",
    "vs",
    "no",
    "inc",
    "corp",
    "co",
    "ltd",
    "adm",
    "maj",
    "pres",
    "rev",
}


class _FieldText:
    """One field of one article: original text, folded text, lazily word/sentence positions."""

    __slots__ = ("_sentence_ends", "_word_starts", "folded", "name", "original")

    def __init__(self, name: Field, original: str, folded: Folded | None = None) -> None:
        self.name: Field = name
        self.original = original
        self.folded: Folded = folded if folded is not None else fold(original)
        self._word_starts: list[int] | None = None
        self._sentence_ends: list[int] | None = None

    def word_starts(self) -> list[int]:
        if self._word_starts is None:
            self._word_starts = [m.start() for m in _WORD.finditer(self.folded.text)]
        return self._word_starts

    def sentence_ends(self) -> list[int]:
        if self._sentence_ends is None:
            ends = []
            text = self.original
            for m in _SENTENCE_END.finditer(text):
                before = _WORD.findall(text[max(0, m.start() - 12) : m.start()])
                word = before[-1] if before else ""
                if len(word) == 1 or word.lower() in _ABBREVIATIONS:
                    continue  # U.S. or Mr. is not the end of a sentence
                ends.append(m.end())
            self._sentence_ends = ends
        return self._sentence_ends


@dataclass(frozen=True, slots=True)
class _Occurrence:
    term: int
    field: _FieldText
    fstart: int  # span in folded text
    fend: int
    start: int  # span in original text
    end: int

    def words(self) -> tuple[int, int]:
        starts = self.field.word_starts()
        return bisect.bisect_right(starts, self.fstart) - 1, bisect.bisect_left(starts, self.fend)

    def sentence(self) -> int:
        return bisect.bisect_right(self.field.sentence_ends(), self.start)


class _Occurrences:
    """Where each term of a topic occurs in one article, found on first use: a rule looks
    at its names first and at long lists of context words only when a name is there."""

    __slots__ = ("_fields", "_found", "_hidden", "_present", "_topic")

    def __init__(
        self, topic: _Topic, fields: Sequence[_FieldText], present: _ChunkPresence
    ) -> None:
        self._topic = topic
        self._fields = fields
        self._present = present
        self._found: dict[int, list[_Occurrence]] = {}
        self._hidden: dict[str, list[tuple[int, int]]] = {}

    def get(self, index: int) -> list[_Occurrence]:
        found = self._found.get(index)
        if found is None:
            found = self._found[index] = self._find(index)
        return found

    def any_of(self, indexes: tuple[int, ...]) -> list[_Occurrence]:
        """Occurrences of any of these terms. A long list (context words, food words) is
        narrowed to the terms whose runs are in the text with one set intersection."""
        if len(indexes) < _GROUP_MIN:
            return [o for i in indexes for o in self.get(i)]
        out: list[_Occurrence] = []
        for i in self._topic.group(indexes).candidates(self._present):
            out.extend(self.get(i))
        return out

    def _find(self, index: int) -> list[_Occurrence]:
        term = self._topic.terms[index]
        if not term.may_occur(self._present):
            return []
        out: list[_Occurrence] = []
        for field_text in self._fields:
            for m in term.folded_re.finditer(field_text.folded.text):
                fs, fe = m.span()
                hidden = self._hidden.get(field_text.name)
                if hidden is None:
                    hidden = self._hidden[field_text.name] = self._topic.ignored_spans(
                        field_text, self._present
                    )
                if any(a <= fs and fe <= b for a, b in hidden):
                    continue
                start, end = field_text.folded.original_span(fs, fe)
                if _case_ok(term, field_text.original[start:end]):
                    out.append(_Occurrence(index, field_text, fs, fe, start, end))
        return out


class _InFields:
    """The occurrences of `_Occurrences` that lie in some fields only (a rule's `fields`)."""

    __slots__ = ("_all", "_fields")

    def __init__(self, occurrences: _Occurrences, fields: Sequence[Field]) -> None:
        self._all = occurrences
        self._fields = fields

    def get(self, index: int) -> list[_Occurrence]:
        return [o for o in self._all.get(index) if o.field.name in self._fields]

    def any_of(self, indexes: tuple[int, ...]) -> list[_Occurrence]:
        return [o for o in self._all.any_of(indexes) if o.field.name in self._fields]


# Lists at least this long are looked up through a _TermGroup.
_GROUP_MIN = 6
# Characters of a wildcard prefix a _TermGroup indexes it by (a run shorter than this is
# its own head, and a prefix shorter than this is looked up on its own).
_HEAD = 3


@dataclass(frozen=True, slots=True)
class _TermGroup:
    """A list of terms indexed by the run each needs: whole runs for a set intersection,
    wildcard prefixes (recipe*) by their first characters for another, then a sorted
    look-up for the few whose first characters are there."""

    keys: frozenset[str]
    by_run: Mapping[str, tuple[int, ...]]
    # Wildcard prefixes of `_HEAD` characters or more, by their first `_HEAD`; shorter ones.
    heads: frozenset[str]
    by_head: Mapping[str, tuple[tuple[str, int], ...]]
    short_prefixes: tuple[tuple[str, int], ...]
    # Terms known only by a substring (a one-word term in Arabic script).
    by_substring: tuple[tuple[str, int], ...] = ()

    @staticmethod
    def of(indexes: Sequence[int], terms: Sequence[_Term]) -> _TermGroup:
        by_run: dict[str, list[int]] = {}
        by_head: dict[str, list[tuple[str, int]]] = {}
        short: list[tuple[str, int]] = []
        substring: list[tuple[str, int]] = []
        for i in dict.fromkeys(indexes):
            term = terms[i]
            if term.whole_runs:
                by_run.setdefault(max(term.whole_runs, key=len), []).append(i)
                continue
            prefix = term.run_prefix
            if prefix is None:
                assert term.contains is not None
                substring.append((term.contains, i))
                continue
            if len(prefix) >= _HEAD:
                by_head.setdefault(prefix[:_HEAD], []).append((prefix, i))
            else:
                short.append((prefix, i))
        return _TermGroup(
            frozenset(by_run),
            {k: tuple(v) for k, v in by_run.items()},
            frozenset(by_head),
            {k: tuple(v) for k, v in by_head.items()},
            tuple(short),
            tuple(substring),
        )

    def candidates(self, present: _ChunkPresence) -> Iterator[int]:
        """The terms whose runs are in the text (each may still not occur)."""
        for run in self.keys & present.runs():
            yield from self.by_run[run]
        if self.by_head:
            # Most wildcard prefixes (recipe*, summit*) start no run of the text: one set
            # intersection on their first characters leaves the few worth a sorted look-up.
            for head in self.heads & present.heads():
                for prefix, i in self.by_head[head]:
                    if present.has_run_starting(prefix):
                        yield i
        for prefix, i in self.short_prefixes:
            if present.has_run_starting(prefix):
                yield i
        for piece, i in self.by_substring:
            if piece in present.text:
                yield i


_Lookup = _Occurrences | _InFields


def _evaluate(node: _Node, occ: _Lookup) -> tuple[bool, list[_Occurrence]]:
    if isinstance(node, _TermNode):
        found = occ.get(node.term)
        return bool(found), found
    if isinstance(node, _Not):
        ok, _ = _evaluate(node.child, occ)
        return not ok, []
    if isinstance(node, _Near):
        return _evaluate_near(node, occ)
    if isinstance(node, _NotNear):
        return _evaluate_not_near(node, occ)
    hits: list[_Occurrence] = []
    if isinstance(node, _Or) and node.terms is not None:
        found = occ.any_of(node.terms)
        return bool(found), found
    if isinstance(node, _Or):
        fired = False
        for child in node.children:
            ok, child_hits = _evaluate(child, occ)
            if ok:
                fired = True
                hits.extend(child_hits)
        return fired, hits
    for child in node.children:
        ok, child_hits = _evaluate(child, occ)
        if not ok:
            return False, []
        hits.extend(child_hits)
    return True, hits


def _evaluate_near(node: _Near, occ: _Lookup) -> tuple[bool, list[_Occurrence]]:
    """Every occurrence that is part of at least one set (one per group) close enough."""
    groups: list[list[_Occurrence]] = []
    for g in node.groups:
        group = occ.any_of(g)
        if not group:
            return False, []
        groups.append(group)
    used: dict[tuple[str, int, int], _Occurrence] = {}
    for i, group in enumerate(groups):
        others = groups[:i] + groups[i + 1 :]
        for o in group:
            key = (o.field.name, o.start, o.end)
            if key not in used and _completes(o, [o], others, node.within):
                used[key] = o
    return bool(used), list(used.values())


def _completes(
    first: _Occurrence,
    chosen: list[_Occurrence],
    rest: Sequence[list[_Occurrence]],
    within: int | None,
) -> bool:
    """Whether `chosen` extends to one occurrence of each remaining group within reach.

    Depth-first with pruning: the reach of a partial set only grows as members are added,
    so a candidate already out of reach is never tried further (no combination cap)."""
    if not rest:
        return True
    for o in rest[0]:
        if o.field is not first.field:
            continue
        candidate = [*chosen, o]
        if _near_ok(candidate, within) and _completes(first, candidate, rest[1:], within):
            return True
    return False


def _near_ok(combo: Sequence[_Occurrence], within: int | None) -> bool:
    first = combo[0]
    if any(o.field is not first.field for o in combo):
        return False
    ordered = sorted(combo, key=lambda o: o.fstart)
    if any(b.fstart < a.fend for a, b in itertools.pairwise(ordered)):
        return False  # the same words cannot stand for two terms
    if within is None:
        return len({o.sentence() for o in combo}) == 1
    return _gap(ordered) <= within


def _gap(ordered: Sequence[_Occurrence]) -> int:
    """Words between the first and the last of non-overlapping occurrences, in text order."""
    spans = [o.words() for o in ordered]
    return max(
        spans[j][0] - spans[i][1] for i in range(len(spans)) for j in range(i + 1, len(spans))
    )


def _evaluate_not_near(node: _NotNear, occ: _Lookup) -> tuple[bool, list[_Occurrence]]:
    near = occ.any_of(node.terms)
    if not near:
        return False, []
    away = occ.any_of(node.away)
    kept = [o for o in near if not any(_close(o, a, node.within) for a in away)]
    return bool(kept), kept


def _close(a: _Occurrence, b: _Occurrence, within: int | None) -> bool:
    """Whether b is within reach of a (same field; overlapping counts as close)."""
    if a.field is not b.field:
        return False
    if within is None:
        return a.sentence() == b.sentence()
    if a.fstart < b.fend and b.fstart < a.fend:
        return True
    first, second = (a, b) if a.fstart < b.fstart else (b, a)
    return _gap((first, second)) <= within


@dataclass(frozen=True, slots=True)
class _Topic:
    name: str
    terms: tuple[_Term, ...]
    rules: tuple[_Rule, ...]
    fields: tuple[Field, ...]  # every field any rule or exclusion looks at
    exclude: tuple[int, ...]
    exclude_fields: tuple[Field, ...]
    ignore: tuple[_Term, ...]
    gate: _Gate  # passed by every article some rule can match
    # Matches scored below this stay in the warehouse but are left out of the digest.
    min_relevance: float | None = None
    # The topic is looked for only in articles in these languages; None: any language.
    languages: frozenset[str] | None = None
    groups: dict[tuple[int, ...], _TermGroup] = field(default_factory=dict, compare=False)
    ignore_group: _TermGroup = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "ignore_group", _TermGroup.of(range(len(self.ignore)), self.ignore)
        )

    def group(self, indexes: tuple[int, ...]) -> _TermGroup:
        found = self.groups.get(indexes)
        if found is None:
            found = self.groups[indexes] = _TermGroup.of(indexes, self.terms)
        return found

    def match(
        self,
        texts: Mapping[Field, _FieldText],
        present: _ChunkPresence,
        language: str | None = None,
    ) -> TopicMatch | None:
        if self.languages is not None and language not in self.languages:
            return None
        joined = present.text
        if not self.gate.passes(joined):
            return None
        occ = _Occurrences(self, [texts[f] for f in self.fields], present)
        fired: list[str] = []
        fired_hits: list[_Occurrence] = []
        for rule in self.rules:
            if rule.languages is not None and language not in rule.languages:
                continue
            scoped: _Lookup = occ if rule.fields == ALL_FIELDS else _InFields(occ, rule.fields)
            ok, hits = _evaluate(rule.node, scoped)
            if ok:
                fired.append(rule.text)
                fired_hits.extend(hits)
        if not fired:
            return None
        if any(o.field.name in self.exclude_fields for t in self.exclude for o in occ.get(t)):
            return None
        # Every rule that fires is reported, so the digest can highlight every matched term.
        text = fired[0] if len(fired) == 1 else " OR ".join(f"({t})" for t in fired)
        return TopicMatch(topic=self.name, rule=text, hits=self._hits(fired_hits))

    def ignored_spans(
        self, field_text: _FieldText, present: _ChunkPresence
    ) -> list[tuple[int, int]]:
        spans = []
        folded = field_text.folded.text
        for i in self.ignore_group.candidates(present):
            term = self.ignore[i]
            if not term.may_occur(present):
                continue
            for m in term.folded_re.finditer(folded):
                start, end = field_text.folded.original_span(*m.span())
                if _case_ok(term, field_text.original[start:end]):
                    spans.append(m.span())
        return spans

    def _hits(self, found: Iterable[_Occurrence]) -> tuple[TermHit, ...]:
        # In text order, longest first at one start; a hit inside a longer one of another
        # rule ("Turkey" inside "Turkey's") adds nothing to the explanation.
        unique = {(o.field.name != "title", o.start, -o.end, o.term): o for o in found}
        hits: list[TermHit] = []
        for _, o in sorted(unique.items(), key=lambda kv: kv[0]):
            if hits and hits[-1].field == o.field.name and o.end <= hits[-1].end:
                continue
            hits.append(
                TermHit(
                    field=o.field.name,
                    start=o.start,
                    end=o.end,
                    term=self.terms[o.term].written,
                    text=o.field.original[o.start : o.end],
                )
            )
        return tuple(hits)


def _case_ok(term: _Term, original: str) -> bool:
    if term.exact_re is None:
        return True
    return term.exact_re.fullmatch(fold(original, lower=False).text) is not None


@dataclass(frozen=True)
class Matcher:
    """Compiled topic rules. `match(title, summary)` takes plain text (HTML already removed)
    and returns one TopicMatch per matching topic, in the order the topics were listed."""

    topics: tuple[_Topic, ...]
    gate: _Gate  # every topic's gate in one: most articles pass none of them

    @property
    def topic_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.topics)

    @property
    def min_relevance(self) -> dict[str, float]:
        """Each topic's `min_relevance` setting (topics without one are left out)."""
        return {t.name: t.min_relevance for t in self.topics if t.min_relevance is not None}

    def topic_named(self, name: str) -> str:
        """The topic called `name`, as the sources file spells it. One rule for every
        command (`match`, `rematch`, `search`, the digest): case does not matter; a name
        that is no topic raises UnknownTopic, which lists the topics there are."""
        return resolve_topic(self.topic_names, name)

    def rule_label(self, found: TopicMatch, width: int = 70) -> str:
        """A short name for the rule that fired: "rule 2 of 5: (Türkiye OR Turks OR …)"."""
        topic = next((t for t in self.topics if t.name == found.topic), None)
        text = " ".join(found.rule.split())
        short = text if len(text) <= width else text[: width - 1].rstrip() + "…"
        if topic is None:
            return short
        index = next((i for i, r in enumerate(topic.rules) if r.text == found.rule), None)
        if index is None or len(topic.rules) == 1:
            return short
        return f"rule {index + 1} of {len(topic.rules)}: {short}"

    def naming_hits(self, found: TopicMatch) -> TopicMatch:
        """`found` with only the hits of terms that name its topic (the digest highlights
        and ranks by these); the other hits are context a rule required ("military" beside
        "Turkey", "Turkey" beside "S-400"). A match with no naming hit is kept whole."""
        names = self._names.get(found.topic)
        if not names:
            return found
        kept = tuple(h for h in found.hits if h.term in names)
        if not kept or len(kept) == len(found.hits):
            return found
        return dataclasses.replace(found, hits=kept)

    @functools.cached_property
    def _names(self) -> dict[str, frozenset[str]]:
        out: dict[str, frozenset[str]] = {}
        for topic in self.topics:
            indexes: set[int] = set()
            for rule in topic.rules:
                _naming_terms(rule.node, indexes)
            out[topic.name] = frozenset(topic.terms[i].written for i in indexes)
        return out

    def match(
        self, title: str, summary: str, content: str = "", *, language: str | None = None
    ) -> list[TopicMatch]:
        """Topics of an article from its plain-text title, summary and full content (the
        body; "" when the feed gave none). `language`: the article's language (ISO 639-1,
        "tr"), as detected by the caller (nothing is detected here). A rule or topic limited
        to languages applies only to an article known to be in one of them: with None
        (unknown) it is left out."""
        language = _language_of(language)
        title = title or ""
        summary = summary or ""
        content = content or ""
        # The cheap rejection path: fold, one gate test, no per-article objects. For ASCII
        # text folding is just lower().
        if title.isascii() and summary.isascii() and content.isascii():
            joined = f"{title}\n{summary}\n{content}".lower()
            if not self.gate.passes(joined):
                return []
            folded = fold(title), fold(summary), fold(content)
        else:
            # Folding is per character (Greek final sigma looks only at letters, and a line
            # break is none), so the fields folded as one text are the gate's text: one call
            # instead of three for the many articles that stop here.
            if not self.gate.passes(fold(f"{title}\n{summary}\n{content}").text):
                return []
            folded = fold(title), fold(summary), fold(content)
            joined = "\n".join(f.text for f in folded)
        texts: dict[Field, _FieldText] = {
            "title": _FieldText("title", title, folded[0]),
            "summary": _FieldText("summary", summary, folded[1]),
            "content": _FieldText("content", content, folded[2]),
        }
        present = _ChunkPresence(joined)
        out = []
        for topic in self.topics:
            found = topic.match(texts, present, language)
            if found is not None:
                named = self.naming_hits(found).hits
                score = relevance(title, summary, content, named)
                out.append(dataclasses.replace(found, relevance=score))
        return out


def _naming_terms(node: _Node, out: set[int]) -> None:
    """The terms of a rule that name its topic: in an AND (`all:`, `near:`) the first part
    names the subject and the rest are conditions on it; NOT parts name nothing."""
    if isinstance(node, _TermNode):
        out.add(node.term)
    elif isinstance(node, _Or):
        for child in node.children:
            _naming_terms(child, out)
    elif isinstance(node, _And):
        if node.children:
            _naming_terms(node.children[0], out)
    elif isinstance(node, _Near):
        if node.groups:
            out.update(node.groups[0])
    elif isinstance(node, _NotNear):
        out.update(node.terms)


def compile_topics(raw: Sequence[Mapping[str, Any]]) -> Matcher:
    """Validate and compile the `topics:` list of sources.yaml; raise TopicRuleError."""
    if not isinstance(raw, Sequence) or isinstance(raw, str) or not raw:
        raise TopicRuleError("topics", "must be a non-empty list of topics")
    topics: list[_Topic] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(raw):
        name = item.get("name") if isinstance(item, Mapping) else None
        label = name.strip() if isinstance(name, str) and name.strip() else f"#{index + 1}"
        if not isinstance(item, Mapping):
            raise TopicRuleError(
                label, f"must be a mapping with a `name`, got {_kind(item)}", index
            )
        if not (isinstance(name, str) and name.strip()):
            raise TopicRuleError(label, "every topic needs a `name`", index, ("name",))
        if label.casefold() in seen:
            raise TopicRuleError(
                label,
                f"duplicate topic name (already topic #{seen[label.casefold()] + 1})",
                index,
                ("name",),
            )
        seen[label.casefold()] = index
        try:
            topics.append(_compile_topic(label, item))
        except _Invalid as exc:
            raise TopicRuleError(label, exc.message, index, exc.path) from None
    return Matcher(tuple(topics), _Gate.union([t.gate for t in topics]))


def _compile_topic(name: str, item: Mapping[str, Any]) -> _Topic:
    for key in item:
        if key not in _TOPIC_KEYS:
            raise _Invalid(
                f"unknown key {key!r}; expected one of: {', '.join(sorted(_TOPIC_KEYS))}", (key,)
            )
    if "description" in item and not isinstance(item["description"], str):
        raise _Invalid("must be a string", ("description",))
    min_relevance = item.get("min_relevance")
    if min_relevance is not None and (
        isinstance(min_relevance, bool)
        or not isinstance(min_relevance, int | float)
        or not 0 <= min_relevance <= 1
    ):
        raise _Invalid(f"must be a number from 0 to 1, got {min_relevance!r}", ("min_relevance",))
    fields = _fields(item["fields"], ("fields",)) if "fields" in item else ALL_FIELDS
    languages = _languages(item["languages"], ("languages",)) if "languages" in item else None
    table = _TermTable()
    rules: list[_Rule] = []
    has_top_rule = any(k in item for k in _RULE_KEYS)
    rules_raw = item.get("rules")
    if has_top_rule or rules_raw is None:
        rules.append(_rule(item, (), table, fields, name))
    if rules_raw is not None:
        if not isinstance(rules_raw, list) or not rules_raw:
            raise _Invalid(f"must be a non-empty list of rules, got {_kind(rules_raw)}", ("rules",))
        for i, rule_raw in enumerate(rules_raw):
            path: Path_ = ("rules", i)
            if isinstance(rule_raw, str):
                rule_raw = {"query": rule_raw}
            if not isinstance(rule_raw, Mapping):
                raise _Invalid(f"must be a mapping or a query string, got {_kind(rule_raw)}", path)
            for key in rule_raw:
                if key not in _RULE_ONLY_KEYS:
                    raise _Invalid(
                        f"unknown key {key!r} in a rule; expected one of: "
                        f"{', '.join(sorted(_RULE_ONLY_KEYS))}",
                        (*path, key),
                    )
            rules.append(_rule(rule_raw, path, table, fields, None))
    exclude: list[int] = []
    if "exclude" in item:
        exclude = [
            n.term
            for n in _term_list(item["exclude"], ("exclude",), table)
            if isinstance(n, _TermNode)
        ]
    ignore: list[_Term] = []
    if "ignore" in item:
        ignore_table = _TermTable()
        for n in _term_list(item["ignore"], ("ignore",), ignore_table):
            if isinstance(n, _TermNode):
                ignore.append(ignore_table.terms[n.term])
    positive: set[int] = set()
    for rule in rules:
        _positive_terms(rule.node, positive)
    required = {t for rule in rules for t in _required_terms(rule.node, table.terms) or ()}
    used_fields = {f for r in rules for f in r.fields} | set(fields)
    return _Topic(
        name=name,
        terms=tuple(table.terms),
        rules=tuple(rules),
        fields=tuple(f for f in ALL_FIELDS if f in used_fields),
        exclude=tuple(exclude),
        exclude_fields=fields,
        ignore=tuple(ignore),
        gate=_Gate.covering(table.terms[t] for t in sorted(required)),
        min_relevance=None if min_relevance is None else float(min_relevance),
        languages=languages,
    )


# -- `newswatch match` ------------------------------------------------------------------


_DESIGNATION = re.compile(f"\\b([^\\W\\d_]{{1,4}})(?:\\s*{_DASH}\\s*|\\s+)?(\\d+)\\b")


def designation_key(text: str) -> str:
    """`text` folded as the matcher compares designations: case-insensitive, and a dash,
    a space or nothing alike between letters and digits ("S-400", "S400", "s 400" ->
    "s400")."""
    return " ".join(_DESIGNATION.sub(r"\1\2", text.casefold()).split())


def designation_variants(text: str) -> list[str]:
    """The forms a full-text index may hold of each designation in `text` ("S-400" ->
    ["s400", "s 400"]): the matcher treats them as one, so search must look for each."""
    out: list[str] = []
    for m in _DESIGNATION.finditer(text.casefold()):
        for form in (f"{m[1]}{m[2]}", f"{m[1]} {m[2]}"):
            if form not in out:
                out.append(form)
    return out


def resolve_topic(names: Sequence[str], name: str) -> str:
    """`name` as one of `names` spells it, compared without regard to case; UnknownTopic
    (naming the known topics) when there is none."""
    wanted = name.strip().casefold()
    for known in names:
        if known.casefold() == wanted:
            return known
    raise UnknownTopic(
        f"unknown topic {name!r}; the sources file defines: {', '.join(names) or '(none)'}"
    )


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
    them) only those topics are reported."""
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
        title = html_to_text(record.get("title") or "")
        summary = html_to_text(record.get("summary") or "")
        content = html_to_text(record.get("content") or "")
        language = record.get("language") or None
        if language is None and detect is not None:
            language = detect(title, summary or content)
        found = matcher.match(title, summary, content, language=language)
        if topics is not None:
            found = [m for m in found if m.topic in topics]
        yield json.dumps(
            {
                "id": ident,
                "language": language,
                "topics": sorted(m.topic for m in found),
                "relevance": {m.topic: m.relevance for m in found},
                "matches": [
                    match_to_dict(m) if verbose else short_match(m, matcher) for m in found
                ],
            },
            ensure_ascii=False,
        )


def _json_kind(value: Any) -> str:
    return {
        dict: "an object",
        list: "an array",
        str: "a string",
        bool: "true/false",
        type(None): "null",
    }.get(type(value), "a number")
