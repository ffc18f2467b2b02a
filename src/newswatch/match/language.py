"""Which language an article is written in: `detect_language(text)` -> ISO 639-1 code or None.

Pure: takes text, returns a code ("en", "tr", "ru", "el", "ar", "fr", ...); no I/O. The work
is done by lingua-language-detector, whose models ship inside the package (nothing is
downloaded at run time). The detector is built once, on first use, and only by the code
paths that need it: importing this module costs nothing (lingua itself is imported on first
call), so commands that never detect a language never pay for it.

Cost (measured on this machine with the languages below): lingua's import ~2 ms; its
trigram models load on first use, per script, ~0.3 s of CPU for all of them; a text costs
~1.5-2.5 us per character of Latin or Cyrillic text (a 200-character title and summary
~0.4 ms, more than parsing, normalising and matching the article together), which is why a
feed's articles are judged together (`detect_feed_languages`).

Which languages: the ones news in this project's field is published in (the watch list's ten
and their neighbours), not all 75 lingua knows: every extra language costs time per text and
adds a chance of a wrong guess on a short headline (a Turkish headline taken for Azerbaijani,
a Spanish one for Catalan). A text in a language not listed gets the nearest listed one or
None when nothing is close.
"""

from __future__ import annotations

import re
import threading
from bisect import bisect_right
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # lingua is imported on first use (see module docstring)
    from lingua import LanguageDetector

# ISO 639-1 codes of the languages detected. The ten of the watch list first.
LANGUAGES: tuple[str, ...] = (
    "en", "tr", "ru", "el", "ar", "fr", "de", "es", "it", "pl",
    "uk", "bg", "sr", "fa", "he", "ur", "hi", "ka", "hy", "zh", "ja", "ko",
    "pt", "nl", "ro",
)  # fmt: skip

# English names, for display (the digest); codes of languages lingua may be extended with
# show as they are.
NAMES: dict[str, str] = {
    "en": "English", "tr": "Turkish", "ru": "Russian", "el": "Greek", "ar": "Arabic",
    "fr": "French", "de": "German", "es": "Spanish", "it": "Italian", "pl": "Polish",
    "uk": "Ukrainian", "bg": "Bulgarian", "sr": "Serbian", "fa": "Persian", "he": "Hebrew",
    "ur": "Urdu", "hi": "Hindi", "ka": "Georgian", "hy": "Armenian", "zh": "Chinese",
    "ja": "Japanese", "ko": "Korean", "pt": "Portuguese", "nl": "Dutch", "ro": "Romanian",
}  # fmt: skip
# Written right to left.
RTL = frozenset({"ar", "fa", "he", "ur"})


# Codes people write for a language that are not its ISO 639-1 code: a country's code
# (gr for Greek), an old code (iw), or an ISO 639-2 code (ell, ger).
_MISTAKEN: dict[str, str] = {
    "gr": "el", "jp": "ja", "cn": "zh", "ua": "uk", "kr": "ko", "ir": "fa", "il": "he",
    "iw": "he", "br": "pt", "gb": "en", "us": "en", "at": "de", "ch": "de", "mx": "es",
    "eng": "en", "tur": "tr", "rus": "ru", "ell": "el", "gre": "el", "ara": "ar",
    "fra": "fr", "fre": "fr", "deu": "de", "ger": "de", "spa": "es", "ita": "it",
    "pol": "pl", "ukr": "uk", "bul": "bg", "srp": "sr", "fas": "fa", "per": "fa",
    "heb": "he", "urd": "ur", "hin": "hi", "kat": "ka", "geo": "ka", "hye": "hy",
    "arm": "hy", "zho": "zh", "chi": "zh", "jpn": "ja", "kor": "ko", "por": "pt",
    "nld": "nl", "dut": "nl", "ron": "ro", "rum": "ro",
}  # fmt: skip


def language_code(tag: str) -> str:
    """The language code of a tag: "el-GR", "EL", "el_GR" -> "el"."""
    return tag.strip().replace("_", "-").split("-", 1)[0].lower()


def language_problem(tag: str) -> str | None:
    """Why `tag` is no language code newswatch knows (None: it is one). A tag with a region
    ("pt-BR") is its language's; "gr" gets "did you mean 'el' (Greek)?"."""
    code = language_code(tag)
    if code in LANGUAGES:
        return None
    meant = _MISTAKEN.get(code) or next(
        (c for c, name in NAMES.items() if name.lower() == code), None
    )
    hint = f" (did you mean {meant!r}, {NAMES[meant]}?)" if meant else ""
    return (
        f"unknown language {tag!r}{hint}; ISO 639-1 codes newswatch detects: "
        f"{', '.join(sorted(LANGUAGES))}"
    )


def language_name(code: str | None) -> str | None:
    """The English name of a language code ("tr" -> "Turkish"); None for None."""
    if code is None:
        return None
    return NAMES.get(code, code)


def is_rtl(code: str | None) -> bool:
    return code in RTL


# Enough text to decide: a title and the start of a summary. Longer text costs more and
# rarely changes the answer.
MAX_CHARS = 200
# Fewer letters than this say too little (a bare name, a number, "Live").
MIN_LETTERS = 3

_detector: LanguageDetector | None = None
_lock = threading.Lock()


def _build() -> LanguageDetector:
    from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

    languages = [Language.from_iso_code_639_1(getattr(IsoCode639_1, c.upper())) for c in LANGUAGES]
    # Low-accuracy mode: trigram models only. lingua uses nothing else for texts of 120
    # characters or more in either mode, so a title with its summary is judged the same; the
    # full models would cost ~8 s of CPU to load per process (measured here), the trigram
    # ones ~0.3 s.
    return LanguageDetectorBuilder.from_languages(*languages).with_low_accuracy_mode().build()


def detector() -> LanguageDetector:
    """The shared detector, built on first call (thread-safe)."""
    global _detector
    if _detector is None:
        with _lock:
            if _detector is None:
                _detector = _build()
    return _detector


def detect_language(text: str) -> str | None:
    """The ISO 639-1 code of the language `text` is written in, or None when the text is
    too short or no language is likely enough."""
    text = text[:MAX_CHARS]
    if not _has_letters(text):
        return None
    found = detector().detect_language_of(text)
    if found is None:
        return None
    code = found.iso_code_639_1.name.lower()
    if code != "en" and len(text) < SHORT_CHARS and text.isascii() and _has_english_word(text):
        return "en"
    return code


# Below this many characters lingua's trigram models can take plain English for another
# language ("Greek yogurt sales soar. A recipe for Greek yogurt." -> Romanian, 0.98): an ASCII
# text this short with an English function word no other detected language writes is English.
SHORT_CHARS = 120
# (Not "of", "are", "is", "in", "to", "will", "was", "been", "after": Dutch, Romanian,
# Dutch, German, Polish, German, German, Dutch ("leg") and German words too.)
_ENGLISH_WORDS = frozenset(
    ["the", "and", "for", "with", "from", "this", "that", "were", "have", "its", "says",
     "said", "into", "about", "amid", "who", "than", "their", "they", "what",
     "how", "why", "would", "could", "should"]
)  # fmt: skip
_ASCII_WORD = re.compile(r"[a-z]+")


def _has_english_word(text: str) -> bool:
    return not _ENGLISH_WORDS.isdisjoint(_ASCII_WORD.findall(text.lower()))


def article_text(title: str, summary: str) -> str:
    """What an article's language is judged on: its title and the start of its summary."""
    return f"{title}\n{summary[:MAX_CHARS]}" if summary else title


def detect_article_language(title: str, summary: str) -> str | None:
    """The language of one article, from its title and the start of its summary."""
    return detect_language(article_text(title, summary))


# Feeds: a group (one script) of at least this many articles is judged as a whole first.
GROUP_MIN = 4
# Characters of a group's text judged at once (each half).
GROUP_CHARS = 300


def detect_feed_languages(texts: Sequence[str]) -> list[str | None]:
    """The language of each of one feed's articles (their `article_text`s), judged together.

    lingua's cost grows with the text it reads (~1.5-2.5 us per character of Latin text
    with the languages above, measured here): one call per article would cost ~0.3 ms each,
    more than parsing, normalising and matching it together. A feed publishes in one
    language per script in practice, so the articles are grouped by script (Latin, Cyrillic,
    Greek, Arabic, ...); each group of GROUP_MIN articles or more is judged in two halves
    (its first and second half of articles, GROUP_CHARS each): when both halves agree, that
    is every article's language in the group; when they do not (a feed mixing languages of
    one script), each article of the group is judged on its own. Smaller groups and articles
    too short to judge are judged on their own.

    What this gives up: in a feed whose articles of one script are mostly in one language,
    a few in another may take the majority's (both halves still agree).
    """
    out: list[str | None] = [None] * len(texts)
    groups: dict[str, list[int]] = {}
    for i, text in enumerate(texts):
        script = _script(text)
        if script is not None:
            groups.setdefault(script, []).append(i)
    for members in groups.values():
        if len(members) >= GROUP_MIN:
            half = len(members) // 2
            first = _joined(texts, members[:half])
            second = _joined(texts, members[half:])
            lang = detect_language(first)
            if lang is not None and lang == detect_language(second):
                for i in members:
                    out[i] = lang
                continue
        for i in members:
            out[i] = detect_language(texts[i])
    return out


def _has_letters(text: str) -> bool:
    """At least MIN_LETTERS letters."""
    seen = 0
    for ch in text:
        if ch.isalpha():
            seen += 1
            if seen >= MIN_LETTERS:
                return True
    return False


def _joined(texts: Sequence[str], members: Sequence[int]) -> str:
    parts: list[str] = []
    size = 0
    for i in members:
        parts.append(texts[i])
        size += len(texts[i]) + 1
        if size >= GROUP_CHARS:
            break
    return "\n".join(parts)[:GROUP_CHARS]


# First code point of each script's block(s), in order; a letter belongs to the last block
# starting at or below it. Only the scripts news is written in are told apart.
_SCRIPT_STARTS: tuple[tuple[int, str], ...] = (
    (0x0000, "latin"),
    (0x0370, "greek"),
    (0x0400, "cyrillic"),
    (0x0530, "armenian"),
    (0x0590, "hebrew"),
    (0x0600, "arabic"),
    (0x0900, "devanagari"),
    (0x10A0, "georgian"),
    (0x1100, "hangul"),
    (0x1200, "other"),
    (0x1E00, "latin"),
    (0x1F00, "greek"),
    (0x2000, "other"),
    (0x3040, "cjk"),
    (0xA000, "other"),
    (0xAC00, "hangul"),
    (0xD7B0, "other"),
    (0xFB50, "arabic"),
    (0xFE00, "other"),
    (0xFE70, "arabic"),
    (0xFF00, "other"),
)
_STARTS = tuple(start for start, _ in _SCRIPT_STARTS)
# Letters looked at to decide a text's script.
_SCRIPT_LETTERS = 24


def _script(text: str) -> str | None:
    """The script most of the text's first letters are written in; None when it has too few
    letters to judge (see MIN_LETTERS)."""
    if text.isascii() or max(text) < "\u0250":  # Latin letters only: C-speed tests
        return "latin" if _has_letters(text) else None
    counts: dict[str, int] = {}
    seen = 0
    for ch in text:
        if ch.isalpha():
            name = _SCRIPT_STARTS[bisect_right(_STARTS, ord(ch)) - 1][1]
            counts[name] = counts.get(name, 0) + 1
            seen += 1
            if seen >= _SCRIPT_LETTERS:
                break
    if seen < MIN_LETTERS:
        return None
    return max(counts, key=counts.__getitem__)
