"""Precision and recall of the shipped watch list in ten languages (issue 17), on
tests/data/topics_multilingual.yaml: per topic, per language, and overall.

Run with `pytest -s tests/test_topics_multilingual.py` to see the table and every
misclassified case (`python -m tests.test_topics_multilingual` prints the same).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from newswatch.config import Config, load_config
from newswatch.parse.text import html_to_text
from tests.eval_topics import Score

REPO = Path(__file__).resolve().parent.parent
CASES_PATH = REPO / "tests" / "data" / "topics_multilingual.yaml"
TOPICS = ("Turkey", "S-400", "NATO")
LANGUAGES = ("en", "tr", "ru", "el", "ar", "fr", "de", "es", "it", "pl")
MIN_PER_LANGUAGE = 0.95  # per topic in every language
MIN_OVERALL = 0.97  # per topic over all languages, and micro-averaged over topics


@dataclass(frozen=True, slots=True)
class Case:
    id: str
    lang: str
    title: str
    summary: str
    topics: frozenset[str]


@dataclass(frozen=True, slots=True)
class Outcome:
    case: Case
    got: frozenset[str]
    why: tuple[str, ...]


def load_cases(path: Path = CASES_PATH) -> list[Case]:
    raw: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [
        Case(
            id=str(item["id"]),
            lang=str(item["lang"]),
            title=str(item["title"]),
            summary=str(item.get("summary") or ""),
            topics=frozenset(item["topics"] or ()),
        )
        for item in raw["cases"]
    ]


def classify(config: Config, cases: Iterable[Case]) -> list[Outcome]:
    out = []
    for case in cases:
        found = config.matcher.match(
            html_to_text(case.title), html_to_text(case.summary), language=case.lang
        )
        why = tuple(f"{m.topic}: {', '.join(repr(h.text) for h in m.hits)}" for m in found)
        out.append(Outcome(case, frozenset(m.topic for m in found), why))
    return out


def score(outcomes: Iterable[Outcome], topics: Iterable[str] = TOPICS) -> Score:
    tp = fp = fn = 0
    for o in outcomes:
        for topic in topics:
            want, got = topic in o.case.topics, topic in o.got
            tp += want and got
            fp += got and not want
            fn += want and not got
    return Score(", ".join(topics), tp, fp, fn)


def table(outcomes: list[Outcome]) -> str:
    """Precision/recall per language (rows) and topic (columns), plus totals."""
    head = f"{'lang':<5} {'n':>4} " + " ".join(f"{t + ' P/R':>13}" for t in TOPICS)
    lines = [head + f" {'all P/R':>13}"]
    for lang in (*LANGUAGES, "all"):
        mine = [o for o in outcomes if lang in ("all", o.case.lang)]
        cells = []
        for topic in TOPICS:
            s = score(mine, (topic,))
            cells.append(f"{s.precision:6.3f}/{s.recall:6.3f}")
        s = score(mine)
        lines.append(
            f"{lang:<5} {len(mine):4d} " + " ".join(cells) + f" {s.precision:6.3f}/{s.recall:6.3f}"
        )
    wrong = [o for o in outcomes if o.got != o.case.topics]
    lines.append(f"misclassified: {len(wrong)} of {len(outcomes)}")
    for o in wrong:
        missed = sorted(o.case.topics - o.got)
        extra = sorted(o.got - o.case.topics)
        lines.append(f"  {o.case.id} missed={missed} extra={extra} | {o.case.title}")
        if o.why:
            lines.append(f"       fired: {'; '.join(o.why)}")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def shipped_config() -> Config:
    return load_config(REPO / "sources.yaml")


@pytest.fixture(scope="module")
def cases() -> list[Case]:
    return load_cases()


@pytest.fixture(scope="module")
def outcomes(shipped_config: Config, cases: list[Case]) -> list[Outcome]:
    return classify(shipped_config, cases)


def test_set_is_well_formed(cases: list[Case]) -> None:
    assert len(cases) >= 200
    assert len({c.id for c in cases}) == len(cases)
    assert {c.lang for c in cases} == set(LANGUAGES)
    for lang in LANGUAGES:
        mine = [c for c in cases if c.lang == lang]
        assert len(mine) >= 15, lang
        assert sum(not c.topics for c in mine) >= 5, lang  # homonym traps in every language
        for topic in TOPICS:
            assert sum(topic in c.topics for c in mine) >= 3, (lang, topic)
    assert all(c.topics <= set(TOPICS) for c in cases)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_precision_and_recall_per_language(outcomes: list[Outcome], lang: str) -> None:
    text = table(outcomes)
    print(text)
    mine = [o for o in outcomes if o.case.lang == lang]
    for topic in TOPICS:
        s = score(mine, (topic,))
        assert s.precision >= MIN_PER_LANGUAGE and s.recall >= MIN_PER_LANGUAGE, (
            f"{lang} {topic}: precision {s.precision:.3f}, recall {s.recall:.3f}\n{text}"
        )


def test_precision_and_recall_overall(outcomes: list[Outcome]) -> None:
    text = table(outcomes)
    for topic in TOPICS:
        s = score(outcomes, (topic,))
        assert s.precision >= MIN_OVERALL and s.recall >= MIN_OVERALL, (topic, text)
    s = score(outcomes)
    assert s.precision >= MIN_OVERALL and s.recall >= MIN_OVERALL, text


# Written after the multilingual rules and committed before they were run on it: measured
# (printed below), never asserted or tuned against.
FRESH_PATH = REPO / "tests" / "data" / "topics_multilingual_fresh.yaml"

if __name__ == "__main__":
    config = load_config(REPO / "sources.yaml")
    for path in (CASES_PATH, FRESH_PATH):
        print(f"== {path.name}")
        print(table(classify(config, load_cases(path))))


@pytest.mark.parametrize(
    ("title", "language", "turkey"),
    [
        ("Malatya'da 5,9 büyüklüğünde deprem", "tr", True),
        ("Balıkesir açıklarında 38 düzensiz göçmen yakalandı", "tr", True),
        ("Ordu'da sel: iki köy yolu kapandı", "tr", True),
        ("Rus ordusu yeni bir saldırı başlattı", "tr", False),  # "ordu", the army
        ("Baş ağrısı için beş öneri", "tr", False),  # "ağrı", pain
        ("Batman filminin devam çekimleri başladı", "tr", False),  # the film hero
        # In other languages, the well-known cities that are no other word or name.
        ("Malatya apricot harvest sets a record", "en", True),
        ("Van driver fined after Ordu Road crash in Batman Street", "en", False),
    ],
)
def test_turkish_home_news_naming_only_a_province_is_turkey(
    shipped_config: Config, title: str, language: str, turkey: bool
) -> None:
    found = shipped_config.matcher.match(title, "", language=language)
    assert ("Turkey" in {m.topic for m in found}) is turkey, found
