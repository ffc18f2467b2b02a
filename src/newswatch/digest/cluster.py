"""Story clustering: the same story from several feeds becomes one cluster.

Pure: takes article values (anything with an Article's id, title, source, url, published_at
and summary), returns `{article id: cluster id}`; no I/O.

Two articles are the same story when, within `WINDOW` of each other, they have
- the same canonical URL (tracking parameters, fragment, scheme and `www.` ignored), or
- the same title once case, punctuation, diacritics and a trailing outlet name
  ("... - Reuters") are removed (syndicated copies), or
- nearly the same title words (syndicated copies with a word changed), or
- titles that share at least two distinctive words and summaries with much the same words
  (rewrites of one story by several outlets), or
- near-duplicate text whatever the titles: the opening of their text (summary) is the same
  run of words once each outlet's own boilerplate is dropped (wire copies under a new
  headline; see `_join_same_texts`).
Those give copies; then one event told in several outlets' own words (within 12 hours):
- in one language, their rarity-weighted words are alike (`_rewrites`), or
- in two languages, they share rare figures and names (`crosslang`),
joined only while the two stories hold no article of one outlet (`_join_events`).
Clusters are the connected components of that relation; a cluster's id is the id of its
earliest article by (published_at, id), so the result does not depend on input order.

Speed: candidate pairs come only from posting lists of title words and word pairs that are
rare in the batch (blocking), and for text from bottom-k MinHash sketches of word
shingles (LSH), compared within the time window, never all pairs.
"""

from __future__ import annotations

import functools
import math
import re
import sys
import unicodedata
import zlib
from array import array
from collections import Counter, defaultdict
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from itertools import chain, compress, islice
from typing import Protocol, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit

from newswatch.digest import crosslang

WINDOW = timedelta(hours=48)
# Only this much of a summary is compared (its start carries the story).
SUMMARY_CHARS = 2000


class ClusterInput(Protocol):
    """What clustering reads of an article (models.Article has it, and so do the narrow rows
    the warehouse streams for the poll)."""

    @property
    def id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def published_at(self) -> datetime: ...
    @property
    def summary(self) -> str: ...


# Syndicated copies: title word sets this similar are the same story on their own.
NEAR_TITLE_JACCARD = 0.75
# Rewrites: titles sharing >= 2 distinctive words, at least REWRITE_TITLE_JACCARD alike, and
# title + summary similarity adding up to REWRITE_COMBINED (a weak title needs a strong
# summary and the other way round).
REWRITE_TITLE_JACCARD = 0.3
REWRITE_SUMMARY_MIN = 0.25
REWRITE_COMBINED = 0.9
MIN_SHARED_DISTINCTIVE = 2
# Headlines this alike that share this many distinctive words need no summary evidence
# (video items and teasers often carry none).
TITLE_ONLY_JACCARD = 0.6
TITLE_ONLY_SHARED = 4
# A title needs this many content words before title equality alone merges it; shorter
# titles ("Live updates", "World news") say too little to identify a story.
MIN_TITLE_WORDS = 3
# Alike headlines that each have words of their own (a template filled twice) are told apart
# by their texts once each text has this many words (`_template_apart`).
MIN_TEMPLATE_WORDS = 5

# Near-duplicate text (`_join_same_texts`): wire copies under a rewritten headline carry the same
# opening paragraphs. An article's text is cut into overlapping runs of SHINGLE_WORDS words
# (its first TEXT_WORDS words); runs one outlet repeats in BOILERPLATE_ARTICLES or more
# of its articles in the batch (datelines, newsletter promos, "Most Read" blocks, reporting
# credits) are that outlet's boilerplate and dropped from its articles; the first
# LEDE_SHINGLES distinct runs left are the article's lede. Two ledes are one story when
# their run sets are TEXT_JACCARD alike, or the smaller (a teaser, a truncated copy) lies
# TEXT_CONTAINMENT inside the other. A lede of fewer than MIN_LEDE_SHINGLES runs says too
# little ("Read more", a one-line teaser) and is not compared.
SHINGLE_WORDS = 3
TEXT_WORDS = 130
LEDE_SHINGLES = 60
MIN_LEDE_SHINGLES = 12
TEXT_JACCARD = 0.5
TEXT_CONTAINMENT = 0.8
BOILERPLATE_ARTICLES = 3
# Bottom-k MinHash: each lede is sketched by its TEXT_SKETCH smallest run hashes; articles
# sharing one are candidates (LSH with bands of one value), checked on their exact run sets.
# Two ledes with Jaccard J share none of their sketches with probability ~(1 - J)^k.
TEXT_SKETCH = 8

# One event told by several outlets in their own words (`_rewrites`): an article's event
# words are its title's and those of the first EVENT_WORDS words of its text (outlet
# boilerplate and reporting credits left out), each cut to its first STEM_CHARS letters
# ("ordered", "orders" -> "ordere", "orders"; "Airbus'tan" -> "airbus"). Two articles of one
# language (or of unknown language) published within REWRITE_WINDOW of each other are one
# story when the cosine of their event words, each weighted by its rarity in the batch
# (inverse document frequency), is at least EVENT_COSINE, the most alike joined first, and
# never two stories that each hold an article of one outlet (`_join_events`). Live blogs,
# explainers, analysis and opinion (`_NOT_REPORT`) are left to the other passes. Candidates
# share one of their EVENT_SKETCH rarest words found in 2 to max(EVENT_MIN_DF, sqrt(n))
# articles of the batch.
EVENT_WORDS = 90
STEM_CHARS = 6
MIN_EVENT_WORDS = 6
REWRITE_WINDOW = timedelta(hours=12)
EVENT_COSINE = 0.30
EVENT_SKETCH = 10
EVENT_MIN_DF = 20
# An outlet's flash ("BREAKING: ...", "SON DAKİKA: ...": `_FLASH`) and its own full report of
# the event up to FLASH_WINDOW later, in other words, are one story (`_flash_pairs`): the
# full report is the outlet's next article in that language most of whose rare words hold
# at least FLASH_CONTAINMENT of the flash's (idf-weighted) event words. The outlet rule
# would otherwise keep them apart.
FLASH_WINDOW = timedelta(hours=4)
FLASH_CONTAINMENT = 0.4

_TRACKING_TEXT = """
    _ga at_campaign at_custom1 at_custom2 at_custom3 at_custom4 at_medium campaign_id cmp
    cmpid dclid fbclid feed feedtype gclid guccounter igshid ito mbid mc_cid mc_eid msclkid
    ns_campaign ns_fee ns_linkname ns_mchannel ns_source ocid partner ref ref_src rss smid
    smtyp soc_src soc_trk source sr_share src taid xtor yptr
"""
_TRACKING_PARAMS = frozenset(_TRACKING_TEXT.split())

# Trailing outlet names stripped from titles ("... - Reuters"), besides the article's own source.
_AGENCIES_TEXT = """
    aa, afp, al jazeera, anadolu, anadolu agency, ansa, ap, ap news, associated press, bbc,
    bbc news, bloomberg, bloomberg news, cnn, dpa, dw, efe, financial times, ft, google
    news, guardian, msn, new york times, nytimes, pa, pa media, reuters, tass, the
    associated press, the guardian, the new york times, the washington post, upi, washington
    post, xinhua, yahoo news
"""
_AGENCIES = frozenset(" ".join(name.split()) for name in _AGENCIES_TEXT.split(","))

_STOPWORDS_TEXT = """
    a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers him his how i if in into is it its itself just
    me more most my no nor not now of off on once only or other our ours out over own same she
    should so some such than that the their theirs them then there these they this those
    through to too under until up very was we were what when where which while who whom why will
    with would you your yours says said say new news live latest update updates report reports
    video watch analysis opinion explainer after amid over how why what as s vs via per us
"""
_STOPWORDS = frozenset(_STOPWORDS_TEXT.split())

_CALENDAR_TEXT = """
    january february march april may june july august september october november december
    jan feb mar apr jun jul aug sep sept oct nov dec monday tuesday wednesday thursday friday
    saturday sunday today yesterday tomorrow week weekend
"""
_CALENDAR = frozenset(_CALENDAR_TEXT.split())

_WORD = re.compile(r"[^\W_]+(?:[-'][^\W_]+)*")
_SUFFIX_SPLIT = re.compile(r"\s+[-|–—:]\s+(?=[^-|–—:]+$)")
# Titles of items that are not a report of one event, left out of the event pass
# (`_rewrites`): live blogs and tickers in the languages newswatch reads, questions,
# explainers, analysis, opinion and galleries.
_NOT_REPORT = re.compile(
    r"\b(?:live(?:blog)?|live[- ]?ticker|as it happened|en direct|en directo|en vivo"
    r"|in diretta|canl[ıi] blog|what you need to know|explained|explainer|analysis|opinion"
    r"|in pictures|in photos|fun facts)\b|\bupdates:|\?\s*$|в прямом эфире"
    r"|онлайн-трансляция|ζωντανά|مباشر",
)  # matched against the lower-cased title (IGNORECASE costs 3x)


# A flash's marker and its colon or dash at the start of a title (lower-cased), in the
# languages of the feeds ("Flash floods kill 2" is not one).
FLASH_MARKERS = (
    "breaking news", "breaking", "flash", "urgent", "just in", "son dakika", "sıcak gelişme",
    "срочно", "молния", "έκτακτο", "εκτακτο", "عاجل", "eilmeldung", "eil", "dernière minute",
    "alerte", "última hora", "urgente", "ultim'ora", "ultima ora", "pilne",
    "z ostatniej chwili",
)  # fmt: skip
# (The warehouse's `latest_stories` view tells flashes by the same markers, in DuckDB's regex
# dialect: store/migrations/0011_story_headline.sql; tests/test_cluster.py holds them equal.)
_FLASH = re.compile(r"^\W*(?:" + "|".join(map(re.escape, FLASH_MARKERS)) + r")\s*[:|\-–—]")


def is_flash(title: str) -> bool:
    """True for a flash's headline ("BREAKING: ...", "SON DAKİKA: ..."): the one-line first
    version of a report its outlet sends in full soon after."""
    return _flash_end(title) > 0


def _flash_end(title: str) -> int:
    """Where a flash's marker ends in `title` (an İ written i, which keeps the length);
    0 for a title that is no flash."""
    marker = _FLASH.match(title.replace("İ", "i").lower())
    return marker.end() if marker else 0


@dataclass(frozen=True, slots=True)
class _Doc:
    index: int
    id: str
    published_at: datetime
    url_key: str
    title_key: str  # normalised title words joined by spaces ("" when too short)
    title_words: frozenset[str]
    summary: str
    source: str
    not_report: bool = False  # a live blog, explainer or opinion piece (`_NOT_REPORT`)
    flash: bool = False  # "BREAKING: ..." (`_FLASH`)


def canonical_url(url: str) -> str:
    """The URL with everything that differs between copies of one page removed."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return url.strip()
    host = (parts.hostname or "").lower()
    host = host.removeprefix("www.").removeprefix("m.").removeprefix("amp.")
    if not host:
        return url.strip()
    query = sorted(
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith(("utm_", "utm-", "__")) and k.lower() not in _TRACKING_PARAMS
    )
    path = parts.path.rstrip("/") or "/"
    path = re.sub(r"/amp$|\.amp$", "", path) or "/"
    port = f":{parts.port}" if parts.port and parts.port not in (80, 443) else ""
    return f"{host}{port}{path}" + (f"?{urlencode(query)}" if query else "")


_COMBINING = re.compile("[\u0300-\u036f]")
_QUOTES = str.maketrans({"’": "'", "‘": "'", "ı": "i"})


def _fold(text: str) -> str:
    if not text.isascii():
        text = _COMBINING.sub("", unicodedata.normalize("NFKD", text.translate(_QUOTES)))
    return text.lower()


def _words(text: str) -> list[str]:
    out = []
    for w in _WORD.findall(_fold(text)):
        w = w.removesuffix("'s").strip("'")
        if w and w not in _STOPWORDS:
            out.append(w)
    return out


def strip_outlet(title: str, source: str = "") -> str:
    """Remove a trailing outlet name: "Turkey buys S-400 - Reuters" -> "Turkey buys S-400"."""
    parts = _SUFFIX_SPLIT.split(title.strip())
    if len(parts) == 2:
        tail = _fold(parts[1]).strip(" .()")
        if tail in _AGENCIES or (source and tail == _fold(source).strip()):
            return parts[0]
    return title.strip()


def _doc(index: int, article: ClusterInput, *, with_summary: bool = True) -> _Doc:
    # A flash's marker is not a word of its event.
    marker = _flash_end(article.title)
    title_words = _words(strip_outlet(article.title[marker:], article.source))
    return _Doc(
        index=index,
        id=article.id,
        published_at=article.published_at,
        url_key=canonical_url(article.url) if article.url else "",
        title_key=" ".join(title_words) if len(title_words) >= MIN_TITLE_WORDS else "",
        title_words=frozenset(title_words),
        summary=cluster_text(article) if with_summary else "",
        source=sys.intern(article.source or ""),
        not_report=_NOT_REPORT.search(article.title.lower()) is not None,
        flash=marker > 0,
    )


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:
            self.parent[i], i = root, self.parent[i]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


def _overlap(a: frozenset[str], b: frozenset[str]) -> float:
    """Share of the smaller set found in the other: a short teaser inside a long summary."""
    if not a or not b:
        return 0.0
    return len(a & b) / min(len(a), len(b))


def _title_verdict(a: _Doc, b: _Doc, rare: frozenset[str]) -> bool | float:
    """True or False when the titles decide; else the title similarity, for the summaries
    to decide (`_summary_verdict`)."""
    title_sim = _jaccard(a.title_words, b.title_words)
    if title_sim >= NEAR_TITLE_JACCARD and min(len(a.title_words), len(b.title_words)) >= (
        MIN_TITLE_WORDS
    ):
        return True
    if title_sim < REWRITE_TITLE_JACCARD:
        return False
    shared = {w for w in a.title_words & b.title_words if w in rare and _distinctive(w)}
    if len(shared) < MIN_SHARED_DISTINCTIVE:
        return False
    if title_sim >= TITLE_ONLY_JACCARD and len(shared) >= TITLE_ONLY_SHARED:
        return True
    return title_sim


def _summary_verdict(title_sim: float, sa: frozenset[str], sb: frozenset[str]) -> bool:
    if min(len(sa), len(sb)) < 5:
        return False
    summary_sim = max(_jaccard(sa, sb), 0.8 * _overlap(sa, sb))
    return summary_sim >= REWRITE_SUMMARY_MIN and title_sim + summary_sim >= REWRITE_COMBINED


def _template_apart(a: _Doc, b: _Doc, words_a: frozenset[str], words_b: frozenset[str]) -> bool:
    """Two alike headlines that each have words of their own are two stories when both
    texts say something (MIN_TEMPLATE_WORDS words) and each headline has a word of its own
    that the other text never has: the template's slot holds another name (Putin / Aliyev),
    place or figure. (The texts may name the other slot's country: a call with Putin about
    the war in Ukraine, a call with Zelenskiy about peace with Russia.) A copy under an
    edited headline keeps the changed word in its text, or has none."""
    if min(len(words_a), len(words_b)) < MIN_TEMPLATE_WORDS:
        return False
    # Numbers are left out: a title's "4.3" (words "4", "3") is in any text with a 4 in it.
    only_a = {w for w in a.title_words - b.title_words if not w.isdigit()}
    only_b = {w for w in b.title_words - a.title_words if not w.isdigit()}
    if not (only_a and only_b):
        return False  # only a figure changed: an update ("toll rises to 7")
    return bool(only_a - words_b) and bool(only_b - words_a)


def _slots_filled_twice(a: _Doc, b: _Doc) -> bool:
    """Two headlines with the same words in the same order but for one to three words other
    than figures ("Aydın açıklarında 51 düzensiz göçmen yakalandı" / "İzmir açıklarında 21
    ..."): an agency's template, maybe told of two events. Their texts may be the template
    too, so alike words do not join them unless each text has the other headline's own
    words (`_template_apart`); and one outlet's two such articles are not joined by
    near-duplicate text (`_join_same_texts`)."""
    if not a.title_key or not b.title_key:
        return False
    x, y = a.title_key.split(), b.title_key.split()
    if len(x) != len(y):
        # A slot filled with names of other lengths ("... с главой МИД Турции Фиданом" /
        # "... Египта Абдель Ати"): the same start and end around one to three words each.
        start, end = common_ends(x, y)
        slot_x, slot_y = x[start : len(x) - end], y[start : len(y) - end]
        return (
            2 * (start + end) >= max(len(x), len(y))
            and 1 <= sum(not w.isdigit() for w in slot_x) <= 3
            and 1 <= sum(not w.isdigit() for w in slot_y) <= 3
        )
    changed = [(p, q) for p, q in zip(x, y, strict=True) if p != q]
    named = [(p, q) for p, q in changed if not (p.isdigit() and q.isdigit())]
    return 1 <= len(named) <= 3 and 2 * len(changed) <= len(x)


T = TypeVar("T")


def common_ends(a: Sequence[T], b: Sequence[T]) -> tuple[int, int]:
    """How many items `a` and `b` share at their start, and then at their end (the two never
    overlap): where two headlines, or two rules, differ."""
    start = _shared_start(a, b)
    return start, _shared_start(a[start:][::-1], b[start:][::-1])


def _shared_start(a: Sequence[T], b: Sequence[T]) -> int:
    return next(
        (i for i, (p, q) in enumerate(zip(a, b, strict=False)) if p != q), min(len(a), len(b))
    )


def _distinctive(word: str) -> bool:
    """Dates and numbers are shared by unrelated stories of one day ("February 27, 2026")."""
    return not word.isdigit() and word not in _CALENDAR


def _block_keys(doc: _Doc, common: frozenset[str]) -> Iterable[str]:
    """Each title word, and each pair of its `common` words (those too frequent to block on
    alone). A pair with a rarer word needs no key of its own: every two articles sharing
    that word are compared through its posting already."""
    yield from doc.title_words
    words = sorted(w for w in doc.title_words if w in common)
    for i, w in enumerate(words):
        for v in words[i + 1 :]:
            yield f"{w} {v}"


def _within_window(posting: list[_Doc]) -> Iterable[tuple[_Doc, _Doc]]:
    posting.sort(key=lambda d: (d.published_at, d.id))
    for i, a in enumerate(posting):
        for b in posting[i + 1 :]:
            if b.published_at - a.published_at > WINDOW:
                break
            yield a, b


# A summary shorter than this (a headline-only or "Read more" summary) gives way to the
# article's content, when it has one, as the text clustering compares.
SHORT_SUMMARY_CHARS = 200


def cluster_text(article: ClusterInput) -> str:
    """The text clustering compares: the summary, or the article's content (the full body,
    when stored) when the summary is shorter than SHORT_SUMMARY_CHARS."""
    summary = article.summary
    content = getattr(article, "content", "") or ""
    if len(summary) < SHORT_SUMMARY_CHARS and content:
        return content[:SUMMARY_CHARS]
    return summary[:SUMMARY_CHARS]


# Summaries asked of `summaries` at a time.
SUMMARY_BATCH = 2000

_MASK32 = 0xFFFFFFFF


def _tokens(text: str) -> list[str]:
    return _WORD.findall(_fold(text))


class _WordCodes(dict[str, int]):
    """crc32 of each word, computed once per word."""

    def __missing__(self, word: str) -> int:
        code = self[word] = zlib.crc32(word.encode())
        return code


def _shingles(tokens: Sequence[str], codes: _WordCodes) -> array[int]:
    """Hashes of the runs of SHINGLE_WORDS words in the first TEXT_WORDS `tokens`, in order.

    Stable across processes (crc32 of each word; the hash of a tuple of ints is not
    salted), so clustering gives the same stories on every run; stopwords are kept (they
    make a run a phrase)."""
    ids = list(map(codes.__getitem__, tokens[:TEXT_WORDS]))
    return array("I", [h & _MASK32 for h in map(hash, zip(ids, ids[1:], ids[2:], strict=False))])


def _boilerplate(docs: Sequence[_Doc], shingles: Sequence[array[int]]) -> dict[str, frozenset[int]]:
    """Per outlet, the runs it repeats in BOILERPLATE_ARTICLES or more of its articles."""
    by_source: dict[str, list[int]] = defaultdict(list)
    for d in docs:
        if shingles[d.index]:
            by_source[d.source].append(d.index)
    out: dict[str, frozenset[int]] = {}
    for source, indexes in by_source.items():
        if len(indexes) >= BOILERPLATE_ARTICLES:
            counts: Counter[int] = Counter()
            for i in indexes:
                counts.update(set(shingles[i]))
            found = frozenset(h for h, n in counts.items() if n >= BOILERPLATE_ARTICLES)
            if found:
                out[source] = found
    return out


def _content_words(
    tokens: Sequence[str], runs: array[int], boilerplate: frozenset[int]
) -> frozenset[str]:
    """The distinctive words of a text (as `_words`) outside its outlet's boilerplate runs."""
    if boilerplate:
        masked: set[int] = set()
        for i, h in enumerate(runs):
            if h in boilerplate:
                masked.update((i, i + 1, i + 2))
        tokens = [t for i, t in enumerate(tokens) if i not in masked]
    out = set()
    for w in tokens:
        w = w.removesuffix("'s").strip("'")
        if w and w not in _STOPWORDS:
            out.add(w)
    return frozenset(out)


def _lede(runs: array[int], boilerplate: frozenset[int]) -> frozenset[int] | None:
    """The first LEDE_SHINGLES distinct runs that are not the outlet's boilerplate (None
    when fewer than MIN_LEDE_SHINGLES are left)."""
    kept = (
        dict.fromkeys(h for h in runs if h not in boilerplate)
        if boilerplate
        else (dict.fromkeys(runs))
    )
    if len(kept) < MIN_LEDE_SHINGLES:
        return None
    return frozenset(islice(kept, LEDE_SHINGLES))


def _same_text(a: frozenset[int], b: frozenset[int]) -> bool:
    shared = len(a & b)
    if not shared:
        return False
    return (
        shared / (len(a) + len(b) - shared) >= TEXT_JACCARD
        or shared / min(len(a), len(b)) >= TEXT_CONTAINMENT
    )


def _join_same_texts(
    docs: Sequence[_Doc],
    ledes: Mapping[int, frozenset[int]],
    max_posting: int,
    uf: _UnionFind,
    apart: Container[tuple[int, int]] = frozenset(),
) -> None:
    """Join articles within WINDOW whose ledes are near-duplicates (`_same_text`).

    Candidates share one of their TEXT_SKETCH smallest run hashes (bottom-k MinHash,
    LSH with bands of one value); a hash held by more than `max_posting` articles is a
    stock phrase and is not used."""
    buckets: dict[int, list[int]] = defaultdict(list)
    for i, lede in ledes.items():
        for h in sorted(lede)[:TEXT_SKETCH]:
            buckets[h].append(i)
    for members in buckets.values():
        if len(members) < 2 or len(members) > max_posting:
            continue
        if len({uf.find(i) for i in members}) == 1:
            continue  # one story already (copies share most of their bins)
        members.sort()  # indexes follow (published_at, id)
        for x, i in enumerate(members):
            for j in members[x + 1 :]:
                if docs[j].published_at - docs[i].published_at > WINDOW:
                    break
                if (
                    uf.find(i) != uf.find(j)
                    and _same_text(ledes[i], ledes[j])
                    and (i, j) not in apart
                    and not (
                        docs[i].source == docs[j].source and _slots_filled_twice(docs[i], docs[j])
                    )
                ):
                    uf.union(i, j)


# A credit line ends the text an event is told in ("Reporting by ...; Editing by ...").
_CREDIT_START = frozenset({"reporting", "writing", "editing"})
_NOT_EVENT_WORDS = _STOPWORDS | _CALENDAR


class _StemCodes(dict[str, int]):
    """Per word, the crc32 of its stem (its first STEM_CHARS letters, a possessive dropped),
    or 0 for a word that tells no event apart (a stopword, a day's name, one letter or digit);
    computed once per word."""

    def __missing__(self, word: str) -> int:
        stem = word.removesuffix("'s").strip("'")
        code = self[word] = (
            0
            if len(stem) < 2 or stem in _NOT_EVENT_WORDS
            else zlib.crc32(stem[:STEM_CHARS].encode())
        )
        return code


# A word as written, with the character before it: a name is a capitalised word that does
# not start a sentence. Names are read in a text's first NAME_CHARS characters (about the
# EVENT_WORDS that tell its event).
NAME_CHARS = 700
_CASED_WORD = re.compile(r"(?:(?<=[.!?:;\n])|(^))\s*([^\W\d_][^\W_]*)|([^\W\d_][^\W_]*)")


def _text_names(text: str) -> set[str]:
    """The folded words of `text` written capitalised where no sentence starts: its names
    (places, people, bodies), as far as the letters' case tells ("Malatya'nın Pütürge
    ilçesinde" -> malatya, puturge)."""
    out = set()
    for m in _CASED_WORD.finditer(text[:NAME_CHARS]):
        word = m.group(3)
        if word is None or not word[0].isupper() or (word.isupper() and len(word) < 3):
            continue  # a sentence's first word, lower case, or a short acronym
        folded = _fold(word)
        if folded not in _STOPWORDS and folded not in _CALENDAR:
            out.add(folded)
    return out


@functools.lru_cache(maxsize=65536)
def _name_key(word: str) -> str:
    """What two spellings of one name share: the first three consonants of a Latin word as
    crosslang.skeleton folds them (Turkey, Türkiye -> "trk"; Turkish "trks" -> "trk"), else
    its first STEM_CHARS letters; a Turkish suffix after an apostrophe left out."""
    word = word.split("'", 1)[0]
    bones = crosslang.skeleton(word) if word.isascii() else None
    return bones[:3] if bones else word[:STEM_CHARS]


@dataclass(frozen=True, slots=True)
class _Names:
    """The names of an article whose headline names someone or somewhere: `own`, the
    headline's words its text writes as names, each as (`_name_key`, stem code); `text`, the
    keys of its text's names; `headline`, the keys of all its headline's words."""

    own: frozenset[tuple[str, int]]
    text: frozenset[str]
    headline: frozenset[str]

    @staticmethod
    def of(title_words: Iterable[str], text: str, stems: _StemCodes) -> _Names | None:
        named = frozenset(map(_name_key, _text_names(text)))
        headline = {_name_key(w): stems[w] for w in title_words}
        own = frozenset((k, c) for k, c in headline.items() if k in named and c)
        return _Names(own, named, frozenset(headline)) if own else None

    def _missing(self, other: _Names | None, other_words: frozenset[int]) -> list[bool]:
        """Per name of this headline, whether it is nowhere in the other article: not among
        its names or headline words (by key: Türkiye is Turkey; none when `other` is None, a
        headline that names nothing), nor its event words (by stem)."""
        return [
            c not in other_words
            and (other is None or (k not in other.text and k not in other.headline))
            for k, c in self.own
        ]

    def _unmentioned(self, other: _Names, other_words: frozenset[int]) -> bool:
        """Whether a name of this headline is nowhere in the other article."""
        return any(self._missing(other, other_words))

    def mostly_unmentioned_in(self, other: _Names | None, other_words: frozenset[int]) -> bool:
        """Whether more than half of this headline's names are nowhere in the other article.
        A home report may leave out its country's name (a flash's "Katar'dan ... Türkiye'ye
        ulaştı"), not most of the headline's names; a flash that names only one place needs
        it in the report."""
        missing = self._missing(other, other_words)
        return 2 * sum(missing) > len(missing)

    def apart(self, other: _Names, words: frozenset[int], other_words: frozenset[int]) -> bool:
        """Two events told alike (`_rewrites`): the headlines share no name, each names what
        the other article never does, and the texts share at most one name."""
        mine = {k for k, _ in self.own}
        return (
            mine.isdisjoint(k for k, _ in other.own)
            and len(self.text & other.text) <= 1
            and self._unmentioned(other, other_words)
            and other._unmentioned(self, words)
        )


def _event_codes(tokens: Sequence[str], stems: _StemCodes) -> array[int]:
    """Per position of the first EVENT_WORDS `tokens`, the code of its word's stem (0 for
    none); the text ends at a reporting credit."""
    head = tokens[:EVENT_WORDS]
    if "by" in head:
        for i, w in enumerate(head[1:], 1):
            if w == "by" and head[i - 1] in _CREDIT_START:
                head = head[: i - 1]
                break
    return array("I", map(stems.__getitem__, head))


def _event_words(
    title: Iterable[str],
    codes: array[int],
    runs: array[int],
    boilerplate: frozenset[int],
    stems: _StemCodes,
) -> frozenset[int]:
    """The stems of a title and of its text's event words outside the outlet's boilerplate."""
    if boilerplate and not boilerplate.isdisjoint(runs):
        # A boilerplate run starting at word i masks words i, i + 1 and i + 2.
        hit = list(map(boilerplate.__contains__, runs[: len(codes)]))
        hit += [False] * (len(codes) - len(hit))
        after_one, after_two = [False, *hit][: len(hit)], [False, False, *hit][: len(hit)]
        kept = [not (x or y or z) for x, y, z in zip(hit, after_one, after_two, strict=True)]
        out = set(compress(codes, kept))
    else:
        out = set(codes)
    out.update(map(stems.__getitem__, title))
    out.discard(0)
    return frozenset(out)


def _event_weights(
    words: Mapping[int, frozenset[int]], n: int
) -> tuple[Counter[int], dict[int, float]]:
    """In how many of the batch's `n` articles each event word is, and its weight: its
    rarity (inverse document frequency), squared."""
    df: Counter[int] = Counter()
    for ws in words.values():
        df.update(ws)
    return df, {h: math.log((n + 1) / (c + 0.5)) ** 2 for h, c in df.items()}


def _rewrites(
    docs: Sequence[_Doc],
    words: Mapping[int, frozenset[int]],
    df: Mapping[int, int],
    weight: Mapping[int, float],
    language_of: Mapping[int, str],
    uf: _UnionFind,
    names: Mapping[int, _Names] | None = None,
) -> list[tuple[int, int]]:
    """Pairs of articles of one language within REWRITE_WINDOW whose event words are alike
    (the cosine of their rarity-weighted (idf) stems at least EVENT_COSINE) and not yet one
    story, the most alike first.

    Not two whose headlines share no name and each name a place or person that the other
    article never mentions, and whose texts share at most one name (`names`, `_Names`): an
    agency's template told of two events ("AFAD, Malatya'nın
    Pütürge ilçesinde ... deprem" / "AFAD, Çanakkale'nin Ayvacık ilçesi açıklarında ...
    deprem") has alike words, but a place of its own in each headline and no name but AFAD
    in common. (One event's reports may call one thing two ways, "THY" and "Turkey's flag
    carrier", but share its other names: Airbus, A350, Asia, Latin America.)"""
    names = names or {}
    n = len(docs)
    norm = {i: math.sqrt(sum(weight[h] for h in ws)) for i, ws in words.items()}
    # A word in more than max_df articles is too common to block on (the pairs of an event
    # told that often share rarer words too); the bound keeps the pairs near n * sqrt(n).
    max_df = max(EVENT_MIN_DF, math.isqrt(n))
    buckets: dict[int, list[int]] = defaultdict(list)
    for i, ws in words.items():
        shared = sorted((df[h], h) for h in ws if 1 < df[h] <= max_df)
        for _, h in shared[:EVENT_SKETCH]:
            buckets[h].append(i)
    seen: set[int] = set()
    alike: list[tuple[float, int, int]] = []
    published = [d.published_at for d in docs]
    for members in buckets.values():
        members.sort()  # indexes follow (published_at, id)
        roots = [uf.find(i) for i in members]
        if roots.count(roots[0]) == len(roots):
            continue  # one story already
        for x, i in enumerate(members):
            root, until, language = roots[x], published[i] + REWRITE_WINDOW, language_of.get(i)
            for y in range(x + 1, len(members)):
                j = members[y]
                if published[j] > until:
                    break
                if roots[y] == root:
                    continue
                key = i * n + j
                if key in seen:
                    continue
                seen.add(key)
                other = language_of.get(j)
                if language and other and language != other:
                    continue
                cosine = sum(weight[h] for h in words[i] & words[j]) / (norm[i] * norm[j])
                if cosine < EVENT_COSINE:
                    continue
                if i in names and j in names and names[i].apart(names[j], words[i], words[j]):
                    continue  # each headline names what the other article never does
                alike.append((-cosine, i, j))
    del seen
    return [(i, j) for _, i, j in sorted(alike)]


def _flash_pairs(
    docs: Sequence[_Doc],
    words: Mapping[int, frozenset[int]],
    flash_words: Mapping[int, frozenset[int]],
    weight: Mapping[int, float],
    language_of: Mapping[int, str],
    names: Mapping[int, _Names] | None = None,
) -> list[tuple[int, int]]:
    """(flash, full report) pairs: for each flash, the same outlet's next article in its
    language within FLASH_WINDOW whose event words hold the most of the flash headline's
    rarity-weighted words (`flash_words`), if at least FLASH_CONTAINMENT of them, and that
    mentions at least half the names of the flash headline (`names`): the agency's report
    of another quake has the flash's "5,8 büyüklüğünde deprem" but not its "Malatya"."""
    names = names or {}
    flashes = [d for d in docs if d.flash and flash_words.get(d.index)]
    if not flashes:
        return []
    by_source: dict[str, list[_Doc]] = defaultdict(list)
    for d in docs:
        if d.index in words and not d.flash:
            by_source[d.source].append(d)
    out = []
    for f in flashes:
        headline = flash_words[f.index]
        total = sum(weight.get(h, 0.0) for h in headline)
        if not total:
            continue
        best: tuple[float, int] | None = None
        for g in by_source.get(f.source, ()):
            if not f.published_at <= g.published_at <= f.published_at + FLASH_WINDOW:
                continue
            if language_of.get(g.index, "") != language_of.get(f.index, ""):
                continue
            held = sum(weight[h] for h in headline & words[g.index]) / total
            if f.index in names and names[f.index].mostly_unmentioned_in(
                names.get(g.index), words[g.index]
            ):
                continue
            if held >= FLASH_CONTAINMENT and (best is None or held > best[0]):
                best = (held, g.index)
        if best is not None:
            out.append((f.index, best[1]))
    return out


def _join_events(
    docs: Sequence[_Doc],
    pairs: Iterable[tuple[int, int]],
    uf: _UnionFind,
    flashes: Iterable[tuple[int, int]] = (),
) -> None:
    """Join the pairs the event passes found, in their order, as long as the two stories
    hold no article of one outlet: an outlet tells one event once, so two stories that each
    hold an article of one outlet are two events ("Spain says it cannot meet NATO's target"
    from the AP, beside the AP's report of the target itself). An outlet's flash and its
    full report (`flashes`, joined first) are the exception: their stories may share that
    outlet, and only it."""
    outlets: dict[int, set[str]] = defaultdict(set)
    for d in docs:
        outlets[uf.find(d.index)].add(d.source)
    for f, g in flashes:
        rf, rg = uf.find(f), uf.find(g)
        if rf == rg or outlets[rf] & outlets[rg] != {docs[f].source}:
            continue
        uf.union(rf, rg)
        outlets[uf.find(rf)] = outlets.pop(rf) | outlets.pop(rg)
    for i, j in pairs:
        ri, rj = uf.find(i), uf.find(j)
        if ri == rj or not outlets[ri].isdisjoint(outlets[rj]):
            continue
        uf.union(ri, rj)
        outlets[uf.find(ri)] = outlets.pop(ri) | outlets.pop(rj)


def assign_clusters(
    articles: Iterable[ClusterInput],
    summaries: Callable[[Sequence[str]], Mapping[str, str]] | None = None,
) -> dict[str, str]:
    """Map each article id to its cluster id (the id of the cluster's earliest article).

    Deterministic and independent of input order. Articles sharing an id are one article.
    `articles` is read once, and only what clustering needs is kept of each (a stream of
    rows never has to be held in full).

    With `summaries` (ids -> their summaries), the articles' own summaries are not read:
    they are asked for in batches of SUMMARY_BATCH, and of each only its run hashes (for
    near-duplicate text) are kept, plus its words when its title left a pair open: the
    summaries themselves are never all held (a summary is ~10x a title).
    """
    keep_summaries = summaries is None
    unique: dict[str, tuple[datetime, str, _Doc]] = {}
    # Language and title of the articles whose language is known, for the cross-language pass.
    languages: dict[str, tuple[str, str]] = {}
    for art in articles:
        kept = unique.get(art.id)
        if kept is None or (art.published_at, art.url) < kept[:2]:
            unique[art.id] = (art.published_at, art.url, _doc(-1, art, with_summary=keep_summaries))
            language = getattr(art, "language", None)
            if language:
                languages[art.id] = (language, art.title)
    ordered = sorted((entry[2] for entry in unique.values()), key=lambda d: (d.published_at, d.id))
    unique.clear()
    docs = [replace(d, index=i) for i, d in enumerate(ordered)]
    del ordered
    n = len(docs)
    uf = _UnionFind(n)

    # Same canonical URL: one page, whatever the time stamps say.
    by_url: dict[str, int] = {}
    for d in docs:
        if d.url_key:
            first = by_url.setdefault(d.url_key, d.index)
            uf.union(first, d.index)

    # Word frequencies in this batch decide what is "distinctive" and what may block.
    df: dict[str, int] = defaultdict(int)
    for d in docs:
        for w in d.title_words:
            df[w] += 1
    rare_limit = max(3, int(n * 0.02))
    rare = frozenset(w for w, c in df.items() if c <= rare_limit)
    # Posting lists longer than this are too common to block on (their pairs, if the same
    # story, share a rarer key too); the bound keeps the work near-linear.
    max_posting = max(50, int(math.sqrt(n) * 4))
    # Only these words are paired into keys (most title words are rarer: pairs of them were
    # most of the keys, and a posting to fill each).
    common = frozenset(w for w, c in df.items() if c > max_posting)

    # Most keys belong to one article only: such a key keeps that
    # article itself, and becomes a list with its second one (a list per key was most of
    # clustering's memory: 20,000 articles, ~25 MB).
    postings: dict[str, _Doc | list[_Doc]] = {}
    for d in docs:
        keys = _block_keys(d, common)
        for key in chain(("=" + d.title_key,), keys) if d.title_key else keys:
            held = postings.get(key)
            if held is None:
                postings[key] = d
            elif isinstance(held, list):
                held.append(d)
            else:
                postings[key] = [held, d]

    seen: set[tuple[int, int]] = set()
    # Pairs the titles leave open, with their title similarity, for the summaries to decide
    # once every pair has been through the titles: the components come out the same, as a
    # pair is only ever skipped when it is already connected.
    open_pairs: list[tuple[int, int, float]] = []
    # Pairs whose headlines are alike enough but each has words of its own.
    substituted: list[tuple[int, int]] = []
    for key, posting in postings.items():
        if not isinstance(posting, list):
            continue
        if key.startswith("="):
            # Identical titles: join each copy to the first one less than WINDOW before it,
            # linear however many copies, and a title recurring daily does not chain for ever.
            # A live blog or explainer under the report's headline ("... - live updates")
            # is joined only to its own copies.
            posting.sort(key=lambda d: (d.published_at, d.id))
            starts: dict[bool, _Doc] = {}
            for d in posting:
                start = starts.get(d.not_report)
                if start is not None and d.published_at - start.published_at <= WINDOW:
                    uf.union(start.index, d.index)
                else:
                    starts[d.not_report] = d
            continue
        if len(posting) > max_posting:
            continue
        # A posting whose articles are one story already has no pair left to decide (and
        # the pairs of one story told hundreds of times are most of the work).
        root = uf.find(posting[0].index)
        if all(uf.find(d.index) == root for d in posting):
            continue
        for a, b in _within_window(posting):
            pair = (a.index, b.index)
            if pair in seen:
                continue
            seen.add(pair)
            if uf.find(a.index) == uf.find(b.index):
                continue
            if a.not_report or b.not_report:
                # A live blog, explainer or opinion piece is not the report its headline
                # echoes ("... - live updates", "...: what's at stake?"); copies of one are
                # joined by their URL, their exact title or their text.
                continue
            verdict = _title_verdict(a, b, rare)
            if verdict is True:
                if a.title_words - b.title_words and b.title_words - a.title_words:
                    # Each headline has words the other lacks: a template filled twice
                    # ("Erdoğan, Putin ile görüştü" / "Erdoğan, Aliyev ile görüştü")? The
                    # texts decide (`_template_apart`).
                    substituted.append((a.index, b.index))
                else:
                    uf.union(a.index, b.index)
            elif verdict is not False:
                open_pairs.append((a.index, b.index, verdict))
    del seen, postings

    # Every article's text is read (for near-duplicate text), in batches when a callable
    # gives them; of most only the run hashes of its start are kept, and the words only of
    # those in the pairs the titles left open.
    wanted = {i for x, y, _ in open_pairs for i in (x, y) if uf.find(x) != uf.find(y)}
    wanted.update(i for pair in substituted for i in pair)
    tokens_of: dict[int, list[str]] = {}
    codes = _WordCodes()
    stems = _StemCodes()
    shingles: list[array[int]] = []
    event_codes: list[array[int]] = []
    told: list[crosslang.Item] = []
    # Per article whose headline names someone or somewhere its text names too: those names.
    title_names: dict[int, _Names] = {}
    # Cross-language links need two languages in the batch (most polls of one desk have one).
    several_languages = len({language for language, _ in languages.values()}) > 1

    def read(d: _Doc, text: str) -> None:
        known = languages.get(d.id) if several_languages else None
        if known is not None and not d.not_report:
            found = crosslang.anchors(known[1], text[:SUMMARY_CHARS], known[0])
            told.append(crosslang.Item(d.index, known[0], d.published_at, found))
        tokens = _tokens(text[:SUMMARY_CHARS])
        shingles.append(_shingles(tokens, codes))
        event_codes.append(array("I") if d.not_report else _event_codes(tokens, stems))
        if not d.not_report and d.title_words:
            named = _Names.of(d.title_words, text, stems)
            if named is not None:
                title_names[d.index] = named
        if d.index in wanted:
            tokens_of[d.index] = tokens

    if summaries is None:
        for d in docs:
            read(d, d.summary)
    else:
        for offset in range(0, n, SUMMARY_BATCH):
            chunk = docs[offset : offset + SUMMARY_BATCH]
            texts = summaries([d.id for d in chunk])
            for d in chunk:
                read(d, texts.get(d.id, ""))
    codes.clear()
    boilerplate = _boilerplate(docs, shingles)
    none: frozenset[int] = frozenset()
    words_of = {
        i: _content_words(tokens, shingles[i], boilerplate.get(docs[i].source, none))
        for i, tokens in tokens_of.items()
    }
    tokens_of.clear()
    # Pairs found to be a template told twice: near-duplicate text does not join them either.
    apart: set[tuple[int, int]] = set()
    for a_index, b_index in substituted:
        if _template_apart(docs[a_index], docs[b_index], words_of[a_index], words_of[b_index]):
            apart.add((a_index, b_index))
        else:
            uf.union(a_index, b_index)
    for a_index, b_index, title_sim in open_pairs:
        if uf.find(a_index) != uf.find(b_index) and _summary_verdict(
            title_sim, words_of[a_index], words_of[b_index]
        ):
            a, b = docs[a_index], docs[b_index]
            if _slots_filled_twice(a, b) and _template_apart(
                a, b, words_of[a_index], words_of[b_index]
            ):
                apart.add((a_index, b_index))
                continue
            uf.union(a_index, b_index)
    del words_of
    event_words = {}
    for d in docs:
        if d.not_report:
            continue
        found = _event_words(
            d.title_words,
            event_codes[d.index],
            shingles[d.index],
            boilerplate.get(d.source, none),
            stems,
        )
        if len(found) >= MIN_EVENT_WORDS:
            event_words[d.index] = found
    # A flash is its headline: its full report tells what the headline says, whatever the
    # flash's own line of text ("Details to follow").
    flash_words = {
        d.index: frozenset(map(stems.__getitem__, d.title_words)) - {0}
        for d in docs
        if d.flash and d.index in event_words
    }
    event_codes.clear()
    stems.clear()
    ledes = {}
    for d in docs:
        lede = _lede(shingles[d.index], boilerplate.get(d.source, none))
        if lede is not None:
            ledes[d.index] = lede
    shingles.clear()
    del boilerplate
    _join_same_texts(docs, ledes, max_posting, uf, apart)
    del apart
    del ledes
    by_id = {d.id: d.index for d in docs}
    language_of = {by_id[i]: lang for i, (lang, _) in languages.items()}
    event_df, weight = _event_weights(event_words, n)
    pairs = _rewrites(docs, event_words, event_df, weight, language_of, uf, title_names)
    flashes = _flash_pairs(docs, event_words, flash_words, weight, language_of, title_names)
    del event_df, weight
    del event_words, language_of, by_id
    # One story told in several languages: shared figures and names (newswatch.digest.crosslang).
    languages.clear()
    pairs.extend(crosslang.links(told))
    told.clear()
    _join_events(docs, pairs, uf, flashes)

    # Union keeps the smallest index as root, and indexes follow (published_at, id).
    return {d.id: docs[uf.find(d.index)].id for d in docs}
