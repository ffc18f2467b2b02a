"""How well an undeclared single-byte feed body's code page is guessed, and at what cost.

Feed-sized RSS bodies (1-12 items, ~0.4-4 KB) are written from real text in Turkish, Russian,
Greek, French, German, Spanish and Italian, encoded in each language's code pages (Turkish:
windows-1254, ISO-8859-9; Russian: windows-1251, KOI8-R; Greek: windows-1253, ISO-8859-7;
the others windows-1252) with no encoding named anywhere, and only bodies that are not valid
UTF-8 are kept. A guess is right when the body reads, under it, exactly as written.

Text sources: the labelled multilingual sets in tests/data (news headlines and summaries), and,
where the machine has them, the translations in /usr/share/locale/*/LC_MESSAGES/*.mo (program
messages, written by others: text the guesser was not designed on).

Compared: newswatch.parse.charset_guess.guess_single_byte; charset_normalizer (installed with
trafilatura) over all its code pages and limited to the same candidates; windows-1252 always
(feedparser's fallback, what newswatch did before).

Run: PYTHONPATH=src python bench/bench_charset_guess.py [samples per language and code page]
"""

from __future__ import annotations

import gettext
import glob
import html
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import yaml

from newswatch.parse.charset_guess import guess_single_byte

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
CODE_PAGES = {
    "tr": ["cp1254", "iso8859-9"],
    "ru": ["cp1251", "koi8-r"],
    "el": ["cp1253", "iso8859-7"],
    "fr": ["cp1252"],
    "de": ["cp1252"],
    "es": ["cp1252"],
    "it": ["cp1252"],
}
Texts = dict[str, list[tuple[str, str]]]
Guess = Callable[[bytes], "str | None"]


def news_texts() -> Texts:
    texts: Texts = {}
    for name in ("topics_multilingual.yaml", "topics_multilingual_fresh.yaml"):
        for case in yaml.safe_load((DATA / name).read_text(encoding="utf-8"))["cases"]:
            texts.setdefault(case["lang"], []).append((case["title"], case.get("summary") or ""))
    clusters = yaml.safe_load((DATA / "cluster_multilingual.yaml").read_text(encoding="utf-8"))
    for article in clusters["articles"]:
        texts.setdefault(article["language"], []).append(
            (article["title"], article.get("summary") or "")
        )
    return texts


def translation_texts() -> Texts:
    texts: Texts = {}
    for lang in CODE_PAGES:
        found: list[str] = []
        for path in sorted(glob.glob(f"/usr/share/locale/{lang}/LC_MESSAGES/*.mo")):
            try:
                with open(path, "rb") as handle:
                    catalog = gettext.GNUTranslations(handle)._catalog  # type: ignore[attr-defined]
            except (OSError, UnicodeDecodeError, ValueError):
                continue
            found += [
                v
                for v in catalog.values()
                if isinstance(v, str)
                and 25 <= len(v) <= 300
                and "%" not in v
                and "\n" not in v
                and not v.isascii()
            ]
        random.Random(7).shuffle(found)
        found = found[:2000]
        if len(found) >= 100:
            texts[lang] = list(zip(found[::2], found[1::2], strict=False))
    return texts


def feed(items: list[tuple[str, str]]) -> str:
    parts = [
        f"<item><title>{html.escape(t)}</title><link>https://news.example.com/{i}</link>"
        f"<guid>https://news.example.com/{i}</guid>"
        f"<pubDate>Wed, 18 Feb 2026 09:00:00 +0300</pubDate>"
        f"<description>{html.escape('<p>' + s + '</p>')}</description></item>"
        for i, (t, s) in enumerate(items)
    ]
    return (
        '<?xml version="1.0"?>\n<rss version="2.0"><channel><title>News</title>'
        "<link>https://news.example.com/</link>\n" + "\n".join(parts) + "\n</channel></rss>"
    )


def samples(texts: Texts, per: int, seed: int) -> Iterator[tuple[str, str, str, bytes]]:
    rnd = random.Random(seed)
    for lang, codecs in CODE_PAGES.items():
        pool = texts.get(lang)
        if not pool:
            continue
        for codec in codecs:
            made = 0
            while made < per:
                doc = feed(rnd.sample(pool, min(rnd.choice([1, 2, 3, 5, 8, 12]), len(pool))))
                try:
                    body = doc.encode(codec)
                except UnicodeEncodeError:
                    continue
                try:
                    body.decode("utf-8")
                    continue
                except UnicodeDecodeError:
                    made += 1
                    yield lang, codec, doc, body


def evaluate(label: str, guess: Guess, texts: Texts, per: int) -> None:
    right: dict[tuple[str, str], list[int]] = {}
    times: list[float] = []
    sizes: list[int] = []
    for lang, codec, doc, body in samples(texts, per, seed=11):
        start = time.perf_counter()
        guessed = guess(body)
        times.append(time.perf_counter() - start)
        sizes.append(len(body))
        try:
            ok = guessed is not None and body.decode(guessed) == doc
        except (UnicodeDecodeError, LookupError):
            ok = False
        tally = right.setdefault((lang, codec), [0, 0])
        tally[0] += ok
        tally[1] += 1
    total = sum(r for r, _ in right.values()), sum(n for _, n in right.values())
    times.sort()
    print(
        f"  {label:44} {total[0]:5}/{total[1]:<5} right; "
        f"median {statistics.median(times) * 1e3:.2f} ms, p90 {times[int(0.9 * len(times))] * 1e3:.2f} ms"
        f" (bodies {min(sizes)}-{max(sizes)} B)"
    )
    print("    " + ", ".join(f"{lang} {codec} {r}/{n}" for (lang, codec), (r, n) in right.items()))


def main(per: int = 100) -> None:
    import charset_normalizer

    candidates = ["cp1252", "cp1254", "iso8859-9", "cp1251", "koi8-r", "cp1253", "iso8859-7"]

    def normalizer(body: bytes) -> str | None:
        best = charset_normalizer.from_bytes(body).best()
        return best.encoding if best else None

    def normalizer_limited(body: bytes) -> str | None:
        best = charset_normalizer.from_bytes(body, cp_isolation=candidates).best()
        return best.encoding if best else None

    guessers: list[tuple[str, Guess]] = [
        ("charset_guess.guess_single_byte", guess_single_byte),
        ("charset_normalizer", normalizer),
        ("charset_normalizer, same candidates only", normalizer_limited),
        ("windows-1252 always (before)", lambda _body: "cp1252"),
    ]
    for source, texts in (
        ("news (tests/data)", news_texts()),
        ("translations", translation_texts()),
    ):
        if not texts:
            print(f"{source}: none on this machine")
            continue
        print(f"{source}:")
        for label, guess in guessers:
            evaluate(label, guess, texts, per)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
