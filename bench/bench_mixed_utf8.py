"""UTF-8 feed bodies with stray bytes in a single-byte code page: read right, at what cost, and
never mistaken for a single-byte body.

Two kinds of body, from the texts of bench/bench_charset_guess.py (news headlines of
tests/data, and where the machine has them program translations written by others):

- **mixed**: a feed of 1-12 items in UTF-8 with one more item (or only its summary's last
  word) written in a code page of its language (Turkish windows-1254, Russian windows-1251 or
  KOI8-R, Greek windows-1253 or ISO-8859-7, French/German/Spanish/Italian windows-1252): an
  item pasted from an old editor, one source of an aggregated feed. Such a body is not valid
  UTF-8, so it was read whole in a single-byte code page. It is right when every title and
  summary reads as they do from the same feed written all in UTF-8.
- **single-byte**: the 2,000 bodies of bench_charset_guess.py, wholly in one code page. A
  repair of one of them would be a false alarm.

Compared: parse_feed as it is, and parse_feed with the repair turned off (what it did before).

Run: PYTHONPATH=src:bench python bench/bench_mixed_utf8.py [samples per language and code page]
"""

from __future__ import annotations

import html
import random
import statistics
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime

from bench_charset_guess import CODE_PAGES, Texts, news_texts, samples, translation_texts
from newswatch.parse import feed as feed_module
from newswatch.parse.charset_guess import repair_mixed_utf8
from newswatch.parse.feed import parse_feed

NOW = datetime(2026, 2, 18, 12, 0, tzinfo=UTC)


def _item(i: int, title: str, summary: str) -> str:
    return (
        f"<item><title>{html.escape(title)}</title><link>https://news.example.com/{i}</link>"
        f"<guid>https://news.example.com/{i}</guid>"
        f"<description>{html.escape('<p>' + html.escape(summary) + '</p>')}</description></item>"
    )


def mixed_bodies(texts: Texts, per: int, seed: int) -> Iterator[tuple[str, str, str, bytes, bytes]]:
    """(lang, codec, kind, the body all in UTF-8, the body with strays): `kind` is "item" (a
    whole item in the code page) or "word" (only the last word of the last summary)."""
    rnd = random.Random(seed)
    for lang, codecs in CODE_PAGES.items():
        pool = texts.get(lang)
        if not pool:
            continue
        for codec in codecs:
            made = 0
            while made < per:
                kind = rnd.choice(["item", "word"])
                items = rnd.sample(pool, min(rnd.choice([2, 3, 4, 6, 9, 13]), len(pool)))
                head = (
                    b'<?xml version="1.0"?>\n<rss version="2.0"><channel><title>News</title>'
                    b"<link>https://news.example.com/</link>\n"
                )
                utf8 = "\n".join(_item(i, t, s) for i, (t, s) in enumerate(items[:-1]))
                title, summary = items[-1]
                last = len(items) - 1
                try:
                    if kind == "item":
                        stray_text = _item(last, title, summary)
                        stray = stray_text.encode(codec)
                    else:
                        words = summary.rsplit(" ", 1)
                        if len(words) < 2:
                            continue
                        cut = _item(last, title, words[0] + " \x00").split("\x00")
                        word = html.escape(html.escape(words[1]))
                        stray_text = cut[0] + word + cut[1]
                        stray = cut[0].encode() + word.encode(codec) + cut[1].encode()
                except UnicodeEncodeError:
                    continue
                body = head + utf8.encode("utf-8") + b"\n" + stray + b"\n</channel></rss>"
                try:
                    body.decode("utf-8")
                    continue  # nothing stray (the text was ASCII)
                except UnicodeDecodeError:
                    pass
                made += 1
                whole = head + (utf8 + "\n" + stray_text).encode() + b"\n</channel></rss>"
                yield lang, codec, kind, whole, body


def _reading(body: bytes) -> list[tuple[str, str]]:
    parsed = parse_feed(body, feed_url="https://news.example.com/feed", source="News", now=NOW)
    return [(a.title, a.summary) for a in parsed.articles]


def evaluate_mixed(texts: Texts, per: int) -> None:
    real_repair = feed_module._mixed_utf8_repair
    for label, repair in (("before (no repair)", None), ("now", real_repair)):
        feed_module._mixed_utf8_repair = repair or (lambda _body, _ct: None)  # type: ignore[assignment]
        right: dict[str, list[int]] = {}
        times: list[float] = []
        for lang, codec, kind, whole, body in mixed_bodies(texts, per, seed=5):
            start = time.perf_counter()
            got = _reading(body)
            times.append(time.perf_counter() - start)
            ok = got == _reading(whole)
            tally = right.setdefault(f"{lang} {codec} {kind}", [0, 0])
            tally[0] += ok
            tally[1] += 1
        feed_module._mixed_utf8_repair = real_repair  # type: ignore[assignment]
        total = sum(r for r, _ in right.values()), sum(n for _, n in right.values())
        print(
            f"  mixed bodies, {label:20} {total[0]:5}/{total[1]:<5} read right; "
            f"parse median {statistics.median(times) * 1e3:.2f} ms"
        )
        worst = sorted(right.items(), key=lambda kv: kv[1][0] / kv[1][1])[:4]
        print("    lowest: " + ", ".join(f"{k} {r}/{n}" for k, (r, n) in worst))


def evaluate_single_byte(texts: Texts, per: int) -> None:
    repaired = 0
    total = 0
    times: list[float] = []
    for _lang, _codec, _doc, body in samples(texts, per, seed=11):
        start = time.perf_counter()
        repaired += repair_mixed_utf8(body) is not None
        times.append(time.perf_counter() - start)
        total += 1
    print(
        f"  single-byte bodies taken for UTF-8 with strays: {repaired}/{total} "
        f"(repair_mixed_utf8 median {statistics.median(times) * 1e3:.3f} ms)"
    )


def main(per: int = 100) -> None:
    for source, texts in (
        ("news (tests/data)", news_texts()),
        ("translations", translation_texts()),
    ):
        if not texts:
            print(f"{source}: none on this machine")
            continue
        print(f"{source}:")
        evaluate_mixed(texts, per)
        evaluate_single_byte(texts, per)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
