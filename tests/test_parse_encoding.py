"""A feed body in a single-byte code page that names no encoding anywhere, at the parse level."""

from __future__ import annotations

import codecs
import html
from datetime import UTC, datetime

import pytest

from newswatch.models import ParsedFeed
from newswatch.parse.charset_guess import guess_single_byte, repair_mixed_utf8
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


# --- a UTF-8 body with a few bytes that are not UTF-8 ----------------------------------------


def _mixed(
    stray_item: bytes, label: str = "", utf8_items: tuple[tuple[str, str], ...] = ()
) -> bytes:
    items = utf8_items or (
        ("Erdoğan’s visit: “a new page”", "Türkiye and Greece signed three agreements."),
        ("NATO ministers meet in Brussels", "The alliance’s ministers discussed air defence."),
    )
    utf8 = "".join(
        f"<item><title>{t}</title><link>https://news.example.com/{i}</link>"
        f"<description>{s}</description></item>"
        for i, (t, s) in enumerate(items)
    )
    return (
        f'<?xml version="1.0"{label}?>\n<rss version="2.0"><channel><title>Wire</title>'.encode()
        + utf8.encode("utf-8")
        + stray_item
        + b"</channel></rss>"
    )


def _item(title: str, summary: str, encoding: str) -> bytes:
    return (
        f"<item><title>{title}</title><link>https://news.example.com/stray</link>"
        f"<description>{summary}</description></item>"
    ).encode(encoding)


@pytest.mark.parametrize(
    ("label", "content_type"),
    [
        ("", None),
        ("", "application/rss+xml; charset=utf-8"),
        (' encoding="utf-8"', "application/rss+xml"),
        # A server's default charset and a generator's stale declaration: both say
        # single-byte, the body is UTF-8 but for a few bytes.
        ("", "text/xml; charset=ISO-8859-1"),
        (' encoding="windows-1252"', "application/rss+xml"),
    ],
)
def test_a_utf8_feed_with_one_windows_1254_item_reads_both_right(
    label: str, content_type: str | None
) -> None:
    title, summary = TEXTS["tr"]
    body = _mixed(_item(title, summary, "windows-1254"), label)
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    parsed = _parse(body, content_type=content_type)
    assert [a.title for a in parsed.articles] == [
        "Erdoğan’s visit: “a new page”",
        "NATO ministers meet in Brussels",
        title,
    ]
    assert parsed.articles[2].summary == summary
    stray = sum(1 for c in title + summary if not c.isascii())
    assert parsed.warning == (
        f"{stray} bytes not valid UTF-8 read as cp1254 (the rest of the body is UTF-8)"
    )


def test_one_stray_windows_1252_byte_costs_one_letter_not_the_feed() -> None:
    body = _mixed(_item("Café culture in Ankara", "A na\xefve guide.", "windows-1252"))
    parsed = _parse(body, content_type=None)
    assert [(a.title, a.summary) for a in parsed.articles][1:] == [
        ("NATO ministers meet in Brussels", "The alliance’s ministers discussed air defence."),
        ("Café culture in Ankara", "A naïve guide."),
    ]
    assert parsed.articles[0].title == "Erdoğan’s visit: “a new page”"  # not "ErdoÄŸanâ€™s"
    # é and ï are the same bytes in windows-1252 and -1254 (the Turkish of the rest tips it).
    assert parsed.warning is not None
    assert parsed.warning.startswith("2 bytes not valid UTF-8 read as cp125")


def test_a_stray_word_is_read_in_the_script_of_the_text_around_it() -> None:
    # "και" in windows-1253 is three bytes that read as a plausible Latin "êáé" too; the Greek
    # around it decides.
    greek = (("Η Άγκυρα και η Αθήνα συζητούν", "Οι υπουργοί συναντήθηκαν στη Θεσσαλονίκη."),)
    stray = (
        "<item><title>Ερντογάν ".encode()
        + "και".encode("windows-1253")
        + " Μητσοτάκης</title><link>https://news.example.com/s</link></item>".encode()
    )
    parsed = _parse(_mixed(stray, utf8_items=greek), content_type=None)
    assert parsed.articles[1].title == "Ερντογάν και Μητσοτάκης"


@pytest.mark.parametrize(("lang", "encoding"), CODE_PAGES)
def test_a_single_byte_feed_is_never_taken_for_utf8_with_strays(lang: str, encoding: str) -> None:
    parsed = _parse(_feed(lang).encode(encoding), content_type=None)
    assert parsed.warning is None
    assert (parsed.articles[0].title, parsed.articles[0].summary) == TEXTS[lang]


def test_repair_leaves_valid_utf8_and_multi_byte_code_pages_alone() -> None:
    assert repair_mixed_utf8(_feed("ru").encode("utf-8")) is None
    # Shift_JIS pairs can look like UTF-8; a label naming it keeps the body as it is.
    japanese = (
        '<?xml version="1.0" encoding="shift_jis"?><rss version="2.0"><channel><title>t</title>'
        "<item><title>トルコ大統領が来日 “新時代”</title><link>https://news.example.jp/1</link>"
        "</item></channel></rss>"
    ).encode("shift_jis")
    assert _parse(japanese).articles[0].title == "トルコ大統領が来日 “新時代”"
    assert _parse(japanese).warning is None
