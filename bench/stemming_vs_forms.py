"""Stemming or explicit forms for names in ten languages: precision and recall of each on the
multilingual evaluation set (tests/data/topics_multilingual.yaml), and the cost of stemming.

Three options, each deciding per article and topic:

- forms: the shipped watch list (explicit inflected forms and wildcards, context rules);
- stems: a topic fires when the Snowball stem of one of its names (the dictionary forms
  listed below, per language) is the stem of a word of the article, stemmed with the
  article's language (designations such as S-400 are matched as terms, since a stemmer
  splits them);
- both: forms OR stems.

    PYTHONPATH=src python bench/stemming_vs_forms.py [--count 100000]

Needs snowballstemmer (a dev dependency: `pip install -e .[dev]`).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import snowballstemmer
import yaml

from newswatch.match.topics import compile_topics
from newswatch.parse.text import html_to_text

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from tests.test_topics_multilingual import TOPICS, Case, load_cases  # noqa: E402

STEMMERS = {
    "en": "english",
    "tr": "turkish",
    "ru": "russian",
    "el": "greek",
    "ar": "arabic",
    "fr": "french",
    "de": "german",
    "es": "spanish",
    "it": "italian",
    "pl": "polish",
}
# The names of each topic as a dictionary lists them (no inflected forms: stemming is meant
# to find those). A name of several words matches as consecutive stems.
NAMES: dict[str, dict[str, list[str]]] = {
    "Turkey": {
        "en": ["Turkey", "Turkish", "Turks", "Ankara", "Erdogan", "Istanbul"],
        "tr": ["Türkiye", "Türk", "Ankara", "Erdoğan", "İstanbul"],
        "ru": ["Турция", "турецкий", "Анкара", "Эрдоган", "Стамбул"],
        "el": ["Τουρκία", "τουρκικός", "Τούρκος", "Άγκυρα", "Ερντογάν", "Κωνσταντινούπολη"],
        "ar": ["تركيا", "التركي", "أنقرة", "أردوغان", "إسطنبول"],
        "fr": ["Turquie", "turc", "Ankara", "Erdogan", "Istanbul"],
        "de": ["Türkei", "türkisch", "Türke", "Ankara", "Erdogan", "Istanbul"],
        "es": ["Turquía", "turco", "Ankara", "Erdogan", "Estambul"],
        "it": ["Turchia", "turco", "Ankara", "Erdogan", "Istanbul"],
        "pl": ["Turcja", "turecki", "Turek", "Ankara", "Erdogan", "Stambuł"],
    },
    "S-400": {lang: ["Triumf", "Триумф"] for lang in STEMMERS},
    "NATO": {
        "en": ["NATO", "Atlantic alliance"],
        "tr": ["NATO", "Kuzey Atlantik İttifakı"],
        "ru": ["НАТО", "Североатлантический альянс"],
        "el": ["ΝΑΤΟ", "Βορειοατλαντική Συμμαχία"],
        "ar": ["الناتو", "حلف شمال الأطلسي"],
        "fr": ["OTAN", "Alliance atlantique"],
        "de": ["NATO", "Atlantisches Bündnis"],
        "es": ["OTAN", "Alianza Atlántica"],
        "it": ["NATO", "Alleanza atlantica"],
        "pl": ["NATO", "Sojusz Północnoatlantycki"],
    },
}
DESIGNATIONS = compile_topics([{"name": "S-400", "any": ["S-400", "С-400", "إس-400"]}])
_WORD = re.compile(r"\w+")


def _stem_words(stemmer: snowballstemmer.stemmer, text: str) -> list[str]:
    return [str(s) for s in stemmer.stemWords(_WORD.findall(text.lower()))]


def stem_option() -> Callable[[Case, str, str], set[str]]:
    stemmers = {lang: snowballstemmer.stemmer(name) for lang, name in STEMMERS.items()}
    names: dict[str, dict[str, list[tuple[str, ...]]]] = {
        topic: {
            lang: [tuple(_stem_words(stemmers[lang], n)) for n in forms]
            for lang, forms in by_lang.items()
        }
        for topic, by_lang in NAMES.items()
    }

    def predict(case: Case, title: str, summary: str) -> set[str]:
        stems = _stem_words(stemmers[case.lang], f"{title} \n {summary}")
        found = set()
        for topic in TOPICS:
            for name in names[topic][case.lang]:
                n = len(name)
                if any(tuple(stems[i : i + n]) == name for i in range(len(stems) - n + 1)):
                    found.add(topic)
                    break
        if DESIGNATIONS.match(title, summary):
            found.add("S-400")
        return found

    return predict


# Inflected names and their look-alikes, one word or phrase at a time: what each option
# makes of the inflection itself, with no context around it.
WORDS: dict[str, dict[str, tuple[list[str], list[str]]]] = {
    # topic -> language -> (forms that name it, look-alikes that do not)
    "Turkey": {
        "tr": (
            [
                "Türkiye",
                "Türkiye'nin",
                "Türkiyenin",
                "Türkiye'ye",
                "Türkiyeye",
                "Türkiyede",
                "Ankara'nın",
                "Ankaranın",
                "Erdoğan'ın",
                "Erdoğanın",
                "Türk",
                "Türkler",
            ],
            ["hindi", "Hindistan", "türkü", "Türkmenistan"],
        ),
        "ru": (
            [
                "Турция",
                "Турции",
                "Турцию",
                "Турцией",
                "Анкара",
                "Анкары",
                "Анкару",
                "Анкаре",
                "Эрдоган",
                "Эрдогана",
                "Эрдоганом",
                "турецкий",
                "турецкая",
                "турецкого",
                "Стамбул",
                "Стамбуле",
            ],
            ["индейка", "Туркмения", "туркменский"],
        ),
        "el": (
            [
                "Τουρκία",
                "Τουρκίας",
                "ΤΟΥΡΚΙΑ",
                "ΤΟΥΡΚΙΑΣ",
                "τουρκικός",
                "τουρκικές",
                "τουρκικού",
                "Τούρκος",
                "Τούρκοι",
                "Άγκυρα",
                "Άγκυρας",
                "Ερντογάν",
            ],
            ["τουρκουάζ", "Τουρκμενιστάν", "γαλοπούλα", "άγκυρα"],
        ),
        "ar": (
            [
                "تركيا",
                "وتركيا",
                "بتركيا",
                "لتركيا",
                "أنقرة",
                "وأنقرة",
                "أردوغان",
                "لأردوغان",
                "التركي",
                "التركية",
                "إسطنبول",
            ],
            ["تركي", "تركمانستان", "الديك الرومي"],
        ),
        "fr": (["Turquie", "turc", "turque", "turcs", "Erdogan"], ["turquoise", "dinde"]),
        "de": (
            ["Türkei", "türkisch", "türkische", "türkischen", "Türken"],
            ["Türkis", "türkisfarben", "Truthahn", "Turkmenistan"],
        ),
        "es": (["Turquía", "turco", "turca", "turcos", "Estambul"], ["turquesa", "pavo"]),
        "it": (["Turchia", "turco", "turca", "turchi"], ["turchese", "tacchino"]),
        "pl": (
            [
                "Turcja",
                "Turcji",
                "Turcję",
                "Turcją",
                "turecki",
                "tureckiego",
                "turecka",
                "Ankary",
                "Ankarze",
                "Erdoganem",
                "Erdogana",
                "Stambuł",
                "Stambule",
            ],
            ["turkusowy", "turkusowa", "indyk", "Turkmenistan"],
        ),
    },
    "NATO": {
        "tr": (["NATO", "NATO'nun", "NATO'ya"], []),
        "ru": (["НАТО"], []),
        "el": (["ΝΑΤΟ"], []),
        "ar": (["الناتو", "والناتو", "للناتو", "بالناتو"], []),
        "fr": (["OTAN", "l'OTAN"], []),
        "de": (["Nato", "NATO"], []),
        "es": (["OTAN"], []),
        "it": (["la Nato", "della Nato"], ["è nato", "Nato a Napoli"]),
        "pl": (["NATO"], ["natomiast"]),
    },
}


def word_level(
    forms: Callable[[Case], set[str]], stems: Callable[[Case, str, str], set[str]]
) -> None:
    print("\nword level: each inflected form or look-alike alone (P/R per option)")
    for option, predict in (("forms", forms), ("stems", lambda c: stems(c, c.title, ""))):
        tp = fp = fn = 0
        misses: list[str] = []
        for topic, by_lang in WORDS.items():
            for lang, (names, others) in by_lang.items():
                for word, want in [(w, True) for w in names] + [(w, False) for w in others]:
                    case = Case(f"{lang}:{word}", lang, word, "", frozenset())
                    got = topic in predict(case)
                    tp += want and got
                    fp += got and not want
                    fn += want and not got
                    if got != want:
                        misses.append(f"{lang}:{word}{'' if want else ' (look-alike)'}")
        p = tp / (tp + fp) if tp + fp else 1.0
        r = tp / (tp + fn) if tp + fn else 1.0
        print(f"  {option:<6} P {p:.3f} R {r:.3f} (tp={tp} fp={fp} fn={fn}): {', '.join(misses)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000, help="articles to stem (cost)")
    args = parser.parse_args()
    cases = load_cases()
    shipped = compile_topics(yaml.safe_load((ROOT / "sources.yaml").read_text("utf-8"))["topics"])
    stems = stem_option()
    plain = [(c, html_to_text(c.title), html_to_text(c.summary)) for c in cases]
    forms = {c.id: {m.topic for m in shipped.match(t, s, language=c.lang)} for c, t, s in plain}
    stemmed = {c.id: stems(c, t, s) for c, t, s in plain}
    options = {
        "forms": forms,
        "stems": stemmed,
        "both": {k: forms[k] | stemmed[k] for k in forms},
    }
    print(f"{len(cases)} cases in {len({c.lang for c in cases})} languages")
    print(f"{'option':<7} " + " ".join(f"{t + ' P/R':>15}" for t in TOPICS) + f" {'all P/R':>15}")
    for name, got in options.items():
        cells = []
        total = [0, 0, 0]
        for topic in (*TOPICS, None):
            tp = fp = fn = 0
            for c in cases:
                for t in TOPICS if topic is None else (topic,):
                    want, have = t in c.topics, t in got[c.id]
                    tp += want and have
                    fp += have and not want
                    fn += want and not have
            if topic is None:
                total = [tp, fp, fn]
            p = tp / (tp + fp) if tp + fp else 1.0
            r = tp / (tp + fn) if tp + fn else 1.0
            cells.append(f"{p:7.3f}/{r:7.3f}")
        print(f"{name:<7} " + " ".join(cells) + f"   (tp={total[0]} fp={total[1]} fn={total[2]})")
    word_level(lambda c: {m.topic for m in shipped.match(c.title, "", language=c.lang)}, stems)
    for name in ("stems",):
        wrong = [c for c in cases if options[name][c.id] != c.topics]
        print(f"\n{name}: {len(wrong)} misclassified")
        for c in wrong:
            missed = sorted(c.topics - options[name][c.id])
            extra = sorted(options[name][c.id] - c.topics)
            print(f"  {c.id} missed={missed} extra={extra} | {c.title}")
    # The cost: stemming every word of --count articles (the set, repeated).
    stemmers = {lang: snowballstemmer.stemmer(s) for lang, s in STEMMERS.items()}
    texts = [(c.lang, f"{t} {s}") for c, t, s in plain]
    start = time.process_time()
    for i in range(args.count):
        lang, text = texts[i % len(texts)]
        _stem_words(stemmers[lang], text)
    cpu = time.process_time() - start
    print(f"\nstemming the words of {args.count:,} articles: {cpu:.2f} s CPU")
    start = time.process_time()
    for i in range(args.count):
        lang, text = texts[i % len(texts)]
        shipped.match(text, "", language=lang)
    cpu = time.process_time() - start
    print(f"matching the same {args.count:,} articles with the forms: {cpu:.2f} s CPU")


if __name__ == "__main__":
    main()
