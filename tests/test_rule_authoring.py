"""A newcomer writing their own topics: the mistakes they make are one-line errors that say
what to write instead (exit 2, file, line and field), and what they meant is accepted.

Each case runs `newswatch match --sources FILE`, as the walk-through in docs/rules.md does.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from newswatch import cli

FEEDS = "feeds:\n  - url: https://example.org/feed.xml\ntopics:\n"


def run_match(
    tmp_path: Path,
    topics: str,
    lines: list[dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    *args: str,
) -> tuple[int, list[dict[str, Any]], str]:
    """`newswatch match` on `lines` with a sources file of `topics`: (exit code, output
    records, stderr)."""
    sources = tmp_path / "my.yaml"
    sources.write_text(FEEDS + topics, encoding="utf-8")
    monkeypatch.setattr("sys.stdin", io.StringIO("".join(json.dumps(x) + "\n" for x in lines)))
    out = io.StringIO()
    code = cli.main(["match", "--sources", str(sources), *args], out=out)
    records = [json.loads(x) for x in out.getvalue().splitlines()]
    return code, records, capsys.readouterr().err


def expect_error(
    tmp_path: Path,
    topics: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> str:
    code, records, err = run_match(
        tmp_path, topics, [{"id": "1", "title": "x"}], capsys, monkeypatch
    )
    assert code == 2 and records == []
    assert err.startswith("newswatch: error: ") and err.count("\n") == 1, err  # one line
    assert "Traceback" not in err
    return err.strip()


# -- item: a list written as a plain string ------------------------------------------------


@pytest.mark.parametrize(
    ("topic", "where", "items"),
    [
        ("  - name: Greece\n    any: Greece, Athens\n", ":5: topics[0].any:", "[Greece, Athens]"),
        (
            "  - name: Greece\n    rules:\n      - any: [Greece]\n        none: Olympic*, opera*\n",
            ":7: topics[0].rules[0].none:",
            "[Olympic*, opera*]",
        ),
        (
            "  - name: Greece\n    any: [Greece]\n    exclude: Olympic*,  opera*\n",
            ":6: topics[0].exclude:",
            "[Olympic*, opera*]",
        ),
    ],
)
def test_a_comma_separated_string_where_a_list_goes_is_an_error_with_the_list_it_meant(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    topic: str,
    where: str,
    items: str,
) -> None:
    err = expect_error(tmp_path, topic, capsys, monkeypatch)
    assert f"my.yaml{where}" in err
    assert f"did you mean a list: {items}?" in err


def test_a_quoted_term_with_a_comma_is_meant_and_matches(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, records, err = run_match(
        tmp_path,
        '  - name: Texas\n    any: "Turkey, Texas"\n',
        [{"id": "1", "title": "Storm hits Turkey, Texas"}],
        capsys,
        monkeypatch,
    )
    assert code == 0, err
    assert records[0]["topics"] == ["Texas"]


@pytest.mark.parametrize(
    ("term", "sign"),
    [
        (r"Wagner\s+Group", r"(\s)"),
        (r"\bWagner\b", r"(\b)"),
        ("Wagner.*", "(.*)"),
        ("Wagn[eé]r", "([eé])"),
        ("(Wagner|Vagner)", "(|)"),
    ],
)
def test_a_regular_expression_as_a_term_is_refused_with_the_term_syntax(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    term: str,
    sign: str,
) -> None:
    err = expect_error(tmp_path, f"  - name: Wagner\n    any: ['{term}']\n", capsys, monkeypatch)
    assert f"my.yaml:5: topics[0].any[0]: topic 'Wagner': '{term}' looks like a regular" in err
    assert sign in err
    assert "with `*` for any ending" in err


def test_terms_with_punctuation_are_not_taken_for_regular_expressions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, records, err = run_match(
        tmp_path,
        "  - name: Arms\n    any: [S-400, F-35, C++, U.S., 'Growler (SA-21)', 'Wagner*']\n",
        [
            {"id": "1", "title": "U.S. weighs F-35 sale"},
            {"id": "2", "title": "Written in C++"},
            {"id": "3", "title": "The Growler (SA-21) radar"},
        ],
        capsys,
        monkeypatch,
    )
    assert code == 0, err
    assert [r["topics"] for r in records] == [["Arms"], ["Arms"], ["Arms"]]


# -- item: error messages that say what to write ---------------------------------------------


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        pytest.param(
            "  - name: Greece\n    any: []\n",
            ":5: topics[0].any: topic 'Greece': must be a non-empty list of terms, got an "
            "empty list",
            id="empty-any",
        ),
        pytest.param(
            "  - name: Greece\n    rules: []\n",
            ":5: topics[0].rules: topic 'Greece': must be a non-empty list of rules, got an "
            "empty list",
            id="empty-rules",
        ),
        pytest.param(
            "  - name: Greece\n    any: [*Greek]\n",
            ":5: invalid YAML: found undefined alias; a value starting with `*` or `&` is YAML "
            "syntax: quote it ('*Greek')",
            id="leading-star",
        ),
        pytest.param(
            "  - name: Grain\n    query: 'grain NEAR/ Odesa'\n",
            ":5: topics[0].query: topic 'Grain': 'NEAR/' at column 7: NEAR needs a distance, "
            "NEAR/5 (at most 5 words between) or NEAR/S (in the same sentence)",
            id="near-without-distance",
        ),
        pytest.param(
            "  - name: Greece\n    rules:\n      - any: [Greece]\n        exclude: [Olympic*]\n",
            ":7: topics[0].rules[0].exclude: topic 'Greece': unknown key 'exclude' in a rule; "
            "expected one of: ",
            id="exclude-in-a-rule",
        ),
        pytest.param(
            "  - name: Greece\n    any: [Greece]\nexclude: [Olympic*]\n",
            ":6: exclude: unknown key; expected one of: ",
            id="exclude-at-the-top",
        ),
        pytest.param(
            "  - name: Black Sea\n    any: ['μαύρ* θάλασσ*']\n",
            ":5: topics[0].any[0]: topic 'Black Sea': '*' is only allowed at the end of a "
            "term: 'μαύρ* θάλασσ*'",
            id="wildcard-inside-a-phrase-as-written",
        ),
        pytest.param(
            # A search engine's minus: it would have matched "yogurt" (a walk-through).
            "  - name: Greece\n    any: [Greece, -yogurt]\n",
            ":5: topics[0].any[1]: topic 'Greece': '-yogurt': a term cannot leave articles "
            "out with a leading '-' (it would match the word); list 'yogurt' under `none:`",
            id="minus-before-a-term",
        ),
        pytest.param(
            "  - name: Greece\n    any: [Greece]\n    nto_near: {terms: [yogurt], within: 2}\n",
            ":6: topics[0].nto_near: topic 'Greece': unknown key 'nto_near' (did you mean "
            "not_near?)",
            id="typo-in-a-key",
        ),
        pytest.param(
            "  - name: Iran\n    query: 'Iran NOT NEAR/3 (sanctions OR oil) NOT NEAR/3 gas'\n",
            ":5: topics[0].query: topic 'Iran': NOT NEAR/3 at column 36 cannot follow NOT NEAR; "
            "put the words to keep away in one group: a NOT NEAR/3 (b OR c)",
            id="not-near-chained",
        ),
        pytest.param(
            "  - name: 1821\n    any: [Greece]\n",
            ":4: topics[0].name: topic '#1': `name` must be text, got int: quote it",
            id="a-number-as-a-name",
        ),
        pytest.param(
            "  - name: Norway\n    any: [NO, Norway]\n",
            ":5: topics[0].any[0]: topic 'Norway': a term must be a string, got true/false; "
            "YAML reads NO, Yes, On, Off and null as such: quote the term ('NO')",
            id="norway-read-as-false",
        ),
    ],
)
def test_rule_mistakes_are_one_line_errors_that_say_what_to_write(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    topic: str,
    expected: str,
) -> None:
    err = expect_error(tmp_path, topic, capsys, monkeypatch)
    assert f"my.yaml{expected}" in err
    if "exclude" in topic and "rules" in topic:
        assert "write `none:` in this rule" in err and "move it up to the topic" in err
    if topic.endswith("exclude: [Olympic*]\n") and "rules" not in topic:
        assert "`exclude` is a key of a topic: indent it under the topic" in err


def test_typographic_quotes_in_a_query_are_phrase_quotes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A query typed in a word processor: “Black Sea” is the phrase "Black Sea"."""
    code, records, err = run_match(
        tmp_path,
        "  - name: Grain\n    rules:\n      - '(grain OR wheat) NEAR/S (“Black Sea” OR "
        "„Schwarzes Meer“ OR «Mer Noire»)'\n",
        [
            {"id": "1", "title": "Grain ships cross the Black Sea"},
            {"id": "2", "title": "Wheat prices and the Schwarzes Meer route"},
            {"id": "3", "title": "Black grain, pale sea"},
        ],
        capsys,
        monkeypatch,
    )
    assert code == 0, err
    assert [r["topics"] for r in records] == [["Grain"], ["Grain"], []]


def test_a_closing_typographic_quote_with_no_opening_one_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    err = expect_error(
        tmp_path, "  - name: Grain\n    query: 'grain AND Sea”'\n", capsys, monkeypatch
    )
    assert "a closing ” at column 14 that no quote opens" in err


# -- item: quotation marks inside a phrase -------------------------------------------------


@pytest.mark.parametrize(
    ("title", "hit"),
    [
        ("Бойцы ЧВК «Вагнер» покинули Мали", "ЧВК «Вагнер"),
        ("„ЧВК“ „Вагнер“ в Африке", "ЧВК“ „Вагнер"),
        ('Grain ships cross the Black "Sea" again', 'Black "Sea'),  # ASCII: the fast path
        ("Grain ships cross the Black “Sea” again", "Black “Sea"),
        ("Grain ships cross the ‘Black’ ‹Sea› again", "Black’ ‹Sea"),
    ],
)
def test_quotation_marks_between_the_words_of_a_phrase_do_not_stop_it(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    title: str,
    hit: str,
) -> None:
    """Russian papers write the name «Вагнер» in guillemets: the phrase `ЧВК Вагнер` still
    matches, past the quick first pass (the gate) too."""
    code, records, err = run_match(
        tmp_path,
        "  - name: Wagner\n    any: [ЧВК Вагнер]\n"
        "  - name: Grain\n    any: [Black Sea]\n    ignore: [Black Sea bass]\n",
        [{"id": "1", "title": title}, {"id": "2", "title": "ЧВК и Вагнер; Black. Sea"}],
        capsys,
        monkeypatch,
    )
    assert code == 0, err
    assert len(records[0]["topics"]) == 1
    assert [h["text"] for h in records[0]["matches"][0]["hits"]] == [hit]
    assert records[1]["topics"] == []  # other words or a full stop between still do


def test_an_ignored_phrase_in_quotes_is_still_ignored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, records, err = run_match(
        tmp_path,
        "  - name: Grain\n    any: [Black Sea]\n    ignore: [Black Sea bass]\n",
        [{"id": "1", "title": "How to cook “Black Sea” bass"}],
        capsys,
        monkeypatch,
    )
    assert code == 0, err
    assert records[0]["topics"] == []


# -- item: the language of a `match` input line ----------------------------------------------


@pytest.mark.parametrize(
    ("language", "hint"),
    [("gr", " (did you mean 'el', Greek?)"), ("greek", " (did you mean 'el', Greek?)"), ("xx", "")],
)
def test_an_unknown_language_in_match_input_is_an_error_naming_the_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    language: str,
    hint: str,
) -> None:
    """A rule limited to languages never fires on an article tagged "gr": a silent miss."""
    code, records, err = run_match(
        tmp_path,
        "  - name: Greece\n    any: [Ελλάδα]\n    languages: [el]\n",
        [
            {"id": "1", "title": "Η Ελλάδα", "language": "el"},
            {"id": "2", "title": "Η Ελλάδα", "language": language},
        ],
        capsys,
        monkeypatch,
    )
    assert code == 2
    assert [r["topics"] for r in records] == [["Greece"]]  # the lines before it are done
    assert err == (
        f"newswatch: error: input line 2: unknown language {language!r}{hint}; ISO 639-1 "
        "codes newswatch detects: ar, bg, de, el, en, es, fa, fr, he, hi, hy, it, ja, ka, ko, "
        "nl, pl, pt, ro, ru, sr, tr, uk, ur, zh\n"
    )


def test_a_language_tag_with_a_region_is_its_language(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, records, err = run_match(
        tmp_path,
        "  - name: Greece\n    any: [Ελλάδα]\n    languages: [el]\n",
        [{"id": "1", "title": "Η Ελλάδα", "language": "el-GR"}],
        capsys,
        monkeypatch,
    )
    assert code == 0, err
    assert records[0]["topics"] == ["Greece"]
    assert records[0]["language"] == "el"  # the code the warehouse would store


# -- item: which part of a NEAR names the topic ----------------------------------------------

GRAIN_ARTICLE = {
    "id": "1",
    "title": "Wheat prices fall in Chicago",
    "summary": "Wheat futures dropped 3%. Traders watched the weather, the dollar and the "
    "Black Sea grain corridor.",
}
GRAIN_NAME_FIRST = '(grain OR wheat OR corridor) NEAR/S ("Black Sea" OR Odesa OR Odessa)'
GRAIN_PLACE_FIRST = '("Black Sea" OR Odesa OR Odessa) NEAR/S (grain OR wheat OR corridor)'


@pytest.mark.parametrize(
    ("query", "names"),
    [(GRAIN_NAME_FIRST, ["wheat", "grain", "corridor"]), (GRAIN_PLACE_FIRST, ["Black Sea"])],
)
def test_match_verbose_says_which_terms_counted_as_the_topics_name(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    query: str,
    names: list[str],
) -> None:
    """The first operand of a NEAR (or AND) names the topic for its relevance; the rest is
    context. --verbose says which terms that was, so a rule's author sees why two orders of
    the same rule score differently."""
    code, records, err = run_match(
        tmp_path,
        f"  - name: Black Sea grain\n    query: '{query}'\n",
        [GRAIN_ARTICLE],
        capsys,
        monkeypatch,
        "--verbose",
    )
    assert code == 0, err
    (found,) = records[0]["matches"]
    assert found["names"] == names
    # Every term that matched is in the explanation, whichever names the topic.
    assert {h["term"] for h in found["hits"]} == {"wheat", "grain", "corridor", "Black Sea"}


@pytest.mark.parametrize("query", [GRAIN_NAME_FIRST, GRAIN_PLACE_FIRST])
def test_the_digest_highlights_both_sides_of_a_near_in_either_order(
    tmp_path: Path, query: str
) -> None:
    from datetime import UTC, datetime, timedelta

    from newswatch.config import parse_config
    from newswatch.digest.delivery import DigestPlan, DigestWindow, render
    from newswatch.digest.model import DigestItem
    from newswatch.models import Article

    config = parse_config(
        f"{FEEDS}  - name: Black Sea grain\n    query: '{query}'\n"
        "digest:\n  also_mentioned_below: 0\n",  # every story with its snippet
        tmp_path / "my.yaml",
    )
    now = datetime(2025, 3, 4, 12, tzinfo=UTC)
    article = Article(
        id="a1",
        feed_url="https://example.org/feed.xml",
        source="Example",
        url="https://example.org/wheat",
        title=GRAIN_ARTICLE["title"],
        summary=GRAIN_ARTICLE["summary"],
        published_at=now - timedelta(hours=1),
    )
    matches = tuple(config.matcher.match(article.title, article.summary))
    assert [m.topic for m in matches] == ["Black Sea grain"]
    window = DigestWindow(now - timedelta(days=1), now, now.date(), "UTC", "first")
    plan = DigestPlan(window, [DigestItem(article, matches, "a1")], [], {})
    rendered = render(plan, config, now)
    (section,) = rendered.digest.sections
    (story,) = section.stories
    # The snippet is the sentence where the topic's name is; both sides of the NEAR are
    # highlighted, in either order of the rule.
    assert {"Black Sea", "grain", "corridor"} <= {s.text for s in story.snippet if s.hit}
    assert re.search(r">Black Sea</span> <span[^>]*>grain</span>", rendered.html)


def test_the_digest_does_not_highlight_the_context_an_and_required(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from newswatch.config import parse_config
    from newswatch.digest.delivery import DigestPlan, DigestWindow, render
    from newswatch.digest.model import DigestItem
    from newswatch.models import Article

    config = parse_config(
        f"{FEEDS}  - name: Wagner\n    query: 'Wagner AND (mercenar* OR fighters)'\n"
        "digest:\n  also_mentioned_below: 0\n",
        tmp_path / "my.yaml",
    )
    now = datetime(2025, 3, 4, 12, tzinfo=UTC)
    article = Article(
        id="w1",
        feed_url="https://example.org/feed.xml",
        source="Example",
        url="https://example.org/wagner",
        title="Wagner fighters seen in eastern Libya",
        summary="Satellite images show Wagner mercenaries at an air base near Benghazi.",
        published_at=now - timedelta(hours=1),
    )
    matches = tuple(config.matcher.match(article.title, article.summary))
    plan = DigestPlan(
        DigestWindow(now - timedelta(days=1), now, now.date(), "UTC", "first"),
        [DigestItem(article, matches, "w1")],
        [],
        {},
    )
    (story,) = render(plan, config, now).digest.sections[0].stories
    assert {s.text for s in story.title if s.hit} == {"Wagner"}
    assert {s.text for s in story.snippet if s.hit} == {"Wagner"}
    # The explanation still has the context: it is why the rule fired.
    assert {h.term for m in matches for h in m.hits} == {"Wagner", "mercenar*", "fighters"}


# -- item: why a topic did not match ---------------------------------------------------------

WHY_NOT_TOPICS = """\
  - name: Red Sea shipping
    rules:
      - any: ["Red Sea"]
        not_near: {terms: [diving, snorkel*], within: 3}
      - all: [[Houthi*], [tanker*, ship*, vessel*]]
      - any: [Bab-el-Mandeb]
        fields: title
      - any: [Kızıldeniz]
        languages: [tr]
      - any: [=SUEZ]
      - any: [Aden]
        none: [Yemenia]
    ignore: ["Red Sea Film Festival"]
"""


@pytest.mark.parametrize(
    ("article", "why"),
    [
        (
            {"title": "Red Sea diving holiday ends early"},
            'rule 1 of 6: "Red Sea" (title) has "diving" right next to it, which not_near '
            "keeps away",
        ),
        (
            {"title": "Houthi leaders meet in Sanaa"},
            "rule 2 of 6: needs one of (tanker*, ship*, vessel*) too",
        ),
        (
            {"title": "Strait traffic", "summary": "Ships queue at Bab-el-Mandeb."},
            'rule 3 of 6: "Bab-el-Mandeb" is in the summary, and this rule reads the title',
        ),
        (
            {"title": "Kızıldeniz'de gerilim", "language": "en"},
            "rule 4 of 6: only for articles in [tr] (this one: en)",
        ),
        (
            {"title": "Suez canal fees rise"},
            'rule 5 of 6: "Suez" (title) is not written as =SUEZ asks',
        ),
        (
            {"title": "Flights to Aden resume", "summary": "Yemenia flies twice a week."},
            'rule 6 of 6: none: "Yemenia" is in the summary',
        ),
        (
            {"title": "Red Sea Film Festival opens in Jeddah"},
            'rule 1 of 6: "Red Sea" (title) is inside a phrase the topic ignores',
        ),
    ],
)
def test_match_verbose_says_what_stopped_each_rule_whose_words_are_there(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    article: dict[str, Any],
    why: str,
) -> None:
    """A rule author testing an article that should match sees which part of which rule
    did not hold, not just an empty result (a rule-authoring walk-through bisected by hand)."""
    code, records, err = run_match(
        tmp_path, WHY_NOT_TOPICS, [article], capsys, monkeypatch, "--verbose"
    )
    assert code == 0, err
    assert records[0]["topics"] == []
    assert records[0]["not_matched"] == {"Red Sea shipping": why}
    # Without --verbose, nothing is said; an article with none of the words says nothing.
    code, records, _ = run_match(tmp_path, WHY_NOT_TOPICS, [article], capsys, monkeypatch)
    assert "not_matched" not in records[0]
    code, records, _ = run_match(
        tmp_path, WHY_NOT_TOPICS, [{"title": "Rain in Oslo"}], capsys, monkeypatch, "--verbose"
    )
    assert "not_matched" not in records[0]
