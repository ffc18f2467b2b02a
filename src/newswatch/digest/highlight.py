"""What a story shows of its text: the matched terms highlighted (`Segment` runs), and the
snippet under its title, the sentence (or two) where its topic matched. Pure: no I/O."""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from newswatch.digest.model import Segment
from newswatch.digest.sanitize import feed_text
from newswatch.match.relevance import sentence_starts
from newswatch.models import Article, Field, TermHit, TopicMatch


def valid_spans(text: str, hits: Sequence[TermHit], field: Field) -> list[tuple[int, int]]:
    """Merged, sorted spans of `hits` on `field` that really point into `text`."""
    spans = sorted(
        (h.start, h.end)
        for h in hits
        if h.field == field
        and 0 <= h.start < h.end <= len(text)
        # Offsets computed on another version of the text would highlight garbage.
        and (not h.text or text[h.start : h.end] == h.text)
    )
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def highlight(text: str, spans: Sequence[tuple[int, int]]) -> tuple[Segment, ...]:
    """Split `text` into plain and hit segments at the (merged, sorted) spans."""
    out: list[Segment] = []
    pos = 0
    for start, end in spans:
        if start > pos:
            out.append(Segment(text[pos:start]))
        out.append(Segment(text[start:end], hit=True))
        pos = end
    if pos < len(text):
        out.append(Segment(text[pos:]))
    return tuple(out)


def snippet(summary: str, spans: Sequence[tuple[int, int]], limit: int) -> tuple[Segment, ...]:
    """At most `limit` characters of `summary` around the first hit (plus "…" marks),
    on word boundaries where possible, with the hit offsets moved into the window."""
    if len(summary) <= limit:
        return highlight(summary, spans)
    first = spans[0][0] if spans else 0
    # Start a third of the window before the first hit, so it reads in context.
    start = max(0, min(first - limit // 3, len(summary) - limit))
    if start > 0:
        space = summary.find(" ", start, first + 1)
        start = space + 1 if space != -1 else start
    end = min(len(summary), start + limit)
    if end < len(summary):
        space = summary.rfind(" ", start + limit // 2, end + 1)
        end = space if space != -1 else end
    window = summary[start:end].strip()
    lead = len(summary[start:end]) - len(summary[start:end].lstrip())
    offset = start + lead
    moved = [
        (max(s - offset, 0), min(e - offset, len(window)))
        for s, e in spans
        if e > offset and s < offset + len(window)
    ]
    segments = list(highlight(window, moved))
    if start > 0:
        segments.insert(0, Segment("…\u00a0"))
    if end < len(summary):
        segments.append(Segment("\u00a0…"))
    return tuple(segments)


def matched_sentences(
    text: str, spans: Sequence[tuple[int, int]], first: int, limit: int
) -> tuple[Segment, ...]:
    """The sentence of `text` that holds offset `first` (a hit of the story's topic), and
    the next one too when both fit in `limit` characters; a sentence longer than `limit` is
    cut around the hit (`snippet`). `spans` (sorted, merged) are highlighted."""
    starts = sentence_starts(text)
    i = max(0, bisect.bisect_right(starts, first) - 1)
    begin = starts[i]
    end = starts[i + 1] if i + 1 < len(starts) else len(text)
    if i + 2 <= len(starts) and end - begin < limit // 2:
        after = starts[i + 2] if i + 2 < len(starts) else len(text)
        if after - begin <= limit:
            end = after
    piece = text[begin:end].rstrip()
    moved = [
        (max(a - begin, 0), min(b - begin, len(piece)))
        for a, b in spans
        if b > begin and a < begin + len(piece)
    ]
    if len(piece) > limit:
        return snippet(piece, moved or [(first - begin, first - begin + 1)], limit)
    return highlight(piece, moved)


def story_snippet(
    article: Article,
    matches: Sequence[TopicMatch],
    topic: str,
    limit: int,
    highlights: Sequence[TermHit] = (),
) -> tuple[Segment, ...]:
    """What the digest shows under a story's title: the sentence (or two) of the summary,
    else of the full content, where the story's topic matched, with every matched term
    highlighted. A story matched on its title alone shows the start of its summary (or of
    its content when the feed gave no summary). The sentence is the first where a hit of
    the topic (in `matches`) lies; `highlights`, hits of other words its rules needed, are
    highlighted too."""
    hits = [*all_hits(matches), *highlights]
    own = [h for m in matches if m.topic == topic for h in m.hits]
    summary = feed_text(article)
    fields: tuple[tuple[Field, str, list[TermHit], list[TermHit]], ...] = (
        (
            "summary",
            summary,
            _moved_hits(hits, article.summary, summary),
            _moved_hits(own, article.summary, summary),
        ),
        ("content", article.content, hits, own),
    )
    for field, text, field_hits, own_hits in fields:
        first = valid_spans(text, own_hits, field)
        if first:
            return matched_sentences(text, valid_spans(text, field_hits, field), first[0][0], limit)
    if summary or not article.content:
        return snippet(summary, valid_spans(summary, fields[0][2], "summary"), limit)
    return snippet(article.content, [], limit)


def _moved_hits(hits: Sequence[TermHit], old: str, new: str) -> list[TermHit]:
    """Summary hits found on `old` moved onto `new` (the sanitised text): the n-th
    occurrence of a hit's words in `old` becomes the n-th one in `new`, if there is one."""
    if old == new:
        return list(hits)
    moved = []
    for h in hits:
        if h.field != "summary" or not h.text or old[h.start : h.end] != h.text:
            continue
        nth = old.count(h.text, 0, h.start)
        pos = -1
        for _ in range(nth + 1):
            pos = new.find(h.text, pos + 1)
            if pos == -1:
                break
        if pos != -1:
            moved.append(TermHit(h.field, pos, pos + len(h.text), h.term, h.text))
    return moved


def all_hits(matches: Sequence[TopicMatch]) -> list[TermHit]:
    return [h for m in matches for h in m.hits]
