"""The topic rule language: terms, boolean rules, proximity, fields, validation, spans."""

from __future__ import annotations

import json
import random
import unicodedata
from typing import Any

import pytest

from newswatch.errors import TopicRuleError
from newswatch.match.jsonl import match_jsonl
from newswatch.match.topics import Matcher, compile_topics
from newswatch.models import TopicMatch
from newswatch.parse.text import fold, html_to_text


def one(rule: dict[str, Any]) -> Matcher:
    return compile_topics([{"name": "T", **rule}])


def fires(matcher: Matcher, title: str, summary: str = "") -> bool:
    return any(m.topic == "T" for m in matcher.match(title, summary))


def check_spans(found: list[TopicMatch], title: str, summary: str) -> None:
    for match in found:
        assert match.hits
        for hit in match.hits:
            field = title if hit.field == "title" else summary
            assert 0 <= hit.start < hit.end <= len(field)
            assert field[hit.start : hit.end] == hit.text


# -- terms ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "NATO",
        "NATO's summit",
        "NATO’s summit",
        "NATO-standard",
        "anti-NATO",
        "(NATO)",
        "Nato",
        "nato allies",
    ],
)
def test_whole_word_term_fires(text: str) -> None:
    assert fires(one({"terms": ["NATO"]}), text)


@pytest.mark.parametrize("text", ["senator", "Donato", "NATOPS", "Senatorial", "donatos"])
def test_whole_word_term_never_fires_inside_words(text: str) -> None:
    assert not fires(one({"terms": ["NATO"]}), text)


@pytest.mark.parametrize("field", ["title", "summary"])
def test_term_inside_a_word_does_not_count_when_the_word_also_stands_alone(field: str) -> None:
    # "NATO" occurs twice: inside "Donato" (next to "summit") and as a word of its own (far
    # from it). Any check that only asks "is the word NATO somewhere in the text?" passes
    # here, so only the term's own leading word boundary keeps "Donato summit" from firing.
    text = "Donato summit opens; NATO says nothing"
    near = one({"query": "NATO NEAR/0 summit"})
    title, summary = (text, "") if field == "title" else ("", text)
    assert not fires(near, title, summary)
    assert fires(one({"query": "NATO NEAR/0 says"}), title, summary)  # the word alone still counts
    # And the trailing boundary, mirrored: "NATOPS" is not "NATO".
    assert not fires(one({"query": "NATO NEAR/0 review"}), "NATOPS review opens; NATO waits")


@pytest.mark.parametrize(
    "text", ["S-400", "S400", "S 400", "S\u2011400", "S–400", "S—400", "S-400s", "s400"]
)
def test_letter_digit_designations_fire_in_every_spelling(text: str) -> None:
    assert fires(one({"terms": ["S-400"]}), f"Russia delivers {text} to India")
    assert fires(one({"terms": ["S400"]}), f"Russia delivers {text} to India")


@pytest.mark.parametrize("text", ["S-4000", "MS-400", "XS400", "S-40", "S-400M"])
def test_designations_do_not_fire_on_other_numbers(text: str) -> None:
    assert not fires(one({"terms": ["S-400"]}), f"New {text} unveiled")


def test_diacritics_and_unicode_forms_fold() -> None:
    matcher = one({"terms": ["Erdoğan", "Türkiye"]})
    for text in [
        "Erdogan",
        "ERDOĞAN",
        unicodedata.normalize("NFD", "Erdoğan"),
        "Turkiye",
        unicodedata.normalize("NFKD", "Türkiye"),
    ]:
        assert fires(matcher, text), text
    assert fires(one({"terms": ["Erdogan"]}), "Erdoğan")
    assert fires(one({"terms": ["finance"]}), "ﬁnance ministers")  # ligature
    assert fires(one({"terms": ["istanbul"]}), "İSTANBUL")
    assert fires(one({"terms": ["NATO"]}), "ＮＡＴＯ")  # full-width


def test_phrases_accept_any_spacing_or_dash_and_soft_hyphens() -> None:
    matcher = one({"terms": ["air defence"]})
    assert fires(matcher, "an air-defence system")
    assert fires(matcher, "an air\u00a0defence system")
    assert fires(matcher, "an air\n defence system")
    assert fires(matcher, "an air de\u00adfence system")
    assert not fires(matcher, "an airdefence system")


def test_case_sensitive_terms() -> None:
    matcher = one({"terms": ["=Turkey", {"term": "OTAN", "case_sensitive": True}]})
    assert fires(matcher, "Turkey votes")
    assert fires(matcher, "La OTAN se reúne")
    assert not fires(matcher, "roast turkey")
    assert not fires(matcher, "TURKEY votes")
    assert not fires(matcher, "Otan said")
    assert fires(one({"terms": ["=Türkiye"]}), unicodedata.normalize("NFD", "Türkiye"))


def test_wildcard_suffix() -> None:
    matcher = one({"terms": ["missile*"]})
    assert fires(matcher, "missiles fired")
    assert fires(matcher, "a missile")
    assert not fires(matcher, "antimissile")


def test_punctuation_in_terms() -> None:
    matcher = one({"terms": ["U.S.", "Turkey, Texas"]})
    assert fires(matcher, "the U.S. said")
    assert fires(matcher, "in Turkey,Texas")
    assert not fires(matcher, "in Turkey Texas")


# -- rules ------------------------------------------------------------------------------


def test_all_any_none() -> None:
    matcher = one({"all": ["Turkey", ["missile", "air defence"]], "none": ["Thanksgiving"]})
    assert fires(matcher, "Turkey buys air defence")
    assert fires(matcher, "Turkey", "buys a missile")
    assert not fires(matcher, "Turkey buys a car")
    assert not fires(matcher, "Turkey buys a missile for Thanksgiving")


def test_query_syntax() -> None:
    matcher = one({"query": 'S400 AND (missile OR "air defence") AND NOT Mercedes'})
    assert fires(matcher, "India's S400 air defence")
    assert fires(matcher, "S-400 missile")
    assert not fires(matcher, "S400 sedan")
    assert not fires(matcher, "Mercedes S400 missile-shaped")
    found = matcher.match("India's S400 air defence", "")
    assert found[0].rule == 'S400 AND (missile OR "air defence") AND NOT Mercedes'
    assert {h.term for h in found[0].hits} == {"S400", "air defence"}


def test_query_precedence_and_binds_tighter_than_or() -> None:
    matcher = one({"query": "a1 OR b1 AND c1"})
    assert fires(matcher, "a1")
    assert fires(matcher, "b1 c1")
    assert not fires(matcher, "b1")


def test_near_words_and_sentence() -> None:
    near = one({"query": "Triumph NEAR/2 missile"})
    assert fires(near, "the Triumph long-range missile")  # 1 word between (long-range = 2)
    assert fires(near, "missile called Triumph")
    assert not fires(near, "Triumph of the new long range missile")
    assert not fires(near, "Triumph", "missile")  # different fields never are near
    sentence = one({"near": {"terms": [["S-400", "Triumf"], "missile"], "within": "sentence"}})
    assert fires(sentence, "", "The U.S. said the S-400 is a missile system. Fine.")
    assert not fires(sentence, "", "The S-400 arrived. A missile was fired.")
    assert fires(one({"query": "S-400 NEAR/S missile"}), "", "Mr. Putin's S-400 fires a missile.")


def test_rules_are_alternatives_and_every_firing_rule_is_reported() -> None:
    matcher = compile_topics(
        [{"name": "T", "rules": [{"any": ["Ankara"]}, "Turkey AND NOT recipe"]}]
    )
    both = matcher.match("Ankara and Turkey", "")[0]
    assert both.rule == "(Ankara) OR (Turkey AND NOT recipe)"
    assert [h.text for h in both.hits] == ["Ankara", "Turkey"]
    assert matcher.match("Turkey votes", "")[0].rule == "Turkey AND NOT recipe"
    assert not matcher.match("Turkey recipe", "")


def test_hits_of_every_firing_rule_are_recorded() -> None:
    matcher = compile_topics([{"name": "T", "rules": [{"any": ["Erdogan"]}, {"any": ["=Turkey"]}]}])
    found = matcher.match("Turkey's Erdogan hits back", "Turkey said no.")[0]
    assert [(h.field, h.text) for h in found.hits] == [
        ("title", "Turkey"),
        ("title", "Erdogan"),
        ("summary", "Turkey"),
    ]


def test_not_near_keeps_only_occurrences_away_from_the_other_terms() -> None:
    query = one({"query": "=Turkey NOT NEAR/3 (recipe* OR roast*)"})
    assert fires(query, "Turkey and the EU")
    assert not fires(query, "How to roast a Turkey")
    assert not fires(query, "Turkey recipes for a crowd")
    # One clean occurrence suffices; the one near a food word is not a hit.
    found = query.match("Turkey recipe ideas", "Turkey votes on Sunday")[0]
    assert [(h.field, h.text) for h in found.hits] == [("summary", "Turkey")]
    assert fires(query, "Turkey", "recipe")  # other fields are never near
    listed = one({"any": ["=Turkey"], "not_near": {"terms": ["recipe*"], "within": "sentence"}})
    assert not fires(listed, "", "A Turkey recipe. A recipe for Turkey too.")
    assert fires(listed, "", "The recipe is old. Turkey votes today.")
    assert listed.match("", "Turkey votes")[0].rule == "=Turkey NOT NEAR/S recipe*"


def test_near_finds_every_close_occurrence_without_a_cap() -> None:
    # 200 x 200 x 2 combinations, the only close pair at the very end.
    text = " ".join(["alpha"] * 200 + ["filler"] * 50 + ["beta"] * 200 + ["gamma", "alpha"])
    near = one({"query": "alpha NEAR/1 gamma NEAR/1 beta"})
    found = near.match("", text)
    assert found
    assert sorted({h.text for h in found[0].hits}) == ["alpha", "beta", "gamma"]
    assert len(found[0].hits) == 3


def test_double_negation_is_a_positive_rule() -> None:
    matcher = one({"query": "NOT NOT alpha"})
    assert fires(matcher, "alpha")
    assert not fires(matcher, "beta")
    assert fires(one({"query": "NOT (NOT alpha OR NOT beta)"}), "alpha and beta")


def test_a_rule_of_only_none_is_rejected_not_read_as_the_name() -> None:
    with pytest.raises(TopicRuleError) as info:
        compile_topics([{"name": "Turkey", "none": ["recipe"]}])
    assert "`none` alone" in info.value.message
    with pytest.raises(TopicRuleError) as info:
        compile_topics([{"name": "T", "rules": [{"any": ["a"]}, {"none": ["b"]}]}])
    assert info.value.path == ("rules", 1)


def test_possessive_and_contraction_tails_are_not_designations() -> None:
    matcher = one({"terms": ["S-400", "OTAN", "t-90"]})
    for text in [
        "Russia's 400 tanks",
        "Apple’s 400 stores",
        "There's 400 of them",
        "Bolt's 400-metre record",
        "It's 400 miles",
        "don't 90 days",
    ]:
        assert not fires(matcher, text), text
    for text in ["India's S-400", "the 'S 400'", "L'OTAN", "d'OTAN"]:
        assert fires(matcher, text), text


def test_a_designation_after_an_elided_article_is_the_designation() -> None:
    # Italian and French write the article elided before it: "l'S-400 russo", "dell'S-400".
    matcher = one({"terms": ["S-400", "T-90"]})
    for text in [
        "con l'S-400 russo",
        "la consegna dell'S-400",
        "L’S-400 est",
        "all'S-400",
        "d'S-400",
        "del carro armato l'T-90",
    ]:
        assert fires(matcher, text), text
    # ... while a word's possessive stays a possessive, whatever the word (a one-letter name,
    # a name that is also an Italian article).
    for text in [
        "Russia's 400 tanks",
        "Delhi's 400 buses",
        "Bell's 400 patents",
        "X's 400 million users",
        "AT&T's 400 stores",
        "Dell's 400 layoffs",
        "Nell's 400 sheep",
    ]:
        assert not fires(matcher, text), text


def test_fields() -> None:
    matcher = one({"terms": ["NATO"], "fields": "title"})
    assert fires(matcher, "NATO meets", "")
    assert not fires(matcher, "Summit", "NATO meets")
    per_rule = compile_topics(
        [{"name": "T", "rules": [{"terms": ["NATO"], "fields": ["summary"]}]}]
    )
    assert fires(per_rule, "x", "NATO")
    assert not fires(per_rule, "NATO", "x")


def test_ignore_hides_phrases_but_not_other_mentions() -> None:
    matcher = one({"terms": ["=Turkey"], "ignore": ["Turkey Point", "cold turkey"]})
    assert not fires(matcher, "Turkey Point reactor restarts")
    assert fires(matcher, "Turkey Point reactor built with help from Turkey")
    found = matcher.match("Turkey Point and Turkey", "")
    assert [(h.start, h.end) for h in found[0].hits] == [(17, 23)]


def test_exclude_vetoes_the_topic() -> None:
    matcher = compile_topics(
        [
            {
                "name": "T",
                "rules": [{"any": ["Ankara"]}, {"any": ["Turkey"]}],
                "exclude": ["Thanksgiving"],
            }
        ]
    )
    assert fires(matcher, "Ankara")
    assert not fires(matcher, "Ankara", "Thanksgiving in Ankara")


def test_default_rule_is_the_topic_name() -> None:
    matcher = compile_topics([{"name": "NATO"}])
    assert [m.topic for m in matcher.match("NATO summit", "")] == ["NATO"]
    assert matcher.match("Senator", "") == []


def test_topics_are_reported_in_listed_order_with_names() -> None:
    matcher = compile_topics([{"name": "B", "terms": ["x1"]}, {"name": "A", "terms": ["x2"]}])
    assert matcher.topic_names == ("B", "A")
    assert [m.topic for m in matcher.match("x2 x1", "")] == ["B", "A"]


# -- spans ------------------------------------------------------------------------------


def test_spans_are_offsets_into_the_strings_passed() -> None:
    matcher = one({"terms": ["Erdoğan", "Türkiye", "finance", "S-400"]})
    title = unicodedata.normalize("NFD", "Türkiye: Erdoğan’s ﬁnance chief and the S‑400")
    summary = "x\u00ad\u200b Erdog\u0306an\u0301 said"
    found = matcher.match(title, summary)
    check_spans(found, title, summary)
    texts = [h.text for h in found[0].hits]
    assert texts[0] == unicodedata.normalize("NFD", "Türkiye")
    assert "ﬁnance" in texts
    assert "S‑400" in texts
    assert unicodedata.normalize("NFD", "Erdoğan") in texts
    summary_hit = next(h for h in found[0].hits if h.field == "summary")
    assert summary_hit.text == "Erdog\u0306an\u0301"  # the trailing accent stays with its letter


def test_fold_offsets_map_back() -> None:
    original = "ﬁ İ Türkiye"
    folded = fold(original)
    assert folded.text == "fi i turkiye"
    assert folded.original_span(0, 2) == (0, 1)
    start = folded.text.index("turkiye")
    assert folded.original_span(start, start + 7) == (4, 11)
    nfd = unicodedata.normalize("NFD", original)
    folded_nfd = fold(nfd)
    assert folded_nfd.text == folded.text
    s, e = folded_nfd.original_span(start, start + 7)
    assert nfd[s:e] == unicodedata.normalize("NFD", "Türkiye")


# -- validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "path", "words"),
    [
        ([{"name": "X", "terms": []}], ("terms",), "non-empty list"),
        ([{"name": "X", "terms": ["ok", ""]}], ("terms", 1), "empty"),
        ([{"name": "X", "terms": ["ok", "--"]}], ("terms", 1), "letter or digit"),
        ([{"name": "X", "terms": ["mi*ss"]}], ("terms", 0), "'*'"),
        ([{"name": "X", "exclude": ["ok", 3.5, ["a"]]}], ("exclude", 2), "must be a string"),
        ([{"name": "X", "query": "a AND (b OR"}], ("query",), "ends too early"),
        ([{"name": "X", "query": "a AND (b OR c"}], ("query",), "never closed"),
        ([{"name": "X", "query": 'a AND "b'}], ("query",), "unclosed quote"),
        ([{"name": "X", "query": "air defence"}], ("query",), "put phrases in quotes"),
        ([{"name": "X", "query": "NOT a"}], (), "none of its terms"),
        ([{"name": "X", "query": "NOT (a NOT NEAR/2 b)"}], (), "none of its terms"),
        ([{"name": "X", "query": "a NOT NEAR/2 b NEAR/2 c"}], ("query",), "cannot follow"),
        (
            [{"name": "X", "query": "a NEAR/5 b NOT NEAR/3 c"}],
            ("query",),
            "NOT NEAR/3 at column 12 cannot follow a NEAR chain; join two parts with AND: "
            "(a NEAR/5 b) AND (a NOT NEAR/3 c)",
        ),
        ([{"name": "X", "not_near": {"terms": ["a"]}}], ("not_near",), "qualifies"),
        ([{"name": "X", "query": "(a AND b) NEAR/3 c"}], ("query",), "NEAR/3"),
        (
            [{"name": "X", "rules": [{"any": ["a"]}, {"all": ["b"], "when": 1}]}],
            ("rules", 1, "when"),
            "unknown key",
        ),
        ([{"name": "X", "fields": "body"}], ("fields",), "title, summary, content, both"),
        (
            [{"name": "X", "near": {"terms": ["a", "b"], "within": -1}}],
            ("near", "within"),
            "number of words",
        ),
        ([{"name": "X", "colour": "red"}], ("colour",), "unknown key"),
        ([{"name": "X"}, {"name": "x"}], ("name",), "duplicate"),
        ([{"terms": ["a"]}], ("name",), "needs a `name`"),
    ],
)
def test_invalid_rules_fail_with_topic_and_path(
    raw: list[dict[str, Any]], path: tuple[Any, ...], words: str
) -> None:
    with pytest.raises(TopicRuleError) as info:
        compile_topics(raw)
    err = info.value
    assert err.path == path
    assert err.index == len(raw) - 1
    assert words in err.message
    assert err.topic in str(err)


def test_error_names_the_topic() -> None:
    with pytest.raises(TopicRuleError) as info:
        compile_topics([{"name": "Fine"}, {"name": "Broken", "query": "a OR"}])
    assert info.value.topic == "Broken"
    assert info.value.index == 1
    assert str(info.value).startswith("topic 'Broken': query: ")


def test_topics_must_be_a_list() -> None:
    with pytest.raises(TopicRuleError):
        compile_topics([])
    with pytest.raises(TopicRuleError) as info:
        compile_topics(["NATO"])  # type: ignore[list-item]
    assert "mapping" in info.value.message


# -- match_jsonl and HTML ---------------------------------------------------------------


def test_match_jsonl() -> None:
    matcher = compile_topics([{"name": "NATO"}, {"name": "Turkey", "terms": ["Ankara"]}])
    lines = [
        json.dumps(
            {
                "id": "1",
                "title": "Ankara &amp; NATO",
                "summary": '<p>See <a href="https://nato.int/turkey">the alliance</a></p>',
            }
        ),
        "",
        "{not json",
        json.dumps(["a list"]),
        json.dumps({"id": 4, "title": 7}),
        json.dumps({"id": "5", "title": "Weather", "summary": None}),
    ]
    out = [json.loads(line) for line in match_jsonl(lines, matcher)]
    assert len(out) == 5
    assert out[0]["id"] == "1"
    assert out[0]["topics"] == ["NATO", "Turkey"]
    nato = next(m for m in out[0]["matches"] if m["topic"] == "NATO")
    assert nato["hits"] == [
        {"field": "title", "start": 9, "end": 13, "term": "NATO", "text": "NATO"}
    ]
    assert "error" in out[1] and out[1]["line"] == 3
    assert "object" in out[2]["error"]
    assert out[3]["id"] == 4 and "title" in out[3]["error"]
    assert out[4] == {"id": "5", "language": None, "topics": [], "relevance": {}, "matches": []}


def test_html_to_text_strips_markup_and_decodes_entities() -> None:
    assert html_to_text('<p>NATO &amp; <a href="https://x.test/turkey">allies</a></p>') == (
        "NATO & allies"
    )
    assert html_to_text("&lt;p&gt;Erdo&amp;#287;an&lt;/p&gt;") == "Erdoğan"
    assert html_to_text("1 < 2 and 3 > 2") == "1 < 2 and 3 > 2"
    assert html_to_text("<script>var nato=1</script>Hi") == "Hi"


@pytest.mark.parametrize(
    ("markup", "text"),
    [
        ('Stocks rose. <a href="https://www.nato.int/cps\u2026', "Stocks rose."),
        ('<p>Coffee.</p><img src="https://cdn.test/turkey/ankara-cafe.jpg', "Coffee."),
        ("Oil fell. &lt;a href=&quot;https://www.nato.int/cps", "Oil fell."),
        ("Oil fell. &amp;lt;a href=&amp;quot;https://www.nato.int/", "Oil fell."),
        ("Oil fell. <!-- NATO", "Oil fell."),
        ("Oil fell. </a", "Oil fell."),
        ("Prices: 3 < 4", "Prices: 3 < 4"),
    ],
)
def test_a_tag_cut_off_by_the_feed_is_not_text(markup: str, text: str) -> None:
    assert html_to_text(markup) == text
    matcher = compile_topics([{"name": "NATO"}, {"name": "Turkey", "terms": ["Turkey", "Ankara"]}])
    assert matcher.match("", html_to_text(markup)) == []


def test_naming_hits_keep_the_topics_own_words_not_the_context_its_rules_required() -> None:
    from newswatch.config import load_config

    matcher = load_config().matcher  # the shipped watch list
    title = "Turkey and NATO agree on air defence talks"
    summary = "Ankara and NATO allies discussed the S-400 deal."
    found = {m.topic: m for m in matcher.match(title, summary)}
    s400 = found["S-400"]
    # The explanation keeps the context that made this S-400 the weapon ...
    assert {"Turkey", "air defence"} <= {h.text for h in s400.hits}
    # ... but only the designation names the topic.
    assert {h.text for h in matcher.naming_hits(s400).hits} == {"S-400"}
    assert {h.text for h in matcher.naming_hits(found["Turkey"]).hits} == {"Turkey", "Ankara"}
    assert {h.text for h in matcher.naming_hits(found["NATO"]).hits} == {"NATO"}


def test_the_gate_of_an_article_leaves_out_rules_for_other_languages() -> None:
    topics = [
        {
            "name": "Turkey",
            "rules": [{"any": ["Türkiye"]}, {"any": ["Kapadokya"], "languages": ["tr"]}],
        }
    ]
    matcher = compile_topics(topics)
    text = "kapadokya'da balon turlari yeniden basladi"
    # An English (or unknown-language) article does not pay for the Turkish-only terms ...
    assert not matcher.gate_for("en").passes(text)
    assert not matcher.gate_for(None).passes(text)
    # ... a Turkish one does, and every rule still finds what it should.
    assert matcher.gate_for("tr").passes(text)
    assert matcher.gate_for("en").passes("turkiye")  # the gate sees folded text
    title = "Kapadokya'da balon turları yeniden başladı"
    assert [m.topic for m in matcher.match(title, "", language="tr")] == ["Turkey"]
    assert matcher.match(title, "", language="en") == []
    assert [m.topic for m in matcher.match("Türkiye", "", language="en")] == ["Turkey"]


def test_the_gate_keeps_no_piece_that_other_pieces_make_redundant() -> None:
    topics = [
        {
            "name": "NATO",
            "rules": [
                {
                    "any": [
                        "Secretary General Rutte",
                        "Secretary General Mark Rutte",
                        "Secretary General Stoltenberg",
                        "Secretary General Jens Stoltenberg",
                    ]
                },
                {"all": [["Rutte", "Stoltenberg"], ["allies", "allied", "alliance"]]},
            ],
        }
    ]
    matcher = compile_topics(topics)
    gate = matcher.gate_for("en")
    # "secretary" covers the four titles (the greedy cover takes it first), but the names
    # alone need "rutte" and "stoltenberg", which cover them too: a secretary of state
    # passes no gate ...
    assert sorted(gate.substrings) == ["rutte", "stoltenberg"]
    assert not gate.passes("the secretary general of the un and the secretary of state")
    # ... and every rule still fires.
    title = "Secretary General Rutte visits Kyiv"
    assert [m.topic for m in matcher.match(title, "", language="en")] == ["NATO"]
    assert [m.topic for m in matcher.match("Rutte thanks allies", "", language="en")] == ["NATO"]


def test_a_short_piece_stands_in_for_two_names_only_when_no_longer_one_does() -> None:
    # "asar" covers Galatasaray and Yaşar, but it is in Spanish "pasar" and "casar"; "air"
    # covers "Allied Air Command" and "air policing", and is in "chair" and "affair".
    matcher = compile_topics(
        [
            {"name": "T", "rules": [{"any": ["Galatasaray", "Yaşar Güler"]}]},
            {"name": "N", "rules": [{"any": ["Allied Air Command", "air policing"]}]},
        ]
    )
    gate = matcher.gate_for("en")
    assert not gate.passes("hay que pasar por la silla del chair de la affair")
    assert {m.topic for m in matcher.match("Galatasaray and Yaşar Güler", "")} == {"T"}
    assert {m.topic for m in matcher.match("Allied Air Command takes air policing", "")} == {"N"}
    # Four letters still stand in for three needs or more ("turk" for Turkey, Turkish, Turks).
    many = compile_topics([{"name": "T", "rules": [{"any": ["Turkey", "Turkish", "Turks"]}]}])
    assert many.gate_for("en").substrings == ("turk",)


def test_a_long_list_of_names_finds_every_name_and_nothing_else() -> None:
    rng = random.Random(5)
    letters = "abcdefghijklmnopqrstuvwxyz"

    def word() -> str:
        return "".join(rng.choice(letters) for _ in range(rng.randint(4, 9))).title()

    names = sorted({f"{word()} {word()}" for _ in range(1500)})
    matcher = compile_topics([{"name": "People", "rules": [{"any": names}]}])
    gate = matcher.gate_for("en")
    # Fewer pieces than names (one piece covers several), and each name still gets through.
    assert len(gate.substrings) < len(names)
    for name in names[::7]:
        text = f"Yesterday {name} said nothing new."
        assert [m.topic for m in matcher.match(text, "", language="en")] == ["People"], name
    # A forename alone, or a surname with someone else's forename, is not a name on the list.
    first, second = names[0].split(), names[1].split()
    if f"{first[0]} {second[1]}" not in names:
        assert matcher.match(f"{first[0]} {second[1]} spoke", "", language="en") == []
    assert matcher.match(f"{first[0]} spoke", "", language="en") == []


@pytest.mark.parametrize(
    ("title", "summary", "turkey"),
    [
        # A country among countries in running text, whatever the bird's words beside it.
        (
            "Gold climbs to record as central banks keep buying",
            "Purchases by the central banks of China, Poland and Turkey helped push prices up.",
            True,
        ),
        # A headline in Title Case: the poultry trade, not the country.
        ("Brazil Turkey Exports Hit Record As Prices Climb", "", False),
        # An article about the Texas town names it "Turkey, Texas" and then "Turkey".
        (
            "Western swing fans pack tiny Turkey for Bob Wills Day weekend",
            "Thousands came to Turkey, Texas, to hear the bands.",
            False,
        ),
    ],
)
def test_the_shipped_list_tells_the_country_by_its_company(
    title: str, summary: str, turkey: bool
) -> None:
    from newswatch.config import load_config

    topics = {m.topic for m in load_config().matcher.match(title, summary, language="en")}
    assert ("Turkey" in topics) is turkey


@pytest.mark.parametrize(
    ("title", "summary", "language", "expected"),
    [
        # A city's name alone in quotes is a thing named after it; the city itself still counts.
        ("Homeware chain recalls 'Istanbul' velvet curtains over fire risk", "", "en", set()),
        ("افتتاح فرع جديد لمطاعم «إسطنبول» للمشاوي في عمّان", "", "ar", set()),
        ("Ferry strike disrupts Istanbul commuters", "", "en", {"Turkey"}),
        # A racehorse named after the capital.
        (
            "Ankara Express lands the feature at Kempton",
            "The four-year-old won the mile handicap by a neck; his jockey rode a treble.",
            "en",
            set(),
        ),
        ("Ankara hosts Gulf ministers", "", "en", {"Turkey"}),
        ("Istanbul Express lands Group 3 win", "The colt justified favouritism.", "en", set()),
        ("Istanbul Express lands the Coral Cup at Cheltenham", "", "en", set()),
        # Restaurants named after the cities, capitalised as names.
        ("Leeds takeaway Ankara Grill named Yorkshire's best", "", "en", set()),
        ("Café Istanbul, Fitzroy: the dessert bar keeping Melbourne up late", "", "en", set()),
        ("Fire guts Istanbul restaurant", "", "en", {"Turkey"}),
        # Turkish home news without the country's name: its air-defence programme.
        ("Çelik Kubbe'de teslimatlar hızlandı", "", "tr", {"Turkey"}),
        ("Çalışma ve Sosyal Güvenlik Bakanı: ara zam yok", "", "tr", {"Turkey"}),
        # Turkey's S-400 spelled out where the purchase is the subject; not Russian air
        # defence that Turkish drones struck.
        (
            "Turkish F-16s return to Poland",
            "Turkey faced criticism over its purchase of Russian air-defence systems.",
            "en",
            {"Turkey", "S-400"},
        ),
        (
            "Ankara test-fires missiles",
            "Turkish forces fired the long-range air-defence system bought from Moscow in 2019.",
            "en",
            {"Turkey", "S-400"},
        ),
        (
            "The missiles nobody may switch on",
            "Six years after Ankara took delivery of its Russian long-range air-defence"
            " batteries, they sit in hangars.",
            "en",
            {"Turkey", "S-400"},
        ),
        (
            "F-35 talks stall",
            "Washington still objects to Turkey's purchase of a Russian missile defense system.",
            "en",
            {"Turkey", "S-400"},
        ),
        (
            "Satellite images show activity at air base",
            "The site houses the long-range air-defence system Turkey bought from Russia.",
            "en",
            {"Turkey", "S-400"},
        ),
        (
            "Opposition asks what idle batteries cost",
            "How much does Turkey spend on the missile system it bought from Moscow?",
            "en",
            {"Turkey", "S-400"},
        ),
        (
            "Opinion: stop pretending the 2019 purchase never happened",
            "A deal over the Russian-made batteries Ankara bought in 2019 is overdue.",
            "en",
            {"Turkey", "S-400"},
        ),
        (
            "Kyiv asks allies for more air defence",
            "Russian-made missiles hit Kharkiv; Turkey said it would buy more grain.",
            "en",
            {"Turkey"},
        ),
        # Its state bodies and well-known cities in any language; a resort is also a
        # racehorse; Serbian "turska" is also the adjective.
        (
            "Magnitude 5.8 quake shakes eastern province; AFAD reports no deaths",
            "",
            "en",
            {"Turkey"},
        ),
        ("Diyanet announces the 2027 fitre amount", "", "en", {"Turkey"}),
        ("Ryanair adds Leeds to Dalaman and Bristol to Antalya", "", "en", {"Turkey"}),
        ("Un séisme frappe la province de Balıkesir", "", "fr", {"Turkey"}),
        ("Antalya Express wins by a length at Newmarket", "", "en", set()),
        ("Turcia a început producția din zăcământul Sakarya", "", "ro", {"Turkey"}),
        ("Kako se kuva turska kafa", "", "sr", set()),
        # Turkey's ministers by full name; in Turkish, by title and surname (not a sapling).
        ("Hakan Fidan meets Rubio in Washington", "", "en", {"Turkey"}),
        ("Ο Χακάν Φιντάν στην Αθήνα", "", "el", {"Turkey"}),
        ("Dışişleri Bakanı Fidan, NATO Genel Sekreteri ile görüştü", "", "tr", {"Turkey", "NATO"}),
        ("Belediye 10 bin fidan dikti", "", "tr", set()),
        # Its opposition and party leaders by surname; the PKK; Anatolia and its pipeline
        # (not a school in Thessaloniki, nor a dog breed).
        ("İmamoğlu trial resumes in Silivri", "", "en", {"Turkey"}),
        ("Bahçeli calls for early talks with Kurdish party", "", "en", {"Turkey"}),
        ("Parliament passes law on PKK disarmament process", "", "en", {"Turkey"}),
        ("Gas flows through the TANAP pipeline across Anatolia", "", "en", {"Turkey"}),
        ("Anatolia College alumni gather in Thessaloniki", "", "en", set()),
        ("Anatolian shepherd dogs guard sheep in Namibia", "", "en", set()),
        # Hebrew attaches "in", "to", "and" to the name.
        ("שגריר ישראל בטורקיה הוחזר לירושלים", "", "he", {"Turkey"}),
        # India's Russian long-range air defence, in other words; not its Igla-S.
        (
            "New Delhi seeks more missiles for its Russian long-range shield",
            "India wants more interceptors for the air-defence regiments it bought from Moscow.",
            "en",
            {"S-400"},
        ),
        (
            "India buys Igla-S air defence systems from Russia",
            "The Russian air defence systems were bought in a deal worth $250m.",
            "en",
            set(),
        ),
        # The country in the Nordic languages and Azerbaijani; its ruling party, presidential
        # complex and straits; not "Ankara" the cloth, nor Czech "Turkish honey".
        ("Turkiets utrikesminister på besök i Stockholm", "", "sv", {"Turkey"}),
        ("Tyrkia: valgkampen er i gang", "", "no", {"Turkey"}),
        ("Qars–Naxçıvan dəmir yolu", "Türkiyə Nəqliyyat Nazirliyi açıqlayıb.", "tr", {"Turkey"}),
        ("AKP trails in final pre-election polls", "", "en", {"Turkey"}),
        ("Beştepe reshuffle: three ministers out", "", "en", {"Turkey"}),
        ("Bosphorus bridge tolls to double from January", "", "en", {"Turkey"}),
        ("CHP plant opens at the paper mill", "Combined heat and power.", "en", set()),
        ("Ankara prints take over Lagos Fashion Week", "", "en", set()),
        ("Vánoční trhy: turecký med zase zdražil", "", "cs", set()),
        # The S-400 with "Russian" in Serbian; «Тріумф» in a Ukrainian air-defence report.
        ("Srbija ne planira kupovinu ruskih S-400", "", "sr", {"S-400"}),
        (
            "Уражено «Тріумф» під Джанкоєм",
            "Дрони влучили в радар зенітної ракетної системи.",
            "uk",
            {"S-400"},
        ),
        ("«Тріумф» для молодих режисерів", "Премію вручили у театрі.", "uk", set()),
        # "Nato" in Nordic copy, with the alliance's business in it; its force in Kosovo; a
        # watch strap in Portuguese.
        ("Försvarsmakten samordnas inom Nato", "", "sv", {"NATO"}),
        ("KFOR doubles patrols in northern Kosovo", "", "en", {"NATO"}),
        ("Braceletes NATO: as melhores opções para relógios", "", "pt", set()),
        # The country in Baltic, Balkan and Caucasian languages and Kazakh; its defence firms
        # and airports; not the Council of Europe's Istanbul Convention, nor the Ottoman wars;
        # a club's match is sport, not the country.
        ("Turcija un Latvija paraksta aizsardzības līgumu", "", "lv", {"Turkey"}),
        ("Suvehooajal oli esikohal jätkuvalt Türgi", "", "et", {"Turkey"}),
        ("Қазақстан мен Түркия арасындағы тауар айналымы", "", "kk", {"Turkey"}),
        ("საქართველო-თურქეთის საზღვარზე ახალი ტერმინალი", "", "ka", {"Turkey"}),
        ("Байрактари з Київщини: завод Baykar випустив перші дрони", "", "uk", {"Turkey"}),
        ("Pegasus to base 20 new jets at Sabiha Gökçen", "", "en", {"Turkey"}),
        ("NATO je uputio patrole italijanskih i turskih vojnika", "", "sr", {"Turkey", "NATO"}),
        ("Sněmovna znovu otevírá Istanbulskou úmluvu", "", "cs", set()),
        ("Фильм о Русско-турецкой войне покажут в 4K", "", "ru", set()),
        ("Galatasaray stun Liverpool with late winner", "", "en", set()),
        # Antalya in Cyrillic; not Mozart's Turkish March, nor Germans of Turkish descent.
        ("Билеты на курорты подорожали: Сочи, Анталья и Дубай", "", "ru", {"Turkey"}),
        ("Пианист сыграл «Турецкий марш» Моцарта", "", "ru", set()),
        ("Rekord im Bundestag: 22 Abgeordnete mit türkischen Wurzeln", "", "de", set()),
        # The S-400 described in Turkish; a Wi-Fi mesh kit is not it.
        (
            "Bakan Güler: Rusya'dan aldığımız sistem ihtiyaç halinde kullanılır",
            "",
            "tr",
            {"Turkey", "S-400"},
        ),
        ("Wi-Fi 7 mesh kits tested: S400 nodes delivered 1.9 Gbit/s", "", "en", set()),
        # The alliance in Georgian (not the given name) and Armenian script; "Otan" in
        # Brazilian copy; its air command.
        ("ნატოს სამიტზე საქართველოს საკითხი", "სამიტი ვილნიუსში", "ka", {"NATO"}),
        ("ნატო ვაჩნაძის ფილმების რეტროსპექტივა", "", "ka", set()),
        ("Երևանը և ՆԱՏՕ-ն", "", "hy", {"NATO"}),
        ("Lula critica expansão da Otan", "", "pt", {"NATO"}),
        ("Ramstein: Allied Air Command führt die Luftabwehr", "", "de", {"NATO"}),
        # The alliance in Dutch, Finnish and Hebrew.
        ("Secretaris-generaal van de NAVO bezoekt Litouwen", "", "nl", {"NATO"}),
        ("Suomi liittyi Natoon ja Naton pääsihteeri kiitti", "", "fi", {"NATO"}),
        ('ישראל ונאט"ו חתמו על הסכם', "", "he", {"NATO"}),
        # A headline naming Turkey and its Russian-made missiles; not a Russian strike that
        # Turkey condemns, nor the missiles and Turkey in different fields.
        (
            "Erdoğan: Russian-made missiles 'not for sale' to third countries",
            "",
            "en",
            {"Turkey", "S-400"},
        ),
        (
            "Russian-made missiles hit Odesa port",
            "Turkey condemned the strike and offered to host talks.",
            "en",
            {"Turkey"},
        ),
        (
            "Turkey condemns Russian strike on Odesa",
            "Russian-made missiles hit the port overnight.",
            "en",
            {"Turkey"},
        ),
        # Another Russian system named in the article may be the one meant.
        (
            "Syria gets air defence",
            "Russia delivered S-300 missile batteries to Damascus; Turkey objected.",
            "en",
            {"Turkey"},
        ),
        # Another system named between Russia and the words: Greece's S-300s.
        (
            "Crete's S-300s",
            "A Russian-made S-300 PMU-1 long-range air-defence system, bought in 1997. Turkey"
            " threatened to strike them.",
            "en",
            {"Turkey"},
        ),
        (
            "Turkish drones hit convoy",
            "Turkish drones destroyed Russian air-defence systems near Sirte.",
            "en",
            {"Turkey"},
        ),
        # NATO's air policing, with the Baltic or the alliance named; a neutral state's not.
        ("Spanish Eurofighters take over Baltic air policing rotation", "", "en", {"NATO"}),
        ("Swiss air force extends air policing to round the clock", "", "en", set()),
        # Model numbers: a product's review, a drive series, a watch on a NATO strap.
        ("Brava S400 review: an espresso machine for people who hate fuss", "", "en", set()),
        ("Automation supplier pulls S400 drives from Russian market", "", "en", set()),
        ("Halden S400: a diver that deserves a NATO strap", "", "en", set()),
        ("Military surplus buying guide: boots and NATO-pattern webbing", "", "en", set()),
        ("Many shops sell so-called NATO-issue pieces", "", "en", set()),
        ("NATO pallet or Euro pallet? Choosing the right one", "", "en", set()),
        ("Обзор карабина под патрон 7,62×51 НАТО: кучность и отдача", "", "ru", set()),
        ("Por qué seguimos deletreando con el alfabeto OTAN", "", "es", set()),
        ("Paski NATO do zegarka: przegląd modeli do 150 złotych", "", "pl", set()),
        # The country's name alone in quotes is a nickname.
        ("Obituary: 'Turkey' Malone, the drummer who powered Memphis soul", "", "en", set()),
        ("Turkey to review S-400 deal", "", "en", {"Turkey", "S-400"}),
        # A watch strap in German; Turek, a Polish town, and its county (powiat turecki);
        # Turkey, North Carolina, by its county.
        ("Uhrenarmband im NATO-Stil: fünf Modelle unter 30 Euro", "", "de", set()),
        ("Nato-Armband oder Lederband? Ein Ratgeber", "", "de", set()),
        ("Szpital w Turku: starosta powiatu tureckiego zapowiada remont", "", "pl", set()),
        ("Turecki parlament przyjął budżet na 2027 rok", "", "pl", {"Turkey"}),
        (
            "Turkey residents asked to boil water",
            "The Sampson County town's mayor said the advisory would last two days.",
            "en",
            set(),
        ),
        # The national teams by their nicknames.
        ("Filenin Sultanları finalde", "", "tr", {"Turkey"}),
        ("Sultans of the Net reach Olympic semi-final", "", "en", {"Turkey"}),
        ("Ay-Yıldızlılar'ın aday kadrosu açıklandı", "", "tr", {"Turkey"}),
        # Turkey's Russian air defences, bought.
        (
            "F-35 talks stall again",
            "Washington wants Turkey to give up the Russian air defences it bought in 2017.",
            "en",
            {"Turkey", "S-400"},
        ),
    ],
)
def test_the_shipped_list_tells_names_from_things_named_after_them(
    title: str, summary: str, language: str, expected: set[str]
) -> None:
    from newswatch.config import load_config

    topics = {m.topic for m in load_config().matcher.match(title, summary, language=language)}
    assert topics == expected


@pytest.mark.parametrize("query", ["NOT NOT recipe", "NOT (NOT recipe)", "cake AND NOT NOT recipe"])
def test_a_double_negation_is_the_term_itself_with_its_hits(query: str) -> None:
    plain = compile_topics([{"name": "T", "rules": [{"query": "recipe"}]}])
    doubled = compile_topics([{"name": "T", "rules": [{"query": query}]}])
    [want] = plain.match("A recipe for cake", "", language="en")
    [got] = doubled.match("A recipe for cake", "", language="en")
    assert "recipe" in [h.text for h in got.hits]
    assert got.relevance == want.relevance
    assert doubled.match("A cake", "", language="en") == []
