"""A feed body cut off mid-document (a cut connection, a server bug), at the parse level."""

from __future__ import annotations

import codecs
from datetime import UTC, datetime

import pytest

from newswatch.models import ParsedFeed
from newswatch.parse import rss_fastpath
from newswatch.parse.feed import (
    CUT_BETWEEN_ENTRIES,
    CUT_ENTRY_LEFT_OUT,
    CUT_NO_ENTRY,
    parse_feed,
)
from tests.conftest import CORPUS

NOW = datetime(2026, 2, 20, 12, 0, tzinfo=UTC)
FEED_URL = "https://feeds.example.com/f.xml"


def _parse(body: bytes, content_type: str | None = "application/rss+xml") -> ParsedFeed:
    return parse_feed(body, feed_url=FEED_URL, source="Example", now=NOW, content_type=content_type)


# --- a body cut off mid-document -------------------------------------------------------------

RSS = (
    '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>Wire</title>\n'
    + "".join(
        f"<item><title>Story {i}</title><link>https://news.example.com/{i}</link>"
        f'<guid isPermaLink="false">story-{i}</guid><description>Text of story {i}.</description>'
        f"<pubDate>Thu, 19 Feb 2026 0{i}:00:00 +0000</pubDate></item>\n"
        for i in range(1, 4)
    )
    + "</channel></rss>\n"
).encode()

ATOM = (
    '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
    "<title>Wire</title>\n"
    + "".join(
        f'<entry><title>Story {i}</title><link href="https://news.example.com/{i}"/>'
        f"<id>tag:news.example.com,2026:{i}</id><summary>Text of story {i}.</summary>"
        f"<updated>2026-02-19T0{i}:00:00Z</updated></entry>\n"
        for i in range(1, 4)
    )
    + "</feed>\n"
).encode()


def _last_entry_span(body: bytes, start_tag: bytes, end_tag: bytes) -> tuple[int, int]:
    start = body.rindex(start_tag)
    return start, body.index(end_tag, start) + len(end_tag)


@pytest.mark.parametrize(
    ("body", "tags"), [(RSS, (b"<item>", b"</item>")), (ATOM, (b"<entry>", b"</entry>"))]
)
def test_the_entry_a_body_ends_inside_is_left_out_wherever_it_ends(
    body: bytes, tags: tuple[bytes, bytes]
) -> None:
    whole = _parse(body)
    assert whole.warning is None and len(whole.articles) == 3
    start, end = _last_entry_span(body, *tags)
    opened = start + len(tags[0])
    # Every cut from inside the last entry's start tag to just before its end tag closes.
    for cut in range(start + 1, end):
        parsed = _parse(body[:cut])
        assert parsed.error is None, cut
        # The complete entries, exactly as the complete feed gives them (ids, links, text).
        assert parsed.articles == whole.articles[:2], body[:cut][-40:]
        # Inside the start tag ("<ite") no entry has begun: the body ends between entries.
        expected = CUT_ENTRY_LEFT_OUT if cut >= opened else CUT_BETWEEN_ENTRIES
        assert parsed.warning == expected, body[:cut][-40:]


@pytest.mark.parametrize("body", [RSS, ATOM])
def test_a_body_cut_between_entries_keeps_them_all_and_says_it_was_cut(body: bytes) -> None:
    whole = _parse(body)
    for tail in (b"</item>\n", b"</entry>\n"):
        if tail in body:
            end = body.rindex(tail) + len(tail)
    for cut in (end - 1, end, len(body) - len(b"</rss>\n"), len(body) - 3):
        parsed = _parse(body[:cut])
        assert parsed.articles == whole.articles, body[:cut][-30:]
        assert parsed.warning == CUT_BETWEEN_ENTRIES, body[:cut][-30:]


def test_the_walk_through_feed_cut_mid_link_stores_no_junk_article() -> None:
    # The user's case: the body ends inside the last item's <link>.
    body = RSS[: RSS.rindex(b"<link>https://news.example.com/3") + len(b"<link>https://ne")]
    parsed = _parse(body)
    assert [a.url for a in parsed.articles] == [
        "https://news.example.com/1",
        "https://news.example.com/2",
    ]
    assert all(a.url and a.summary for a in parsed.articles)
    assert parsed.warning is not None and "body ends mid-document (truncated?)" in parsed.warning


def test_a_body_cut_before_its_first_complete_entry_is_a_one_line_feed_error() -> None:
    body = RSS[: RSS.index(b"<link>https://news.example.com/1") + 10]
    parsed = _parse(body)
    assert parsed.articles == ()
    assert parsed.error is not None and parsed.error.startswith(CUT_NO_ENTRY)
    assert "\n" not in parsed.error


def test_a_cut_body_in_broken_xml_still_loses_only_its_last_entry() -> None:
    # A bare "&" breaks the XML before the cut: the cut is judged from the bytes.
    body = RSS.replace(b"Story 1</title>", b"Story 1 & more</title>", 1)
    whole = _parse(body)
    assert whole.warning is None and len(whole.articles) == 3  # not cut: nothing changes
    cut = body[: body.rindex(b"<link>https://news.example.com/3") + 15]
    parsed = _parse(cut)
    assert [a.url for a in parsed.articles] == [a.url for a in whole.articles[:2]]
    assert parsed.warning == CUT_ENTRY_LEFT_OUT


def test_a_cut_utf16_body_loses_only_its_last_entry() -> None:
    text = RSS.decode().replace('encoding="utf-8"', 'encoding="utf-16"')
    body = codecs.BOM_UTF16_LE + text.encode("utf-16-le")
    cut = body[: len(codecs.BOM_UTF16_LE) + 2 * text.rindex("<link>https://news.example.com/3")]
    parsed = _parse(cut, content_type="application/xml")
    assert [a.title for a in parsed.articles] == ["Story 1", "Story 2"]
    assert parsed.warning == CUT_ENTRY_LEFT_OUT


def test_the_rss_fast_path_never_reads_a_cut_body() -> None:
    # It reads only well-formed documents; a cut one goes to feedparser (and the check above).
    ct = "application/rss+xml; charset=utf-8"
    assert rss_fastpath.parse_rss(RSS, base=FEED_URL, content_type=ct) is not None
    for cut in (len(RSS) - 3, RSS.rindex(b"<link>") + 10):
        assert rss_fastpath.parse_rss(RSS[:cut], base=FEED_URL, content_type=ct) is None


def test_complete_feeds_in_the_corpus_carry_no_cut_warning() -> None:
    real = sorted((CORPUS / "realnews").glob("*.xml"))
    assert len(real) >= 20
    for path in real:
        parsed = _parse(path.read_bytes(), content_type="application/rss+xml")
        assert parsed.warning is None, path.name


def test_a_complete_entry_without_link_or_guid_is_kept_with_no_link() -> None:
    # Documented (docs/scheduling.md): every entry a reader can identify is stored; its id
    # comes from its title or text. Only a stored link must be a canonical http(s) one.
    body = RSS.replace(b"<link>https://news.example.com/2</link>", b"").replace(
        b'<guid isPermaLink="false">story-2</guid>', b""
    )
    first, second = _parse(body), _parse(body)
    assert [a.url for a in first.articles] == [
        "https://news.example.com/1",
        "",
        "https://news.example.com/3",
    ]
    assert first.articles[1].id == second.articles[1].id
    assert first.warning is None
