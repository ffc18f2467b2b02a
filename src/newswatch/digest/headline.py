"""The mail's subject line and preheader: every topic with the stories carrying it, and
the top story. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Sequence

from newswatch.digest.model import (
    Digest,
    Section,
    TopicSummary,
    relevance_band,
    stories_label,
)


def subject(digest: Digest) -> str:
    """E.g. "newswatch — 25 Nov 2026: 11 stories (Turkey 9, NATO 4, S-400 2)": every topic
    with the stories carrying it (a story about two topics counts under both)."""
    day = f"{digest.date.day} {digest.date:%b %Y}"
    head = f"{digest.title} — {day}"
    if digest.quiet:
        tail = "no matching stories"
        if digest.failing:
            n = len(digest.failing)
            tail += f", {n} feed{'s' if n != 1 else ''} failing"
        return f"{head}: {tail}"
    return f"{head}: {stories_label(digest.story_count)} ({count_line(digest)})"


def count_line(digest: Digest) -> str:
    """ "Turkey 9, NATO 4, S-400 2": every watched topic with the stories carrying it."""
    return ", ".join(f"{t.topic} {t.tagged}" for t in digest.topics)


def preheader(topics: Sequence[TopicSummary], sections: Sequence[Section], failing: int) -> str:
    if not sections:
        text = "Nothing matched your topics today."
        if failing:
            text += f" {failing} feed{'s' if failing != 1 else ''} failing."
        return text
    counts = ", ".join(f"{t.topic} {t.tagged}" for t in topics)
    firsts = [(s.stories or s.mentioned)[0] for s in sections if s.stories or s.mentioned]
    if not firsts:
        return f"{counts}."
    top = max(firsts, key=lambda s: (relevance_band(s.relevance), s.score))
    text = f"{counts}. Top: {top.title_text}"
    return text if len(text) <= 140 else text[:139].rstrip() + "…"
