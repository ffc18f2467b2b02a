"""Evaluating rule trees against an article: term occurrences per field and sentence,
`ignore` phrases, proximity (`near`, `not_near`), case-sensitive terms. Pure.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from newswatch.match.terms import _HEAD, _ChunkPresence, _Term
from newswatch.models import Field
from newswatch.parse.text import Folded, fold

if TYPE_CHECKING:
    from newswatch.match.topics import _Topic
from newswatch.match.query import _And, _Near, _Node, _Not, _NotNear, _Or, _TermNode

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
            term = self._topic.terms[index]
            # Most terms looked up are not in the text: their runs say so at once.
            found = self._find(index, term) if term.may_occur(self._present) else []
            self._found[index] = found
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

    def _find(self, index: int, term: _Term) -> list[_Occurrence]:
        out: list[_Occurrence] = []
        finditer = term.folded_re.compiled.finditer
        for field_text in self._fields:
            for m in finditer(field_text.folded.text):
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
    # One dictionary look-up on the node's type (the node classes are final), not a chain
    # of isinstance tests: a topical article evaluates ~40 nodes.
    return _EVALUATORS[type(node)](node, occ)


def _evaluate_term(node: _TermNode, occ: _Lookup) -> tuple[bool, list[_Occurrence]]:
    found = occ.get(node.term)
    return bool(found), found


def _evaluate_not(node: _Not, occ: _Lookup) -> tuple[bool, list[_Occurrence]]:
    ok, _ = _evaluate(node.child, occ)
    return not ok, []


def _evaluate_or(node: _Or, occ: _Lookup) -> tuple[bool, list[_Occurrence]]:
    if node.terms is not None:
        found = occ.any_of(node.terms)
        return bool(found), found
    hits: list[_Occurrence] = []
    fired = False
    for child in node.children:
        ok, child_hits = _evaluate(child, occ)
        if ok:
            fired = True
            hits.extend(child_hits)
    return fired, hits


def _evaluate_and(node: _And, occ: _Lookup) -> tuple[bool, list[_Occurrence]]:
    hits: list[_Occurrence] = []
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


_EVALUATORS: dict[type, Callable[[Any, _Lookup], tuple[bool, list[_Occurrence]]]] = {
    _TermNode: _evaluate_term,
    _Or: _evaluate_or,
    _And: _evaluate_and,
    _Not: _evaluate_not,
    _Near: _evaluate_near,
    _NotNear: _evaluate_not_near,
}


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


def _case_ok(term: _Term, original: str) -> bool:
    if term.exact_re is None:
        return True
    return term.exact_re.fullmatch(fold(original, lower=False).text) is not None
