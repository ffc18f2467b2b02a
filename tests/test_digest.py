from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from newswatch.config import DigestSettings
from newswatch.digest.build import build_digest
from newswatch.digest.headline import subject
from newswatch.digest.highlight import snippet
from newswatch.digest.model import Digest, DigestItem, Segment
from newswatch.digest.render import render_html, render_text
from newswatch.digest.sanitize import safe_link
from newswatch.models import Article, FeedHealth, TermHit, TopicMatch
from newswatch.resources import templates_dir

END = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)  # 07:00 in Istanbul
START = END - timedelta(hours=24)
TOPICS = ("Turkey", "NATO", "S-400")
TEMPLATES = templates_dir()


def hits_for(text: str, field: str, words: Sequence[str]) -> tuple[TermHit, ...]:
    out = []
    for word in words:
        for m in re.finditer(re.escape(word), text):
            out.append(
                TermHit(field=field, start=m.start(), end=m.end(), term=word, text=m.group(0))  # type: ignore[arg-type]
            )
    return tuple(out)


def item(
    id: str,
    title: str,
    summary: str = "",
    *,
    topics: dict[str, Sequence[str]],
    source: str = "Example",
    hours_ago: float = 1.0,
    cluster: str | None = None,
    url: str | None = None,
) -> DigestItem:
    article = Article(
        id=id,
        feed_url=f"https://{source.lower()}.example/feed",
        source=source,
        url=url if url is not None else f"https://{source.lower()}.example/{id}",
        title=title,
        summary=summary,
        published_at=END - timedelta(hours=hours_ago),
    )
    matches = tuple(
        TopicMatch(
            topic=topic,
            rule="terms",
            hits=hits_for(title, "title", words) + hits_for(summary, "summary", words),
        )
        for topic, words in topics.items()
    )
    return DigestItem(article=article, matches=matches, cluster_id=cluster or id)


HEALTHY = (
    FeedHealth(url="https://a.example/feed", name="A", status="ok"),
    FeedHealth(url="https://b.example/feed", name="B", status="ok"),
)


def digest(
    items: Sequence[DigestItem],
    *,
    health: Sequence[FeedHealth] = HEALTHY,
    settings: DigestSettings | None = None,
    volume: dict[str, list[tuple[date, int]]] | None = None,
) -> Digest:
    return build_digest(
        items,
        topics=TOPICS,
        window_start=START,
        window_end=END,
        generated_at=END + timedelta(minutes=2),
        timezone="Europe/Istanbul",
        feed_health=health,
        volume=volume or {},
        settings=settings or DigestSettings(),
    )


def sample_items() -> list[DigestItem]:
    return [
        # One story from three outlets, matching Turkey (title) and S-400 (title) and NATO.
        item(
            "bbg",
            "Turkey’s S-400 purchase tops agenda for Erdogan-Trump talks",
            "Turkey’s purchase of the S-400 strains ties with its NATO ally.",
            topics={"Turkey": ["Turkey"], "S-400": ["S-400"], "NATO": ["NATO"]},
            source="Bloomberg",
            hours_ago=5,
            cluster="bbg",
        ),
        item(
            "yahoo",
            "Turkey's S-400 purchase tops agenda for Erdogan-Trump talks - Bloomberg",
            "Turkey's purchase of the S-400 strains ties with its NATO ally.",
            topics={"Turkey": ["Turkey"], "S-400": ["S-400"], "NATO": ["NATO"]},
            source="Yahoo",
            hours_ago=4,
            cluster="bbg",
        ),
        item(
            "sabah",
            "Erdogan and Trump to discuss Turkey's S-400s",
            "Turkey says the S-400 system will be activated.",
            topics={"Turkey": ["Turkey"], "S-400": ["S-400"]},
            source="Sabah",
            hours_ago=3,
            cluster="bbg",
        ),
        # Turkey in the title, one outlet, older.
        item(
            "lira",
            "Turkey's lira slides as central bank holds rates",
            "The central bank kept its benchmark rate unchanged.",
            topics={"Turkey": ["Turkey"]},
            source="Reuters",
            hours_ago=20,
        ),
        # Turkey only in the summary, fresh.
        item(
            "quake",
            "Earthquake rattles eastern provinces",
            "A magnitude 5.1 quake struck eastern Turkey overnight, officials said.",
            topics={"Turkey": ["Turkey"]},
            source="BBC",
            hours_ago=1,
        ),
        # NATO in the title.
        item(
            "summit",
            "NATO allies agree new spending target",
            "Leaders agreed to raise defence budgets.",
            topics={"NATO": ["NATO"]},
            source="DW",
            hours_ago=2,
        ),
    ]


def story_titles(d: Digest) -> dict[str, list[str]]:
    return {s.topic: [st.title_text for st in s.stories] for s in d.sections}


# -- grouping, ranking, tags -------------------------------------------------------------


def test_each_story_appears_once_in_its_strongest_topic_tagged_with_all() -> None:
    d = digest(sample_items())
    ids = [st.cluster_id for s in d.sections for st in s.stories]
    assert sorted(ids) == ["bbg", "lira", "quake", "summit"]
    story = next(st for s in d.sections for st in s.stories if st.cluster_id == "bbg")
    # Turkey and S-400 both hit the title of all three reports; Turkey comes first in the
    # topic list, so the tie goes to Turkey. NATO only hit summaries, so it ranks last.
    assert story.topic == "Turkey"
    assert story.topics == ("Turkey", "S-400", "NATO")
    assert [t.topic for t in d.topics] == list(TOPICS)
    assert {t.topic: t.listed for t in d.topics} == {"Turkey": 3, "NATO": 1, "S-400": 0}
    # Stories tagged with a topic but listed under another are noted, not added.
    assert {t.topic: t.elsewhere for t in d.topics} == {
        "Turkey": (),
        "NATO": (("Turkey", 1),),
        "S-400": (("Turkey", 1),),
    }
    assert {t.topic: t.tagged for t in d.topics} == {"Turkey": 3, "NATO": 2, "S-400": 1}
    assert d.story_count == 4
    assert d.article_count == 6


def test_strongest_topic_is_the_one_with_title_hits() -> None:
    d = digest(
        [
            item(
                "x",
                "NATO summit opens in The Hague",
                "Turkey and other allies arrive for the NATO summit.",
                topics={"Turkey": ["Turkey"], "NATO": ["NATO"]},
            )
        ]
    )
    assert [s.topic for s in d.sections] == ["Turkey", "NATO"]
    turkey, nato = d.sections
    assert [st.title_text for st in nato.stories] == ["NATO summit opens in The Hague"]
    # Listed in full under NATO; Turkey keeps a section with a cross-reference to it.
    assert turkey.stories == () and turkey.tagged == 1
    assert [(x.title, x.listed_under) for x in turkey.see_also] == [
        ("NATO summit opens in The Hague", "NATO")
    ]
    assert nato.stories[0].topics == ("NATO", "Turkey")


def test_ranking_title_match_then_outlets_then_recency() -> None:
    d = digest(sample_items())
    turkey = story_titles(d)["Turkey"]
    # The three-outlet story with a title match beats the one-outlet title match, which
    # beats the fresher story that only matched in its summary.
    assert turkey == [
        "Turkey’s S-400 purchase tops agenda for Erdogan-Trump talks",
        "Turkey's lira slides as central bank holds rates",
        "Earthquake rattles eastern provinces",
    ]


def test_recency_breaks_ties_between_equal_stories() -> None:
    d = digest(
        [
            item("old", "Turkey old story", topics={"Turkey": ["Turkey"]}, hours_ago=20),
            item("new", "Turkey new story", topics={"Turkey": ["Turkey"]}, hours_ago=2),
        ]
    )
    assert story_titles(d)["Turkey"] == ["Turkey new story", "Turkey old story"]


def test_also_reported_by_lists_other_outlets_with_links() -> None:
    d = digest(sample_items())
    story = d.sections[0].stories[0]
    assert story.article.source == "Bloomberg"  # most title hits, then the earliest
    assert [(o.source, o.url) for o in story.also] == [
        ("Yahoo", "https://yahoo.example/yahoo"),
        ("Sabah", "https://sabah.example/sabah"),
    ]
    assert story.outlets == 3
    page = render_html(d, TEMPLATES)
    also = re.search(r"Also reported by:(.*?)</div>", page, re.S)
    assert also is not None
    assert re.findall(r'href="([^"]+)"[^>]*>([^<]+)</a>', also.group(1)) == [
        ("https://yahoo.example/yahoo", "Yahoo"),
        ("https://sabah.example/sabah", "Sabah"),
    ]


def test_same_outlet_twice_in_a_cluster_is_not_listed_as_another_outlet() -> None:
    items = [
        item("a1", "Turkey story", topics={"Turkey": ["Turkey"]}, source="A", cluster="c"),
        item("a2", "Turkey story (updated)", topics={"Turkey": ["Turkey"]}, source="A",
             cluster="c", hours_ago=0.5),
    ]  # fmt: skip
    story = digest(items).sections[0].stories[0]
    assert story.also == ()
    assert story.outlets == 1


def test_max_stories_per_topic_and_more() -> None:
    items = [
        item(f"t{i}", f"Turkey story number {i}", topics={"Turkey": ["Turkey"]}, hours_ago=i + 1)
        for i in range(7)
    ]
    d = digest(items, settings=DigestSettings(max_stories_per_topic=3))
    section = d.sections[0]
    assert len(section.stories) == 3
    assert section.total == 7
    # Every other story about the topic in one line each ("More:"): none is hidden.
    assert [st.article.id for st in section.more_stories] == ["t3", "t4", "t5", "t6"]
    assert section.more == 0
    page, text = render_html(d, TEMPLATES), render_text(d, TEMPLATES)
    assert "More:</span>" in page and "\n   More:\n" in text
    assert "story number 6" in page and "story number 6" in text
    assert "more stories that mention" not in page
    assert subject(d).endswith(": 7 stories (Turkey 7, NATO 0, S-400 0)")


def test_only_passing_mentions_beyond_the_limit_are_counted_not_listed() -> None:
    from dataclasses import replace as _replace

    def scored(i: int, relevance: float) -> DigestItem:
        it = item(f"p{i}", f"Turkey mention {i}", topics={"Turkey": ["Turkey"]}, hours_ago=i + 1)
        return _replace(it, matches=(_replace(it.matches[0], relevance=relevance),))

    d = digest([scored(i, 0.1) for i in range(5)], settings=DigestSettings(max_stories_per_topic=2))
    section = d.sections[0]
    assert len(section.mentioned) == 2 and section.more == 3
    page, text = render_html(d, TEMPLATES), render_text(d, TEMPLATES)
    assert "and 3 more stories that mention Turkey in passing" in page
    assert "and 3 more stories that mention Turkey in passing" in text


def test_stories_about_a_topic_beyond_the_limit_come_before_passing_mentions() -> None:
    """With more stories about a topic than the section shows, the next ones are listed
    (one line each) before any passing mention; none is hidden behind "and N more" while a
    story that only mentions the topic is shown (a digest walk-through)."""
    from dataclasses import replace as _replace

    def scored(i: int, relevance: float) -> DigestItem:
        it = item(f"s{i}", f"Turkey story {i}", topics={"Turkey": ["Turkey"]}, hours_ago=i + 1)
        return _replace(it, matches=(_replace(it.matches[0], relevance=relevance),))

    about = [scored(i, 0.9 - i / 100) for i in range(5)]
    passing = [scored(10 + i, 0.1) for i in range(3)]
    section = digest([*about, *passing], settings=DigestSettings(max_stories_per_topic=3))
    section = section.sections[0]
    assert [st.article.id for st in section.stories] == ["s0", "s1", "s2"]
    assert [st.article.id for st in section.more_stories] == ["s3", "s4"]
    assert [st.article.id for st in section.mentioned] == ["s10"]  # what the limit leaves
    assert section.more == 2


def test_matches_to_unknown_topics_are_ignored() -> None:
    d = digest([item("x", "Brexit talks resume", topics={"Brexit": ["Brexit"]})])
    assert d.quiet
    assert d.sections == ()


# -- highlighting and snippets -----------------------------------------------------------


def test_title_highlight_spans_with_html_special_characters() -> None:
    title = 'AT&T <b>deal</b>: "Turkey" & NATO <script>x</script> Turkey'
    d = digest([item("x", title, topics={"Turkey": ["Turkey"], "NATO": ["NATO"]})])
    story = d.sections[0].stories[0]
    assert [s.text for s in story.title if s.hit] == ["Turkey", "NATO", "Turkey"]
    assert story.title_text == title
    page = render_html(d, TEMPLATES)
    link = re.search(r'<a href="https://example.example/x"[^>]*>(.*?)</a>', page, re.S)
    assert link is not None
    inner = link.group(1)
    assert re.findall(r'<span class="hl"[^>]*>(.*?)</span>', inner) == ["Turkey", "NATO", "Turkey"]
    # Everything else is escaped text: without the highlight tags it is the escaped title.
    assert re.sub(r"</?span[^>]*>", "", inner) == (
        'AT&amp;T &lt;b&gt;deal&lt;/b&gt;: "Turkey" &amp; NATO &lt;script&gt;x&lt;/script&gt; Turkey'
    )
    assert "<script>x" not in page
    assert "<b>deal" not in page


def test_snippet_is_the_sentence_of_the_first_summary_hit() -> None:
    summary = ("Lorem ipsum dolor sit amet. " * 30) + "Then Turkey said no. " + ("Tail text. " * 30)
    d = digest(
        [item("x", "Title without it", summary, topics={"Turkey": ["Turkey"]})],
        settings=DigestSettings(snippet_chars=120),
    )
    story = d.sections[0].stories[0]
    # The sentence where the topic matched, and the next one since both are short.
    assert story.snippet_text == "Then Turkey said no. Tail text."
    assert [s.text for s in story.snippet if s.hit] == ["Turkey"]
    # A sentence longer than the limit is cut around the hit, on word boundaries.
    long = ("Lorem ipsum dolor sit amet, " * 30) + "then Turkey said no, " + ("tail text, " * 30)
    d = digest(
        [item("y", "Title without it", long, topics={"Turkey": ["Turkey"]})],
        settings=DigestSettings(snippet_chars=120),
    )
    story = d.sections[0].stories[0]
    body = story.snippet_text.strip("…\u00a0")
    assert len(body) <= 120
    assert story.snippet[0].text.startswith("…")
    assert story.snippet[-1].text.endswith("…")
    assert [s.text for s in story.snippet if s.hit] == ["Turkey"]
    assert body in long
    assert body.split()[0] in {"Lorem", "ipsum", "dolor", "sit", "amet,"}


def test_snippet_adjusts_offsets_and_keeps_html_special_characters_as_text() -> None:
    summary = "x" * 10 + " <a & b> " + "y " * 100 + "Turkey & <NATO> " + "z " * 200
    spans = [(m.start(), m.end()) for m in re.finditer("Turkey|NATO", summary)]
    segs = snippet(summary, spans, 80)
    assert [s.text for s in segs if s.hit] == ["Turkey", "NATO"]
    assert any("& <" in s.text for s in segs if not s.hit)


def test_short_summary_is_shown_whole_and_without_hits_from_the_start() -> None:
    assert snippet("Short and sweet.", [], 100) == (Segment("Short and sweet."),)
    long = "word " * 100
    segs = snippet(long, [], 50)
    assert segs[0].text.startswith("word") and segs[-1].text.endswith("…")


def test_hits_with_offsets_that_do_not_match_the_text_are_ignored() -> None:
    art_item = item("x", "Turkey talks", topics={"Turkey": ["Turkey"]})
    bad = TopicMatch(
        topic="Turkey",
        rule="terms",
        hits=(
            TermHit(field="title", start=0, end=6, term="Turkey", text="Turkey"),
            TermHit(field="title", start=3, end=99, term="x", text="x"),
            TermHit(field="title", start=7, end=12, term="NATO", text="NATO!"),
        ),
    )
    d = digest([DigestItem(art_item.article, (bad,), "x")])
    assert [s.text for s in d.sections[0].stories[0].title if s.hit] == ["Turkey"]


# -- escaping and links ------------------------------------------------------------------


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.hrefs += [v or "" for k, v in attrs if k in ("href", "src")]


def test_feed_text_is_escaped_and_bad_links_dropped() -> None:
    evil = item(
        "evil",
        'Turkey <img src=x onerror="alert(1)"> "quoted"',
        "Turkey <script>alert('s')</script> & <iframe src=//evil>",
        topics={"Turkey": ["Turkey"]},
        source='Evil <b onclick="x">Outlet</b>',
        url="javascript:alert(document.cookie)",
    )
    copy = item(
        "copy",
        "Turkey copy",
        topics={"Turkey": ["Turkey"]},
        source="Copycat",
        url="data:text/html;base64,PHNjcmlwdD4=",
        cluster="evil",
        hours_ago=0.5,
    )
    d = digest([evil, copy])
    page = render_html(d, TEMPLATES)
    parser = _Links()
    parser.feed(page)
    assert all(h.startswith(("http://", "https://")) for h in parser.hrefs)
    assert not {"img", "script", "iframe", "b"} & set(parser.tags)
    # Handler text survives only as escaped text, never inside a tag.
    assert 'onerror="alert(1)"' in html.unescape(page)
    assert not re.search(r"<[a-zA-Z][^>]*\son\w+\s*=", page)
    assert "&lt;script&gt;" in page
    text = render_text(d, TEMPLATES)
    assert "javascript:" not in text and "data:text" not in text
    assert "Copycat" in page and "Copycat" in text  # listed, without a link


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.com/a?b=1#c", "https://example.com/a?b=1#c"),
        ("  HTTP://Example.com/x  ", "http://Example.com/x"),
        ("https://example.com/a b", "https://example.com/a%20b"),
        ("javascript:alert(1)", None),
        ("JaVaScRiPt:alert(1)", None),
        ("data:text/html,hi", None),
        ("vbscript:x", None),
        ("//example.com/x", None),
        ("/relative/path", None),
        ("ftp://example.com/f", None),
        ("https://user:pw@evil.example/", None),
        ("https:\\\\evil.example", None),
        ("https://exa\nmple.com/", None),
        ("https:///nohost", None),
        ("https://example.com:99999/", None),
        ("", None),
    ],
)
def test_safe_link(url: str, expected: str | None) -> None:
    assert safe_link(url) == expected


# -- quiet day, feed health, subject -----------------------------------------------------

FAILING = FeedHealth(
    url="https://broken.example/rss",
    name="Broken Blog",
    status="failing",
    last_error="HTTP 404 Not Found",
    consecutive_failures=4,
    last_success_at=END - timedelta(days=2),
)
QUIET = FeedHealth(
    url="https://sleepy.example/rss",
    name="Sleepy Times",
    status="quiet",
    last_success_at=END - timedelta(minutes=5),  # polled just now: it answers
    items_per_day=0.0,
    last_item_at=END - timedelta(days=5),  # but its newest item is five days old
    usual_gap_s=2 * 3600.0,
)


def test_quiet_day_says_nothing_matched_and_lists_failing_feeds() -> None:
    d = digest([], health=(*HEALTHY, FAILING, QUIET))
    assert d.quiet
    page = render_html(d, TEMPLATES)
    text = render_text(d, TEMPLATES)
    for body in (page, text):
        assert "Nothing matched your topics" in body
        assert "Broken Blog" in body
        assert "HTTP 404 Not Found" in body
        assert "Sleepy Times" in body
        # Judged on its newest item's date against its own rhythm, and the note says so.
        assert (
            "newest item published 20 Nov 07:00 (5 days ago); it usually publishes every 2 hours"
        ) in body
    # The failing feed is named before the footer, and once: the footer points up to it.
    for body in (page, text):
        assert body.index("Broken Blog") < body.index("Feed health")
        assert body.count("HTTP 404 Not Found") == 1
    assert "Failing: the 1 listed at the top." in text
    assert subject(d) == "newswatch — 25 Nov 2026: no matching stories, 1 feed failing"
    assert "Nothing matched" in d.preheader and "1 feed failing" in d.preheader


def test_quiet_day_with_healthy_feeds_says_so() -> None:
    d = digest([])
    assert subject(d) == "newswatch — 25 Nov 2026: no matching stories"
    assert "All 2 feeds were polled" in render_text(d, TEMPLATES)
    assert "All 2 feeds were polled" in render_html(d, TEMPLATES)


def test_footer_reports_failing_feeds_on_a_busy_day_too() -> None:
    d = digest(sample_items(), health=(*HEALTHY, FAILING))
    page = render_html(d, TEMPLATES)
    assert "1 feed failing" in page
    footer = page[page.index("Feed health") :]
    assert "Broken Blog" in footer and "4 failed polls" in footer
    assert "2 of 3 feeds OK, 1 failing" in footer
    # A feed turned off in sources.yaml is not counted among them.
    off = FeedHealth(url="https://off.example/feed", name="Off", status="disabled")
    page = render_html(digest(sample_items(), health=(*HEALTHY, FAILING, off)), TEMPLATES)
    assert "2 of 3 feeds OK, 1 failing" in page[page.index("Feed health") :]


def test_subject_and_preheader() -> None:
    d = digest(sample_items(), settings=DigestSettings(title="Ankara desk"))
    assert subject(d) == "Ankara desk — 25 Nov 2026: 4 stories (Turkey 3, NATO 2, S-400 1)"
    assert d.preheader.startswith("Turkey 3, NATO 2, S-400 1. Top: ")
    page = render_html(d, TEMPLATES)
    pre = re.search(r'<div class="preheader"[^>]*>(.*?)</div>', page, re.S)
    assert pre is not None and pre.group(1).startswith(html.escape(d.preheader, quote=True)[:20])
    assert "display: none" in page[pre.start() : pre.end()]
    single = digest([item("x", "Turkey one", topics={"Turkey": ["Turkey"]})])
    assert subject(single) == "newswatch — 25 Nov 2026: 1 story (Turkey 1, NATO 0, S-400 0)"


def test_date_and_times_are_local_to_the_timezone() -> None:
    late = END - timedelta(hours=2, minutes=30)  # 01:30 UTC = 04:30 in Istanbul
    it = item("x", "Turkey", topics={"Turkey": ["Turkey"]}, hours_ago=2.5)
    d = digest([it])
    assert it.article.published_at == late
    assert d.date == date(2026, 11, 25)
    assert d.sections[0].stories[0].published_label == "25 Nov 04:30"
    assert d.window_label == (
        "New since 24 Nov 07:00, up to 25 Nov 07:00 (Europe/Istanbul, UTC+03:00)"
    )


# -- volume chart ------------------------------------------------------------------------


class _ChartCells(HTMLParser):
    """Per chart column: (empty cell height, bar height, bar bgcolor) from the attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.columns: list[tuple[int, int, str]] = []
        self._space = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag != "td":
            return
        if a.get("class") == "bar-space":
            self._space = int(a["height"] or 0)
        elif a.get("class") in ("bar", "bar-zero"):
            self.columns.append((self._space, int(a["height"] or 0), a.get("bgcolor") or ""))
            self._space = 0


def test_volume_chart_has_seven_days_scaled_to_the_peak() -> None:
    vol = {"Turkey": [(date(2026, 11, 25), 10), (date(2026, 11, 23), 5), (date(2026, 11, 1), 99)]}
    d = digest(sample_items(), volume=vol)
    turkey = d.topics[0].volume
    assert [b.day for b in turkey] == [date(2026, 11, 19) + timedelta(days=i) for i in range(7)]
    assert [b.count for b in turkey] == [0, 0, 0, 0, 5, 0, 10]
    assert turkey[-1].height_px == 28 and turkey[4].height_px == 14 and turkey[0].height_px == 0
    assert [b.count for b in d.topics[1].volume] == [0] * 7
    page = render_html(d, TEMPLATES)
    # Bars are table cells with height and bgcolor attributes (Outlook ignores div heights):
    # in each day's column the empty cell and the bar add up to the chart's height.
    cells = _ChartCells()
    cells.feed(page)
    turkey_cells = cells.columns[:7]
    assert [bar for _, bar, _ in turkey_cells] == [1, 1, 1, 1, 14, 1, 28]
    assert [space + bar for space, bar, _ in turkey_cells] == [28] * 7
    assert [color for _, _, color in turkey_cells] == ["#d1d5db"] * 4 + [
        "#60a5fa",
        "#d1d5db",
        "#60a5fa",
    ]
    assert '<div class="bar' not in page
    assert "<script" not in page and "<img" not in page
    text = render_text(d, TEMPLATES)
    assert re.search(r"Turkey\s+0\s+0\s+0\s+0\s+5\s+0\s+10\n", text)
    # Dated day labels, not ambiguous weekday letters.
    assert [b.label for b in turkey] == ["Thu 19", "Fri 20", "Sat 21", "Sun 22", "Mon 23",
                                         "Tue 24", "Wed 25"]  # fmt: skip
    assert "Mon 23" in text and "Mon 23" in page


def test_volume_bars_share_one_scale_across_topics_with_the_count_on_each() -> None:
    vol = {
        "Turkey": [(date(2026, 11, 25), 5)],
        "NATO": [(date(2026, 11, 25), 2), (date(2026, 11, 24), 5)],
    }
    d = digest(sample_items(), volume=vol)
    assert d.volume_peak == 5
    turkey, nato = d.topics[0].volume, d.topics[1].volume
    # 2 articles draw less than half as tall as 5, whichever topic they are in.
    assert turkey[-1].height_px == nato[-2].height_px == 28
    assert nato[-1].height_px == 12
    cells = _ChartCells()
    page = render_html(d, TEMPLATES)
    cells.feed(page)
    assert [bar for _, bar, _ in cells.columns[7:14]][-2:] == [28, 12]
    numbers = re.findall(r'class="chart-num"[^>]*>(\d+)<', page)
    assert numbers[:14] == ["0"] * 6 + ["5"] + ["0"] * 5 + ["5", "2"]


# -- html shape and the text alternative -------------------------------------------------


def test_html_is_email_safe() -> None:
    page = render_html(digest(sample_items(), health=(*HEALTHY, FAILING)), TEMPLATES)
    assert page.lower().startswith("<!doctype html>")
    assert '<meta name="color-scheme" content="light dark">' in page
    assert "prefers-color-scheme: dark" in page
    assert "max-width: 600px" in page or "max-width:600px" in page
    # CSS is inlined: only @media rules stay in <style>.
    style = re.search(r"<style>(.*?)</style>", page, re.S)
    assert style is not None
    assert re.sub(r"@media[^{]*\{(?:[^{}]*\{[^{}]*\})*[^{}]*\}", "", style.group(1)).strip() == ""
    assert 'class="story" style="' in page
    # No external resources: no scripts, images, stylesheets, fonts, frames.
    assert not re.search(r"<(script|img|link|iframe|object|embed|form|video|audio)\b", page)
    assert "url(" not in page and "@import" not in page


def test_text_version_has_the_same_stories_and_links() -> None:
    d = digest(sample_items())
    text = render_text(d, TEMPLATES)
    page = render_html(d, TEMPLATES)
    visible = html.unescape(re.sub(r"</?span[^>]*>", "", page))
    for section in d.sections:
        assert f"== {section.topic.upper()} (" in text
        for st in section.stories:
            assert st.title_text in text
            assert st.title_text in visible
            assert st.url is not None and st.url in text and st.url in page
            for other in st.also:
                assert f"{other.source}: {other.url}" in text
    assert "<" not in text.replace("<https://", "")  # no markup in the text version


def test_templates_dir_is_the_top_level_folder() -> None:
    repo = Path(__file__).resolve().parent.parent
    assert (TEMPLATES / "digest.html.j2").resolve() == (repo / "templates/digest.html.j2").resolve()


def test_counts_follow_one_rule_in_subject_header_sections_and_text() -> None:
    """A topic's count is every story carrying it; the total counts each story once; a
    story is listed once, under its placement topic, cross-referenced under the others."""
    d = digest(sample_items())
    assert {s.topic: s.total for s in d.sections} == {"Turkey": 3, "NATO": 1, "S-400": 0}
    assert {s.topic: s.tagged for s in d.sections} == {"Turkey": 3, "NATO": 2, "S-400": 1}
    assert d.story_count == 4
    assert subject(d).endswith(": 4 stories (Turkey 3, NATO 2, S-400 1)")
    assert d.preheader.startswith("Turkey 3, NATO 2, S-400 1. Top: ")
    page = html.unescape(re.sub(r"<[^>]+>", " ", render_html(d, TEMPLATES)))
    visible = " ".join(page.split())
    assert "NATO 2 stories 1 listed under Turkey" in visible  # header row
    assert "S-400 1 story 1 listed under Turkey" in visible
    assert "NATO · 2 stories (1 listed under Turkey)" in visible  # section title
    assert "Turkey · 3 stories" in visible and "Turkey · 3 stories (" not in visible
    s400 = next(st for s in d.sections for st in s.stories if "S-400" in st.topics)
    assert f"S-400: see “ {s400.title_text} ” ({s400.article.source}) under Turkey" in visible
    text = render_text(d, TEMPLATES)
    assert re.search(r"NATO\s+2 stories \(1 listed under Turkey\)", text)
    assert re.search(r"S-400\s+1 story \(1 listed under Turkey\)", text)
    assert "== NATO (2 stories; 1 listed under Turkey) ==" in text
    assert "== S-400 (1 story; 1 listed under Turkey) ==" in text
    assert f'S-400: see "{s400.title_text}" ({s400.article.source}) under Turkey' in text
    assert "== TURKEY (3 stories) ==" in text


def test_a_story_is_listed_under_the_topic_it_is_most_relevant_to() -> None:
    from dataclasses import replace as _replace

    it = item(
        "x",
        "Turkey and NATO talks",
        "Turkey NATO summary.",
        topics={"Turkey": ["Turkey"], "NATO": ["NATO"]},
    )
    # Without scores the title-hit fallback and topic order put it under Turkey.
    assert [s.topic for s in digest([it]).sections if s.stories] == ["Turkey"]
    scored = _replace(
        it,
        matches=tuple(_replace(m, relevance=0.9 if m.topic == "NATO" else 0.2) for m in it.matches),
    )
    d = digest([scored])
    assert [s.topic for s in d.sections if s.stories] == ["NATO"]
    turkey = next(s for s in d.sections if s.topic == "Turkey")
    assert [x.listed_under for x in turkey.see_also] == ["NATO"]


def test_an_outlet_s_flash_gives_way_to_its_full_report() -> None:
    """Lead and "Also reported by" show each outlet's full report, not its one-line flash."""
    turkey = {"Turkey": ["Turkey"]}
    items = [
        item("aa-flash", "SON DAKİKA: Turkey quake, magnitude 5.9", topics=turkey,
             source="AA", cluster="q", hours_ago=5),
        item("aa-full", "Turkey quake injures 12 in Malatya, AFAD says", "Turkey's AFAD said.",
             topics=turkey, source="AA", cluster="q", hours_ago=4),
        item("wire-flash", "BREAKING: Turkey quake felt across east", topics=turkey,
             source="Wire", cluster="q", hours_ago=4.5),
        item("wire-full", "Strong quake shakes eastern Turkey", topics=turkey,
             source="Wire", cluster="q", hours_ago=3.5),
    ]  # fmt: skip
    story = digest(items).sections[0].stories[0]
    assert story.article.id == "aa-full"
    assert [(o.source, o.url) for o in story.also] == [("Wire", "https://wire.example/wire-full")]
    # An outlet that sent only its flash is still listed, by the flash.
    story = digest([items[1], items[2]]).sections[0].stories[0]
    assert [(o.source, o.url) for o in story.also] == [("Wire", "https://wire.example/wire-flash")]


def test_the_lead_is_the_report_most_about_the_story_s_topic() -> None:
    a = item("a", "Quake in Turkey", topics={"Turkey": ["Turkey"]}, source="A", cluster="c")
    b = item("b", "Quake in Turkey", topics={"Turkey": ["Turkey"]}, source="B", cluster="c",
             hours_ago=0.5)  # fmt: skip
    b = replace(b, matches=(replace(b.matches[0], relevance=0.9),))
    a = replace(a, matches=(replace(a.matches[0], relevance=0.6),))
    assert digest([a, b]).sections[0].stories[0].article.id == "b"


def test_feeds_not_polled_yet_are_one_line_each_in_the_plain_text() -> None:
    """Two new feeds ran together on one line in the text part (a digest walk-through)."""
    health = [
        *HEALTHY,
        FeedHealth(url="https://n1.example/feed", name="New One", status="never_polled"),
        FeedHealth(url="https://n2.example/feed", name="New Two", status="never_polled"),
    ]
    text = render_text(digest(sample_items(), health=health), TEMPLATES)
    assert "  - New One <https://n1.example/feed>\n  - New Two <https://n2.example/feed>\n" in text


def test_a_right_to_left_title_in_a_cross_reference_reads_right_to_left() -> None:
    """The "see ... under" line isolates the title, as story titles are (S-400 sat at the
    wrong end of a Hebrew title)."""
    from dataclasses import replace as _replace

    title = "ישראל: טורקיה הפעילה את מערכת S-400"
    it = item("he", title, topics={"Turkey": ["S-400"], "S-400": ["S-400"]})
    it = _replace(
        it,
        matches=tuple(
            _replace(m, relevance=0.9 if m.topic == "S-400" else 0.5) for m in it.matches
        ),
    )
    d = digest([it])
    page, text = render_html(d, TEMPLATES), render_text(d, TEMPLATES)
    assert re.search(r'Turkey: see “<a href="[^"]+" dir="auto"[^>]*>' + re.escape(title), page)
    assert f'Turkey: see "\u2068{title}\u2069"' in text


def test_a_digest_too_big_for_gmail_shows_fewer_stories_in_full_and_keeps_its_footer() -> None:
    """Gmail clips an HTML body past ~102 KB, and what it hides is the end: the feed-health
    footer. Over the budget, the HTML shows fewer stories in full per topic (the others one
    line each), says so at its top, and ends with the footer; the plain text keeps them all."""
    from newswatch.digest.build import fit_for_mail
    from newswatch.digest.mail import html_part_bytes

    body = " ".join(f"Sentence {i} of the report says Turkey weighs its options." for i in range(8))
    items = [
        item(f"t{i}", f"Turkey story {i} with a long headline about the talks", body,
             topics={"Turkey": ["Turkey"]}, hours_ago=i + 1)
        for i in range(10)
    ]  # fmt: skip
    whole = digest(items, settings=DigestSettings(max_stories_per_topic=10))
    full_html = render_html(whole, TEMPLATES)
    budget = html_part_bytes(full_html) - 4000  # a little too big

    fitted, html = fit_for_mail(whole, lambda d: render_html(d, TEMPLATES), html_part_bytes, budget)
    assert html_part_bytes(html) <= budget
    section = fitted.sections[0]
    assert 1 <= fitted.shortened_to < 10 and len(section.stories) == fitted.shortened_to
    # No story is lost: those not in full are one line each under "More:".
    shown = [st.article.id for st in (*section.stories, *section.more_stories)]
    assert shown == [f"t{i}" for i in range(10)]
    assert "in full per topic here, to stay under Gmail" in html
    # What was one line each before stays shown: 25 stories, 10 in full and 10 in one line.
    many = [
        item(f"m{i}", f"Turkey item {i}", body, topics={"Turkey": ["Turkey"]}, hours_ago=i + 1)
        for i in range(25)
    ]
    whole25 = digest(many, settings=DigestSettings(max_stories_per_topic=10))
    shown25 = {st.article.id for s in whole25.sections for st in (*s.stories, *s.more_stories)}
    small = html_part_bytes(render_html(whole25, TEMPLATES)) - 3000
    fit25, _ = fit_for_mail(whole25, lambda d: render_html(d, TEMPLATES), html_part_bytes, small)
    assert (
        fit25.shortened_to
        and {st.article.id for s in fit25.sections for st in (*s.stories, *s.more_stories)}
        == shown25
    )
    assert html.rstrip().endswith("</html>") and "Feed health" in html
    # The plain text is rendered from the whole digest.
    text = render_text(whole, TEMPLATES)
    assert text.count("with a long headline") == 10 and "More:" not in text
    # Under the budget, nothing changes.
    same, same_html = fit_for_mail(
        whole, lambda d: render_html(d, TEMPLATES), html_part_bytes, budget + 8000
    )
    assert same is whole and same_html == full_html


def test_a_digest_too_big_even_with_one_story_in_full_lists_the_rest_in_its_plain_text() -> None:
    """Hundreds of stories about one topic: one in full is not small enough, so the HTML
    lists fewer one-line stories and says how many more the plain-text part has; the plain
    text lists every one."""
    from newswatch.digest.build import fit_for_mail
    from newswatch.digest.mail import html_part_bytes

    items = [
        item(f"b{i}", f"Turkey bulletin {i} with a headline long enough to weigh something",
             "Turkey said so.", topics={"Turkey": ["Turkey"]}, hours_ago=1 + i / 100)
        for i in range(300)
    ]  # fmt: skip
    whole = digest(items, settings=DigestSettings(max_stories_per_topic=5))
    budget = 70_000  # the page without stories is ~49 KB as sent; 300 lines are ~120 KB more
    fitted, html = fit_for_mail(whole, lambda d: render_html(d, TEMPLATES), html_part_bytes, budget)
    assert html_part_bytes(html) <= budget
    section = fitted.sections[0]
    assert fitted.shortened_to == 1 and section.more_elided > 0
    assert len(section.stories) + len(section.more_stories) + section.more_elided == 300
    assert f"and {section.more_elided} more Turkey stories in the plain-text part" in html
    assert section.more == 0
    text = render_text(whole, TEMPLATES)
    assert all(f"Turkey bulletin {i} " in text for i in range(300))


def test_a_long_title_in_a_cross_reference_is_cut() -> None:
    """A 330-character title repeated in full in a "see ... under" line buried the section."""
    from dataclasses import replace as _replace

    title = "Turkey and NATO " + "talks go on and on " * 20
    it = item("long", title, topics={"Turkey": ["Turkey"], "NATO": ["NATO"]})
    it = _replace(
        it,
        matches=tuple(_replace(m, relevance=0.9 if m.topic == "NATO" else 0.5) for m in it.matches),
    )
    page = render_html(digest([it]), TEMPLATES)
    see = re.search(r"Turkey: see “<a [^>]*>([^<]*)</a>”", page)
    assert see is not None and len(see.group(1)) <= 141 and see.group(1).endswith("…")
    assert 'aria-level="2" role="heading"' in page  # sections are headings to a screen reader


def test_a_story_is_led_by_a_headline_that_names_its_section_s_topic() -> None:
    """A NATO story told by a Greek paper whose headline names the Turks (a Turkey title hit)
    and by an English one whose headline names NATO: under NATO the English one leads."""
    greek = item(
        "el", "Τουρκικές φρεγάτες στην άσκηση Eastern Trident", "Άσκηση του ΝΑΤΟ στο Αιγαίο.",
        topics={"NATO": ["ΝΑΤΟ"], "Turkey": ["Τουρκικές"]}, source="ProtoThema", cluster="et",
        hours_ago=2,
    )  # fmt: skip
    english = item(
        "en", "NATO's Eastern Trident exercise begins in the Aegean", "Ships from nine allies.",
        topics={"NATO": ["NATO"]}, source="NavalNews", cluster="et", hours_ago=1,
    )  # fmt: skip
    d = digest([greek, english])
    (nato,) = [s for s in d.sections if s.stories]
    assert nato.topic == "NATO"
    assert nato.stories[0].article.id == "en"
