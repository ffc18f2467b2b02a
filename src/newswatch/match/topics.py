"""Topic rules: compile the `topics:` section of sources.yaml and match articles.

Pure: takes strings, returns TopicMatch values; no I/O. The rule language is documented in
docs/rules.md. Its pieces, in the order a rule goes through them: `terms` (a written term as
a pattern), `query` (rule trees and the query syntax), `gate` (the words an article must
contain to be worth evaluating), `evaluate` (a rule tree against an article's fields), and
here the rules, the topics, the Matcher and compile_topics; `jsonl` is `newswatch match`.

In short, a topic has one or more rules (any rule firing matches the topic);
a rule is a boolean combination of terms (`any`/`all`/`none`, a `query` string, a `near`
proximity condition) over chosen fields; `ignore` phrases hide term occurrences inside them,
`exclude` terms veto the topic, and `related` words (the topic in other words) never match
but count toward the relevance of a match.

Terms match whole words on folded text (case, diacritics, NFC/NFD, ligatures), accept
possessives and hyphenated compounds, treat `-`, dashes, spaces or nothing alike between
letters and digits (S-400 = S400 = S 400 = S–400), and accept a plural `s` after a final
number (S-400s). `=Term` (or `{term: X, case_sensitive: true}`) matches only in that case.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from newswatch.errors import TopicRuleError, UnknownTopic
from newswatch.match import whynot
from newswatch.match.evaluate import (
    _case_ok,
    _evaluate,
    _FieldText,
    _InFields,
    _Lookup,
    _Occurrence,
    _Occurrences,
    _TermGroup,
)
from newswatch.match.gate import _Gate, _positive_terms, _required_terms, _uses_words
from newswatch.match.language import LANGUAGES, language_code, language_problem
from newswatch.match.query import (
    _And,
    _Near,
    _Node,
    _Not,
    _NotNear,
    _Or,
    _QueryParser,
    _render,
    _TermNode,
    _TermTable,
)
from newswatch.match.relevance import relevance
from newswatch.match.terms import (
    _DASH,
    Path_,
    _ChunkPresence,
    _Invalid,
    _kind,
    _Term,
    _term_from_value,
)
from newswatch.models import Field, TermHit, TopicMatch
from newswatch.parse.text import fold

ALL_FIELDS: tuple[Field, ...] = ("title", "summary", "content")


# `fields: both` predates the content field and keeps meaning the feed's title and summary.
_BOTH: tuple[Field, ...] = ("title", "summary")


_RULE_KEYS = ("terms", "any", "all", "none", "query", "near", "not_near")


# The keys of a topic (config.py points a top-level one back under a topic).
TOPIC_KEYS = frozenset(
    {
        "name",
        "description",
        "fields",
        "languages",
        "rules",
        "ignore",
        "related",
        "exclude",
        "min_relevance",
        "names",
        *_RULE_KEYS,
    }
)


_RULE_ONLY_KEYS = {"fields", "languages", "names", *_RULE_KEYS}

# The highest relevance of a match that only rules with `names: false` made: a passing
# mention (below the digest's default "Also mentioned" threshold, 0.25).
MENTION_ONLY_RELEVANCE = 0.2


# What a topic's key means when it is written inside a rule.
_TOPIC_KEY_HINTS = {
    "exclude": (
        " (`exclude` vetoes the whole topic: move it up to the topic, beside `rules:`, or "
        "write `none:` in this rule to stop only this rule)"
    ),
    "ignore": " (`ignore` is a key of the topic: move it up, beside `rules:`)",
    "related": " (`related` is a key of the topic: move it up, beside `rules:`)",
    "min_relevance": " (`min_relevance` is a key of the topic: move it up, beside `rules:`)",
    "name": " (is a new topic's `- name:` indented as deep as the rules?)",
}


_LANGUAGE_CODE = re.compile(r"[a-z]{2}")


@dataclass(frozen=True, slots=True)
class _Rule:
    text: str  # as shown in explanations
    node: _Node
    fields: tuple[Field, ...]
    uses_words: bool  # needs word/sentence positions (NEAR)
    # Only for articles in these languages (ISO 639-1); None: any language.
    languages: frozenset[str] | None = None
    # False: the rule finds articles that mention the topic in passing; its terms do not
    # name the topic for relevance (`names: false`).
    names: bool = True


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
            at = (*path, i) if not isinstance(value, str) else path
            if not isinstance(code, str):
                raise _Invalid(
                    f"must be ISO 639-1 language codes (two letters: en, tr, ru), got {code!r}", at
                )
            written = code
            code = code.strip().lower()
            if code in LANGUAGES:
                out.add(code)
                continue
            # No article is ever stored with another code: a typo would turn the rule off.
            problem = language_problem(written)
            if problem is None:  # a region tag ("el-GR"): the language alone is meant
                problem = f"write the language alone, {language_code(written)!r}, not {written!r}"
            elif not _LANGUAGE_CODE.fullmatch(code) and "did you mean" not in problem:
                problem = f"must be ISO 639-1 language codes (two letters: en, tr, ru); {problem}"
            raise _Invalid(problem, at)
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
    names = data.get("names", True)
    if not isinstance(names, bool):
        raise _Invalid(f"`names` is true or false, not {names!r}", (*path, "names"))
    return _Rule(str(text), node, fields, _uses_words(node), languages, names)


@dataclass(frozen=True, slots=True)
class _Topic:
    name: str
    terms: tuple[_Term, ...]
    rules: tuple[_Rule, ...]
    fields: tuple[Field, ...]  # every field any rule or exclusion looks at
    exclude: tuple[int, ...]
    exclude_fields: tuple[Field, ...]
    ignore: tuple[_Term, ...]
    # Passed by every article some rule can match whose language is unknown or has no rule
    # of its own: the rules for every language.
    gate: _Gate
    # Matches scored below this stay in the warehouse but are left out of the digest.
    min_relevance: float | None = None
    # The topic is looked for only in articles in these languages; None: any language.
    languages: frozenset[str] | None = None
    # The gate of an article in a language some rule is limited to: `gate` and that
    # language's rules. The rules limited to other languages are left out (an English
    # article does not pay for the Turkish-only terms).
    language_gates: dict[str, _Gate] = field(default_factory=dict, compare=False)
    # `every_language_gate`, once built (`match --verbose` only).
    every_gate: list[_Gate] = field(default_factory=list, compare=False, repr=False)
    # Words that refer to the topic in other words ("the alliance", "Ankara's lira"): they
    # never make a match, but once a rule matched they count toward its relevance.
    related: tuple[_Term, ...] = ()
    groups: dict[tuple[int, ...], _TermGroup] = field(default_factory=dict, compare=False)
    ignore_group: _TermGroup = field(init=False, compare=False)
    related_group: _TermGroup = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "ignore_group", _TermGroup.of(range(len(self.ignore)), self.ignore)
        )
        object.__setattr__(
            self, "related_group", _TermGroup.of(range(len(self.related)), self.related)
        )

    def gate_for(self, language: str | None) -> _Gate:
        """The gate of an article in `language` (None: unknown)."""
        return self.gate if language is None else self.language_gates.get(language, self.gate)

    @property
    def mentions(self) -> bool:
        """Whether a rule of the topic finds passing mentions only (`names: false`)."""
        return any(not rule.names for rule in self.rules)

    def every_language_gate(self) -> _Gate:
        """A gate every article any rule looks at passes, whatever its language (built once)."""
        if not self.every_gate:
            self.every_gate.append(_Gate.union([self.gate, *self.language_gates.values()]))
        return self.every_gate[0]

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
        vetoes: dict[str, str] | None = None,
    ) -> TopicMatch | None:
        if self.languages is not None and language not in self.languages:
            return None
        joined = present.text
        gate = self.gate_for(language) if vetoes is None else self.every_language_gate()
        if not gate.passes(joined):
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
            if vetoes is not None:  # `match --verbose` says why the topic's rules did not fire
                why = self._why_not(occ, texts, language)
                if why:
                    vetoes[self.name] = why
            return None
        if any(o.field.name in self.exclude_fields for t in self.exclude for o in occ.get(t)):
            if vetoes is not None:  # `match --verbose` says why a firing topic was dropped
                term, text, where = next(
                    (self.terms[t].written, o.field.original[o.start : o.end], o.field.name)
                    for t in self.exclude
                    for o in occ.get(t)
                    if o.field.name in self.exclude_fields
                )
                vetoes[self.name] = (
                    f"a rule fired, but `exclude` vetoed it: {term!r} matched "
                    f"{json.dumps(text, ensure_ascii=False)} in the {where}"
                )
            return None
        # Every rule that fires is reported, so the digest can highlight every matched term.
        text = fired[0] if len(fired) == 1 else " OR ".join(f"({t})" for t in fired)
        return TopicMatch(topic=self.name, rule=text, hits=self._hits(fired_hits))

    def _why_not(
        self, occ: _Occurrences, texts: Mapping[Field, _FieldText], language: str | None
    ) -> str | None:
        """Per rule whose naming words are in the article, the first part that did not hold
        (whynot.reason); None when no rule's naming words are there."""
        reasons: list[str] = []
        count = len(self.rules)
        own_texts = {f: texts[f] for f in self.fields}
        for k, rule in enumerate(self.rules):
            names = sorted(_naming_terms_of(rule.node))
            label = f"rule {k + 1} of {count}" if count > 1 else "its rule"
            if rule.languages is not None and language not in rule.languages:
                if any(occ.get(i) for i in names):
                    langs = ", ".join(sorted(rule.languages))
                    reasons.append(
                        f"{label}: only for articles in [{langs}] (this one: "
                        f"{language or 'unknown'})"
                    )
                continue
            scoped: _Lookup = occ if rule.fields == ALL_FIELDS else _InFields(occ, rule.fields)
            if not any(scoped.get(i) for i in names):
                hidden = whynot.hidden_reason(names, self.terms, own_texts, rule.fields)
                if hidden is not None:
                    reasons.append(f"{label}: {hidden}")
                continue
            reasons.append(f"{label}: {whynot.reason(rule.node, scoped, self.terms)}")
        if len(reasons) > WHY_NOT_SHOWN:
            reasons[WHY_NOT_SHOWN:] = [f"and {len(reasons) - WHY_NOT_SHOWN} more rules"]
        return "; ".join(reasons) or None

    def ignored_spans(
        self, field_text: _FieldText, present: _ChunkPresence
    ) -> list[tuple[int, int]]:
        candidates = _candidates(self.ignore, self.ignore_group, present)
        return [folded for _, folded, _ in _side_occurrences(candidates, field_text)]

    def related_hits(
        self,
        texts: Mapping[Field, _FieldText],
        present: _ChunkPresence,
        named: Sequence[TermHit],
    ) -> list[TermHit]:
        """The occurrences of the topic's `related` words in its fields, as hits (in
        original-text offsets), leaving out those inside a hit in `named`."""
        if not self.related:
            return []
        candidates = _candidates(self.related, self.related_group, present)
        out: list[TermHit] = []
        for name in self.fields:
            field_text = texts[name]
            taken = [(h.start, h.end) for h in named if h.field == name]
            for term, _, (start, end) in _side_occurrences(candidates, field_text):
                if any(s < end and start < e for s, e in taken):
                    continue
                taken.append((start, end))
                text = field_text.original[start:end]
                out.append(TermHit(field=name, start=start, end=end, term=term.written, text=text))
        return out

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


@dataclass(frozen=True)
class Matcher:
    """Compiled topic rules. `match(title, summary)` takes plain text (HTML already removed)
    and returns one TopicMatch per matching topic, in the order the topics were listed."""

    topics: tuple[_Topic, ...]
    _gates: dict[str | None, _Gate] = field(default_factory=dict, compare=False, repr=False)

    def gate_for(self, language: str | None) -> _Gate:
        """Every topic's gate for an article in `language`, in one: most articles pass none
        of them (built when first asked)."""
        found = self._gates.get(language)
        if found is None:
            found = self._gates[language] = _Gate.union([t.gate_for(language) for t in self.topics])
        return found

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

    def names_any(self, found: TopicMatch) -> bool:
        """Whether a hit of `found` is of a term that names its topic."""
        names = self._names.get(found.topic, frozenset())
        return any(h.term in names for h in found.hits)

    def naming_hits(self, found: TopicMatch) -> TopicMatch:
        """`found` with only the hits of terms that name its topic (the digest ranks by
        these); the other hits are context a rule required ("military" beside "Turkey",
        "Turkey" beside "S-400"). A match with no naming hit is kept whole."""
        return _only(found, self._names.get(found.topic))

    def highlight_hits(self, found: TopicMatch) -> TopicMatch:
        """`found` with the hits the digest highlights: the terms that name its topic and
        every side of a NEAR (which side names the topic is a guess: "grain NEAR/S Odesa"),
        not the context an AND or `all:` required ("Trump", "security" beside "NATO")."""
        return _only(found, self._highlighted.get(found.topic))

    @functools.cached_property
    def _every_language_gate(self) -> _Gate:
        return _Gate.union([t.every_language_gate() for t in self.topics])

    @functools.cached_property
    def _names(self) -> dict[str, frozenset[str]]:
        return self._terms(naming=True)

    @functools.cached_property
    def _highlighted(self) -> dict[str, frozenset[str]]:
        return self._terms(naming=False)

    def _terms(self, *, naming: bool) -> dict[str, frozenset[str]]:
        """Per topic, the terms (as written) that name it, or with `naming=False` those and
        every side of each NEAR."""
        out: dict[str, frozenset[str]] = {}
        for topic in self.topics:
            indexes: set[int] = set()
            for rule in topic.rules:
                if naming and not rule.names:
                    continue
                _naming_terms(rule.node, indexes)
                if not naming:
                    _near_terms(rule.node, indexes)
            out[topic.name] = frozenset(topic.terms[i].written for i in indexes)
        return out

    def match(
        self,
        title: str,
        summary: str,
        content: str = "",
        *,
        language: str | None = None,
        vetoes: dict[str, str] | None = None,
    ) -> list[TopicMatch]:
        """Topics of an article from its plain-text title, summary and full content (the
        body; "" when the feed gave none). `language`: the article's language (ISO 639-1,
        "tr"), as detected by the caller (nothing is detected here). A rule or topic limited
        to languages applies only to an article known to be in one of them: with None
        (unknown) it is left out. With `vetoes`, each topic whose rules fired but whose
        `exclude` vetoed it is recorded there with why (for `match --verbose`)."""
        language = _language_of(language)
        title = title or ""
        summary = summary or ""
        content = content or ""
        # `match --verbose` (vetoes) also explains rules limited to other languages: the
        # gate of every language's rules lets their words through.
        gate = self.gate_for(language) if vetoes is None else self._every_language_gate
        # The cheap rejection path: fold, one gate test, no per-article objects. For ASCII
        # text folding is just lower().
        if title.isascii() and summary.isascii() and content.isascii():
            joined = f"{title}\n{summary}\n{content}".lower()
            if not gate.passes(joined):
                return []
            folded = fold(title), fold(summary), fold(content)
        else:
            # Folding is per character (Greek final sigma looks only at letters, and a line
            # break is none), so the fields folded as one text are the gate's text: one call
            # instead of three for the many articles that stop here.
            if not gate.passes(fold(f"{title}\n{summary}\n{content}").text):
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
            found = topic.match(texts, present, language, vetoes)
            if found is not None:
                named = self.naming_hits(found).hits
                mention_only = topic.mentions and not self.names_any(found)
                named += tuple(topic.related_hits(texts, present, named))
                score = relevance(title, summary, content, named)
                if mention_only:
                    score = min(score, MENTION_ONLY_RELEVANCE)
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


def _naming_terms_of(node: _Node) -> set[int]:
    out: set[int] = set()
    _naming_terms(node, out)
    return out


# Rules `match --verbose` explains per topic that did not match.
WHY_NOT_SHOWN = 4


def _only(found: TopicMatch, terms: frozenset[str] | None) -> TopicMatch:
    """`found` with only the hits of `terms`; whole when none or all of its hits are."""
    if not terms:
        return found
    kept = tuple(h for h in found.hits if h.term in terms)
    if not kept or len(kept) == len(found.hits):
        return found
    return dataclasses.replace(found, hits=kept)


def _near_terms(node: _Node, out: set[int]) -> None:
    """The terms of every side of each NEAR in a rule (not under a NOT)."""
    if isinstance(node, _Near):
        for group in node.groups:
            out.update(group)
    elif isinstance(node, (_And, _Or)):
        for child in node.children:
            _near_terms(child, out)


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
        if name is not None and not isinstance(name, str):
            raise TopicRuleError(
                f"#{index + 1}",
                f"`name` must be text, got {_kind(name)}: quote it (name: '{name}')",
                index,
                ("name",),
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
    matcher = Matcher(tuple(topics))
    # The gates of every language some rule names (and of an unknown one), built now so that
    # a matcher loaded from the compiled cache, and every poll shard forked, has them.
    for code in sorted({c for t in topics for c in t.language_gates}):
        matcher.gate_for(code)
    matcher.gate_for(None)
    return matcher


def did_you_mean(key: Any, known: Iterable[str]) -> str:
    """' (did you mean not_near?)' for a key one typo away from a known one, else ''."""
    import difflib

    close = difflib.get_close_matches(str(key), sorted(known), n=1, cutoff=0.75)
    return f" (did you mean {close[0]}?)" if close else ""


def _compile_topic(name: str, item: Mapping[str, Any]) -> _Topic:
    for key in item:
        if key not in TOPIC_KEYS:
            raise _Invalid(
                f"unknown key {key!r}{did_you_mean(key, TOPIC_KEYS)}; expected one of: "
                f"{', '.join(sorted(TOPIC_KEYS))}",
                (key,),
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
                    hint = _TOPIC_KEY_HINTS.get(key, "")
                    raise _Invalid(
                        f"unknown key {key!r} in a rule{did_you_mean(key, _RULE_ONLY_KEYS)}; "
                        f"expected one of: {', '.join(sorted(_RULE_ONLY_KEYS))}{hint}",
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
    ignore = _own_terms(item, "ignore")
    related = _own_terms(item, "related")
    positive: set[int] = set()
    for rule in rules:
        _positive_terms(rule.node, positive)
    base: set[int] = set()
    by_language: dict[str, set[int]] = {}
    for rule in rules:
        needed = _required_terms(rule.node, table.terms) or set()
        if rule.languages is None:
            base |= needed
            continue
        for code in rule.languages:
            by_language.setdefault(code, set()).update(needed)
    base_gate = _Gate.covering(table.terms[t] for t in sorted(base))
    # A language's gate is the base gate and its own rules' terms: the union of two gates
    # (covering all the terms again per language took ~0.2 s a language on the default list).
    extra = {
        code: _Gate.covering(table.terms[t] for t in sorted(needed - base))
        for code, needed in by_language.items()
    }
    language_gates = {code: _Gate.union([base_gate, gate]) for code, gate in extra.items()}
    used_fields = {f for r in rules for f in r.fields} | set(fields)
    return _Topic(
        name=name,
        terms=tuple(table.terms),
        rules=tuple(rules),
        fields=tuple(f for f in ALL_FIELDS if f in used_fields),
        exclude=tuple(exclude),
        exclude_fields=fields,
        ignore=tuple(ignore),
        related=tuple(related),
        gate=base_gate,
        language_gates=language_gates,
        min_relevance=None if min_relevance is None else float(min_relevance),
        languages=languages,
    )


def _candidates(terms: Sequence[_Term], group: _TermGroup, present: _ChunkPresence) -> list[_Term]:
    """The terms of a topic's `ignore` or `related` list that may occur in the article."""
    return [terms[i] for i in group.candidates(present) if terms[i].may_occur(present)]


def _side_occurrences(
    candidates: Sequence[_Term], field_text: _FieldText
) -> Iterator[tuple[_Term, tuple[int, int], tuple[int, int]]]:
    """Each occurrence in one field of those terms, in their case: the term, its span in the
    folded text and in the original."""
    folded = field_text.folded.text
    for term in candidates:
        for m in term.folded_re.finditer(folded):
            start, end = field_text.folded.original_span(*m.span())
            if _case_ok(term, field_text.original[start:end]):
                yield term, m.span(), (start, end)


def _own_terms(item: Mapping[str, Any], key: str) -> list[_Term]:
    """The terms of a topic's `ignore` or `related` list, in a table of their own (they are
    looked for apart from the rules' terms)."""
    if key not in item:
        return []
    table = _TermTable()
    return [
        table.terms[n.term]
        for n in _term_list(item[key], (key,), table)
        if isinstance(n, _TermNode)
    ]


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
