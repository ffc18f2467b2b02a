"""What the poll's article-page step costs, and why it runs after the merge.

    .venv/bin/python bench/bench_pages.py [--articles 200000] [--pages 200] [--latency 0.2]

1. Where new entries are known. A step after the merge asks the warehouse for the new
   articles of the feeds with `fetch_article` (one indexed query). Doing it in the poll's
   shard processes instead needs, in every shard, the ids of every stored article (an id
   not stored before is what makes an entry new): this times both on a warehouse of
   `--articles` stored articles (synthetic rows, real DuckDB file).
2. The step itself, with `--pages` new entries whose pages a loopback server
   (tests/feedserver.py, `--latency` s per page) serves: the real article page of
   tests/data/article_page.html. Prints the step's wall time, pages per second and the
   extraction CPU, with the default `article_pages:` limits (2 per host, 16 at once), for
   pages all on one host and spread over 20 host names (127.0.0.x).
3. A poll whose feeds do not enable it: the step's wall time (it returns before opening the
   warehouse).

Only loopback addresses are contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from newswatch.store import article_pages

REPO = Path(__file__).resolve().parent.parent
for _p in (str(REPO / "src"), str(REPO)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from tests.feedserver import FeedServer  # noqa: E402

from newswatch.config import parse_config  # noqa: E402
from newswatch.fetch import pages  # noqa: E402
from newswatch.store import warehouse  # noqa: E402

TOPICS = "topics:\n  - name: NATO\n    terms: [NATO]\n"


def fill(db: Path, n: int, feeds: int, now: datetime) -> None:
    with warehouse.connect(db) as con:
        con.execute(
            "INSERT INTO articles (id, feed_url, source, url, title, summary, summary_html, "
            "published_at, published_at_known, first_seen_at, poll_id) "
            "SELECT md5(i::VARCHAR), 'https://f' || (i % ?)::VARCHAR || '.example/feed', 's', "
            "'https://p.example/' || i::VARCHAR, 'title ' || i::VARCHAR, 'summary', '', "
            "?::TIMESTAMPTZ - to_seconds(i), true, ?::TIMESTAMPTZ - to_seconds(i), 'p' "
            "FROM range(?) t(i)",
            [feeds, now, now, n],
        )


def rss_mb() -> float:
    """This process's resident memory now (not its peak)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 1048576.0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=200_000)
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.2)
    args = parser.parse_args(argv)
    now = datetime.now(UTC)

    with tempfile.TemporaryDirectory(prefix="newswatch-bench-pages-") as tmp:
        db = Path(tmp) / "w.duckdb"
        fill(db, args.articles, 1000, now)
        feed_urls = [f"https://f{i}.example/feed" for i in range(0, 1000, 10)]  # 100 feeds
        with warehouse.connect(db, read_only=True) as con:
            t = time.perf_counter()
            got = article_pages.article_page_candidates(
                con, feed_urls, now.replace(hour=0, minute=0), 300
            )
            query_ms = (time.perf_counter() - t) * 1000.0
            before = rss_mb()
            t = time.perf_counter()
            ids = {r[0] for r in con.execute("SELECT id FROM articles").fetchall()}
            ids_s = time.perf_counter() - t
            ids_mb = rss_mb() - before
        print(f"warehouse of {args.articles:,} articles, 100 of 1,000 feeds with fetch_article:")
        print(f"  after the merge: candidate query {query_ms:.1f} ms ({len(got)} candidates)")
        print(
            f"  in the shards: loading every stored id {ids_s:.2f} s and +{ids_mb:.0f} MB per "
            f"process ({len(ids):,} ids), before any page could be chosen"
        )
        del ids

        # One server per loopback address: 127.0.0.1 ... 127.0.0.20, each its own host.
        servers = [FeedServer(host=f"127.0.0.{1 + h}").start() for h in range(20)]
        try:
            page = (REPO / "tests" / "data" / "article_page.html").read_bytes()
            for server in servers:
                for i in range(args.pages):
                    server.route(
                        f"/p{i}",
                        body=page,
                        headers={"Content-Type": "text/html; charset=utf-8"},
                        delay=args.latency,
                        etag=False,
                    )
            for label, hosts in (("one host", 1), ("20 hosts", 20)):
                config = parse_config(
                    "allow_hosts: [127.0.0.0/8]\n"
                    "feeds:\n  - url: https://f.example/feed\n    fetch_article: true\n" + TOPICS
                )
                candidates = [
                    article_pages.PageCandidate(f"a{i}", servers[i % hosts].url(f"/p{i}"))
                    for i in range(args.pages)
                ]
                t = time.perf_counter()
                records, texts, left = asyncio.run(pages.fetch_pages(candidates, config, "b"))
                wall = time.perf_counter() - t
                cpu = sum(r.extract_ms or 0.0 for r in records) / 1000.0
                print(
                    f"page step, {args.pages} pages on {label} ({args.latency:g} s each): "
                    f"{wall:.2f} s wall, {args.pages / wall:.0f} pages/s, "
                    f"extraction {cpu:.2f} s CPU ({cpu / max(1, len(records)) * 1000:.1f} ms a "
                    f"page), {len(texts)} read, {left} left"
                )
        finally:
            for server in servers:
                server.stop()

        off = parse_config("feeds:\n  - url: https://f.example/feed\n" + TOPICS)
        t = time.perf_counter()
        asyncio.run(pages.fetch_article_pages(off, db, "c"))
        print(
            f"a poll without fetch_article feeds: page step {(time.perf_counter() - t) * 1000:.2f} "
            "ms wall (asyncio.run included)"
        )


if __name__ == "__main__":
    main()
