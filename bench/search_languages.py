"""Which full-text tokenizer and stemmer find articles in their own language: recall and
precision of `newswatch search`-style BM25 queries over the multilingual labelled articles.

    PYTHONPATH=src:. python bench/search_languages.py [tests/data/topics_multilingual.yaml]

Documents: the titles and summaries of tests/data/topics_multilingual.yaml (en, tr, ru, el,
ar, fr, de, es, it, pl). Each query is a word in its dictionary form; a document is relevant
when it contains any of the word's forms listed with it (written here, by hand, the way the
press inflects it). Configurations: the index as it was (ASCII letters and digits only,
Porter), Unicode letters with Porter, Unicode with no stemmer, Unicode with each script's
Snowball stemmer in turn (Porter for Latin, Russian for Cyrillic, Greek, Arabic: each only
touches its own alphabet), and Unicode with the Turkish stemmer for Latin. Prints figures;
asserts nothing.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import duckdb
import yaml

from newswatch.store import search

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "topics_multilingual.yaml"

# query -> forms that make a document relevant (case-insensitive, whole words)
QUERIES: dict[str, tuple[str, list[str]]] = {
    "Türkiye": ("tr", ["Türkiye", "Türkiye'nin", "Türkiye'yi", "Türkiye'ye", "Türkiye'de", "Türkiye'den", "Türkiyenin", "Türkiyeyi", "Türkiyeye", "Türkiyede", "Türkiyeden"]),
    "füze": ("tr", ["füze", "füzeler", "füzeleri", "füzesi", "füzelerin", "füzeye", "füzesinin"]),
    "savunma": ("tr", ["savunma", "savunması", "savunmasına", "savunmada"]),
    "sistem": ("tr", ["sistem", "sistemi", "sistemleri", "sistemini", "sistemlerin", "sistemlerini", "sisteminin"]),
    "Турция": ("ru", ["Турция", "Турции", "Турцию", "Турцией"]),
    "НАТО": ("ru", ["НАТО"]),
    "ракета": ("ru", ["ракета", "ракеты", "ракет", "ракетам", "ракетами", "ракету"]),
    "комплекс": ("ru", ["комплекс", "комплекса", "комплексы", "комплексов", "комплексами", "комплексе"]),
    "Τουρκία": ("el", ["Τουρκία", "Τουρκίας", "Τουρκίαν"]),
    "تركيا": ("ar", ["تركيا", "وتركيا", "لتركيا", "بتركيا"]),
    "missile": ("en", ["missile", "missiles"]),
    "alliance": ("en", ["alliance", "alliances", "alliance's"]),
    "Turkey": ("en", ["Turkey", "Turkey's"]),
}  # fmt: skip

ASCII = r"(\\.|[^a-z0-9])+"
UNICODE = r"(\\.|[^\p{L}\p{N}])+"


def chain(latin: str) -> str:
    return f"stem(stem(stem(stem(w, '{latin}'), 'russian'), 'greek'), 'arabic')"


# Snowball stemmers of the DuckDB fts extension by language (Polish has none).
STEMMERS = {"en": "porter", "tr": "turkish", "ru": "russian", "el": "greek", "ar": "arabic",
            "fr": "french", "de": "german", "es": "spanish", "it": "italian"}  # fmt: skip
PER_LANGUAGE = "per-language"
TAGGED = "tagged"

CONFIGS = {
    "ascii+porter (before)": (ASCII, "stem(w, 'porter')"),
    "unicode+porter": (UNICODE, "stem(w, 'porter')"),
    "unicode, no stemmer": (UNICODE, "w"),
    "unicode+per-script (porter/russian/greek/arabic)": (UNICODE, chain("porter")),
    "unicode+per-script (turkish for Latin)": (UNICODE, chain("turkish")),
    "unicode+the article's language's stemmer": (UNICODE, PER_LANGUAGE),
    "unicode+language-tagged stems": (UNICODE, TAGGED),
}


def by_language_of(lang: str, word: str) -> str:
    return f"stem({word}, '{STEMMERS[lang]}')" if lang in STEMMERS else word


def by_language(word: str) -> str:
    """SQL: `word` stemmed by the stemmer of the row's language (column `lang`)."""
    cases = " ".join(f"WHEN '{lang}' THEN stem({word}, '{s}')" for lang, s in STEMMERS.items())
    return f"CASE lang {cases} ELSE {word} END"


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DATA
    if not path.is_file():
        raise SystemExit(f"{path}: no such file (the multilingual labelled set; pass its path)")
    cases = yaml.safe_load(path.read_text(encoding="utf-8"))["cases"]
    docs = [(c["id"], c["title"], c.get("summary", ""), c["lang"]) for c in cases]
    con = duckdb.connect()
    search.load_fts(con)
    con.execute("CREATE TABLE raw (id VARCHAR, title VARCHAR, summary VARCHAR, lang VARCHAR)")
    con.executemany("INSERT INTO raw VALUES (?, ?, ?, ?)", docs)
    truth = {}
    for q, (_, forms) in QUERIES.items():
        pattern = re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, forms)) + r")(?!\w)", re.I)
        truth[q] = {d for d, t, s, _ in docs if pattern.search(f"{t} {s}")}
    print(
        f"{len(docs)} documents, {len(QUERIES)} queries, {sum(map(len, truth.values()))} relevant"
    )
    for name, (ignore, stem) in CONFIGS.items():
        # Per language: each document's words by its language's stemmer; the query's words
        # (language unknown) by every stemmer, all forms searched for.
        query_stem = stem
        if stem == PER_LANGUAGE:
            stem = by_language("w")
            forms = ", ".join(f"stem(w, '{s}')" for s in sorted(set(STEMMERS.values())))
            query_stem = f"array_to_string(list_distinct([w, {forms}]), ' ')"
        elif stem == TAGGED:
            # Each document's words as "<language>:<stem>"; the query's word in every language.
            stem = f"lang || ':' || {by_language('w')}"
            forms = ", ".join(
                f"'{lang}:' || {by_language_of(lang, 'w')}" for lang in [*STEMMERS, "pl"]
            )
            query_stem = f"array_to_string(list_distinct([{forms}]), ' ')"
        # Pre-stem the text word by word (each word as the index would), index without a
        # stemmer, and stem the query the same way.
        tok = "string_split_regex(lower(strip_accents(COL)), '" + ignore + "')"
        con.execute(
            "CREATE OR REPLACE TABLE docs AS SELECT id, "
            f"array_to_string(list_transform({tok.replace('COL', 'title')}, w -> {stem}), ' ') AS title, "
            f"array_to_string(list_transform({tok.replace('COL', 'summary')}, w -> {stem}), ' ') AS summary "
            "FROM raw"
        )
        con.execute(
            "PRAGMA create_fts_index('docs', 'id', 'title', 'summary', stemmer = 'none', "
            "stopwords = 'none', ignore = '(\\\\.|\\s)+', strip_accents = 0, lower = 0, overwrite = 1)"
        )
        found = relevant = hits = 0
        per_lang: dict[str, list[int]] = {}
        for q, (lang, _) in QUERIES.items():
            query = con.execute(
                f"SELECT array_to_string(list_transform({tok.replace('COL', '?')}, w -> {query_stem}), ' ')",
                [q],
            ).fetchone()[0]
            rows = con.execute(
                "SELECT id FROM (SELECT id, fts_main_docs.match_bm25(id, ?) AS s FROM docs) "
                "WHERE s IS NOT NULL",
                [query],
            ).fetchall()
            got = {r[0] for r in rows}
            found += len(got & truth[q])
            relevant += len(truth[q])
            hits += len(got)
            acc = per_lang.setdefault(lang, [0, 0, 0])
            acc[0] += len(got & truth[q])
            acc[1] += len(truth[q])
            acc[2] += len(got)
        langs = "  ".join(
            f"{lang} R {f / r:.2f} P {f / h if h else 1:.2f}"
            for lang, (f, r, h) in per_lang.items()
        )
        print(
            f"{name:50s} recall {found / relevant:.3f} precision {found / hits if hits else 1:.3f}   {langs}"
        )


if __name__ == "__main__":
    main()
