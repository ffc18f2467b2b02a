"""Precision and recall per topic, and relevance ordering, of a watch list on labelled sets.

Run it to print the figures for the shipped watch list on every labelled set:

    .venv/bin/python -m tests.eval_topics                 # all sets, as the pipeline matches
    .venv/bin/python -m tests.eval_topics --no-content    # ignore article bodies (title + summary)
    .venv/bin/python -m tests.eval_topics --sources my.yaml tests/data/topics_content.yaml

A set is a YAML file with `cases:` (id, title, optional summary and content, `topics`: every
topic the article refers to) and optionally `pairs:` ({topic, about, passing} case ids: the
`about` article should score higher relevance for `topic` than the `passing` one).
tests/test_topics_content.py asserts the thresholds; this module only measures.
"""

from __future__ import annotations

import argparse
import inspect
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from newswatch.match.topics import Matcher, compile_topics
from newswatch.parse.text import html_to_text

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"
SETS = (
    DATA / "topics_content.yaml",
    DATA / "topics_eval.yaml",
    DATA / "topics_heldout.yaml",
    DATA / "topics_fresh.yaml",
)
TOPICS = ("Turkey", "S-400", "NATO")


@dataclass(frozen=True, slots=True)
class Case:
    id: str
    title: str
    summary: str
    content: str
    topics: frozenset[str]
    about: frozenset[str]


@dataclass(frozen=True, slots=True)
class Pair:
    topic: str
    about: str
    passing: str


@dataclass(frozen=True, slots=True)
class Score:
    topic: str
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


@dataclass(frozen=True, slots=True)
class Report:
    name: str
    cases: int
    scores: tuple[Score, ...]
    errors: tuple[str, ...]
    pairs: int
    pairs_right: int | None  # None: the code has no relevance score
    pair_errors: tuple[str, ...]

    @property
    def pair_share(self) -> float | None:
        if self.pairs_right is None or not self.pairs:
            return None
        return self.pairs_right / self.pairs


def load_set(path: Path) -> tuple[list[Case], list[Pair]]:
    raw: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    cases = [
        Case(
            id=str(c["id"]),
            title=html_to_text(c.get("title") or ""),
            summary=html_to_text(c.get("summary") or ""),
            content=html_to_text(c.get("content") or ""),
            topics=frozenset(c.get("topics") or ()),
            about=frozenset(c.get("about", c.get("topics")) or ()),
        )
        for c in raw["cases"]
    ]
    pairs = [
        Pair(str(p["topic"]), str(p["about"]), str(p["passing"])) for p in raw.get("pairs") or ()
    ]
    return cases, pairs


def load_matcher(sources: Path) -> Matcher:
    return compile_topics(yaml.safe_load(sources.read_text(encoding="utf-8"))["topics"])


Predict = Callable[[Case], dict[str, float]]


def predictor(matcher: Matcher, *, content: bool = True) -> Predict:
    """case -> {topic: relevance} as the pipeline would compute it (relevance 1.0 when the
    code has no score). Works on code that has no `content` field (the body is then appended
    to the summary, which is the only way older code could see it)."""
    takes_content = "content" in inspect.signature(matcher.match).parameters

    def predict(case: Case) -> dict[str, float]:
        body = case.content if content else ""
        if takes_content:
            found = matcher.match(case.title, case.summary, body)  # type: ignore[call-arg]
        else:
            summary = f"{case.summary} {body}".strip() if body else case.summary
            found = matcher.match(case.title, summary)
        out: dict[str, float] = {}
        for m in found:
            score = getattr(m, "relevance", None)
            out[m.topic] = 1.0 if score is None else float(score)
        return out

    return predict


def has_relevance() -> bool:
    import newswatch.models as models

    return "relevance" in getattr(models.TopicMatch, "__dataclass_fields__", {})


def evaluate(name: str, cases: Sequence[Case], pairs: Sequence[Pair], predict: Predict) -> Report:
    got = {c.id: predict(c) for c in cases}
    scores: list[Score] = []
    errors: list[str] = []
    for topic in TOPICS:
        tp = fp = fn = 0
        for case in cases:
            expected = topic in case.topics
            found = topic in got[case.id]
            tp += expected and found
            fp += found and not expected
            fn += expected and not found
            if expected != found:
                kind = "false positive" if found else "missed"
                errors.append(f"{topic}: {kind}: {case.id}: {case.title}")
        scores.append(Score(topic, tp, fp, fn))
    right: int | None = None
    pair_errors: list[str] = []
    if pairs and has_relevance():
        right = 0
        for pair in pairs:
            hi = got[pair.about].get(pair.topic, 0.0)
            lo = got[pair.passing].get(pair.topic, 0.0)
            if hi > lo:
                right += 1
            else:
                pair_errors.append(
                    f"{pair.topic}: about {pair.about} {hi:.2f} <= passing {pair.passing} {lo:.2f}"
                )
    return Report(
        name, len(cases), tuple(scores), tuple(errors), len(pairs), right, tuple(pair_errors)
    )


def format_report(report: Report, *, verbose: bool = True) -> str:
    lines = [f"{report.name} ({report.cases} cases)"]
    for s in report.scores:
        lines.append(
            f"  {s.topic:>7}: precision {s.precision:.3f}  recall {s.recall:.3f}  "
            f"(tp={s.tp} fp={s.fp} fn={s.fn})"
        )
    if report.pairs:
        share = report.pair_share
        lines.append(
            f"  (about, passing) pairs ordered right: {report.pairs_right}/{report.pairs} "
            f"= {share:.3f}"
            if share is not None
            else f"  (about, passing) pairs: {report.pairs}, no relevance score to order them"
        )
    if verbose:
        lines.extend(f"    {e}" for e in (*report.errors, *report.pair_errors))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="*", type=Path, default=list(SETS))
    parser.add_argument("--sources", type=Path, default=REPO / "sources.yaml")
    parser.add_argument("--no-content", action="store_true", help="match title + summary only")
    parser.add_argument("-q", "--quiet", action="store_true", help="figures only, no errors")
    args = parser.parse_args(argv)
    predict = predictor(load_matcher(args.sources), content=not args.no_content)
    for path in args.sets:
        cases, pairs = load_set(path)
        print(format_report(evaluate(path.name, cases, pairs, predict), verbose=not args.quiet))
    return 0


if __name__ == "__main__":
    sys.exit(main())
