"""parse_feed against small recorded feeds with hand-written expectations, and its edge cases."""

from __future__ import annotations

import json
import pickle
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from newswatch.models import ParsedFeed
from newswatch.parse.feed import SUMMARY_HTML_MAX_CHARS, SUMMARY_MAX_CHARS, parse_feed

DATA = Path(__file__).resolve().parent / "data"
NOW = datetime(2026, 2, 18, 12, 0, tzinfo=UTC)
RECORDED = sorted(p.name.removesuffix(".expected.json") for p in DATA.glob("*.expected.json"))


def _feed_file(name: str) -> Path:
    (path,) = [p for p in DATA.glob(f"{name}.*") if not p.name.endswith(".expected.json")]
    return path


def _parse(body: bytes, **kwargs: Any) -> ParsedFeed:
    kwargs.setdefault("feed_url", "https://feeds.example.com/f.xml")
    kwargs.setdefault("source", "Example")
    kwargs.setdefault("now", NOW)
    return parse_feed(body, **kwargs)


def _rss(items: str, *, decl: str = '<?xml version="1.0" encoding="utf-8"?>') -> bytes:
    return f'{decl}<rss version="2.0"><channel><title>T</title>{items}</channel></rss>'.encode()


def test_recorded_feeds_exist() -> None:
    assert {"rss20-basic", "atom-xmlbase", "rss10", "turkish-windows1254"} <= set(RECORDED)


@pytest.mark.parametrize("name", RECORDED)
def test_recorded_feed_matches_expected(name: str) -> None:
    expected = json.loads((DATA / f"{name}.expected.json").read_text(encoding="utf-8"))
    now = datetime.fromisoformat(expected["now"])
    parsed = parse_feed(
        _feed_file(name).read_bytes(),
        feed_url=expected["feed_url"],
        source="Recorded",
        now=now,
        final_url=expected["final_url"],
        content_type=expected["content_type"],
    )
    assert parsed.error is None
    assert parsed.feed_url == expected["feed_url"]
    assert parsed.title == expected["feed_title"]
    assert len(parsed.articles) == len(expected["articles"])
    assert [list(pair) for pair in parsed.skipped] == expected.get("skipped", [])
    for article, want in zip(parsed.articles, expected["articles"], strict=True):
        assert article.title == want["title"]
        assert article.url == want["url"]
        assert article.guid == want["guid"]
        assert article.summary == want["summary"]
        assert want["summary_html_contains"] in article.summary_html
        assert article.author == want["author"]
        assert article.source == "Recorded"
        assert article.feed_url == expected["feed_url"]
        if want["published_at"] is None:
            assert article.published_at == now
            assert article.published_at_known is False
        else:
            assert article.published_at == datetime.fromisoformat(want["published_at"])
            assert article.published_at_known is True
        assert article.published_at.tzinfo is UTC
        assert len(article.id) == 32


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "application/rss+xml; charset=utf-8",  # header lies: body is windows-1254
        "text/xml; charset=ISO-8859-1",  # header lies with a charset that decodes anything
        "text/xml",  # RFC 3023 says us-ascii
        "text/html; charset=windows-1254",
        "application/xml; charset=no-such-charset",
    ],
)
def test_turkish_windows1254_whatever_the_header_says(content_type: str | None) -> None:
    parsed = _parse(_feed_file("turkish-windows1254").read_bytes(), content_type=content_type)
    titles = [a.title for a in parsed.articles]
    assert titles == [
        "Dışişleri Bakanı: S-400 görüşmeleri sürüyor",
        "Güneydoğu'da yağış uyarısı: ılık hava",
    ]
    assert parsed.title == "Haber Masası"


def test_utf8_body_with_a_header_claiming_latin1_is_read_as_utf8() -> None:
    body = _rss("<item><title>Erdoğan – ‘quoted’</title><guid>g</guid></item>")
    parsed = _parse(body, content_type="text/xml; charset=iso-8859-1")
    assert parsed.articles[0].title == "Erdoğan – ‘quoted’"


def test_utf8_body_without_declaration_or_content_type_is_utf8() -> None:
    body = _rss("<item><title>Kılıçdaroğlu</title><guid>g</guid></item>", decl="")
    assert _parse(body, content_type=None).articles[0].title == "Kılıçdaroğlu"


def test_utf16_body_with_bom_and_a_utf8_header() -> None:
    body = _rss("<item><title>Şile</title><guid>g</guid></item>", decl="").decode()
    parsed = _parse(b"\xff\xfe" + body.encode("utf-16-le"), content_type="text/xml; charset=utf-8")
    assert [a.title for a in parsed.articles] == ["Şile"]


def test_iso_8859_9_declared_without_header_charset() -> None:
    body = _rss(
        "<item><title>Iğdır ve Şırnak</title><guid>g</guid></item>",
        decl='<?xml version="1.0" encoding="ISO-8859-9"?>',
    )
    body = body.decode().encode("iso-8859-9")
    assert _parse(body, content_type="application/rss+xml").articles[0].title == "Iğdır ve Şırnak"


@pytest.mark.parametrize(
    ("body", "content_type", "fragment"),
    [
        (b"", None, "empty"),
        (b"  \r\n\t ", "application/rss+xml", "empty"),
        (
            b"<!DOCTYPE html>\n<html><head><title>Welcome</title></head><body>Hi</body></html>",
            "text/html; charset=utf-8",
            "the server returned an HTML page (text/html)",
        ),
        (
            b"\xef\xbb\xbf\n<!-- cms -->\n<html lang=en><body><p>Login</p></body></html>",
            None,
            "HTML page (no type)",
        ),
        (b'{"version": "https://jsonfeed.org/version/1", "items": []}', "application/json", "JSON"),
        (b"Just some plain text, no markup.", "text/plain", "no RSS, Atom or RDF"),
        (b"<?xml version='1.0'?><note><to>x</to></note>", "application/xml", "no RSS, Atom or RDF"),
        (b'<?xml version="1.0"?><rss version="2.0"><channel><item><title>x', None, "broken XML"),
    ],
)
def test_not_a_feed_gives_a_one_line_error(
    body: bytes, content_type: str | None, fragment: str
) -> None:
    parsed = _parse(body, content_type=content_type)
    assert parsed.articles == ()
    assert parsed.error is not None
    assert parsed.error.startswith("not a feed: ")
    assert fragment in parsed.error
    assert "\n" not in parsed.error


def test_valid_feed_without_items_is_not_an_error() -> None:
    parsed = _parse(_rss(""), content_type="application/rss+xml")
    assert parsed.error is None
    assert parsed.articles == ()
    assert parsed.title == "T"


def test_bozo_feed_with_entries_keeps_articles_and_reports_why() -> None:
    body = _rss("<item><title>Kept &nbsp; anyway</title><guid>g1</guid></item><item><title>Two")
    parsed = _parse(body, content_type="application/rss+xml")
    assert parsed.error is None
    assert parsed.articles[0].title == "Kept anyway"
    assert parsed.bozo_message


def test_parser_never_fetches_or_opens_files_named_by_the_body(tmp_path: Path) -> None:
    secret = tmp_path / "feed.xml"
    secret.write_bytes(_rss("<item><title>local file</title><guid>g</guid></item>"))
    for body in (str(secret).encode(), b"http://127.0.0.1:9/feed.xml", b"file:///etc/passwd"):
        parsed = _parse(body)
        assert parsed.articles == ()
        assert parsed.error is not None


def test_relative_links_resolve_against_the_final_url() -> None:
    body = _rss("<item><title>a</title><link>../story/1?ocid=x&amp;story=9</link></item>")
    parsed = _parse(body, final_url="https://mirror.example.net/feeds/world/rss.xml")
    assert parsed.articles[0].url == "https://mirror.example.net/feeds/story/1?story=9"


def test_non_web_links_become_empty_urls() -> None:
    body = _rss("<item><title>x</title><link>javascript:alert(1)</link><guid>g</guid></item>")
    article = _parse(body).articles[0]
    assert article.url == ""
    assert article.title == "x"


def test_dates_fall_back_from_published_to_updated_and_reject_implausible_ones() -> None:
    atom = b"""<feed xmlns="http://www.w3.org/2005/Atom"><title>A</title>
    <entry><id>u1</id><title>updated only</title><updated>2026-02-10T10:00:00-05:00</updated></entry>
    <entry><id>u2</id><title>epoch zero</title><published>1970-01-01T00:00:00Z</published></entry>
    <entry><id>u3</id><title>tomorrow-ish</title><published>2026-02-19T11:00:00Z</published></entry>
    <entry><id>u4</id><title>next week</title><published>2026-02-25T00:00:00Z</published></entry>
    </feed>"""
    dates = {a.title: (a.published_at, a.published_at_known) for a in _parse(atom).articles}
    assert dates["updated only"] == (datetime(2026, 2, 10, 15, tzinfo=UTC), True)
    assert dates["epoch zero"] == (NOW, False)
    assert dates["tomorrow-ish"] == (NOW + timedelta(hours=23), True)
    assert dates["next week"] == (NOW, False)


def test_naive_now_is_taken_as_utc() -> None:
    article = _parse(_rss("<item><title>x</title></item>"), now=NOW.replace(tzinfo=None)).articles[
        0
    ]
    assert article.published_at == NOW
    assert article.published_at.tzinfo is UTC


def test_entries_without_guid_or_link_are_told_apart_by_title() -> None:
    parsed = _parse(_rss("<item><title>one</title></item><item><title>two</title></item>"))
    assert [a.title for a in parsed.articles] == ["one", "two"]
    assert len({a.id for a in parsed.articles}) == 2


def test_same_guid_in_two_feeds_gives_two_ids() -> None:
    body = _rss("<item><title>x</title><guid>shared-guid</guid></item>")
    a = _parse(body, feed_url="https://a.example/rss").articles[0]
    b = _parse(body, feed_url="https://b.example/rss").articles[0]
    assert a.id != b.id


def test_plain_text_summary_is_escaped_into_summary_html() -> None:
    atom = b"""<feed xmlns="http://www.w3.org/2005/Atom"><title>A</title><entry><id>1</id>
    <title>t</title><summary type="text">5 &lt; 6 &amp; 7 &gt; 3</summary></entry></feed>"""
    article = _parse(atom).articles[0]
    assert article.summary == "5 < 6 & 7 > 3"
    assert article.summary_html == "5 &lt; 6 &amp; 7 &gt; 3"


def test_field_sizes_are_bounded() -> None:
    long_title = "word " * 2_000
    long_html = "<p>" + "x" * 30_000 + " y</p>" * 20_000
    body = _rss(
        f"<item><title>{long_title}</title><guid>g</guid>"
        f"<description><![CDATA[{long_html}]]></description></item>"
    )
    article = _parse(body).articles[0]
    assert len(article.title) <= 1_000
    assert article.title.endswith("…")
    assert len(article.summary) <= SUMMARY_MAX_CHARS
    assert len(article.summary_html) <= SUMMARY_HTML_MAX_CHARS


def test_script_and_style_text_never_reach_the_summary() -> None:
    body = _rss(
        "<item><title>t</title><guid>g</guid><description>&lt;script&gt;var x = 1;&lt;/script&gt;"
        "&lt;style&gt;p{}&lt;/style&gt;visible</description></item>"
    )
    assert _parse(body).articles[0].summary == "visible"


def test_entity_bomb_does_not_hang_or_crash() -> None:
    lol = (
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa">'
        + b"".join(
            f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'.encode() for i in range(8)
        )
        + b']><rss version="2.0"><channel><title>&i;</title>'
        + b"<item><title>t</title><guid>g</guid></item></channel></rss>"
    )
    parsed = _parse(lol)
    assert isinstance(parsed, ParsedFeed)
    assert len(parsed.title) <= 1_000


def test_parsed_feed_pickles_for_the_process_pool() -> None:
    parsed = _parse(_feed_file("rss20-basic").read_bytes())
    assert pickle.loads(pickle.dumps(parsed)) == parsed
    assert pickle.loads(pickle.dumps(parse_feed)) is parse_feed


def test_rss091_with_netscape_doctype_parses_without_fetching_the_dtd() -> None:
    body = b"""<?xml version="1.0" encoding="ISO-8859-1"?>
<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN"
  "http://127.0.0.1:9/rss-0.91.dtd">
<rss version="0.91"><channel><title>Old &amp; Gold</title><link>http://old.example.com/</link>
<item><title>Caf\xe9 opens</title><link>http://old.example.com/cafe.html</link>
<description>No guid, no date.</description></item></channel></rss>"""
    parsed = _parse(body, content_type="text/xml")
    assert parsed.error is None
    assert parsed.title == "Old & Gold"
    (article,) = parsed.articles
    assert (article.title, article.url) == ("Café opens", "http://old.example.com/cafe.html")
    assert article.guid is None
    assert article.published_at_known is False


# -- entries without the usual identity (issue 20) -------------------------------------------


def test_description_only_entries_are_kept_with_a_stable_id_and_a_derived_title() -> None:
    items = (
        "<item><description>NATO allies meet in Vilnius. More later today.</description></item>"
        "<item><description>&lt;p&gt;Second &lt;b&gt;post&lt;/b&gt;, no title.&lt;/p&gt;"
        "</description></item>"
    )
    first = _parse(_rss(items), content_type="application/rss+xml")
    assert [a.title for a in first.articles] == [
        "NATO allies meet in Vilnius.",
        "Second post, no title.",
    ]
    assert [a.url for a in first.articles] == ["", ""]
    assert first.skipped == ()
    # The next poll, with a new post on top, recognises both: same ids.
    again = _parse(
        _rss("<item><description>A third post.</description></item>" + items),
        content_type="application/rss+xml",
        now=NOW + timedelta(hours=1),
    )
    assert [a.id for a in again.articles[1:]] == [a.id for a in first.articles]
    assert again.articles[0].id not in {a.id for a in first.articles}


def test_a_long_description_only_title_is_cut_at_a_word() -> None:
    text = "word " * 60
    [article] = _parse(_rss(f"<item><description>{text}</description></item>")).articles
    assert article.title.endswith("…") and len(article.title) <= 100
    assert article.summary == text.strip()


def test_content_only_atom_entry_is_kept() -> None:
    body = (
        b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>A</title>'
        b'<entry><content type="html">&lt;p&gt;Only content. Nothing else.&lt;/p&gt;</content>'
        b"</entry></feed>"
    )
    [article] = _parse(body, content_type="application/atom+xml").articles
    assert article.title == "Only content."
    assert article.summary == "Only content. Nothing else."


def test_enclosure_only_entry_takes_the_enclosure_as_its_link() -> None:
    body = _rss(
        '<item><enclosure url="/audio/episode-42.mp3" length="1" type="audio/mpeg"/></item>'
    )
    parsed = _parse(
        body, content_type="application/rss+xml", final_url="https://pod.example.com/feed"
    )
    [article] = parsed.articles
    assert article.url == "https://pod.example.com/audio/episode-42.mp3"
    assert article.title == "episode-42.mp3"
    assert parsed.skipped == ()


def test_entries_with_no_content_at_all_are_counted_not_stored() -> None:
    items = (
        "<item><title>kept</title></item>"
        "<item><title> </title><description></description></item>"
        "<item></item>"
        "<item><title>kept</title></item>"  # the same entry again (same id)
    )
    parsed = _parse(_rss(items), content_type="application/rss+xml")
    assert [a.title for a in parsed.articles] == ["kept"]
    assert parsed.skipped == (("no content at all", 2), ("repeats an earlier entry", 1))
    assert parsed.skipped_count == 3


def test_an_entry_known_only_by_a_category_is_kept() -> None:
    parsed = _parse(_rss("<item><category>Defence</category></item>"))
    [article] = parsed.articles
    assert article.title == "Defence"
    assert article.id == _parse(_rss("<item><category>Defence</category></item>")).articles[0].id


def test_feed_inside_an_html_page_that_feedparser_reads_is_read() -> None:
    body = (
        b"<!DOCTYPE html><html><body><feed xmlns='http://www.w3.org/2005/Atom'><title>A</title>"
        b"<entry><title>NATO meets</title><id>urn:x:1</id></entry></feed></body></html>"
    )
    parsed = _parse(body, content_type="text/html")
    assert parsed.error is None
    assert [a.title for a in parsed.articles] == ["NATO meets"]
