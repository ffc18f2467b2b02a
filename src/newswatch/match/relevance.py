"""How much an article is *about* a topic, as a score in [0, 1]. Pure text logic.

The matcher decides whether an article refers to a topic; this module says how central the
topic is to it, from where and how often the topic's names occur (the hits the matcher
found for the terms that name the topic, not the context words a rule also required, and
the topic's `related` words, which speak of it in other words):

- in the headline (the strongest sign: headlines name what a story is about);
- in the lead: the first sentence of the feed's summary and of the body (wire copy names
  its subject at once, often in the dateline; a passing mention comes later, in a teaser's
  second sentence as in a body's fourth paragraph);
- how early the first mention comes in the summary and body;
- how often the names occur in the text beyond the first mention;
- how much of the text is about it: the share of the summary's and body's sentences that
  name the topic;
- how many different names of the topic occur (Erdogan, Ankara and Turkish lira in one
  story are more than one mention of Istanbul).

How early and how widely count half in a one-sentence teaser, where a single mention is
both the first and in every sentence; and there the lead counts less the later the mention
comes in its sentence (a lead names its subject in its first words).

A story with the topic in its headline and lead and in many of its sentences scores near 1;
one that names it once, late in a long body, scores near 0.1. The weights are round
numbers; the score is only compared with other scores of the same topic (digest order,
"Also mentioned", `min_relevance`).
"""

from __future__ import annotations

import functools
import re
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from newswatch.models import TermHit

# A sentence ends at . ! ? (optionally followed by a closing quote or bracket) before a
# space and a capital letter, digit or opening quote. Initials and abbreviations (U.S.,
# Mr., Gen.) end no sentence.
_SENTENCE_END = re.compile(r"[.!?][\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9À-ÖØ-Þ])")
_ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "gen",
        "col",
        "lt",
        "sgt",
        "capt",
        "cmdr",
        "adm",
        "gov",
        "sen",
        "rep",
        "st",
        "jr",
        "sr",
        "inc",
        "ltd",
        "co",
        "corp",
        "vs",
        "etc",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "u.s",
        "u.k",
        "e.g",
        "i.e",
    ]
)
LEAD_SENTENCES = 1

WEIGHT_TITLE = 0.40
WEIGHT_LEAD = 0.20
WEIGHT_EARLY = 0.10  # full when the first sentence names it, 0 when only the last does
WEIGHT_REPEAT = 0.10  # full at 3 more mentions after the first
WEIGHT_SHARE = 0.10  # full when half the sentences name the topic
WEIGHT_NAMES = 0.10  # full at 3 different names
# The lead counts in full for a mention within its first LEAD_WORDS_FULL words, and falls
# to LEAD_LOW_SHARE of its weight for one LEAD_WORDS_LOW words or more into the sentence.
LEAD_WORDS_FULL = 4
LEAD_WORDS_LOW = 12
LEAD_LOW_SHARE = 0.5
# The weight of "early" and "share" in a text of one or two sentences (see `score`).
SHORT_TEXT_SPREAD = {1: 0.5, 2: 0.75}


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the score is made of (for explanations and tests)."""

    in_title: bool
    in_lead: bool
    mentions: int  # hits in summary and body
    sentences: int  # sentences of summary and body
    sentences_with: int  # of those, how many name the topic
    names: int  # distinct names of the topic that occur anywhere
    first: int | None = None  # index of the first of those sentences that names the topic
    # Words before the first mention in the lead sentence (None: the lead names it not).
    lead_words: int | None = None


def sentence_starts(text: str) -> list[int]:
    """Start offsets of the sentences of `text` (0 first)."""
    return list(_sentence_starts(text))


@functools.lru_cache(maxsize=64)
def _sentence_starts(text: str) -> tuple[int, ...]:
    # Cached: an article's body is split once for all the topics it matched.
    starts = [0]
    for m in _SENTENCE_END.finditer(text):
        before = text[max(0, m.start() - 6) : m.start()].split()
        word = before[-1].lower().rstrip(".") if before else ""
        if len(word) == 1 or word in _ABBREVIATIONS:
            continue
        starts.append(m.end())
    return tuple(starts)


def sentence_at(text: str, position: int) -> tuple[int, int]:
    """[start, end) of the sentence of `text` that holds `position`."""
    starts = _sentence_starts(text)
    i = max(0, bisect_right(starts, position) - 1)
    end = starts[i + 1] if i + 1 < len(starts) else len(text)
    return starts[i], len(text[:end].rstrip()) if end > starts[i] else end


def evidence(title: str, summary: str, content: str, hits: Sequence[TermHit]) -> Evidence:
    """Where the hits lie in the article's fields. A summary that merely repeats the start
    of the content (feeds often copy it) is not counted twice."""
    summary_repeats = bool(summary) and _same_start(summary, content)
    by_field: dict[str, list[TermHit]] = {"title": [], "summary": [], "content": []}
    for h in hits:
        by_field.setdefault(h.field, []).append(h)
    in_title = bool(by_field["title"])
    sentences = sentences_with = 0
    in_lead = False
    lead_words: int | None = None
    mentions = 0
    first: int | None = None
    fields: list[tuple[str, str]] = []
    if summary and not summary_repeats:
        fields.append(("summary", summary))
    if content:
        fields.append(("content", content))
    elif summary_repeats:
        fields.append(("summary", summary))
    for name, text in fields:
        starts = _sentence_starts(text)
        field_hits = by_field.get(name, [])
        mentions += len(field_hits)
        marked = {bisect_right(starts, h.start) - 1 for h in field_hits}
        if marked and first is None:
            first = sentences + min(marked)
        sentences_with += len(marked)
        sentences += len(starts)
        if any(i < LEAD_SENTENCES for i in marked):
            in_lead = True
            lead_end = starts[LEAD_SENTENCES] if len(starts) > LEAD_SENTENCES else len(text)
            words = min(len(text[: h.start].split()) for h in field_hits if h.start < lead_end)
            lead_words = words if lead_words is None else min(lead_words, words)
    if not fields:
        # A headline-only item: the headline is all the text there is.
        in_lead = in_title
        sentences = sentences_with = 1 if in_title else 0
        first = 0 if in_title else None
    names = len({_name(h.text) for h in hits})
    return Evidence(
        in_title, in_lead, mentions, sentences, sentences_with, names, first, lead_words
    )


def score(ev: Evidence) -> float:
    """The relevance of one (article, topic), in [0, 1], from its evidence."""
    repeat = min(1.0, max(0, ev.mentions - 1) / 3)
    share = min(1.0, 2 * ev.sentences_with / ev.sentences) if ev.sentences else 0.0
    names = min(1.0, max(0, ev.names - 1) / 2)
    early = 0.0
    if ev.first is not None and ev.sentences:
        early = 1.0 - ev.first / max(1, ev.sentences - 1) if ev.sentences > 1 else 1.0
    # How early and how widely the topic is named says little in a one- or two-sentence
    # teaser (one mention makes it "first" and "in every sentence"): those parts count half
    # there, and three quarters in two sentences. A teaser's lone mention then ranks below
    # a headline that names the topic, instead of level with it.
    short = ev.sentences in SHORT_TEXT_SPREAD
    spread = SHORT_TEXT_SPREAD.get(ev.sentences, 1.0)
    value = (
        WEIGHT_TITLE * ev.in_title
        + WEIGHT_LEAD * ev.in_lead * (_lead_share(ev.lead_words) if short else 1.0)
        + spread * WEIGHT_EARLY * early
        + WEIGHT_REPEAT * repeat
        + spread * WEIGHT_SHARE * share
        + WEIGHT_NAMES * names
    )
    return round(min(1.0, max(0.0, value)), 3)


def _lead_share(words: int | None) -> float:
    """How much of the lead's weight a mention gets by how far into the lead sentence it
    comes: a lead names its subject in its first words ("NATO's air policing mission
    said ..."), a passing mention comes late in it ("... as governments lift budgets towards
    their NATO commitments")."""
    if words is None or words <= LEAD_WORDS_FULL:
        return 1.0
    if words >= LEAD_WORDS_LOW:
        return LEAD_LOW_SHARE
    span = LEAD_WORDS_LOW - LEAD_WORDS_FULL
    return 1.0 - (1.0 - LEAD_LOW_SHARE) * (words - LEAD_WORDS_FULL) / span


def relevance(title: str, summary: str, content: str, hits: Sequence[TermHit]) -> float:
    """Shorthand: the score of an article for one topic from the hits of that topic."""
    return score(evidence(title, summary, content, hits))


@functools.lru_cache(maxsize=8)
def _same_start(summary: str, content: str) -> bool:
    # Cached: asked once for each topic an article matched, and a body is long.
    a = " ".join(summary.split()).rstrip("….")
    b = " ".join(content.split())
    probe = a[: min(len(a), 200)]
    return bool(probe) and b.startswith(probe)


def _name(text: str) -> str:
    folded = text.casefold().replace("-", "").replace(" ", "")
    for suffix in ("'s", "’s"):
        if folded.endswith(suffix):
            folded = folded[: -len(suffix)]
    return folded
