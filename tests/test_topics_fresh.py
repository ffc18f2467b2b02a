"""Fresh evaluation of the shipped watch list (Turkey, S-400, NATO).

tests/data/topics_fresh.yaml was written and committed before the rules were changed against it,
without reading them, after the held-out set had been tuned against. Run with `-s` to see the
per-topic table and every misclassified case.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from newswatch.config import Config, load_config
from tests.test_topics_heldout import (
    MIN_SCORE,
    TOPICS,
    Outcome,
    classify,
    load_cases,
    report,
    score,
)

REPO = Path(__file__).resolve().parent.parent
FRESH_PATH = REPO / "tests" / "data" / "topics_fresh.yaml"


@pytest.fixture(scope="module")
def shipped_config() -> Config:
    return load_config(REPO / "sources.yaml")


@pytest.fixture(scope="module")
def outcomes(shipped_config: Config) -> list[Outcome]:
    return classify(shipped_config, load_cases(FRESH_PATH))


def test_fresh_set_is_well_formed(shipped_config: Config) -> None:
    cases = load_cases(FRESH_PATH)
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
def test_fresh_precision_and_recall(outcomes: list[Outcome], topic: str) -> None:
    text = report(outcomes)
    print(text)
    s = score(outcomes, topic)
    assert s.precision >= MIN_SCORE and s.recall >= MIN_SCORE, (
        f"{topic}: precision {s.precision:.3f}, recall {s.recall:.3f}\n{text}"
    )
