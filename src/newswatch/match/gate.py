"""The gate: which words an article must contain for a topic to be worth evaluating, so
that most articles are turned away by a few set lookups. Pure.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from newswatch.match.query import _And, _Near, _Node, _Not, _NotNear, _Or, _TermNode
from newswatch.match.terms import Regex, _Term


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


def _automaton(pieces: Sequence[str]) -> Any:
    """An automaton that finds any of `pieces` in a text; None when there are none, True
    when one is "" (which every text contains)."""
    if not pieces:
        return None
    if "" in pieces:
        return True
    import ahocorasick

    automaton = ahocorasick.Automaton(ahocorasick.STORE_LENGTH)
    for piece in pieces:
        automaton.add_word(piece)
    automaton.make_automaton()
    return automaton


# Regexes behind one first chunk: (the other chunks they need, the regexes).
_WeakGroup = tuple[tuple[tuple[str, ...], tuple[Regex, ...]], ...]


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
    weak: tuple[tuple[tuple[str, ...], Regex], ...]
    # All the substrings in one Aho-Corasick automaton (pyahocorasick): one pass over the
    # text finds whether any of them is there, however many there are. Testing each with
    # `in` cost ~0.1 µs a substring for a 1 KB text: 6.1 µs for the default list's 52
    # (3.6 µs with the automaton), ~95 µs for a topic of 1,000 names.
    _automaton: Any = field(init=False, repr=False, compare=False)
    # The weak regexes by their first chunk, then by the rest of their chunks.
    _ascii_weak: tuple[tuple[str, _WeakGroup], ...] = field(init=False, repr=False, compare=False)
    _other_weak: tuple[tuple[str, _WeakGroup], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        weak: dict[str, dict[tuple[str, ...], list[Regex]]] = {}
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
        setattr_(self, "_automaton", _automaton(self.substrings))
        setattr_(self, "_ascii_weak", grouped(True))
        setattr_(self, "_other_weak", grouped(False))

    def passes(self, folded: str) -> bool:
        automaton = self._automaton
        if automaton is True:
            return True
        if automaton is not None:
            for _ in automaton.iter(folded):
                return True
        for first, group in self._ascii_weak:
            if first in folded and _weak_found(group, folded):
                return True
        if self._other_weak and not folded.isascii():
            for first, group in self._other_weak:
                if first in folded and _weak_found(group, folded):
                    return True
        return False

    @staticmethod
    def make(needs: Sequence[Sequence[str]], weak: Iterable[tuple[tuple[str, ...], str]]) -> _Gate:
        patterns = tuple(sorted(set(weak)))
        compiled = tuple((chunk, Regex.compile(p)) for chunk, p in patterns)
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
        """A gate every text passes that passes one of `gates`: their substrings, less those
        that contain another (each gate's own are already few; covering them again cost
        ~0.25 s a union on the default list)."""
        pieces = sorted({p for g in gates for p in g.substrings}, key=lambda p: (len(p), p))
        kept: list[str] = []
        for piece in pieces:
            if not any(k in piece for k in kept):
                kept.append(piece)
        patterns = tuple(sorted({p for g in gates for p in g.weak_patterns}))
        compiled = tuple((chunk, Regex.compile(p)) for chunk, p in patterns)
        return _Gate(tuple(sorted(kept)), patterns, compiled)


def _cover(needs: Sequence[Sequence[str]]) -> tuple[str, ...]:
    """Few substrings such that each need (a list of chunks, any of which is enough) has a
    chunk containing one of them. Greedy: a common piece of 4+ characters stands in for
    several ("turk" for turkey, turkish, turks, "Republic of Turkey"); longer is rarer.

    Each step takes the piece worth most (`_worth`: the needs still open it covers, less a
    little for a short piece), then the longest, then the last in alphabetical order. Which needs a piece covers is worked out once, and
    a piece's count is brought up to date only when it comes to the top (it can only fall):
    a list of 1,000 names compiles in a second, where counting every piece again at every
    step took minutes."""
    todo = [tuple(n) for n in needs]
    covered_by: dict[str, set[int]] = {}
    # A chunk of under 4 characters is a piece of its own, but only while a need that has
    # it is open (it turns up by chance too often to cover longer chunks for nothing).
    short: dict[str, set[int]] = {}
    for i, need in enumerate(todo):
        for c in need:
            if len(c) < 4:
                short.setdefault(c, set()).add(i)
            for start in range(len(c)):
                for stop in range(start + 4, len(c) + 1):
                    covered_by.setdefault(c[start:stop], set()).add(i)
    for piece in short:
        covered_by.setdefault(piece, set()).update(
            i for i, need in enumerate(todo) if any(piece in c for c in need)
        )
    heap = [(-_worth(p, len(ids)), -len(p), _Descending(p)) for p, ids in covered_by.items()]
    heapq.heapify(heap)
    open_ = set(range(len(todo)))
    kept: list[str] = []
    while open_ and heap:
        count, length, key = heapq.heappop(heap)
        piece = key.text
        now = len(covered_by[piece] & open_)
        if now == 0 or (piece in short and not short[piece] & open_):
            continue
        if _worth(piece, now) != -count:
            heapq.heappush(heap, (-_worth(piece, now), length, key))
            continue
        kept.append(piece)
        open_ -= covered_by[piece]
    return tuple(sorted(_without_redundant(kept, {p: covered_by[p] for p in kept})))


def _worth(piece: str, needs: int) -> int:
    """How much taking `piece` is worth: the needs it covers, less one for a piece of four
    characters and two for a shorter one, which turn up by chance in far more texts. So a
    short piece stands in for two needs only when no longer piece covers both ("asar" for
    Galatasaray and Yaşar, as in Spanish "pasar", is worth no more than "galatasaray"; "air"
    for "Allied Air Command" and "air policing" no more than "policing")."""
    return needs - (1 if len(piece) == 4 else 2 if len(piece) < 4 else 0)


@dataclass(frozen=True, slots=True)
class _Descending:
    """A string that sorts in reverse, so that a min-heap yields the largest first."""

    text: str

    def __lt__(self, other: _Descending) -> bool:
        return self.text > other.text


def _without_redundant(kept: Sequence[str], covers: dict[str, set[int]]) -> list[str]:
    """`kept` less the pieces whose every need (`covers[piece]`: the needs it covers)
    another kept piece covers too, shortest first (a short piece turns up by chance more
    often). The greedy cover takes the piece that covers most needs first, and pieces taken
    later for other needs can make it redundant: "secretary" covers "Secretary General
    Rutte" and "... Stoltenberg", which "rutte" and "stoltenberg", needed on their own, cover
    too; every article that names a secretary of state would pass the gate for nothing."""
    by_need: dict[int, set[str]] = {}
    for piece in kept:
        for i in covers[piece]:
            by_need.setdefault(i, set()).add(piece)
    out = set(kept)
    for piece in sorted(kept, key=lambda p: (len(p), p)):
        mine = [by_need[i] for i in covers[piece]]
        if all(len(c) > 1 for c in mine):
            out.discard(piece)
            for c in mine:
                c.discard(piece)
    return sorted(out)


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
