"""newswatch.fetch.extract: the article text of a page (pure: HTML bytes in, text out)."""

from __future__ import annotations

import pytest

from newswatch.fetch.extract import (
    MAX_TEXT_CHARS,
    MIN_TEXT_CHARS,
    article_text,
    clean_text,
    text_html,
)
from tests.conftest import DATA

PAGE = (DATA / "article_page.html").read_bytes()


def test_the_article_is_kept_and_the_page_around_it_is_not() -> None:
    text = article_text(PAGE, "https://ledger.example/world/hague", "text/html; charset=utf-8")
    assert text is not None
    assert "Nato Secretary General Mark Rutte" in text
    assert "Article 5" in text
    assert "twenty thousand police officers" in text  # the last paragraph too
    for boilerplate in (
        "We use cookies",
        "Subscribe",
        "Floods close schools",  # related stories
        "Sign in to join the conversation",  # comments
        "All rights reserved",  # footer
        "dataLayer",  # script
    ):
        assert boilerplate not in text
    # One paragraph per line, spaces folded.
    lines = text.split("\n")
    assert any(
        line.startswith("Nato Secretary General Mark Rutte told reporters") for line in lines
    )
    assert all(line == line.strip() and "  " not in line for line in lines)


def test_the_http_charset_decides_the_decoding() -> None:
    turkish = (
        "<html><body><article><h1>Ankara</h1>"
        + "".join(
            f"<p>Dışişleri Bakanlığı sözcüsü, {n}. turdaki görüşmelerin önümüzdeki hafta "
            "İstanbul'da süreceğini açıkladı ve tarafların uzlaşmaya yakın olduğunu söyledi.</p>"
            for n in range(1, 5)
        )
        + "</article></body></html>"
    ).encode("cp1254")
    text = article_text(turkish, None, "text/html; charset=windows-1254")
    assert text is not None
    assert "Dışişleri Bakanlığı" in text and "İstanbul" in text
    # Undeclared (no HTTP charset, no <meta>): the code page is guessed as for a feed, and
    # the same Turkish comes out, not "Dýþiþleri Bakanlýðý".
    for content_type in ("text/html", None):
        guessed = article_text(turkish, None, content_type)
        assert guessed is not None and "Dışişleri Bakanlığı" in guessed, guessed
    # UTF-8 with a few stray windows-1254 bytes keeps its UTF-8.
    mixed = (
        turkish.decode("cp1254")
        .encode("utf-8")
        .replace("Dışişleri".encode(), "Dışişleri".encode("cp1254"), 1)
    )
    text = article_text(mixed, None, "text/html")
    assert text is not None and text.count("Dışişleri Bakanlığı") == 4


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"%PDF-1.7\n" + b"0" * 4000, "application/pdf"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 4000, "image/png"),
        (
            b'<?xml version="1.0"?><rss><channel><title>x</title></channel></rss>',
            "application/rss+xml",
        ),
        (b"<html><body><p>Subscribe to read this story.</p></body></html>", "text/html"),
        (b"", "text/html"),
        (b"\xff\xfe\x00garbage\x00" * 500, None),
    ],
    ids=["pdf", "png", "feed", "paywall-teaser", "empty", "binary"],
)
def test_pages_without_an_article_give_none(body: bytes, content_type: str | None) -> None:
    assert article_text(body, "https://x.example/a", content_type) is None


def test_a_page_without_a_content_type_is_read_when_it_looks_like_html() -> None:
    assert article_text(PAGE, None, None) is not None
    assert article_text(PAGE, None, "application/octet-stream") is not None


def test_an_unknown_charset_falls_back_to_the_page_itself() -> None:
    text = article_text(PAGE, None, "text/html; charset=x-no-such-charset")
    assert text is not None and "Mark Rutte" in text


def test_a_very_long_article_is_cut_at_a_word() -> None:
    paragraphs = "".join(
        "<p>" + " ".join(f"word{p}x{i}" for i in range(200)) + ".</p>" for p in range(120)
    )
    body = ("<html><body><article>" + paragraphs + "</article></body></html>").encode()
    text = article_text(body, None, "text/html")
    assert text is not None
    assert MIN_TEXT_CHARS < len(text) <= MAX_TEXT_CHARS + 2
    assert text.endswith(" …")
    assert text[:-2].split()[-1].startswith("word")  # a whole word before the mark


def test_clean_text_folds_spaces_and_drops_control_characters_and_blank_lines() -> None:
    assert clean_text("a\u00a0 \tb\r\n\r\n\x07c  \n  ") == "a b\nc"
    assert clean_text("e\u0301") == "é"  # NFC


def test_text_html_is_one_escaped_paragraph_per_line() -> None:
    assert text_html("a < b & c\n<script>x</script>") == (
        "<p>a &lt; b &amp; c</p><p>&lt;script&gt;x&lt;/script&gt;</p>"
    )
