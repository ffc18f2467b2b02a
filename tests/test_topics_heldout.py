"""Scores of the shipped watch list (Turkey, S-400, NATO) on two labelled sets,
tests/data/topics_heldout.yaml and tests/data/topics_fresh.yaml. Run with `-s` to see the
per-topic table and every misclassified case.

Neither set is held out any more. Each was written without reading the rules and scored once
before any rule change (held-out: commit 879af04; fresh: dd1e478); the rules were then changed
on their failures (fresh: b3d9bae, committed 13 minutes after the set). The scores here are
therefore scores on sets the rules were tuned against: a regression guard, not a measure of
how the rules do on text nobody tuned them for. Despite its name, this file holds no held-out
evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from newswatch.config import Config, load_config
from newswatch.parse.text import html_to_text
from tests.eval_topics import Score

REPO = Path(__file__).resolve().parent.parent
CASES_PATH = REPO / "tests" / "data" / "topics_heldout.yaml"
FRESH_PATH = REPO / "tests" / "data" / "topics_fresh.yaml"
TOPICS = ("Turkey", "S-400", "NATO")
MIN_SCORE = 0.97


@dataclass(frozen=True, slots=True)
class Case:
    id: str
    title: str
    summary: str
    topics: frozenset[str]
    note: str


@dataclass(frozen=True, slots=True)
class Outcome:
    case: Case
    got: frozenset[str]
    why: tuple[str, ...]  # "topic: rule -> matched text" for each topic that fired


def load_cases(path: Path = CASES_PATH) -> list[Case]:
    raw: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [
        Case(
            id=str(item["id"]),
            title=str(item["title"]),
            summary=str(item.get("summary") or ""),
            topics=frozenset(item["topics"] or ()),
            note=str(item.get("note") or ""),
        )
        for item in raw["cases"]
    ]


def classify(config: Config, cases: list[Case]) -> list[Outcome]:
    outcomes = []
    for case in cases:
        matches = config.matcher.match(html_to_text(case.title), html_to_text(case.summary))
        why = tuple(
            f"{m.topic}: {', '.join(repr(h.text) for h in m.hits) or '(no hits)'}" for m in matches
        )
        outcomes.append(Outcome(case, frozenset(m.topic for m in matches), why))
    return outcomes


def score(outcomes: list[Outcome], topic: str) -> Score:
    tp = sum(1 for o in outcomes if topic in o.got and topic in o.case.topics)
    fp = sum(1 for o in outcomes if topic in o.got and topic not in o.case.topics)
    fn = sum(1 for o in outcomes if topic not in o.got and topic in o.case.topics)
    return Score(topic, tp, fp, fn)


def report(outcomes: list[Outcome]) -> str:
    lines = [f"{'topic':<8} {'P':>6} {'R':>6} {'tp':>4} {'fp':>4} {'fn':>4}"]
    for topic in TOPICS:
        s = score(outcomes, topic)
        lines.append(f"{topic:<8} {s.precision:6.3f} {s.recall:6.3f} {s.tp:4d} {s.fp:4d} {s.fn:4d}")
    wrong = [o for o in outcomes if o.got != o.case.topics]
    lines.append(f"misclassified: {len(wrong)} of {len(outcomes)}")
    for o in wrong:
        missed = sorted(o.case.topics - o.got)
        extra = sorted(o.got - o.case.topics)
        lines.append(f"  {o.case.id} missed={missed} extra={extra} | {o.case.title}")
        if o.why:
            lines.append(f"       fired: {'; '.join(o.why)}")
        if o.case.note:
            lines.append(f"       note: {o.case.note}")
    return "\n".join(lines)


# Sets written without reading the rules. The held-out set was then tuned against (rules
# were fixed on its failures); the fresh one was written and committed after that and measured
# generalisation once, before the rules were changed against it too (b3d9bae).
SETS = {"heldout": CASES_PATH, "fresh": FRESH_PATH}


@pytest.fixture(scope="module")
def shipped_config() -> Config:
    return load_config(REPO / "sources.yaml")


@pytest.fixture(scope="module", params=sorted(SETS))
def cases(request: pytest.FixtureRequest) -> list[Case]:
    return load_cases(SETS[request.param])


@pytest.fixture(scope="module")
def outcomes(shipped_config: Config, cases: list[Case]) -> list[Outcome]:
    return classify(shipped_config, cases)


def test_set_is_well_formed(shipped_config: Config, cases: list[Case]) -> None:
    assert len(cases) >= 150
    assert len({c.id for c in cases}) == len(cases)
    assert set(shipped_config.topic_names) == set(TOPICS)
    unknown = {c.id: sorted(c.topics - set(TOPICS)) for c in cases if c.topics - set(TOPICS)}
    assert unknown == {}
    for topic in TOPICS:
        assert sum(topic in c.topics for c in cases) >= 30, topic
    negatives = sum(not c.topics for c in cases)
    assert 0.35 <= negatives / len(cases) <= 0.55


@pytest.mark.parametrize("topic", TOPICS)
def test_precision_and_recall(outcomes: list[Outcome], topic: str) -> None:
    text = report(outcomes)
    print(text)
    s = score(outcomes, topic)
    assert s.precision >= MIN_SCORE and s.recall >= MIN_SCORE, (
        f"{topic}: precision {s.precision:.3f}, recall {s.recall:.3f}\n{text}"
    )
