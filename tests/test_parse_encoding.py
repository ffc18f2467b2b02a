"""A feed body in a single-byte code page that names no encoding anywhere, at the parse level."""

from __future__ import annotations

import codecs
import html
from datetime import UTC, datetime

import pytest

from newswatch.models import ParsedFeed
from newswatch.parse.charset_guess import guess_single_byte
from newswatch.parse.feed import parse_feed

NOW = datetime(2026, 2, 20, 12, 0, tzinfo=UTC)
FEED_URL = "https://feeds.example.com/f.xml"


def _parse(body: bytes, content_type: str | None = "application/rss+xml") -> ParsedFeed:
    return parse_feed(body, feed_url=FEED_URL, source="Example", now=NOW, content_type=content_type)


# --- a single-byte body that names no encoding -----------------------------------------------

TEXTS = {
    "tr": (
        "Erdoğan: hava savunma sistemi konuşlandırdı",
        "Cumhurbaşkanı Erdoğan, Dışişleri Bakanlığı'nın açıklamasının ardından "
        "sistemlerin İstanbul'un güneyinde konuşlandırıldığını söyledi.",
    ),
    "ru": (
        "Эрдоган заявил о новом этапе сотрудничества с Москвой",
        "Президент Турции провёл телефонный разговор с российским коллегой и обсудил С-400.",
    ),
    "el": (
        "Ο Ερντογάν μίλησε για νέα εποχή στην άμυνα",
        "Άγκυρα και Αθήνα συζητούν τα μέτρα οικοδόμησης εμπιστοσύνης στο Αιγαίο.",
    ),
    "fr": (
        "La Turquie déploie ses systèmes de défense aérienne",
        "Le président turc a annoncé à Ankara que les négociations se poursuivraient.",
    ),
}
CODE_PAGES = [
    ("tr", "windows-1254"),
    ("tr", "iso-8859-9"),
    ("ru", "windows-1251"),
    ("ru", "koi8-r"),
    ("el", "windows-1253"),
    ("el", "iso-8859-7"),
    ("fr", "windows-1252"),
]


def _feed(lang: str, declaration: str = "") -> str:
    title, summary = TEXTS[lang]
    return (
        f'<?xml version="1.0"{declaration}?>\n<rss version="2.0"><channel><title>Haber</title>'
        f"<item><title>{html.escape(title)}</title><link>https://news.example.com/1</link>"
        f"<description>{html.escape(summary)}</description></item></channel></rss>"
    )


@pytest.mark.parametrize(("lang", "encoding"), CODE_PAGES)
@pytest.mark.parametrize("content_type", [None, "application/rss+xml", "text/xml"])
def test_an_undeclared_single_byte_feed_is_read_in_its_own_code_page(
    lang: str, encoding: str, content_type: str | None
) -> None:
    body = _feed(lang).encode(encoding)
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    parsed = _parse(body, content_type=content_type)
    (article,) = parsed.articles
    assert (article.title, article.summary) == TEXTS[lang]


def test_the_walk_through_turkish_feed_reads_erdogan() -> None:
    parsed = _parse(_feed("tr").encode("windows-1254"), content_type="application/rss+xml")
    assert parsed.articles[0].title == "Erdoğan: hava savunma sistemi konuşlandırdı"
    assert "Erdoðan" not in parsed.articles[0].title


def test_a_declared_encoding_is_never_second_guessed() -> None:
    # Icelandic in windows-1252 reads as Turkish when nothing says otherwise (ð is where ğ is),
    # so a declaration, a charset header or a byte-order mark must win.
    text = "Þingvellir og Reykjavík: fréttir á íslensku, veðrið í dag"
    doc = (
        '<rss version="2.0"><channel><title>t</title><item><title>'
        f"{text}</title><link>https://news.example.is/1</link></item></channel></rss>"
    )
    body = doc.encode("windows-1252")
    declared = b'<?xml version="1.0" encoding="windows-1252"?>\n' + body
    assert _parse(declared).articles[0].title == text
    by_header = _parse(body, content_type="application/rss+xml; charset=windows-1252")
    assert by_header.articles[0].title == text
    bom = codecs.BOM_UTF8 + doc.encode("utf-8")
    assert _parse(bom, content_type="application/rss+xml").articles[0].title == text


def test_utf8_and_ascii_feeds_are_unaffected() -> None:
    for lang in TEXTS:
        body = _feed(lang, ' encoding="utf-8"').encode("utf-8")
        assert (_parse(body).articles[0].title, _parse(body).articles[0].summary) == TEXTS[lang]
        undeclared = _feed(lang).encode("utf-8")
        assert _parse(undeclared, content_type=None).articles[0].title == TEXTS[lang][0]


@pytest.mark.parametrize(("lang", "encoding"), CODE_PAGES)
def test_guess_single_byte_reads_each_code_page_right(lang: str, encoding: str) -> None:
    title, summary = TEXTS[lang]
    body = f"<p>{title}</p><p>{summary}</p>".encode(encoding)
    guess = guess_single_byte(body)
    assert guess is not None and body.decode(guess) == f"<p>{title}</p><p>{summary}</p>"
