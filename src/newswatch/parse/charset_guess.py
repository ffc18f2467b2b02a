"""Which single-byte encoding an undeclared, non-UTF-8 feed body is written in.

A body that is not valid UTF-8 and names no encoding (no byte-order mark, no XML declaration,
no HTTP charset) was read as windows-1252, feedparser's fallback, which garbles every feed in
another code page ("Erdoðan" for "Erdoğan"). `guess_single_byte` reads the body under each
code page of the languages newswatch's feeds are written in and keeps the reading that looks
most like text in its own script:

- a word mixing scripts ("Tьrkei", "Erdoрan") is wrong;
- a word neither in lower case, nor in capitals, nor capitalised ("тУРЦИЯ": KOI8-R read as
  windows-1251 and back; "ФЮсзуз": accented Greek read as Cyrillic) is wrong;
- a Latin word of four letters or more that is mostly accented letters ("Òóðöèÿ": Cyrillic or
  Greek read as Latin) is wrong;
- a symbol that is not a letter, a digit or common punctuation (a C1 control, "¶", box
  drawing, "³") is wrong;
- a Greek final sigma (ς) inside a word is wrong;
- a letter rare in the reading's languages where another code page has a common one is wrong:
  ð, þ and ý (Icelandic and Faroese) stand where windows-1254 has ğ, ş and ı, and ΰ and ΐ
  where windows-1251 has а and А.

The reading with the fewest wrong words wins; between equals, the one in the earlier script
(Latin, Cyrillic, Greek), then the one with more lower-case letters (KOI8-R and windows-1251
swap each other's cases), then the earlier code page in CANDIDATES (windows-1252 first: an
undeclared Western feed keeps the reading it always had).
ISO-8859-1/-9 text reads the same under windows-1252/-1254 (they differ only in C1 controls,
which text does not use), so those are not separate candidates; ISO-8859-7 and windows-1253
differ in a few letters (Ά) and both are.

Pure and cheap: ~0.3 ms for a 2 KB body (bench/bench_charset_guess.py), and only ever run for
undeclared non-UTF-8 bodies.

`repair_mixed_utf8` is for the other common mistake: a body in UTF-8 with a few bytes that are
not (an item pasted from a windows-1252 editor, one source of an aggregated feed in its own
code page). Read whole as UTF-8 it fails; read whole in a single-byte code page every UTF-8
letter of it is garbled ("ErdoÄŸan"). So its UTF-8 is kept as UTF-8 and only the stray bytes
are read in the code page that reads them best (judged as above, on the words they stand in).
A body is taken as UTF-8 with strays when it has at least one valid multi-byte UTF-8 character
for every ten stray bytes: text in a single-byte code page forms such sequences only by
accident (KOI8-R "щё" happens to be one), and then next to a hundred bytes that form none
(at most 1 for 103 in the 2,000 bodies of bench/bench_charset_guess.py; see
bench/bench_mixed_utf8.py). So a UTF-8 feed with one whole item in windows-1251 is repaired
too, as long as its UTF-8 part has some non-ASCII text (curly quotes count).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Tried in this order, by script (Latin, Cyrillic, Greek); a tie goes to the earlier script.
CANDIDATES = ("cp1252", "cp1254", "cp1251", "koi8-r", "cp1253", "iso8859-7")
_SCRIPT_RANK = {"cp1252": 0, "cp1254": 0, "cp1251": 1, "koi8-r": 1, "cp1253": 2, "iso8859-7": 2}
# Not letters, but at home in any text.
_PUNCTUATION = frozenset("\u00a0«»“”„‘’‚–—…•·€£¥°§©®™¿¡×÷±¢¤¦¨¬¯´¸ªº")
# Letters rare in the languages of a code page, where another code page has common ones:
# windows-1252's Icelandic letters where windows-1254 has ğ, ş, ı, Ğ, Ş, İ; the Greek
# pages' ΰ and ΐ where windows-1251 has а and А.
_UNLIKELY = {
    "cp1252": frozenset("ðþýÐÞÝ"),
    "cp1253": frozenset("ΰΐ"),
    "iso8859-7": frozenset("ΰΐ"),
}
_WORD = re.compile(r"[^\W\d_]+")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_SAMPLE_BYTES = 16_384


def guess_single_byte(body: bytes, context: frozenset[str] = frozenset()) -> str | None:
    """The code page in CANDIDATES that reads `body` most plausibly, or None when none can
    decode it. Only the first 16 KB are judged (enough text, bounded cost). `context`: letters
    of text known to be near it (the UTF-8 rest of a mixed body); between readings with as few
    wrong words, the code page that can write more of them wins (a Greek word among Greek
    text is Greek, not Latin)."""
    sample = body[:_SAMPLE_BYTES]
    best: tuple[int, int, int, int] | None = None
    chosen = None
    for codec in CANDIDATES:
        try:
            text = sample.decode(codec)
        except UnicodeDecodeError:
            continue  # a byte this code page leaves undefined
        # Fewest wrong words; between equals, the earlier script, then more lower-case
        # letters (text is mostly lower case: KOI8-R and windows-1251 swap each other's cases).
        lower = sum(1 for c in _NON_ASCII.findall(text) if c.islower())
        score = (_wrong(text, codec), _unwritable(context, codec), _SCRIPT_RANK[codec], -lower)
        if best is None or score < best:
            best, chosen = score, codec
    return chosen


def _unwritable(letters: frozenset[str], codec: str) -> int:
    """How many of `letters` `codec` has no byte for."""
    count = 0
    for letter in letters:
        try:
            letter.encode(codec)
        except UnicodeEncodeError:
            count += 1
    return count


def _wrong(text: str, codec: str) -> int:
    """How many implausible words and symbols `text` has as a reading in `codec`."""
    wrong = 0
    unlikely = _UNLIKELY.get(codec, frozenset())
    for char in set(_NON_ASCII.findall(text)):
        if not (char.isalnum() or char in _PUNCTUATION):
            wrong += text.count(char)
    for word in _WORD.findall(text):
        if word.isascii():
            continue
        scripts = {_script(c) for c in word}
        if len(scripts) > 1:
            wrong += 1
            continue
        if _case_breaks(word):
            wrong += 1
            continue
        if "latin" in scripts:
            accented = sum(1 for c in word if not c.isascii())
            if len(word) >= 4 and accented * 4 >= len(word) * 3:
                wrong += 1
                continue
        if "ς" in word[:-1] or not unlikely.isdisjoint(word):
            wrong += 1  # Greek final sigma inside a word; a rare letter
    return wrong


def _case_breaks(word: str) -> bool:
    """Neither lower case, nor capitals, nor Capitalised: "тУРЦИЯ", "ФЮсзуз" (accented Greek
    read as Cyrillic). ASCII words such as "iPhone" are not judged."""
    return not (word.islower() or word.isupper() or (word[0].isupper() and word[1:].islower()))


def _script(char: str) -> str:
    if char.isascii():
        return "latin"
    name = unicodedata.name(char, "")
    return name.partition(" ")[0].lower() or "other"


# A body read with errors="surrogateescape": each byte that is not UTF-8 becomes U+DC80-U+DCFF.
_STRAY = re.compile("[\udc80-\udcff]+")
_UTF8_CHAR = re.compile("[^\x00-\x7f\udc80-\udcff]")
_STRAY_WORD = re.compile('[^\\s<>"]*[\udc80-\udcff][^\\s<>"]*')
_FALLBACK = "cp1252"
# At most this many stray bytes per valid multi-byte UTF-8 character (module notes).
_STRAYS_PER_UTF8_CHAR = 10


@dataclass(frozen=True, slots=True)
class MixedRepair:
    """A body in UTF-8 with stray bytes, made all UTF-8: `stray_bytes` of it were read in `codec`."""

    body: bytes
    codec: str
    stray_bytes: int

    @property
    def note(self) -> str:
        return (
            f"{self.stray_bytes} byte{'s' if self.stray_bytes != 1 else ''} not valid UTF-8 "
            f"read as {self.codec} (the rest of the body is UTF-8)"
        )


def repair_mixed_utf8(body: bytes) -> MixedRepair | None:
    """`body` with its stray non-UTF-8 bytes decoded in their most plausible code page and the
    whole re-encoded as UTF-8; None when `body` is valid UTF-8 or mostly not UTF-8 at all."""
    try:
        body.decode("utf-8")
        return None  # most bodies: a strict decode is ~10x cheaper than finding no stray
    except UnicodeDecodeError:
        pass
    text = body.decode("utf-8", "surrogateescape")
    strays = _STRAY.findall(text)
    stray_bytes = sum(len(run) for run in strays)
    if len(_UTF8_CHAR.findall(text)) * _STRAYS_PER_UTF8_CHAR < stray_bytes:
        return None  # a single-byte code page: guess_single_byte's case
    words = " ".join(_UTF8_CHAR.sub("", w) for w in _STRAY_WORD.findall(text))
    context = frozenset(c for c in _UTF8_CHAR.findall(text[:_SAMPLE_BYTES]) if c.isalpha())
    codec = guess_single_byte(words.encode("utf-8", "surrogateescape"), context) or _FALLBACK

    def decode(run: re.Match[str]) -> str:
        return run.group().encode("utf-8", "surrogateescape").decode(codec, "replace")

    return MixedRepair(_STRAY.sub(decode, text).encode("utf-8"), codec, stray_bytes)
