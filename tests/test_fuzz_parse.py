"""Fuzz parse_feed with mutated real feeds: it must never raise and always return a ParsedFeed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newswatch.models import ParsedFeed
from newswatch.parse.feed import parse_feed
from tests.conftest import CORPUS as _CONFTEST_CORPUS

CORPUS = _CONFTEST_CORPUS if _CONFTEST_CORPUS.is_dir() else Path("/work/shared/corpus")
NOW = datetime(2026, 2, 18, 12, 0, tzinfo=UTC)
# Small feeds of different shapes keep each example fast.
SEEDS = [
    (CORPUS / "realnews" / name).read_bytes()
    for name in (
        "washingtonpost-world.rss.xml",
        "csmonitor-all.rss.xml",
        "npr-world.rss.xml",
        "MALFORMED-dylanharris-ssc.rss.xml",
    )
] + [(Path(__file__).parent / "data" / "atom-xmlbase.xml").read_bytes()]
INTERESTING = [b"<", b">", b"&", b"&amp;", b"]]>", b"<![CDATA[", b"\x00", b"\xff\xfe", b"\xc3",
               b"<item>", b"</item>", b"<!DOCTYPE x [<!ENTITY e 'x'>]>", b"&e;", b"\r\n", b"\""]  # fmt: skip


@st.composite
def mutated_feeds(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "splice"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = draw(st.one_of(st.sampled_from(INTERESTING), st.binary(max_size=16)))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 64))]
        elif kind == "truncate":
            del data[at:]
        else:
            size = draw(st.integers(1, 256))
            data[at:at] = data[draw(st.integers(0, max(0, len(data) - 1))) :][:size]
    return bytes(data)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    mutated_feeds(),
    st.sampled_from(
        [None, "application/rss+xml; charset=utf-8", "text/xml", "text/html; charset=windows-1254"]
    ),
)
def test_mutated_feeds_never_crash(body: bytes, content_type: str | None) -> None:
    parsed = parse_feed(
        body,
        feed_url="https://feeds.example.com/f",
        source="fuzz",
        now=NOW,
        content_type=content_type,
    )
    assert isinstance(parsed, ParsedFeed)
    assert parsed.error is None or parsed.articles == ()
    assert len({a.id for a in parsed.articles}) == len(parsed.articles)
    for article in parsed.articles:
        assert article.published_at.tzinfo is UTC
        assert article.url == "" or article.url.startswith(("http://", "https://"))
        assert len(article.title) <= 1_000


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=2_000))
def test_arbitrary_bytes_never_crash(body: bytes) -> None:
    parsed = parse_feed(body, feed_url="https://feeds.example.com/f", source="fuzz", now=NOW)
    assert isinstance(parsed, ParsedFeed)
    assert parsed.error is None or (parsed.articles == () and "\n" not in parsed.error)
