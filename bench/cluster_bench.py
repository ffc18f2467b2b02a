"""Time story clustering and digest rendering at realistic and large sizes.

    PYTHONPATH=src:. python bench/cluster_bench.py [--articles 20000]

Prints figures; asserts nothing (speed goals live here, not in unit tests).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from tests.digest_helpers import real_articles, real_digest
from tests.test_cluster import synthetic

from newswatch.digest.cluster import assign_clusters
from newswatch.digest.render import render_html, render_text
from newswatch.resources import templates_dir


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--articles", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    articles, truth = synthetic(args.articles)
    runs = timed(lambda: assign_clusters(articles), args.repeat)
    clusters = assign_clusters(articles)
    wrong = sum(1 for a in articles if clusters[a.id] != truth[a.id])
    print(
        f"cluster synthetic {len(articles):,} articles: median {statistics.median(runs):.2f} s "
        f"(runs {', '.join(f'{r:.2f}' for r in runs)}); {len(set(clusters.values())):,} clusters, "
        f"{wrong} differ from the generated truth"
    )

    real = real_articles()
    runs = timed(lambda: assign_clusters(real), args.repeat)
    clusters = assign_clusters(real)
    multi = sum(1 for c in set(clusters.values()) if list(clusters.values()).count(c) > 1)
    print(
        f"cluster realnews {len(real):,} articles: median {statistics.median(runs) * 1000:.0f} ms; "
        f"{multi} multi-article clusters"
    )

    digest = real_digest()
    html_runs = timed(lambda: render_html(digest, templates_dir()), args.repeat * 5)
    text_runs = timed(lambda: render_text(digest, templates_dir()), args.repeat * 5)
    print(
        f"render realnews digest ({digest.story_count} stories): "
        f"HTML {statistics.median(html_runs) * 1000:.1f} ms, "
        f"text {statistics.median(text_runs) * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
