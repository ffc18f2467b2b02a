"""The digest across languages: each story's language is shown, titles keep their script and
Arabic reads right to left, in the HTML and in the plain-text part.

(The same in a real browser, from a real poll of feeds in four encodings:
tests/test_multilingual_e2e.py.)
"""

from __future__ import annotations

import dataclasses
import re

from newswatch.digest.model import DigestItem
from newswatch.digest.render import render_html, render_text
from tests.test_digest import TEMPLATES, digest, item

FSI, PDI = "\u2068", "\u2069"

AR_TITLE = "تركيا تدرس إعادة منظومة إس-400 الروسية"
RU_TITLE = "Турция может вернуть российские С-400"
TR_TITLE = "Türkiye S-400 konusunda NATO ile görüşüyor"
EL_TITLE = "Η Τουρκία συζητά με το ΝΑΤΟ για τους S-400"


def lang_item(id: str, title: str, language: str | None, *, source: str, cluster: str, hours_ago: float, terms: list[str]) -> DigestItem:  # fmt: skip
    base = item(id, title, topics={"S-400": terms}, source=source, cluster=cluster, hours_ago=hours_ago)  # fmt: skip
    return dataclasses.replace(base, article=dataclasses.replace(base.article, language=language))


def multilingual_items() -> list[DigestItem]:
    return [
        lang_item(
            "ar1", AR_TITLE, "ar", source="الجزيرة نت", cluster="ar1", hours_ago=1, terms=["إس-400"]
        ),
        lang_item(
            "ru1", RU_TITLE, "ru", source="ТАСС", cluster="ru1", hours_ago=2, terms=["С-400"]
        ),
        lang_item(
            "tr1", TR_TITLE, "tr", source="Hürriyet", cluster="tr1", hours_ago=3, terms=["S-400"]
        ),
        # One story told in Greek and, by another outlet, in English.
        lang_item(
            "el1", EL_TITLE, "el", source="Kathimerini", cluster="el1", hours_ago=5, terms=["S-400"]
        ),
        lang_item(
            "en1",
            "Turkey and NATO discuss S-400 future",
            "en",
            source="Reuters",
            cluster="el1",
            hours_ago=4,
            terms=["S-400"],
        ),
        lang_item(
            "xx1", "S-400 update", None, source="Wire", cluster="xx1", hours_ago=6, terms=["S-400"]
        ),
    ]


def attributes(tag: str) -> dict[str, str]:
    return dict(re.findall(r'([a-z-]+)="([^"]*)"', tag))


def title_attributes(cell: str) -> dict[str, str]:
    tag = re.search(r'<div class="story-title"[^>]*>', cell)
    assert tag is not None
    return attributes(tag.group(0))


def story_blocks(page: str) -> dict[str, str]:
    """The HTML of each story's cell, by its title's text."""
    out = {}
    for cell in re.findall(r'<td class="story"[^>]*>(.*?)</td>', page, re.S):
        title = re.search(
            r'class="story-title"[^>]*>(?:<a [^>]*>)?(.*?)(?:</a>)?</div>', cell, re.S
        )
        assert title is not None
        out[re.sub(r"<[^>]+>", "", title.group(1))] = cell
    return out


def test_html_titles_carry_their_language_and_take_their_direction_from_their_text() -> None:
    page = render_html(digest(multilingual_items()), TEMPLATES)
    blocks = story_blocks(page)
    assert set(blocks) == {AR_TITLE, RU_TITLE, TR_TITLE, EL_TITLE, "S-400 update"}
    for title, lang, name in (
        (AR_TITLE, "ar", "Arabic"),
        (RU_TITLE, "ru", "Russian"),
        (TR_TITLE, "tr", "Turkish"),
        (EL_TITLE, "el", "Greek"),
    ):
        cell = blocks[title]
        attrs = title_attributes(cell)
        assert (attrs["dir"], attrs["lang"]) == ("auto", lang), cell
        meta = re.search(r'<div class="meta"[^>]*>(.*?)</div>', cell, re.S)
        assert meta is not None
        assert '<span class="lang"' in meta.group(1) and f">{name}</span>" in meta.group(1)
    # Unknown language: direction still automatic, no lang attribute and no label.
    unknown = blocks["S-400 update"]
    attrs = title_attributes(unknown)
    assert attrs["dir"] == "auto" and "lang" not in attrs
    assert 'class="lang"' not in unknown


def test_another_outlet_in_another_language_is_labelled_with_it() -> None:
    page = render_html(digest(multilingual_items()), TEMPLATES)
    cell = story_blocks(page)[EL_TITLE]
    also = re.search(r"Also reported by:(.*?)</div>", cell, re.S)
    assert also is not None
    assert re.search(r">Reuters</a> \(English\)", also.group(1)), also.group(1)


def test_plain_text_shows_the_language_and_isolates_right_to_left_titles() -> None:
    text = render_text(digest(multilingual_items()), TEMPLATES)
    lines = text.splitlines()
    ar = next(i for i, line in enumerate(lines) if AR_TITLE in line)
    # The Arabic title is a first-strong isolate inside its numbered line, so the number stays
    # at the left and the title reads right to left.
    assert re.fullmatch(rf"\d+\. {FSI}{AR_TITLE}{PDI}", lines[ar]), lines[ar]
    assert " · Arabic · " in lines[ar + 1]
    assert f"{FSI}الجزيرة نت{PDI}" in lines[ar + 1]
    for title, name in ((RU_TITLE, "Russian"), (TR_TITLE, "Turkish"), (EL_TITLE, "Greek")):
        i = next(i for i, line in enumerate(lines) if title in line)
        assert re.fullmatch(rf"\d+\. {re.escape(title)}", lines[i]), lines[i]  # no isolate
        assert f" · {name} · " in lines[i + 1]
    assert "Reuters (English)" in text
    assert FSI not in text.replace(f"{FSI}{AR_TITLE}{PDI}", "").replace(f"{FSI}الجزيرة نت{PDI}", "")
