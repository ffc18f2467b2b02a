"""What reading an article page costs (newswatch.fetch.extract, trafilatura), and what it keeps.

    .venv/bin/python bench/bench_extract.py [--repeat 3]

Pages are built from real full-content feed items (../shared/corpus/realnews: TIME World,
The Week, El País: the publishers' own article HTML) wrapped in a page of the usual
furniture (~90 KB: navigation, inline scripts and styles, a cookie banner, related stories,
comments, a footer), so the extractor has to find the article as it would on a site. For each
page it times `article_text` (CPU, this thread) and checks that the article's first and last
paragraphs were kept and that none of the furniture was. Then the worst case the page cap
allows: one page at the default `article_pages.max_bytes` (3 MiB).

Prints CPU ms per page (median, p90, max), pages per CPU second, the import cost of
trafilatura, and the share of pages whose text kept the article and dropped the furniture.
Nothing is fetched: pages are built in memory.
"""

from __future__ import annotations

import argparse
import html
import re
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
for _p in (str(REPO / "src"), str(REPO)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

CORPUS = REPO.parent / "shared" / "corpus"
if not CORPUS.is_dir():
    CORPUS = Path("/work/shared/corpus")
FEEDS = ("time-world.rss.xml", "theweek.rss.xml", "elpais-english.mrss.xml")

FURNITURE = ("Accept all cookies", "Sign in to comment", "Most read today", "All rights reserved")


def furniture(n_links: int = 400) -> tuple[str, str]:
    """(before, after) the article: a heavy news site's page around it."""
    nav = "".join(f'<li><a href="/section/{i}">Section {i}</a></li>' for i in range(n_links))
    script = (
        "<script>"
        + "window.__STATE__ = {"
        + ",".join(f'"k{i}": "{"x" * 40}"' for i in range(600))
        + "};</script>"
    )
    style = "<style>" + "".join(f".c{i}{{margin:{i}px}}" for i in range(800)) + "</style>"
    related = "".join(
        f'<li><a href="/story/{i}">Most read today: story number {i} of the day</a></li>'
        for i in range(30)
    )
    before = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Story</title>"
        f"{style}{script}</head><body>"
        "<div class='cookie'>We use cookies. <button>Accept all cookies</button></div>"
        f"<header><nav><ul>{nav}</ul></nav></header><main><article><h1>Headline</h1>"
    )
    after = (
        f"</article><aside><h2>Most read today</h2><ul>{related}</ul></aside></main>"
        "<section class='comments'><p>Sign in to comment.</p></section>"
        f"<footer><ul>{nav[: len(nav) // 4]}</ul><p>© 2026 Publisher. All rights reserved.</p>"
        f"</footer>{script}</body></html>"
    )
    return before, after


def corpus_articles() -> list[str]:
    import feedparser

    out = []
    for name in FEEDS:
        parsed = feedparser.parse((CORPUS / "realnews" / name).read_bytes())
        for entry in parsed.entries:
            for content in entry.get("content", []):
                value = content.get("value", "")
                if len(re.findall(r"<p[ >]", value)) >= 4:
                    out.append(value)
                    break
    return out


def paragraphs(article_html: str) -> list[str]:
    found = re.findall(r"<p[^>]*>(.*?)</p>", article_html, re.S)
    texts = [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", p)).split()) for p in found]
    return [t for t in texts if len(t) > 80]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed passes over the pages")
    args = parser.parse_args(argv)

    t0 = time.process_time()
    import trafilatura

    import_s = time.process_time() - t0
    from newswatch.config import ArticlePageSettings
    from newswatch.fetch.extract import article_text

    before, after = furniture()
    articles = corpus_articles()
    pages = [(before + a + after).encode("utf-8") for a in articles]
    sizes = [len(p) for p in pages]
    article_text(pages[0], "https://publisher.example/story", "text/html")  # warm caches

    per_page: list[float] = []
    kept = clean = 0
    for _ in range(args.repeat):
        per_page.clear()
        kept = clean = 0
        for article, page in zip(articles, pages, strict=True):
            t = time.thread_time()
            text = article_text(page, "https://publisher.example/story", "text/html")
            per_page.append((time.thread_time() - t) * 1000.0)
            paras = paragraphs(article)
            folded = " ".join((text or "").split())
            if text and paras and paras[0][:60] in folded and paras[-1][:60] in folded:
                kept += 1
            if text and not any(f in text for f in FURNITURE):
                clean += 1

    cap = ArticlePageSettings().max_bytes
    one = articles[0]
    filler = "".join(f"<p>Filler paragraph {i} " + "lorem ipsum " * 30 + "</p>" for i in range(20))
    big = before + one + after
    while len(big.encode()) < cap:
        big = big.replace("</footer>", f"<div class='more'>{filler}</div></footer>", 1)
    big_bytes = big.encode()[:cap]
    t = time.thread_time()
    article_text(big_bytes, "https://publisher.example/story", "text/html")
    big_ms = (time.thread_time() - t) * 1000.0

    per_page.sort()
    median = statistics.median(per_page)
    p90 = per_page[int(len(per_page) * 0.9) - 1]
    print(f"trafilatura {trafilatura.__version__}: import {import_s:.2f} s CPU (once per process)")
    print(
        f"{len(pages)} pages from {', '.join(FEEDS)}: {statistics.median(sizes) / 1024:.0f} KiB "
        f"median ({min(sizes) / 1024:.0f}-{max(sizes) / 1024:.0f} KiB)"
    )
    print(
        f"article_text CPU per page: median {median:.1f} ms, p90 {p90:.1f} ms, "
        f"max {per_page[-1]:.1f} ms; {1000.0 / statistics.mean(per_page):.0f} pages per CPU second"
    )
    print(f"a page at the {cap / 1048576:.0f} MiB cap: {big_ms:.0f} ms")
    print(
        f"kept the article's first and last paragraphs: {kept}/{len(pages)}; "
        f"no furniture in the text: {clean}/{len(pages)}"
    )


if __name__ == "__main__":
    main()
