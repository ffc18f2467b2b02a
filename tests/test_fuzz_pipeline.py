"""Fuzz the whole parse -> normalise -> match path with generated feeds (hypothesis).

URL canonicalisation, ids, dates and the matcher have their own property tests
(tests/test_normalise.py, tests/test_topics_properties.py); this one feeds generated RSS and
Atom documents with hostile text, links and dates through `poll.parse_and_match`, the exact
function a poll runs per body, and checks what every stored row relies on.
"""

from __future__ import annotations

from datetime import UTC, datetime
from xml.sax.saxutils import escape, quoteattr

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newswatch import resources
from newswatch.config import load_config
from newswatch.orchestrate.poll import parse_and_match
from newswatch.parse.normalise import canonical_url

NOW = datetime(2026, 2, 18, 12, 0, tzinfo=UTC)
MATCHER = load_config(resources.default_sources_path()).matcher

WORDS = ["NATO", "nato's", "S-400", "S400s", "Türkiye", "Turkey", "turkey", "Erdoğan",
         "Ankara", "Thanksgiving", "roast", "cold turkey", "Istanbul", "the", "İSTANBUL",
         "e\u0301", "\u200b", "ﬁ", "Ⅻ", "𝐍𝐀𝐓𝐎", "-", "–", "'", "’"]  # fmt: skip
MARKUP = ["<b>", "</b>", "<script>alert(1)</script>", "<a href='javascript:x'>", "</a>",
          "<img src=x onerror=alert(1)>", "&amp;", "&lt;", "&#x4e2d;", "&nbsp;", "<![CDATA[",
          "]]>", "<!-- c -->", "<style>p{}</style>", "\x00", "\ufffd"]  # fmt: skip
LINKS = ["https://news.example/a?utm_source=rss&id=1#top", "http://EXAMPLE.org:80/%7Euser/",
         "/relative/path", "javascript:alert(1)", "data:text/html,<script>", "//cdn.example/x",
         "https://xn--nato-9ra.example/ü", "mailto:a@b.c", "ftp://x.example/f", "", " ",
         "https://a.example/" + "x" * 5000, "https://[::1]/", "http://user:pw@h.example/"]  # fmt: skip
DATES = ["Tue, 18 Feb 2026 10:00:00 GMT", "2026-02-18T10:00:00+03:00", "2026-02-18",
         "Mon, 31 Feb 2026 25:61:00 +9999", "1970-01-01T00:00:00Z", "3000-01-01T00:00:00Z",
         "yesterday", "", "Tue, 18 Feb 2026 10:00:00 EEST"]  # fmt: skip

text = st.lists(
    st.one_of(st.sampled_from(WORDS), st.sampled_from(MARKUP), st.text(max_size=12)),
    max_size=12,
).map(" ".join)


@st.composite
def entries(draw: st.DrawFn) -> dict[str, str | None]:
    return {
        "title": draw(st.none() | text),
        "summary": draw(st.none() | text),
        "link": draw(st.none() | st.sampled_from(LINKS)),
        "guid": draw(st.none() | st.text(max_size=20)),
        "date": draw(st.none() | st.sampled_from(DATES)),
        "html": draw(st.booleans()),  # summary as escaped HTML or as CDATA
    }  # type: ignore[return-value]


def _xml_text(value: str) -> str:
    # XML 1.0 cannot carry most control characters; a generator would drop them too.
    return escape("".join(c for c in value if c >= " " or c in "\t\n\r"))


def rss_doc(items: list[dict[str, str | None]]) -> bytes:
    out = ['<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>F</title>']
    for item in items:
        out.append("<item>")
        if item["title"] is not None:
            out.append(f"<title>{_xml_text(item['title'])}</title>")
        if item["link"] is not None:
            out.append(f"<link>{_xml_text(item['link'])}</link>")
        if item["guid"] is not None:
            out.append(f'<guid isPermaLink="false">{_xml_text(item["guid"])}</guid>')
        if item["date"] is not None:
            out.append(f"<pubDate>{_xml_text(item['date'])}</pubDate>")
        if item["summary"] is not None:
            summary = _xml_text(item["summary"])
            out.append(f"<description>{summary}</description>")
        out.append("</item>")
    out.append("</channel></rss>")
    return "".join(out).encode("utf-8")


def atom_doc(items: list[dict[str, str | None]]) -> bytes:
    out = ['<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">']
    out.append("<title>F</title>")
    for item in items:
        out.append("<entry>")
        if item["title"] is not None:
            kind = "html" if item["html"] else "text"
            out.append(f'<title type="{kind}">{_xml_text(item["title"])}</title>')
        if item["link"] is not None:
            out.append(f"<link href={quoteattr(item['link'])}/>")
        if item["guid"] is not None:
            out.append(f"<id>{_xml_text(item['guid'])}</id>")
        if item["date"] is not None:
            out.append(f"<updated>{_xml_text(item['date'])}</updated>")
        if item["summary"] is not None:
            out.append(f'<summary type="html">{_xml_text(item["summary"])}</summary>')
        out.append("</entry>")
    out.append("</feed>")
    return "".join(out).encode("utf-8")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    items=st.lists(entries(), max_size=6),
    atom=st.booleans(),
    content_type=st.sampled_from(
        [None, "application/rss+xml", "text/html; charset=iso-8859-9", "text/plain; charset=ascii"]
    ),
)
def test_generated_feeds_go_through_parse_and_match_safely(
    items: list[dict[str, str | None]], atom: bool, content_type: str | None
) -> None:
    body = atom_doc(items) if atom else rss_doc(items)
    url = "https://feeds.example.org/feed.xml"
    parsed, matches, _ = parse_and_match(
        body, url, "Fuzz", NOW, None, content_type, matcher=MATCHER
    )
    assert parsed.error is None or parsed.articles == ()
    assert len(matches) == len(parsed.articles)
    assert len({a.id for a in parsed.articles}) == len(parsed.articles)
    assert len(parsed.articles) <= len(items)
    for article, article_matches in zip(parsed.articles, matches, strict=True):
        assert article.id and article.feed_url == url and article.source == "Fuzz"
        # Links are stored only as canonical absolute http(s) URLs, or not at all.
        assert article.url == "" or article.url.startswith(("http://", "https://"))
        assert article.url == "" or canonical_url(article.url) == article.url
        assert len(article.url) <= 4096
        assert article.published_at.tzinfo is not None
        assert article.published_at.utcoffset() == UTC.utcoffset(None)
        assert article.published_at <= NOW.replace(day=19)
        assert len(article.title) <= 1000 and "\n" not in article.title
        topics = [m.topic for m in article_matches]
        assert len(topics) == len(set(topics)) and set(topics) <= set(MATCHER.topic_names)
        for match in article_matches:
            assert match.hits
            for hit in match.hits:
                field_text = article.title if hit.field == "title" else article.summary
                assert 0 <= hit.start < hit.end <= len(field_text)
                assert field_text[hit.start : hit.end] == hit.text
    # The same body always gives the same ids (a re-poll must not duplicate anything).
    again, _, _ = parse_and_match(body, url, "Fuzz", NOW, None, content_type, matcher=MATCHER)
    assert [a.id for a in again.articles] == [a.id for a in parsed.articles]
