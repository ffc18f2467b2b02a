"""normalise: canonical URLs, ids, UTC dates, titles — examples and hypothesis properties."""

from __future__ import annotations

import re
import time
import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newswatch.parse.normalise import (
    TITLE_MAX_CHARS,
    article_id,
    canonical_url,
    clean_title,
    to_utc,
    truncate,
)
from newswatch.parse.text import one_line

FALLBACK = datetime(2026, 2, 18, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("url", "base", "expected"),
    [
        ("HTTPS://WWW.Example.COM:443/a/B?x=1#frag", None, "https://www.example.com/a/B?x=1"),
        ("http://example.com:80", None, "http://example.com/"),
        ("http://example.com:8080/p", None, "http://example.com:8080/p"),
        ("https://example.com./p", None, "https://example.com/p"),
        ("https://user:pw@example.com/p", None, "https://example.com/p"),
        ("  https://example.com/p  ", None, "https://example.com/p"),
        ("/story/1", "https://news.example.com/feeds/rss.xml", "https://news.example.com/story/1"),
        ("../b", "https://e.com/a/c/feed", "https://e.com/a/b"),
        ("//cdn.example.com/x", "https://e.com/", "https://cdn.example.com/x"),
        (
            "https://e.com/a?utm_source=rss&utm_medium=feed&id=42&fbclid=Z&p=7&gclid=1",
            None,
            "https://e.com/a?id=42&p=7",
        ),
        (
            "https://e.com/a?story=9&CMP=share&at_medium=RSS&at_campaign=rss",
            None,
            "https://e.com/a?story=9",
        ),
        (
            "https://e.com/a?mc_cid=1&mc_eid=2&ocid=3&cmpid=4&_ga=5&igshid=6&ref=rss",
            None,
            "https://e.com/a",
        ),
        ("https://e.com/a?b=2&a=1", None, "https://e.com/a?b=2&a=1"),  # order kept
        ("https://e.com/a?&&x=1&", None, "https://e.com/a?x=1"),
        ("https://e.com/a b/ç?q=a b", None, "https://e.com/a%20b/%C3%A7?q=a%20b"),
        ("https://e.com/%7Euser", None, "https://e.com/%7Euser"),
        ("https://[2001:DB8::1]:443/x", None, "https://[2001:db8::1]/x"),
        ("javascript:alert(1)", None, ""),
        ("data:text/html,hi", None, ""),
        ("mailto:a@b.c", None, ""),
        ("ftp://e.com/f", None, ""),
        ("", "https://e.com/", ""),
        ("https://", None, ""),
        ("http://[::1", None, ""),
        ("https://e.com:99999/", None, ""),
        ("https://e .com/", None, ""),
        ("relative/only", None, ""),
    ],
)
def test_canonical_url(url: str, base: str | None, expected: str) -> None:
    assert canonical_url(url, base) == expected


def test_canonical_url_keeps_real_world_article_identity() -> None:
    bbc = "https://www.bbc.com/news/articles/cp81l0e1eg5o?at_medium=RSS&at_campaign=rss"
    assert canonical_url(bbc) == "https://www.bbc.com/news/articles/cp81l0e1eg5o"
    dw = "https://www.dw.com/en/x/a-75995188?maca=en-rss-en-all-1573-rdf"
    assert canonical_url(dw) == "https://www.dw.com/en/x/a-75995188"
    wp = "https://foreignpolicy.com/?p=1220749"
    assert canonical_url(wp) == wp


@settings(max_examples=400, deadline=None)
@given(st.text(), st.one_of(st.none(), st.text()))
def test_canonical_url_never_raises_and_is_idempotent(url: str, base: str | None) -> None:
    once = canonical_url(url, base)
    assert canonical_url(once) == once
    assert once == "" or once.startswith(("http://", "https://"))
    assert "#" not in once


_url_text = st.text(alphabet="abcXYZ019-._~%/?=&#:@ +çğ", max_size=30)
_query_piece = st.one_of(
    st.sampled_from(["utm_source=rss", "UTM_Medium=x", "fbclid=1", "at_campaign=rss", "ref=f"]),
    st.sampled_from(["id=42", "p=7", "story=9", "q=a b", "x"]),
    _url_text,
)


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(["http", "HTTPS", "https"]),
    st.sampled_from(["e.com", "Ex.ORG:8443", "[::1]", "e.com:443"]),
    _url_text,
    st.lists(_query_piece, max_size=6),
)
def test_canonical_url_idempotent_on_url_shaped_text(
    scheme: str, host: str, path: str, pieces: list[str]
) -> None:
    once = canonical_url(f"{scheme}://{host}/{path}?" + "&".join(pieces))
    assert once.startswith(("http://", "https://"))
    assert canonical_url(once) == once
    query = once.partition("?")[2].lower()
    assert not any(k.startswith(("utm_", "fbclid=", "at_", "ref=")) for k in query.split("&"))
    for kept in ("id=42", "p=7", "story=9"):
        if kept in pieces and "#" not in path + "".join(pieces):
            assert kept in once


def test_article_id_is_stable_and_shaped() -> None:
    a = article_id("https://f.example/rss", "guid-1", "https://e.com/a")
    assert a == article_id("https://f.example/rss", "guid-1", "https://e.com/other")
    assert len(a) == 32
    assert int(a, 16) >= 0
    assert a != article_id("https://f.example/rss", "guid-2", "https://e.com/a")
    assert a != article_id("https://g.example/rss", "guid-1", "https://e.com/a")
    by_url = article_id("https://f.example/rss", None, "https://e.com/a")
    assert by_url == article_id("https://f.example/rss", "  ", "https://e.com/a")
    assert by_url != article_id("https://f.example/rss", None, "https://e.com/b")
    assert article_id("f", None, "", title="a") != article_id("f", None, "", title="b")


@given(st.text(), st.text(min_size=1), st.text(min_size=1), st.text())
def test_article_id_deterministic_and_guid_sensitive(feed: str, g1: str, g2: str, url: str) -> None:
    assert article_id(feed, g1, url) == article_id(feed, g1, url)
    if g1.strip() != g2.strip():
        assert article_id(feed, g1, url) != article_id(feed, g2, url)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Tue, 17 Feb 2026 20:19:37 -0500", datetime(2026, 2, 18, 1, 19, 37, tzinfo=UTC)),
        ("Tue, 17 Feb 2026 18:55:33 GMT", datetime(2026, 2, 17, 18, 55, 33, tzinfo=UTC)),
        ("2026-02-17T09:30:00+03:00", datetime(2026, 2, 17, 6, 30, tzinfo=UTC)),
        ("2026-02-17T09:30:00Z", datetime(2026, 2, 17, 9, 30, tzinfo=UTC)),
        ("2026-02-17", datetime(2026, 2, 17, tzinfo=UTC)),
        (
            time.struct_time((2026, 2, 17, 9, 30, 60, 1, 48, 0)),
            datetime(2026, 2, 17, 9, 30, 59, tzinfo=UTC),
        ),
        (datetime(2026, 2, 17, 9, 30), datetime(2026, 2, 17, 9, 30, tzinfo=UTC)),
        (
            datetime(2026, 2, 17, 9, 30, tzinfo=timezone(timedelta(hours=3))),
            datetime(2026, 2, 17, 6, 30, tzinfo=UTC),
        ),
    ],
)
def test_to_utc_parses(value: time.struct_time | str | datetime, expected: datetime) -> None:
    got, known = to_utc(value, FALLBACK)
    assert known is True
    assert got == expected
    assert got.tzinfo is UTC


@pytest.mark.parametrize("value", [None, "", "not a date", "Tue, 99 Foo 2026", "2026-13-45"])
def test_to_utc_falls_back(value: str | None) -> None:
    assert to_utc(value, FALLBACK) == (FALLBACK, False)


# Fixed zones (DST gaps and folds, half-hour and southern-hemisphere offsets) rather than
# st.timezones(), whose draws load zoneinfo files and are slow.
_ZONES = st.sampled_from(
    [ZoneInfo(z) for z in ("Europe/Istanbul", "Europe/Berlin", "America/New_York",
                           "Asia/Kolkata", "Australia/Lord_Howe", "Pacific/Chatham", "UTC")]
)  # fmt: skip

_any_dates = st.one_of(
    st.none(),
    st.text(),
    st.datetimes(),
    st.datetimes(timezones=_ZONES),
    st.datetimes(
        timezones=st.builds(
            timezone, st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23))
        )
    ),
    st.builds(
        time.struct_time,
        st.tuples(*[st.integers(-5, 10_000)] + [st.integers(-100, 100)] * 8),
    ),
)


@settings(max_examples=400, deadline=None)
@given(_any_dates, st.one_of(st.datetimes(), st.datetimes(timezones=_ZONES)))
def test_to_utc_never_raises_and_is_aware_utc(
    value: time.struct_time | str | datetime | None, fallback: datetime
) -> None:
    got, known = to_utc(value, fallback)
    assert got.tzinfo is UTC
    assert isinstance(known, bool)


def test_clean_title() -> None:
    assert (
        clean_title("  Breaking:\n\tTurkey\u200b  buys\u00a0S-400 \x07 ")
        == "Breaking: Turkey buys S-400"
    )
    assert clean_title("Cafe\u0301") == "Café"
    long = clean_title("word " * 500)
    assert len(long) <= 1_000
    assert long.endswith("word…")


# Titles as feeds write them: mostly printable ASCII, with the whitespace, control and
# invisible characters the cleaning exists for.
TITLE_TEXT = st.text(
    st.one_of(
        st.sampled_from("ab Z1-:'  \t\n\r\x0b\x0c\x1c\x1f\x00\x7f\x85\xa0\u2028\u200b\ufeff\u3000"),
        st.characters(),
    )
)


@given(TITLE_TEXT)
def test_one_line_folds_whitespace_exactly_as_splitting_on_it(text: str) -> None:
    assert one_line(text) == " ".join(text.split())


@given(TITLE_TEXT)
def test_clean_title_equals_its_regex_definition(text: str) -> None:
    # The definition the fast path for printable ASCII must not change.
    cleaned = re.sub(r"[\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]", "", text)
    cleaned = re.sub(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", " ", cleaned)
    cleaned = re.sub(r"\s+", " ", cleaned).strip()
    expected = truncate(unicodedata.normalize("NFC", cleaned), TITLE_MAX_CHARS)
    assert clean_title(text) == expected


@given(st.text())
def test_clean_title_is_idempotent_and_one_line(text: str) -> None:
    once = clean_title(text)
    assert clean_title(once) == once
    assert "\n" not in once
    assert len(once) <= 1_000


def test_truncate() -> None:
    assert truncate("short", 10) == "short"
    assert truncate("x" * 20, 10) == "x" * 9 + "…"
    assert truncate("word " * 10, 23) == "word word word word…"
    assert truncate("aaaa bbbb cccc", 12) == "aaaa bbbb c…"  # no space near the cut


@settings(max_examples=3000, deadline=None)
@given(
    tail=st.text(alphabet="abAB09./-_~%:@!$&'()*+,;=?#xutm_sref", max_size=40),
    slash=st.sampled_from(["", "/", "/news/"]),
    host=st.sampled_from(["news.example.com", "a-b.example", "x.y.z", "Example.com"]),
    scheme=st.sampled_from(["https://", "http://", "HTTP://", "ftp://"]),
    base=st.sampled_from([None, "https://base.example/dir/feed.xml", "http://127.0.0.1:8080/"]),
)
def test_urls_already_canonical_take_the_short_cut_to_the_same_answer(
    tail: str, slash: str, host: str, scheme: str, base: str | None
) -> None:
    from newswatch.parse import normalise

    url = scheme + host + slash + tail
    try:
        slow = normalise._canonical_url(url, base)
    except (ValueError, TypeError, UnicodeError):
        slow = ""
    assert normalise.canonical_url(url, base) == slow
