"""Why a topic's rule did not fire on an article (`newswatch match --verbose`). Pure.

For a rule whose own words are in the article, the first part of it that did not hold, in
words: "'Red Sea' (title) is 1 word from 'diving' (not_near)", "none: 'recipe' is in the
summary", "needs one of (missile* OR radar*) too", "only for articles in [tr] (this one: en)".
A rule none of whose words occur is not explained: the article is simply not about it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from newswatch.match.evaluate import (
    _case_ok,
    _close,
    _evaluate,
    _FieldText,
    _gap,
    _Lookup,
    _Occurrence,
)
from newswatch.match.query import _And, _Near, _Node, _Not, _NotNear, _Or, _render
from newswatch.match.terms import _Term
from newswatch.models import Field

# Terms of a list named in a reason before "…".
LISTED = 4


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _terms(indexes: Sequence[int], terms: Sequence[_Term]) -> str:
    shown = [terms[i].render() for i in indexes[:LISTED]]
    more = ", …" if len(indexes) > LISTED else ""
    return shown[0] if len(indexes) == 1 else f"({', '.join(shown)}{more})"


def _words_apart(a: _Occurrence, b: _Occurrence) -> int:
    first, second = (a, b) if a.fstart < b.fstart else (b, a)
    return max(0, _gap((first, second)))


def _reach(within: int | None) -> str:
    return "in one sentence" if within is None else f"within {within} words"


def reason(node: _Node, occ: _Lookup, terms: Sequence[_Term]) -> str:
    """What did not hold in `node`, which evaluated false on the article."""
    if isinstance(node, _And):
        for child in node.children:
            ok, _ = _evaluate(child, occ)
            if not ok:
                return reason(child, occ, terms)
        return "its parts do not all hold"
    if isinstance(node, _Not):
        _, found = _evaluate(node.child, occ)
        if found:
            o = found[0]
            return f"none: {_quote(o.field.original[o.start : o.end])} is in the {o.field.name}"
        return f"NOT {_render(node.child, terms, False)} does not hold"
    if isinstance(node, _NotNear):
        near = occ.any_of(node.terms)
        if not near:
            return f"no {_terms(node.terms, terms)}"
        away = occ.any_of(node.away)
        o = near[0]
        blocker = min(
            (a for a in away if _close(o, a, node.within)),
            key=lambda a: _words_apart(o, a),
        )
        apart = _words_apart(o, blocker)
        where = (
            "in the same sentence"
            if node.within is None
            else "right next to it"
            if apart == 0
            else f"{apart} word{'s' if apart != 1 else ''} away"
        )
        more = f" (and {len(near) - 1} more found, each as close)" if len(near) > 1 else ""
        return (
            f"{_quote(o.field.original[o.start : o.end])} ({o.field.name}) has "
            f"{_quote(blocker.field.original[blocker.start : blocker.end])} {where}, which "
            f"not_near keeps away{more}"
        )
    if isinstance(node, _Near):
        missing = [g for g in node.groups if not occ.any_of(g)]
        if missing:
            return f"needs {_terms(missing[0], terms)} too"
        found = [occ.any_of(g)[0] for g in node.groups]
        shown = " and ".join(
            f"{_quote(o.field.original[o.start : o.end])} ({o.field.name})" for o in found
        )
        return f"{shown} are found, but not {_reach(node.within)} of each other"
    if isinstance(node, _Or):
        if node.terms is not None:
            return f"needs one of {_terms(node.terms, terms)} too"
        return f"none of {_render(node, terms, False)} holds"
    return f"no {terms[node.term].render()}"


def hidden_reason(
    indexes: Sequence[int],
    terms: Sequence[_Term],
    texts: Mapping[Field, _FieldText],
    rule_fields: Sequence[Field],
) -> str | None:
    """Why the rule's words do not count although the text has them: another field than the
    rule reads, or only inside an ignored phrase (None: neither)."""
    for i in indexes:
        for name, field_text in texts.items():
            m = terms[i].folded_re.compiled.search(field_text.folded.text)
            if m is None:
                continue
            start, end = field_text.folded.original_span(*m.span())
            text = _quote(field_text.original[start:end])
            if not _case_ok(terms[i], field_text.original[start:end]):
                return f"{text} ({name}) is not written as {terms[i].render()} asks"
            if name not in rule_fields:
                return f"{text} is in the {name}, and this rule reads the {', '.join(rule_fields)}"
            return f"{text} ({name}) is inside a phrase the topic ignores"
    return None
