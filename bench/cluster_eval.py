"""Pairwise precision and recall of story clustering on the labelled set.

    PYTHONPATH=src:. python bench/cluster_eval.py [tests/data/cluster_labelled.yaml]

Every pair of articles in the set is either "must merge" (same `story` label) or "must not"
(different labels). Precision: of the pairs clustering put together, the share that must
merge. Recall: of the pairs that must merge, the share clustering put together. Prints the
figures and every wrong pair; asserts nothing.
"""

from __future__ import annotations

import argparse
import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from newswatch.digest.cluster import assign_clusters
from newswatch.models import Article

LABELLED = Path(__file__).resolve().parent.parent / "tests" / "data" / "cluster_labelled.yaml"
T0 = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Scores:
    merged_right: int  # must-merge pairs put together
    merged_wrong: int  # must-not pairs put together
    must_merge: int
    must_not: int
    missed: tuple[tuple[str, str], ...]
    false: tuple[tuple[str, str], ...]

    @property
    def precision(self) -> float:
        merged = self.merged_right + self.merged_wrong
        return self.merged_right / merged if merged else 1.0

    @property
    def recall(self) -> float:
        return self.merged_right / self.must_merge if self.must_merge else 1.0


def load(path: Path = LABELLED) -> tuple[list[Article], dict[str, str]]:
    """The set's articles and each one's story label."""
    rows = yaml.safe_load(path.read_text(encoding="utf-8"))["articles"]
    articles = []
    for row in rows:
        slug = "".join(ch for ch in row["source"].lower() if ch.isalnum())
        articles.append(
            Article(
                id=row["id"],
                feed_url=f"https://{slug}.example/feed",
                source=row["source"],
                url=row.get("url") or f"https://{slug}.example/{row['id']}",
                title=row["title"],
                summary=" ".join(row.get("summary", "").split()),
                published_at=T0 + timedelta(hours=float(row["hours"])),
                language=row.get("language"),
            )
        )
    return articles, {row["id"]: row["story"] for row in rows}


def score(clusters: dict[str, str], labels: dict[str, str]) -> Scores:
    right = wrong = must = must_not = 0
    missed, false = [], []
    for a, b in itertools.combinations(sorted(labels), 2):
        same_story = labels[a] == labels[b]
        together = clusters[a] == clusters[b]
        must += same_story
        must_not += not same_story
        if together and same_story:
            right += 1
        elif together:
            wrong += 1
            false.append((a, b))
        elif same_story:
            missed.append((a, b))
    return Scores(right, wrong, must, must_not, tuple(missed), tuple(false))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("path", nargs="?", type=Path, default=LABELLED)
    args = parser.parse_args()
    articles, labels = load(args.path)
    s = score(assign_clusters(articles), labels)
    print(
        f"{len(articles)} articles, {len(set(labels.values()))} stories; "
        f"{s.must_merge} must-merge pairs, {s.must_not} must-not pairs"
    )
    print(
        f"precision {s.precision:.3f} ({s.merged_right} of {s.merged_right + s.merged_wrong} "
        f"merged pairs right); recall {s.recall:.3f} ({s.merged_right} of {s.must_merge})"
    )
    for a, b in s.missed:
        print(f"  missed: {a} ~ {b}")
    for a, b in s.false:
        print(f"  false merge: {a} ~ {b}")


if __name__ == "__main__":
    main()
