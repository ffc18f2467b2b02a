"""Cross-language story links: the same event told in two languages.

Pure: takes each article's language, time and text, returns pairs of indexes to join; no I/O.
cluster.assign_clusters runs it after its own passes, which compare words and text and so
never join a Turkish report to an English one.

Translation keeps little of a story's wording but keeps its figures (225 aircraft, $5.43
billion, magnitude 6.1, 19:53, 3.5% of GDP) and its names (Airbus, A321neo, Rutte, Malatya):
words written with a capital (in Arabic, which has no capitals, every word but the commonest),
transliterated to Latin letters where written in Cyrillic, Greek or Arabic script, and
compared by their first consonants (`skeleton`: Эрдоган, Ερντογάν, أردوغان, Erdoğan: "rdgn").
Live blogs, explainers and opinion pieces (cluster's `_NOT_REPORT` titles) are not linked. Two
articles in different languages, published within `WINDOW` (12 hours) of each other, are the
same story when they share

- at least two specific figures, or
- one specific figure and at least two names, or
- at least four names (a match report: both clubs, the scorer and the ground), or
- three names that are each very rare in a batch of at least `VERY_RARE_BATCH` articles
  (in at most `max(VERY_RARE_MIN, VERY_RARE_SHARE * articles)` of them: a village, a ship
  and its captain are few stories' names; the president, his minister and their capital
  are many's), in reports at most `VERY_RARE_WINDOW` (6 hours) apart, or
- two names and the same kind of event (`EVENTS`: a quake, a fire, a flood, a strike, a
  crash, an exercise, a delivery ... in any of twelve languages: "deprem",
  "землетрясение", "σεισμός", "زلزال" are one kind), in reports at most `EVENT_WINDOW` (6
  hours) apart: "Sındırgı'da deprem ... Balıkesir" and "Quake near Sindirgi, Balikesir"; or one
  figure, one name and one kind of event, as close ("Malatya'da 6,1 büyüklüğünde deprem",
  "Séisme de magnitude 6,1 à Malatya"). Not meetings, calls, elections or court cases:
  one minister meets, one leader calls, one defendant is heard many times a week, with the
  same names (a summit is one, in one place),

each rare in the batch (in at most `max(RARE_MIN, RARE_SHARE * articles)` of them). A next-day
story in another language is left apart: it is most often the next development (an
aftershock, a reaction), not a translation.

A specific figure is a decimal (6.1 = 6,1; 19:53 = 19.53, as Turkish writes times) or a whole
number of at least 10 that is neither a round ten (50, 100: too common) nor a year; digits
that belong to a designation (S-400, F-35, A321neo) are not figures. One shared figure alone
never joins (a vote of 158 in Athens and 158 detentions in Istanbul); neither do two or three
names alone (every NATO story names its secretary general, often with his first name).
Articles of one language, or of unknown language, are left to the other passes.
"""

from __future__ import annotations

import functools
import re
import unicodedata
import zoneinfo
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import combinations
from typing import Any

WINDOW = timedelta(hours=12)
RARE_MIN = 8
RARE_SHARE = 0.02
MIN_FIGURES = 2  # shared specific figures that join on their own
MIN_NAMES = 2  # shared names that, with one shared figure, join
NAMES_ALONE = 4  # shared names that join on their own (no figure)
# Shared names that join on their own when each is very rare in the batch.
VERY_RARE_NAMES = 3
VERY_RARE_MIN = 4
VERY_RARE_SHARE = 0.01
VERY_RARE_BATCH = 50
VERY_RARE_WINDOW = timedelta(hours=6)
# Shared names that, with one kind of event named in both, join reports this close (and one
# name with one shared figure).
EVENT_NAMES = 2
EVENT_WINDOW = timedelta(hours=6)
# Kinds of event by the words that name them, in English, Turkish, Russian, Greek, Arabic,
# German, French, Spanish, Italian, Polish, Ukrainian and Bulgarian, folded (no accents,
# Arabic vowel marks or case; Turkish ı is i, Polish ł is l; the Arabic article cut off). A
# word of four letters or more also names the kind as the start of a longer word
# ("depremde", "землетрясения", "σεισμού"), one ending in "$" or shorter only whole. Stems
# that start common words of some language are written whole or longer ("gemi$", not the
# start of "Gemini"; "livraison", not "livr": "le livre").
EVENTS: dict[str, tuple[str, ...]] = {
    "quake": ("earthquake", "quake", "tremor", "deprem", "sarsinti", "землетрясен", "толчк",
              "σεισμ", "زلزال", "هزة", "erdbeben", "beben$", "seisme", "tremblement",
              "terremoto", "sismo", "seismo", "scossa", "trzesieni", "землетрус",
              "земетресен"),
    "fire": ("wildfire", "fire$", "fires$", "firefighter", "blaze", "yangin", "пожар",
             "πυρκαγι", "حريق", "حرائق", "waldbrand", "feuer$", "incendie", "incendio",
             "rogo$", "pozar", "пожеж"),
    "flood": ("flood", "sel", "selde$", "наводнен", "паводк", "πλημμυρ", "فيضان",
              "سيول", "hochwasser", "uberschwemm", "inondation", "crue$", "crues$",
              "inundacion", "riada", "alluvion", "esondaz", "powodz", "повін"),
    "storm": ("storm$", "storms$", "firtina", "lodos", "шторм", "буря", "ураган", "καταιγιδ",
              "κακοκαιρ", "عاصفة", "sturm$", "sturms$", "sturmtief", "unwetter", "tempete",
              "tormenta", "temporal", "tempesta", "maltempo", "burza", "burzy"),
    "strike": ("strike", "walkout", "grev", "забастовк", "απεργ", "إضراب", "اضراب", "streik",
               "greve", "huelga", "sciopero", "strajk", "страйк", "стачк"),
    "crash": ("crash", "крушен", "разбил", "авиакатастроф", "συντριβ", "κατεπεσε",
              "تحطم", "absturz", "abgesturzt", "ecrase", "estrello", "precipit", "schiant",
              "katastrof", "rozbil", "катастроф"),
    "blast": ("explosion", "blast", "patlama", "взрыв", "εκρηξ", "انفجار", "esplosion",
              "wybuch", "eksplozj", "вибух", "взрив"),
    "rates": ("rates$", "faiz", "ставк", "επιτοκι", "فائدة", "zins", "leitzins", "taux$",
              "tassi$", "stopy$", "лихв"),
    "migrants": ("migrant", "refugee", "gocmen", "мигрант", "беженц", "μεταναστ",
                 "προσφυγα", "προσφυγες", "προσφυγων", "مهاجر", "لاجئ", "fluchtling",
                 "imigrant", "мігрант"),
    "drone": ("drone", "dron", "беспилотн", "дрон", "бпла", "مسيرة", "drohne", "безпілотн"),
    "exercise": ("exercise", "drill", "tatbikat", "учения", "учений", "учениях", "ασκησ",
                 "مناورات", "تدريبات", "ubung", "manover", "exercice", "ejercicio",
                 "maniobra", "esercitaz", "cwiczen", "навчан"),
    "summit": ("summit", "zirve", "саммит", "συνοδος", "συνοδου", "قمة", "gipfel", "sommet",
               "cumbre", "vertice", "szczyt", "саміт"),
    "delivery": ("deliver", "teslim", "поставк", "поставок", "παραδοθηκ", "تسليم", "liefer",
                 "livraison", "entreg", "consegn", "dostaw", "достав"),
    "ship": ("ship$", "ships$", "vessel", "tanker", "freighter", "gemi$", "gemisi$",
             "gemide$", "gemiye$", "gemiler", "судно", "танкер", "πλοιο", "δεξαμενοπλοι",
             "سفينة", "ناقلة", "schiff", "frachter", "navire", "buque", "nave$", "navi$",
             "statek", "кораб"),
    "attack": ("attack", "struck$", "saldiri", "vurdu$", "удар", "атак", "επιθεσ", "هجوم",
               "ضربة", "angriff", "attaque", "frappe", "ataque", "attacco", "atak$", "ataku$"),
}  # fmt: skip

# A run of digits with its separators; one glued to a letter or a dash (S-400, A321neo) is
# dropped by the caller (a look-behind here would cost ~5x).
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
# A word in Latin letters (with digits or inner dashes: A321neo, F-35) starting upper-case.
_NAME = re.compile(r"[A-Z\u00c0-\u024f][A-Za-z0-9\u00c0-\u024f]*(?:-[A-Za-z0-9]+)*")
# A word in Cyrillic or Greek letters starting upper-case: transliterated, it meets the Latin
# spelling of the same name (Эрдоган, Ερντογάν -> erdogan).
_OTHER_NAME = re.compile(r"[А-ЯЁІЇЄҐ][а-яёіїєґ]+|[Α-ΩΆΈΉΊΌΎΏ][α-ωάέήίόύώϊϋΐΰς]+")
_CYRILLIC = str.maketrans({
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh", "з": "z",
    "и": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r",
    "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh",
    "щ": "shch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu", "я": "ya", "і": "i",
    "ї": "yi", "є": "ye", "ґ": "g",
})  # fmt: skip
_GREEK_PAIRS = (
    ("ου", "u"),
    ("μπ", "b"),
    ("ντ", "d"),
    ("γκ", "g"),
    ("αι", "e"),
    ("ει", "i"),
    ("οι", "i"),
)
_GREEK = str.maketrans({
    "α": "a", "β": "v", "γ": "g", "δ": "d", "ε": "e", "ζ": "z", "η": "i", "θ": "th", "ι": "i",
    "κ": "k", "λ": "l", "μ": "m", "ν": "n", "ξ": "x", "ο": "o", "π": "p", "ρ": "r", "σ": "s",
    "ς": "s", "τ": "t", "υ": "y", "φ": "f", "χ": "ch", "ψ": "ps", "ω": "o",
})  # fmt: skip
# A name with digits (A321neo, F-35) has no skeleton; it is compared by its first NAME_KEY
# letters.
NAME_KEY = 5
# The start of the summary read: a story's figures and names are in its first paragraph.
TEXT_CHARS = 600
# Combining marks: Latin, Greek and Cyrillic accents, and Arabic vowel marks, shadda and the
# hamza NFKD splits off (إضراب, المسيّرة).
_COMBINING = re.compile("[\u0300-\u036f\u064b-\u065f\u0670]")
_NOT_NAMES = frozenset(
    [
        "the",
        "this",
        "that",
        "these",
        "those",
        "there",
        "their",
        "they",
        "then",
        "than",
        "when",
        "what",
        "where",
        "which",
        "while",
        "with",
        "from",
        "into",
        "over",
        "under",
        "after",
        "before",
        "about",
        "also",
        "only",
        "just",
        "more",
        "most",
        "some",
        "such",
        "very",
        "will",
        "would",
        "could",
        "should",
        "have",
        "been",
        "were",
        "said",
        "says",
        "news",
        "live",
        "update",
        "video",
        "watch",
    ]
)


@dataclass(frozen=True, slots=True)
class Anchors:
    """What an article's text keeps through translation."""

    figures: frozenset[str]
    names: frozenset[str]
    events: frozenset[str] = frozenset()


@functools.cache
def _event_words() -> tuple[dict[str, set[str]], dict[str, set[str]], frozenset[str]]:
    """The `EVENTS` words, each -> its kinds: (whole words, starts of words, and the first
    four letters of every start: a word that does not begin so is none of them)."""
    whole: dict[str, set[str]] = defaultdict(set)
    start: dict[str, set[str]] = defaultdict(set)
    for kind, words in EVENTS.items():
        for word in words:
            exact = word.endswith("$") or len(word.rstrip("$")) < 4
            (whole if exact else start)[_without_article(_fold(word.rstrip("$")))].add(kind)
    return dict(whole), dict(start), frozenset(w[:4] for w in start)


_WORD = re.compile(r"\w+")


def _without_article(word: str) -> str:
    """An Arabic word without the article and the particles written onto it (`_ARABIC_PREFIX`);
    any other word as it is."""
    return _ARABIC_PREFIX.sub("", word) if "\u0621" <= word[0] <= "\u064a" else word


def events(text: str) -> frozenset[str]:
    """The kinds of event (`EVENTS`) that `text` names."""
    whole, start, heads = _event_words()
    out: set[str] = set()
    for word in _WORD.findall(_fold(text)):
        if not word.isascii():
            word = _without_article(word)
        found = whole.get(word)
        if found:
            out.update(found)
        if word[:4] not in heads:
            continue
        for n in range(4, min(len(word), 13) + 1):
            found = start.get(word[:n])
            if found:
                out.update(found)
    return frozenset(out)


def figures(text: str) -> frozenset[str]:
    """The specific figures of `text`, normalised ("5,43" and "5.43" -> "5.43")."""
    out = set()
    for m in _NUMBER.finditer(text):
        if _glued(text, m.start(), m.end()):
            continue
        value = _figure(m.group())
        if value is not None:
            out.add(value)
    return frozenset(out)


def _glued(text: str, start: int, end: int) -> bool:
    before = text[start - 1] if start else " "
    after = text[end] if end < len(text) else " "
    return before.isalnum() or before in "-_" or after.isalnum() or after in "-_"


def _figure(token: str) -> str | None:
    parts = re.split(r"[.,:]", token)
    if len(parts) == 2 and len(parts[1]) == 3 and token[len(parts[0])] in ".,":
        parts = ["".join(parts)]  # 1,500 or 1.500: a thousands separator
    elif len(parts) > 2:
        parts = ["".join(parts)]  # 1.234.567
    try:
        whole = int(parts[0])
    except ValueError:  # digits int() does not read
        return None
    if len(parts) == 2:
        return f"{whole}.{parts[1]}"
    if whole < 10 or whole % 10 == 0 or 1900 <= whole <= 2100:
        return None
    return str(whole)


def names(text: str, language: str | None = None) -> frozenset[str]:
    """Words written with a capital, folded (case, accents, a Russian case ending), Cyrillic
    and Greek ones transliterated, and Arabic words but the commonest, each as its `skeleton`
    ("Ankara'da" -> "nkr"; a name with digits, A321neo, by its first NAME_KEY letters). In
    a text of a known `language`, the name of a country or a city in that language is read
    as the place's English name (`_places`: "Yunanistan", "Греция", "Greece" -> "grk")."""
    places = _places(language) if language else {}
    out: set[str] = set()
    for m in _NAME.finditer(text):
        start = m.start()
        if start and (text[start - 1].isalnum() or text[start - 1] in "-_"):
            continue  # inside a word
        _add_name(out, _fold(m.group()), places)
    for m in () if text.isascii() else _OTHER_NAME.finditer(text):
        start = m.start()
        if start and text[start - 1].isalnum():
            continue
        latin = _transliterated(_fold(m.group()))
        if latin is not None:
            _add_name(out, latin, places)
    for m in () if text.isascii() else _ARABIC_WORD.finditer(text):
        # Arabic writes no capitals: every word but the commonest is a candidate name.
        word = _ARABIC_PREFIX.sub("", m.group())
        if word in _ARABIC_NOT_NAMES:
            continue
        latin = word.translate(_ARABIC)
        key = skeleton(latin)
        if key is not None:
            out.add(places.get("ar:" + _bones(latin), key))
    return frozenset(out)


def _add_name(out: set[str], latin: str, places: Mapping[str, str]) -> None:
    """Add a folded name in Latin letters: its place's key, else (from four letters) its
    skeleton, or for a name with digits its first NAME_KEY letters."""
    if latin in _NOT_NAMES or len(latin) < 3:
        return
    place = _place(places, latin)
    if place is not None:
        out.add(place)
    elif len(latin) >= 4:
        out.add(skeleton(latin) or latin[:NAME_KEY])


def _transliterated(word: str) -> str | None:
    """A folded Cyrillic or Greek word in Latin letters; None for one that is not."""
    if word.isascii():
        return None
    if "\u0370" <= word[0] <= "\u03ff":
        for a, b in _GREEK_PAIRS:
            word = word.replace(a, b)
        latin = word.translate(_GREEK)
    else:
        latin = _CYRILLIC_ENDING.sub("", word).translate(_CYRILLIC)
    return latin if latin.isascii() else None


# The languages whose names of countries and cities `_places` knows.
PLACE_LANGUAGES = ("en", "tr", "ru", "el", "ar", "de", "fr", "es", "it", "pl", "uk", "bg")


@functools.cache
def _places(language: str) -> dict[str, str]:
    """Each one-word name of a country or a city in `language` (`_place_key`) -> the
    `skeleton` of its English name, the key every language's name of the place then shares
    ("Şam", "Damaskus", "Δαμασκός" -> "dmsk", as "Damascus" and "دمشق" read already).
    Names from the Unicode CLDR (Babel): countries, and the cities time zones are named
    after. A key two places of the language share is left out. Built on first use, per
    language (~10 ms each); empty for a language not in PLACE_LANGUAGES."""
    if language not in PLACE_LANGUAGES:
        return {}
    from babel import Locale  # only when articles of known language are clustered

    canonical = _english_names()
    locale = Locale.parse(language)
    found: dict[str, set[str]] = defaultdict(set)
    stems: dict[str, set[str]] = defaultdict(set)
    for place, name in _place_names(locale):
        if " " in name or "-" in name:
            continue  # one-word names only: a name's words are compared one by one
        key = _place_key(name)
        if key is None:
            continue
        found[key].add(place)
        if not key.startswith("ar:"):
            stems[_place_stem(key)].add(place)
    exact = {key: next(iter(p)) for key, p in found.items() if len(p) == 1}
    by_stem = {f"~{key}": next(iter(p)) for key, p in stems.items() if len(p) == 1}
    return {
        key: english_key
        for key, place in (exact | by_stem).items()
        if (english_key := _english_key(canonical.get(place, ""))) is not None
    }


@functools.cache
def _zones() -> tuple[str, ...]:
    """The time zones named after a city ("Europe/Warsaw")."""
    skip = ("Etc/", "SystemV/", "US/", "Canada/", "Brazil/", "Chile/", "Mexico/")
    return tuple(
        sorted(
            z
            for z in zoneinfo.available_timezones()
            if z.count("/") == 1 and not z.startswith(skip)
        )
    )


def _place_names(locale: Any) -> list[tuple[str, str]]:
    """(place, its name in `locale`): "@" and a country's ISO 3166 code, or a time zone."""
    named = [
        (f"@{code}", name)
        for code, name in locale.territories.items()
        if len(code) == 2 and code.isalpha()
    ]
    for zone in _zones():
        city = (locale.time_zones.get(zone) or {}).get("city")
        named.append((f"@{zone}", city or zone.split("/")[1].replace("_", " ")))
    return named


@functools.cache
def _english_names() -> dict[str, str]:
    from babel import Locale

    return dict(_place_names(Locale.parse("en")))


def _english_key(name: str) -> str | None:
    """The key of a place's English name: the skeleton of its one word, or of its longest
    ("United Kingdom" -> "kngd")."""
    words = [_fold(w) for w in re.findall(r"[^\W\d_]+", name)]
    if not words:
        return None
    return skeleton(max(words, key=len))


def _place_key(name: str) -> str | None:
    """How `_places` files a place's name: folded and in Latin letters (its `_place_stem`
    is filed too), or for an Arabic name "ar:" and all its consonants (Arabic writes few
    vowels)."""
    if _ARABIC_WORD.fullmatch(name):
        bones = _bones(_ARABIC_PREFIX.sub("", name).translate(_ARABIC))
        return f"ar:{bones}" if len(bones) >= MIN_SKELETON else None
    word = _fold(name)
    latin = word if word.isascii() else _transliterated(word)
    return latin or None


_END_VOWELS = re.compile(r"[aeiouys]+$")


def _place(places: Mapping[str, str], word: str) -> str | None:
    """The place a folded Latin word names: by its whole name, else by its stem."""
    return places.get(word) or places.get("~" + _place_stem(word))


def _place_stem(latin: str) -> str:
    """A place name without its final vowels and s, so that its case forms meet (Греция,
    Греции: "grets"; Ελλάδα, Ελλάδας: "ellad"; Griechenlands: "griechenland")."""
    return _END_VOWELS.sub("", latin)


_ARABIC_WORD = re.compile(r"[\u0621-\u064a]{3,}")
# Arabic letters as the consonants a Latin spelling of the name would have; the long vowels,
# hamza forms, ta marbuta and ayn, which Latin spellings write as vowels or not at all, drop.
_ARABIC = str.maketrans({
    "ب": "b", "ت": "t", "ث": "t", "ج": "j", "ح": "h", "خ": "h", "د": "d", "ذ": "d", "ر": "r",
    "ز": "z", "س": "s", "ش": "s", "ص": "s", "ض": "d", "ط": "t", "ظ": "z", "غ": "g", "ف": "f",
    "ق": "k", "ك": "k", "ل": "l", "م": "m", "ن": "n", "ه": "h",
    "ا": "", "أ": "", "إ": "", "آ": "", "ى": "", "و": "", "ي": "", "ة": "", "ء": "", "ئ": "",
    "ؤ": "", "ع": "",
})  # fmt: skip
# The article and the particles written onto it: "والناتو", "بالعاصمة", "للرئيس".
_ARABIC_PREFIX = re.compile(r"^(?:[وفبك]?ال|لل)")
_DIGRAPHS = (("sch", "s"), ("ch", "h"), ("kh", "h"), ("sh", "s"), ("zh", "z"), ("th", "t"),
             ("ph", "f"), ("gh", "g"), ("ck", "k"))  # fmt: skip
_CONSONANTS = str.maketrans({"w": "v", "f": "v", "c": "k", "q": "k", "p": "b", "x": "ks"})
# Russian case endings that add a consonant to a name (Путиным, Эрдоганом, Анкарой).
_CYRILLIC_ENDING = re.compile(r"(?<=\w{4})(?:ами|ями|ом|ем|ым|им|ой|ей|ам|ям|ах|ях)$")
_VOWELS = re.compile(r"[aeiouy]+")
_DOUBLE = re.compile(r"(.)\1+")
SKELETON = 4  # consonants a name is compared by
MIN_SKELETON = 2
# Arabic words of three letters or more that are not names (after the article is cut off).
_ARABIC_NOT_NAMES = frozenset(
    [
        "بين",
        "قال",
        "وقال",
        "كان",
        "كانت",
        "يكون",
        "بعد",
        "قبل",
        "ذلك",
        "منذ",
        "دون",
        "نحو",
        "تي",
        "ذي",
        "هذا",
        "هذه",
        "لكن",
        "حيث",
        "أيضا",
        "عندما",
        "كما",
        "مثل",
        "غير",
        "عبر",
        "فقط",
        "بشأن",
        "جميع",
        "وفق",
        "لدى",
        "أكثر",
        "أمس",
        "يوم",
        "آن",
        "عام",
        "خلال",
        "حول",
        "ضد",
        "عند",
        "إلى",
        "على",
    ]
)


def skeleton(latin: str) -> str | None:
    """A name's first SKELETON consonants as most spellings of it share them (Erdoğan,
    Эрдоган, Ερντογάν, أردوغان -> "rdgn"; Trump, Τραμπ, ترامب -> "trb"): vowels dropped, an
    initial h dropped (Χολγκίν, Olguin), digraphs and look-alike letters folded (w/f/v,
    c/k/q, p/b, "mb"/"b", "nd"/"d"). None for a name of fewer than MIN_SKELETON consonants."""
    bones = _bones(latin)
    if len(bones) < MIN_SKELETON or not bones.isalpha():
        return None
    return bones[:SKELETON]


def _bones(latin: str) -> str:
    """All of a name's consonants, folded as `skeleton` folds them."""
    for a, b in _DIGRAPHS:
        latin = latin.replace(a, b)
    latin = latin.removeprefix("h").translate(_CONSONANTS)
    bones = _DOUBLE.sub(r"\1", _VOWELS.sub("", latin))
    return bones.replace("mb", "b").replace("nd", "d")


def _fold(word: str) -> str:
    word = word.replace("ı", "i").replace("İ", "I")
    if not word.isascii():
        word = word.replace("ł", "l").replace("Ł", "L")
        word = _COMBINING.sub("", unicodedata.normalize("NFKD", word))
    return word.lower()


def anchors(title: str, summary: str, language: str | None = None) -> Anchors:
    text = f"{title}\n{summary[:TEXT_CHARS]}"
    return Anchors(figures(text), names(text, language), events(text))


@dataclass(frozen=True, slots=True)
class Item:
    index: int
    language: str
    published_at: datetime
    anchors: Anchors


def links(items: Sequence[Item]) -> list[tuple[int, int]]:
    """Pairs of indexes (lower first) that are one story told in two languages; the caller
    joins them (cluster._join_events, which keeps an outlet's stories apart)."""
    if len(items) < 2:
        return []
    limit = max(RARE_MIN, int(len(items) * RARE_SHARE))
    # Rarity says little in a small batch (every name is rare among ten articles).
    very_rare = (
        max(VERY_RARE_MIN, int(len(items) * VERY_RARE_SHARE))
        if len(items) >= VERY_RARE_BATCH
        else 0
    )
    figure_df: dict[str, int] = defaultdict(int)
    name_df: dict[str, int] = defaultdict(int)
    for item in items:
        for f in item.anchors.figures:
            figure_df[f] += 1
        for n in item.anchors.names:
            name_df[n] += 1
    rare_figures = {i.index: {f for f in i.anchors.figures if figure_df[f] <= limit} for i in items}
    rare_names = {i.index: {n for n in i.anchors.names if name_df[n] <= limit} for i in items}
    # Candidates: articles sharing a rare figure or a rare name (every rule needs one).
    posting: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        for f in rare_figures[item.index]:
            posting["#" + f].append(item)
        for name in rare_names[item.index]:
            posting[name].append(item)
    out: set[tuple[int, int]] = set()
    for group in posting.values():
        for a, b in combinations(group, 2):
            gap = abs(a.published_at - b.published_at)
            if a.language == b.language or gap > WINDOW:
                continue
            pair = (min(a.index, b.index), max(a.index, b.index))
            if pair in out:
                continue
            shared = len(rare_figures[a.index] & rare_figures[b.index])
            common = rare_names[a.index] & rare_names[b.index]
            names = len(common)
            if (
                shared >= MIN_FIGURES
                or (shared and names >= MIN_NAMES)
                or names >= NAMES_ALONE
                or (
                    names >= VERY_RARE_NAMES
                    and gap <= VERY_RARE_WINDOW
                    and all(name_df[name] <= very_rare for name in common)
                )
                or (
                    (names >= EVENT_NAMES or (shared and names))
                    and gap <= EVENT_WINDOW
                    and not a.anchors.events.isdisjoint(b.anchors.events)
                )
            ):
                out.add(pair)
    return sorted(out)
