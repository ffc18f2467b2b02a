"""Relevance scores, the snippet that shows the matched sentence, "Also mentioned",
`min_relevance`, and the content field through parse and `newswatch match`."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from newswatch.config import DigestSettings
from newswatch.digest.build import build_digest, drop_below_min_relevance
from newswatch.digest.highlight import story_snippet
from newswatch.digest.model import DigestItem
from newswatch.digest.render import render_text
from newswatch.errors import TopicRuleError
from newswatch.match.jsonl import match_jsonl
from newswatch.match.relevance import Evidence, evidence, relevance, score, sentence_starts
from newswatch.match.topics import compile_topics
from newswatch.models import Article, TopicMatch
from newswatch.parse.feed import parse_feed
from newswatch.resources import templates_dir

NOW = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
NATO = [{"name": "NATO", "any": ["=NATO", "North Atlantic Treaty Organization"]}]
FILLER = "Officials met on Tuesday. The talks lasted three hours. Details were not released. "


def nato(title: str, summary: str = "", content: str = "") -> TopicMatch | None:
    found = compile_topics(NATO).match(title, summary, content)
    return found[0] if found else None


def test_sentences_split_at_ends_not_at_initials_or_abbreviations() -> None:
    text = "The U.S. and Mr. Smith agreed. Talks resume on Monday! Will they hold? Yes."
    starts = sentence_starts(text)
    assert [text[s : s + 5] for s in starts] == ["The U", "Talks", "Will ", "Yes."]


def test_headline_lead_and_share_make_a_story_about_the_topic() -> None:
    about = nato(
        "NATO allies agree new spending goal",
        "NATO leaders met in The Hague.",
        "NATO said the goal was 5%. " + FILLER + "The NATO summit ended early.",
    )
    body_lead = nato(
        "Alliance chief warns of danger", "A speech in Munich.", "NATO chief said. " + FILLER
    )
    passing = nato("Economy shrinks", "Exports fell.", FILLER * 3 + "It must meet NATO goals.")
    assert about and body_lead and passing
    assert about.relevance is not None and body_lead.relevance is not None
    assert passing.relevance is not None
    assert 1.0 >= about.relevance > body_lead.relevance > passing.relevance >= 0.0
    assert about.relevance >= 0.7
    assert passing.relevance < 0.2


def test_evidence_counts_fields_and_sentences_and_ignores_a_repeated_summary() -> None:
    found = nato("Summit", "NATO met.", "NATO met. Then lunch. NATO left.")
    assert found is not None
    ev = evidence("Summit", "NATO met.", "NATO met. Then lunch. NATO left.", found.hits)
    # The summary repeats the body's start: counted once, as the body.
    assert ev == Evidence(
        in_title=False,
        in_lead=True,
        mentions=2,
        sentences=3,
        sentences_with=2,
        names=1,
        first=0,
        lead_words=0,
    )
    assert score(ev) == relevance(
        "Summit", "NATO met.", "NATO met. Then lunch. NATO left.", found.hits
    )


def test_the_lead_is_the_first_sentence_of_the_teaser_as_of_the_body() -> None:
    # A teaser-only item (no body), like the DW story of a murder suspect who "fled to
    # Turkey": a mention in the teaser's second sentence is a passing one; in its first, the
    # lead. Likewise in the body.
    first = "NATO allies met in Brussels. Talks lasted three hours."
    later = "A man was charged with murder. The suspect once fled to a NATO base."
    for summary, content, lead in (
        (first, "", True),
        (later, "", False),
        ("Talks went on.", first, True),
        ("Talks went on.", later, False),
    ):
        found = nato("Quiet day in Europe", summary, content)
        assert found is not None, summary
        ev = evidence("Quiet day in Europe", summary, content, found.hits)
        assert ev.in_lead is lead, (summary, content)
    teaser_first = nato("Quiet day in Europe", first)
    teaser_later = nato("Quiet day in Europe", later)
    assert teaser_first is not None and teaser_later is not None
    assert teaser_first.relevance is not None and teaser_later.relevance is not None
    # Folded under the digest's default threshold; the one that leads with it is not.
    below = DigestSettings().also_mentioned_below
    assert teaser_later.relevance < below <= teaser_first.relevance


def test_a_teasers_lone_mention_ranks_below_a_headline_that_names_the_topic() -> None:
    headline = nato("NATO jets scrambled again", "Two aircraft took off from Amari.")
    teaser = nato("Ferry strike strands islanders", "Services resume Thursday near a NATO base.")
    assert headline is not None and teaser is not None
    assert headline.relevance is not None and teaser.relevance is not None
    assert headline.relevance > teaser.relevance
    # Named first and in every sentence: that says more in three sentences than in one.
    one = Evidence(
        in_title=False, in_lead=True, mentions=3, sentences=1, sentences_with=1, names=1, first=0
    )
    three = dataclasses.replace(one, sentences=3, sentences_with=3)
    assert score(three) > score(one)


def test_a_teasers_subject_ranks_above_a_mention_late_in_its_sentence() -> None:
    # Teaser-only items under a neutral headline: the lead names its subject in its first
    # words; a passing mention comes late in the sentence, after what the story is about.
    subject = nato(
        "Jets scrambled twice in a week over the Baltic",
        "NATO's air policing mission said Italian F-35s intercepted Russian aircraft.",
    )
    passing = nato(
        "Finnish police board cargo ship after second Baltic cable fault in a month",
        "Investigators suspect a dragged anchor damaged a data cable between Helsinki and "
        "Tallinn, and a NATO patrol had been shadowing the vessel.",
    )
    assert subject is not None and passing is not None
    assert subject.relevance is not None and passing.relevance is not None
    assert subject.relevance > passing.relevance
    # Folded into "Also mentioned" at the default threshold, the subject is not.
    assert passing.relevance < 0.25 <= subject.relevance
    # In a long text the lead's position within its sentence does not count: the rest of
    # the text says more.
    late = dataclasses.replace(
        Evidence(in_title=False, in_lead=True, mentions=1, sentences=6, sentences_with=1, names=1),
        first=0,
        lead_words=20,
    )
    assert score(late) == score(dataclasses.replace(late, lead_words=0))


def test_a_headline_only_item_about_the_topic_scores_high() -> None:
    found = nato("NATO jets scrambled over the Baltic")
    assert found is not None and found.relevance is not None and found.relevance >= 0.7


def test_match_jsonl_reads_content_and_returns_relevance() -> None:
    matcher = compile_topics(NATO)
    lines = [
        json.dumps(
            {"id": 1, "title": "A quiet day", "content": "<p>NATO said <b>nothing</b>.</p>"}
        ),
        json.dumps({"id": 2, "title": "A quiet day", "content": 5}),
    ]
    first, second = (json.loads(x) for x in match_jsonl(lines, matcher))
    assert first["topics"] == ["NATO"]
    assert set(first["relevance"]) == {"NATO"} and 0 < first["relevance"]["NATO"] <= 1
    (hit,) = first["matches"][0]["hits"]
    assert hit["field"] == "content" and hit["text"] == "NATO" and hit["start"] == 0
    assert "content" in second["error"]


def test_rules_can_look_at_content_only_or_keep_to_the_feed_fields() -> None:
    topics = [
        {"name": "Body", "any": ["NATO"], "fields": "content"},
        {"name": "Feed", "any": ["NATO"], "fields": "both"},
    ]
    matcher = compile_topics(topics)
    assert [m.topic for m in matcher.match("x", "y", "NATO")] == ["Body"]
    assert [m.topic for m in matcher.match("NATO", "", "")] == ["Feed"]


def test_related_words_raise_relevance_but_never_make_a_match() -> None:
    related = [{**NATO[0], "related": ["eastern flank", "=SACEUR"]}]
    plain, with_related = compile_topics(NATO), compile_topics(related)
    title = "Eastern flank brigade reaches halfway mark"
    summary = "The brigade's build-up is on schedule. NATO officials said so on Tuesday."
    (before,) = plain.match(title, summary)
    (after,) = with_related.match(title, summary)
    assert before.relevance is not None and after.relevance is not None
    # The headline names the topic in other words: it counts as a headline mention.
    assert after.relevance >= before.relevance + 0.3
    # The explanation still holds only what fired.
    assert [h.text for h in after.hits] == ["NATO"]
    # Alone, related words match nothing; case rules apply to them as to terms.
    assert with_related.match(title, "The build-up is on schedule.") == []
    (lower,) = with_related.match("A saceur visit", summary)
    (upper,) = with_related.match("A SACEUR visit", summary)
    assert lower.relevance == before.relevance < (upper.relevance or 0)


def test_a_related_word_inside_a_named_hit_is_not_counted_again() -> None:
    topics = [{"name": "NATO", "any": ["North Atlantic Treaty Organization"]}]
    related = [{**topics[0], "related": ["Atlantic", "Treaty"]}]
    text = "The North Atlantic Treaty Organization met."
    (before,) = compile_topics(topics).match("Talks", text)
    (after,) = compile_topics(related).match("Talks", text)
    assert after.relevance == before.relevance


def test_related_words_are_checked_like_terms() -> None:
    with pytest.raises(TopicRuleError) as info:
        compile_topics([{**NATO[0], "related": ["allies", ""]}])
    assert info.value.path == ("related", 1)


@pytest.mark.parametrize("value", [-0.1, 1.5, "high", True])
def test_min_relevance_must_be_a_fraction(value: object) -> None:
    with pytest.raises(TopicRuleError) as info:
        compile_topics([{**NATO[0], "min_relevance": value}])
    assert info.value.path == ("min_relevance",)
    assert compile_topics([{**NATO[0], "min_relevance": 0.3}]).min_relevance == {"NATO": 0.3}


def test_parse_keeps_content_encoded_beside_the_summary_sanitised() -> None:
    body = (
        b'<?xml version="1.0"?><rss version="2.0" '
        b'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>t</title>'
        b"<item><title>Quiet headline</title><link>https://x.example/1</link>"
        b"<description>A teaser.</description>"
        b"<content:encoded><![CDATA[<p>The body names NATO.</p><script>x()</script>"
        b'<p onclick="y()">Second <b>paragraph</b>.</p>]]></content:encoded></item>'
        b"</channel></rss>"
    )
    for content_type in ("application/rss+xml", "application/rss+xml; charset=iso-8859-1"):
        parsed = parse_feed(
            body, feed_url="https://x.example/feed", source="X", now=NOW, content_type=content_type
        )
        (article,) = parsed.articles
        assert article.summary == "A teaser."
        assert article.content == "The body names NATO. Second paragraph."
        assert "<script" not in article.content_html and "onclick" not in article.content_html
        assert "<b>paragraph</b>" in article.content_html


def _item(aid: str, title: str, summary: str, content: str, rel: float | None) -> DigestItem:
    article = Article(
        id=aid,
        feed_url="https://x.example/feed",
        source="X",
        url=f"https://x.example/{aid}",
        title=title,
        summary=summary,
        published_at=NOW - timedelta(hours=1),
        content=content,
    )
    found = nato(title, summary, content)
    assert found is not None
    if rel is not None:
        found = TopicMatch(found.topic, found.rule, found.hits, rel)
    return DigestItem(article, (found,), aid)


def test_snippet_is_the_sentence_where_the_topic_matched() -> None:
    item = _item(
        "a",
        "Alliance chief speaks",
        "A speech in Munich.",
        "MUNICH - He was blunt. The NATO chief urged more spending on air defence. "
        "He also met ministers. Then he left.",
        None,
    )
    segments = story_snippet(item.article, item.matches, "NATO", 280)
    text = "".join(s.text for s in segments)
    assert text == "The NATO chief urged more spending on air defence. He also met ministers."
    assert [s.text for s in segments if s.hit] == ["NATO"]
    # A long sentence is cut around the hit.
    long = _item(
        "b", "x", "", "Filler words " * 40 + "then NATO spoke " + "and more " * 40 + ".", None
    )
    cut = "".join(s.text for s in story_snippet(long.article, long.matches, "NATO", 120))
    assert "NATO" in cut and len(cut) <= 124


def test_sections_order_by_relevance_fold_passing_mentions_and_drop_below_minimum() -> None:
    items = [
        _item("low", "Economy shrinks", "Exports fell.", FILLER + "It must meet NATO goals.", 0.1),
        _item("mid", "Quiet headline", "NATO met.", "NATO met. " + FILLER, 0.5),
        _item("top", "NATO summit opens", "NATO met.", "NATO met. " + FILLER, 0.9),
    ]
    settings = DigestSettings(also_mentioned_below=0.25)
    built = build_digest(
        items,
        topics=["NATO"],
        window_start=NOW - timedelta(days=1),
        window_end=NOW,
        generated_at=NOW,
        timezone="UTC",
        feed_health=(),
        volume={},
        settings=settings,
    )
    (section,) = built.sections
    assert [s.article.id for s in section.stories] == ["top", "mid"]
    assert [s.article.id for s in section.mentioned] == ["low"]
    assert section.total == 3 and section.more == 0
    text = render_text(built, templates_dir())
    assert (
        text.index("NATO summit opens")
        < text.index("Also mentioned:")
        < text.index("Economy shrinks")
    )
    kept = drop_below_min_relevance(items, {"NATO": 0.3})
    assert [i.article.id for i in kept] == ["mid", "top"]
    assert drop_below_min_relevance(items, {}) == items


def test_docs_document_the_score() -> None:
    rules = (Path(__file__).resolve().parent.parent / "docs" / "rules.md").read_text(
        encoding="utf-8"
    )
    start = rules.index("\n## Relevance\n")
    section = rules[start : rules.index("\n## ", start + 1)]
    for words in ("min_relevance", "Also mentioned", "also_mentioned_below"):
        assert words in section


def test_the_volume_chart_counts_what_the_digest_keeps_and_long_topic_names_keep_columns(
    feed_server: Any, tmp_path: Path, prefect_harness: None
) -> None:
    """A match below the topic's min_relevance is left out of the stories and out of the
    chart's count; a topic name longer than the columns' 20 characters widens them."""
    import io

    from newswatch import cli
    from tests.helpers import rss, write_sources

    now = datetime.now(UTC)
    passing = (
        "The bakery on Main Street won the regional award for its sourdough, its rye and its "
        "pastries, judged over three days by a panel of twelve bakers and food writers. The "
        "owner thanked her staff, her suppliers and her customers, among them a retired NATO "
        "interpreter who comes every morning."
    )
    items = [
        ("nato", "NATO summit opens in The Hague", "NATO leaders meet on defence spending."),
        ("bakery", "Local bakery wins regional award", passing),
        ("greece", "Mitsotakis meets Erdogan in Ankara", "Talks on the Aegean."),
    ]
    entries = [
        {"title": t, "link": f"https://w.example/{i}", "guid": i, "description": d,
         "pubDate": now - timedelta(minutes=5)}
        for i, t, d in items
    ]  # fmt: skip
    feed_server.route("/w.xml", body=rss("Wire", entries))
    topics = (
        "topics:\n  - name: NATO\n    terms: [NATO]\n    min_relevance: 0.3\n"
        "  - name: Greek-Turkish relations\n    terms: [Mitsotakis]\n"
    )
    sources = write_sources(
        tmp_path / "s.yaml", [(feed_server.url("/w.xml"), "Wire")], topics=topics
    )
    db, out_dir = tmp_path / "w.duckdb", tmp_path / "d"
    assert cli.main(["poll", "--sources", str(sources), "--db", str(db)], out=io.StringIO()) == 0
    argv = ["digest", "--sources", str(sources), "--db", str(db), "--out", str(out_dir)]
    assert cli.main(argv, out=io.StringIO()) == 0
    [text_file] = out_dir.glob("digest-*.txt")
    text = text_file.read_text(encoding="utf-8")
    assert "Local bakery" not in text  # below NATO's min_relevance
    # ... and the digest says so, in both parts (it dropped stories silently).
    assert "\n1 NATO match under its min_relevance left out.\n" in text
    [html_file] = out_dir.glob("digest-*.html")
    assert "1 NATO match under its min_relevance left out" in html_file.read_text("utf-8")
    # The chart: today's NATO count is the one story kept, not the two matches.
    chart = text.split("Matching articles per day", 1)[1].split("==", 1)[0]
    rows = {line.split()[0]: line for line in chart.splitlines() if line.strip()[:1].isalpha()}
    assert rows["NATO"].split()[-1] == "1", chart
    # Columns line up whatever the topic name's length.
    nato, greek = rows["NATO"], rows["Greek-Turkish"]
    assert len(nato) == len(greek) and nato.rstrip()[-1] == greek.rstrip()[-1] == "1", chart
    counts = [line for line in text.splitlines() if re.match(r"  [^ (].* \d+ stor", line)]
    assert len(counts) == 2 and len({line.index(" stor") for line in counts}) == 1, counts


def test_a_rule_with_names_false_finds_passing_mentions_only() -> None:
    """`names: false`: its terms do not name the topic, so a story it alone matched ranks as
    a passing mention however often they occur; with the topic's name also there, that name
    sets the score."""
    m = compile_topics(
        [
            {
                "name": "Turkey",
                "rules": [
                    {"any": ["Turkey", "Ankara"]},
                    {"names": False, "all": [["reunification"], ["Cyprus"]]},
                ],
            }
        ]
    )
    talks = m.match(
        "Cyprus reunification talks resume",
        "Cyprus reunification talks resume in Geneva. The reunification plan is on the table.",
    )
    assert [t.topic for t in talks] == ["Turkey"]
    assert talks[0].relevance is not None and talks[0].relevance <= 0.2
    named = m.match(
        "Turkey backs Cyprus reunification talks",
        "Turkey said it backs the Cyprus reunification talks, Ankara's envoy said.",
    )
    assert named[0].relevance is not None and named[0].relevance > 0.5
    with pytest.raises(TopicRuleError, match="`names` is true or false"):
        compile_topics([{"name": "T", "rules": [{"names": "no", "any": ["x"]}]}])


def test_match_verbose_lists_no_names_for_a_passing_mention_rule() -> None:
    m = compile_topics(
        [
            {
                "name": "Turkey",
                "rules": [
                    {"any": ["Turkey"]},
                    {"names": False, "all": [["reunification"], ["Cyprus"]]},
                ],
            }
        ]
    )
    line = json.dumps({"title": "Cyprus reunification talks resume"})
    out = json.loads(next(iter(match_jsonl([line], m, verbose=True))))
    assert out["matches"][0]["names"] == []
    line = json.dumps({"title": "Turkey backs Cyprus reunification talks"})
    out = json.loads(next(iter(match_jsonl([line], m, verbose=True))))
    assert out["matches"][0]["names"] == ["Turkey"]
