"""Property tests: matching is stable under Unicode forms, case and punctuation, never
raises, and every reported span is a real slice of the text passed in."""

from __future__ import annotations

import dataclasses
import unicodedata
from pathlib import Path

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from newswatch.match.topics import Matcher, compile_topics

TOPICS_FILE = Path(__file__).resolve().parent.parent / "sources.yaml"  # the shipped default
DEFAULT = compile_topics(yaml.safe_load(TOPICS_FILE.read_text(encoding="utf-8"))["topics"])
# Case-insensitive terms only, so changing case must not change the result.
CASELESS = compile_topics(
    [
        {"name": "A", "terms": ["NATO", "Erdoğan", "Türkiye", "air defence", "S-400"]},
        {"name": "B", "query": "missile* AND (Ankara OR Istanbul) AND NOT recipe"},
        {"name": "C", "query": "S400 NEAR/3 (Russia OR India)"},
    ]
)
WORDS = st.sampled_from(
    [
        "NATO",
        "Erdoğan",
        "Türkiye",
        "Turkey",
        "turkey",
        "S-400",
        "S\u2011400",
        "missiles",
        "Ankara",
        "recipe",
        "air",
        "defence",
        "India",
        "Russia",
        "senator",
        "Istanbul",
        "the",
        "Thanksgiving",
        "Mercedes",
        "ﬁnance",
        "İstanbul",
        "OTAN",
        "cold",
        "Point",
        "said",
    ]
)
SEPARATORS = st.sampled_from([" ", ", ", " — ", ". ", " (", ") ", "\u00a0", "\n", ": "])


@st.composite
def sentences(draw: st.DrawFn) -> str:
    words = draw(st.lists(WORDS, min_size=0, max_size=12))
    seps = draw(st.lists(SEPARATORS, min_size=len(words), max_size=len(words)))
    return "".join(w + s for w, s in zip(words, seps, strict=True))


def topics(matcher: Matcher, title: str, summary: str) -> list[str]:
    return [m.topic for m in matcher.match(title, summary)]


def assert_spans(matcher: Matcher, title: str, summary: str) -> None:
    for match in matcher.match(title, summary):
        assert match.hits
        for hit in match.hits:
            field = title if hit.field == "title" else summary
            assert 0 <= hit.start < hit.end <= len(field)
            assert field[hit.start : hit.end] == hit.text


@settings(max_examples=150, deadline=None)
@given(sentences(), sentences())
def test_invariant_under_nfc_nfd_nfkc(title: str, summary: str) -> None:
    expected = topics(DEFAULT, title, summary)
    for form in ("NFC", "NFD", "NFKC", "NFKD"):
        t, s = unicodedata.normalize(form, title), unicodedata.normalize(form, summary)
        assert topics(DEFAULT, t, s) == expected, form
        assert_spans(DEFAULT, t, s)


@settings(max_examples=150, deadline=None)
@given(sentences(), sentences())
def test_caseless_terms_ignore_case(title: str, summary: str) -> None:
    expected = topics(CASELESS, title, summary)
    assert topics(CASELESS, title.upper(), summary.upper()) == expected
    assert topics(CASELESS, title.lower(), summary.lower()) == expected
    assert topics(CASELESS, title.title(), summary.swapcase()) == expected


@settings(max_examples=150, deadline=None)
@given(
    sentences(),
    st.sampled_from(['"', "(", "[", "'", "“", "‘", "«", "—", "-", "*", "…"]),
    st.sampled_from(['"', ")", "]", "'s", "’s", "”", "»", ",", ".", "!", "?", ":", "…"]),
)
def test_surrounding_punctuation_does_not_change_matching(text: str, left: str, right: str) -> None:
    wrapped = f"{left}{text}{right}"
    for matcher in (DEFAULT, CASELESS):
        assert topics(matcher, wrapped, "") == topics(matcher, text, "")
        assert topics(matcher, "", f"Headline: {wrapped}") == topics(matcher, "", text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300), st.text(max_size=300))
def test_never_raises_and_spans_are_exact_on_arbitrary_text(title: str, summary: str) -> None:
    for matcher in (DEFAULT, CASELESS):
        assert_spans(matcher, title, summary)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(WORDS, st.text(max_size=4)), max_size=20), st.data())
def test_spans_exact_on_mixed_unicode(parts: list[str], data: st.DataObject) -> None:
    title = " ".join(parts)
    form = data.draw(st.sampled_from(["NFC", "NFD", "NFKC", "NFKD"]))
    summary = unicodedata.normalize(form, title)
    assert_spans(DEFAULT, title, summary)
    assert_spans(CASELESS, summary, title)


def without_prefilters(matcher: Matcher) -> Matcher:
    """The same rules with every cheap rejection disabled: the gates always pass, and each
    term's presence test always says "maybe", so only the regexes decide."""
    from newswatch.match import gate
    from newswatch.match import terms as t

    always = gate._Gate(("",), (), ())

    def slow_terms(terms: tuple[t._Term, ...]) -> tuple[t._Term, ...]:
        return tuple(
            dataclasses.replace(term, whole_runs=(), run_prefix="", contains=None) for term in terms
        )

    return Matcher(
        tuple(
            dataclasses.replace(
                topic, gate=always, language_gates={}, terms=slow_terms(topic.terms), groups={}
            )
            for topic in matcher.topics
        )
    )


DEFAULT_SLOW = without_prefilters(DEFAULT)
# Words of the shipped rules' lists and their traps, in every spelling the prefilters
# must see through.
RULE_WORDS = st.sampled_from(
    [
        "Turkey",
        "TURKEY",
        "Turkey's",
        "Turkish",
        "recipe",
        "recipes",
        "roast",
        "lira",
        "EU",
        "Nato",
        "nato",
        "allies",
        "Thompson",
        "S400",
        "S 400",
        "S\u2013400",
        "40N6",
        "40 N6",
        "SA-21",
        "SA21",
        "Growler",
        "(SA-21)",
        "Triumf",
        "missiles",
        "Mercedes",
        "Russia's",
        "400",
        "Erdog\u0306an",
        "Tu\u0308rkiye",
        "coffee",
        "farm",
        "Thanksgiving",
        "India",
        "battery",
        "NATOs",
        "Ankara",
        # Other languages and scripts (issue 17).
        "Турции",
        "С-400",
        "С\u2011400",
        "НАТО",
        "ΝΑΤΟ",
        "Τουρκίας",
        "ΤΟΥΡΚΙΑΣ",
        "Άγκυρα",
        "وتركيا",
        "بالناتو",
        "الـناتو",
        "إس-٤٠٠",
        "التركية",
        "Türkiyenin",
        "Nato'nun",
        "Türk",
        "Article 5",
        "Artikel\u00a05",
        "статья 5",
        "المادة 5",
        "Rutte",
        "Триумф",
        "комплексы",
        "della",
        "natomiast",
        "turca",
        "Turcji",
        "Stambule",
    ]
)


@st.composite
def rule_sentences(draw: st.DrawFn) -> str:
    words = draw(st.lists(RULE_WORDS | WORDS, min_size=0, max_size=14))
    seps = draw(st.lists(SEPARATORS, min_size=len(words), max_size=len(words)))
    return "".join(w + s for w, s in zip(words, seps, strict=True))


@settings(max_examples=300, deadline=None)
@given(rule_sentences(), rule_sentences())
def test_prefilters_never_change_a_result(title: str, summary: str) -> None:
    assert DEFAULT.match(title, summary) == DEFAULT_SLOW.match(title, summary)


@settings(max_examples=300, deadline=None)
@given(
    rule_sentences(),
    rule_sentences(),
    st.sampled_from([None, "en", "tr", "ru", "el", "ar", "fr", "de", "es", "it", "pl"]),
)
def test_prefilters_never_change_a_result_in_any_language(
    title: str, summary: str, language: str | None
) -> None:
    assert DEFAULT.match(title, summary, language=language) == DEFAULT_SLOW.match(
        title, summary, language=language
    )


@given(st.text(st.characters(min_codepoint=0, max_codepoint=127), max_size=300))
@settings(max_examples=300, deadline=None)
def test_fast_ascii_runs_are_the_regex_runs(text: str) -> None:
    # The matcher's presence test splits ASCII text into runs without the regex; the runs
    # must be exactly those the regex finds (letters, digits and underscores apart).
    from newswatch.match.terms import _ASCII_RUNS, ascii_runs

    assert ascii_runs(text) == set(_ASCII_RUNS.findall(text))
    assert ascii_runs(text.lower()) == set(_ASCII_RUNS.findall(text.lower()))
