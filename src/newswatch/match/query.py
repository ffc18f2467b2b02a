"""Rule trees and the query syntax: `any`/`all`/`none`, `near` and `query:` strings
(`"S-400" AND (Turkey OR Ankara) NOT drill`) become one tree of term nodes. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from newswatch.match.terms import Path_, _Invalid, _make_term, _Term

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
        (?P<phrase>=?(?:"[^"]*"|[“„«][^"“”„«»]*[”“»])) |
        (?P<unclosed>=?(?:"[^"]*|[“„«][^"“”„«»]*)$) |
        (?P<badnear>NEAR(?:/\S*)?(?![^\s()])) |
        (?P<stray>[”»]) |
        (?P<word>[^\s()"“”„«»]+)
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
        if m.group("badnear") is not None:
            raise _Invalid(
                f"{m.group('badnear')!r} at column {col}: NEAR needs a distance, NEAR/5 (at "
                "most 5 words between) or NEAR/S (in the same sentence)"
            )
        if m.group("stray") is not None:
            raise _Invalid(f"a closing {m.group('stray')} at column {col} that no quote opens")
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
            if m.group("phrase"):
                # "air defence", and the same in typographic quotes (“air defence”, „…“,
                # «…»), which word processors and some keyboards type.
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
            inner = self._not()
            # NOT NOT x is x, with x's hits (a double negation would hide them).
            return inner.child if isinstance(inner, _Not) else _Not(inner)
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
            again = self.tokens[self.pos + 1] if self.pos + 1 < len(self.tokens) else None
            if follow and follow.value == "NOT" and again and again.kind == "near":
                # `a NOT NEAR/3 b NOT NEAR/3 c`: the words to keep away go in one group.
                raise _Invalid(
                    f"NOT {again.value} at column {follow.column} cannot follow NOT NEAR; put "
                    f"the words to keep away in one group: a NOT {after.value} (b OR c), or "
                    f"join two parts with AND"
                )
            return _NotNear(left, right, after.within)
        if not (tok and tok.kind == "near"):
            return first
        groups = [self._group(first, tok)]
        within, near_text = tok.within, tok.value
        while (tok := self._peek()) and tok.kind == "near":
            if tok.within != within:
                raise _Invalid(f"mixed NEAR distances at column {tok.column}; use one distance")
            self.pos += 1
            groups.append(self._group(self._atom(), tok))
        follow = self._peek()
        after = self.tokens[self.pos + 1] if self.pos + 1 < len(self.tokens) else None
        if (
            follow
            and follow.kind == "op"
            and follow.value == "NOT"
            and after
            and after.kind == "near"
        ):
            # `a NEAR/5 b NOT NEAR/3 c`: which of a and b must c stay away from?
            raise _Invalid(
                f"NOT {after.value} at column {follow.column} cannot follow a NEAR chain; join "
                f"two parts with AND: (a {near_text} b) AND (a NOT {after.value} c)"
            )
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
