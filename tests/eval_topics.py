"""Precision and recall per topic, and relevance ordering, of a watch list on labelled sets.

Run it to print the figures for the shipped watch list on every labelled set:

    .venv/bin/python -m tests.eval_topics                 # all sets, as the pipeline matches
    .venv/bin/python -m tests.eval_topics --no-content    # ignore article bodies (title + summary)
    .venv/bin/python -m tests.eval_topics --sources my.yaml tests/data/topics_content.yaml

A set is a YAML file with `cases:` (id, title, optional summary and content, `topics`: every
topic the article refers to) and optionally `pairs:` ({topic, about, passing} case ids: the
`about` article should score higher relevance for `topic` than the `passing` one; `pairs:
all` pairs every article about a topic with every one that mentions it in passing). A set
with `corpus: realnews` names its articles by `feed` (a file of ../shared/corpus/realnews)
and `title` instead of giving their text: they are read with the pipeline's own parser.

Besides precision, recall and pair order, it prints how the digest would fold the matches at
its "Also mentioned" threshold (`digest: also_mentioned_below`, `--fold-below`): the share of
articles about a topic kept in full, and of passing mentions folded.
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
CORPUS = REPO.parent / "shared" / "corpus"
SETS = (
    DATA / "topics_content.yaml",
    DATA / "topics_content_fresh.yaml",
    DATA / "topics_content_heldout.yaml",
    DATA / "topics_content_heldout2.yaml",
    DATA / "topics_content_heldout3.yaml",
    DATA / "topics_content_heldout4.yaml",
    DATA / "topics_content_heldout5.yaml",
    DATA / "topics_content_heldout6.yaml",
    DATA / "topics_content_heldout7.yaml",
    DATA / "topics_content_heldout8.yaml",
    DATA / "topics_content_heldout9.yaml",
    DATA / "topics_content_heldout10.yaml",
    DATA / "topics_content_heldout11.yaml",
    DATA / "topics_content_heldout12.yaml",
    DATA / "topics_content_heldout13.yaml",
    DATA / "topics_content_heldout14.yaml",
    DATA / "topics_content_heldout15.yaml",
    DATA / "topics_content_heldout16.yaml",
    DATA / "topics_content_heldout17.yaml",
    DATA / "topics_content_heldout18.yaml",
    DATA / "topics_content_heldout19.yaml",
    DATA / "topics_content_heldout20.yaml",
    DATA / "topics_content_heldout21.yaml",
    DATA / "topics_content_heldout22.yaml",
    DATA / "relevance_realnews.yaml",
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
    # The article's language when the set gives it (`lang:`); else detected, as a poll does.
    language: str | None = None


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
    # The "Also mentioned" fold at `fold_below`, over matched (article, topic) with a label:
    # articles about the topic kept in full, passing mentions folded (None: no score).
    fold_below: float = 0.0
    about_kept: tuple[int, int] | None = None
    passing_folded: tuple[int, int] | None = None
    fold_errors: tuple[str, ...] = ()

    @property
    def pair_share(self) -> float | None:
        if self.pairs_right is None or not self.pairs:
            return None
        return self.pairs_right / self.pairs


def load_set(path: Path) -> tuple[list[Case], list[Pair]]:
    raw: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    if raw.get("corpus"):
        cases = _corpus_cases(CORPUS / str(raw["corpus"]), raw["cases"])
    else:
        cases = [
            Case(
                id=str(c["id"]),
                title=html_to_text(c.get("title") or ""),
                summary=html_to_text(c.get("summary") or ""),
                content=html_to_text(c.get("content") or ""),
                **_labels(c),
                language=c.get("lang"),
            )
            for c in raw["cases"]
        ]
    if raw.get("pairs") == "all":
        pairs = [
            Pair(topic, a.id, p.id)
            for topic in TOPICS
            for a in cases
            if topic in a.about
            for p in cases
            if topic in p.topics and topic not in p.about
        ]
    else:
        by_id = {c.id: c for c in cases}
        pairs = []
        for p in raw.get("pairs") or ():
            if isinstance(p, dict):
                pairs.append(Pair(str(p["topic"]), str(p["about"]), str(p["passing"])))
                continue
            # [about, passing]: a pair for each topic the first is about and the second
            # only mentions.
            about, passing = by_id[str(p[0])], by_id[str(p[1])]
            shared = [t for t in TOPICS if t in about.about and t in passing.topics]
            pairs += [Pair(t, about.id, passing.id) for t in shared if t not in passing.about]
    return cases, pairs


def _labels(case: dict[str, Any]) -> dict[str, frozenset[str]]:
    """A case's `topics` and `about` (all its topics when it gives no `about`)."""
    return {
        "topics": frozenset(case.get("topics") or ()),
        "about": frozenset(case.get("about", case.get("topics")) or ()),
    }


def _corpus_cases(folder: Path, raw_cases: Sequence[dict[str, Any]]) -> list[Case]:
    """Cases named by corpus feed file and title, their text as the pipeline parses it."""
    from datetime import UTC, datetime

    from newswatch.parse.feed import parse_feed

    articles: dict[str, dict[str, Any]] = {}
    out = []
    for n, c in enumerate(raw_cases, 1):
        feed = str(c["feed"])
        if feed not in articles:
            parsed = parse_feed(
                (folder / feed).read_bytes(),
                feed_url=f"http://127.0.0.1/{feed}",
                source=feed,
                now=datetime(2026, 2, 18, tzinfo=UTC),
            )
            articles[feed] = {a.title: a for a in parsed.articles}
        article = articles[feed].get(str(c["title"]))
        if article is None:
            raise ValueError(f"{folder / feed}: no article titled {c['title']!r}")
        out.append(
            Case(
                id=f"{feed}#{n}",
                title=article.title,
                summary=article.summary,
                content=article.content,
                **_labels(c),
            )
        )
    return out


def load_matcher(sources: Path) -> Matcher:
    return compile_topics(yaml.safe_load(sources.read_text(encoding="utf-8"))["topics"])


Predict = Callable[[Case], dict[str, float]]


def predictor(matcher: Matcher, *, content: bool = True) -> Predict:
    """case -> {topic: relevance} as the pipeline would compute it (relevance 1.0 when the
    code has no score). Works on code that has no `content` field (the body is then appended
    to the summary, which is the only way older code could see it)."""
    parameters = inspect.signature(matcher.match).parameters
    takes_content = "content" in parameters
    takes_language = "language" in parameters
    if takes_language:
        from newswatch.match.language import detect_article_language

    def predict(case: Case) -> dict[str, float]:
        body = case.content if content else ""
        if takes_language:
            language = case.language or detect_article_language(case.title, case.summary)
            found = matcher.match(case.title, case.summary, body, language=language)
        elif takes_content:
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


def default_fold_below() -> float:
    from newswatch.config import DigestSettings

    return DigestSettings().also_mentioned_below


def evaluate(
    name: str,
    cases: Sequence[Case],
    pairs: Sequence[Pair],
    predict: Predict,
    fold_below: float | None = None,
) -> Report:
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
    below = default_fold_below() if fold_below is None else fold_below
    about_kept: tuple[int, int] | None = None
    passing_folded: tuple[int, int] | None = None
    fold_errors: list[str] = []
    if has_relevance():
        kept = abouts = folded = passings = 0
        for case in cases:
            for topic, value in got[case.id].items():
                if topic not in case.topics:
                    continue
                full = value >= below
                if topic in case.about:
                    abouts += 1
                    kept += full
                else:
                    passings += 1
                    folded += not full
                if full != (topic in case.about):
                    where = "in full" if full else "folded"
                    fold_errors.append(f"{topic}: {where} at {value:.3f}: {case.id}: {case.title}")
        about_kept, passing_folded = (kept, abouts), (folded, passings)
    return Report(
        name,
        len(cases),
        tuple(scores),
        tuple(errors),
        len(pairs),
        right,
        tuple(pair_errors),
        below,
        about_kept,
        passing_folded,
        tuple(fold_errors),
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
    if report.about_kept is not None and report.passing_folded is not None:
        (k, a), (f, p) = report.about_kept, report.passing_folded
        lines.append(
            f'  "Also mentioned" below {report.fold_below:.2f}: about kept in full {k}/{a}, '
            f"passing folded {f}/{p}"
        )
    if verbose:
        lines.extend(f"    {e}" for e in (*report.errors, *report.pair_errors, *report.fold_errors))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="*", type=Path, default=list(SETS))
    parser.add_argument("--sources", type=Path, default=REPO / "sources.yaml")
    parser.add_argument("--no-content", action="store_true", help="match title + summary only")
    parser.add_argument("-q", "--quiet", action="store_true", help="figures only, no errors")
    parser.add_argument(
        "--fold-below",
        type=float,
        help='the "Also mentioned" threshold (default: digest.also_mentioned_below\'s default)',
    )
    args = parser.parse_args(argv)
    predict = predictor(load_matcher(args.sources), content=not args.no_content)
    for path in args.sets:
        cases, pairs = load_set(path)
        report = evaluate(path.name, cases, pairs, predict, args.fold_below)
        print(format_report(report, verbose=not args.quiet))
    return 0


if __name__ == "__main__":
    sys.exit(main())
