from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from newswatch.digest.cluster import SUMMARY_BATCH, assign_clusters, canonical_url, strip_outlet
from newswatch.models import Article

T0 = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)

SEED_SUMMARY = (
    "(Bloomberg) -- Turkey’s purchase of an advanced Russian missile system will top the agenda "
    "for Recep Tayyip Erdogan’s meeting with Donald Trump on Wednesday, a “critical” meeting "
    "that’s set to shape the future of ties with the U.S., the Turkish president’s top aide said. "
    "Turkey’s relationship with its key NATO ally has been strained by a series of rows, from "
    "disagreements over the Turkish offensive in Syria to Ankara’s decision to purchase the "
    "Russian-made S-400 air defense system."
)


def art(
    id: str,
    title: str,
    summary: str = "",
    *,
    url: str | None = None,
    source: str = "Example",
    hours: float = 0.0,
) -> Article:
    return Article(
        id=id,
        feed_url=f"https://{source.lower().replace(' ', '')}.example/feed",
        source=source,
        url=url or f"https://{source.lower().replace(' ', '')}.example/{id}",
        title=title,
        summary=summary,
        published_at=T0 + timedelta(hours=hours),
    )


def seed_copies() -> list[Article]:
    bloomberg = art(
        "bbg",
        "Turkey’s S-400 Purchase to Top Agenda When Erdogan Meets Trump",
        SEED_SUMMARY,
        url="https://www.bloomberg.com/news/articles/2026-11-24/turkey-s-400-erdogan-trump",
        source="Bloomberg",
    )
    # The same wire copy on a portal: straight quotes, different case, an outlet suffix,
    # a tracking-param URL, the summary cut short.
    portal = art(
        "portal",
        "Turkey's S-400 purchase to top agenda when Erdogan meets Trump - Bloomberg",
        SEED_SUMMARY.replace("’", "'")[:300],
        url="https://finance.portal.example/news/turkey-s400-erdogan?utm_source=rss&utm_medium=feed",
        source="Portal",
        hours=1.5,
    )
    # A rewrite by another outlet: different headline, same facts in its own words.
    rewrite = art(
        "rewrite",
        "Erdogan, Trump to discuss Turkey's S-400 purchase at White House meeting",
        "Turkey's purchase of the Russian S-400 air defense system will top the agenda when "
        "Erdogan meets Trump on Wednesday at the White House, a meeting the Turkish president's "
        "top aide called critical for ties with the U.S. and its NATO ally, strained by rows "
        "over the Turkish offensive in Syria.",
        source="Daily Sabah",
        hours=3,
    )
    return [bloomberg, portal, rewrite]


def unrelated_turkey() -> list[Article]:
    return [
        art(
            "quake",
            "Turkey earthquake: death toll rises as rescuers search rubble in Malatya",
            "Rescue teams in eastern Turkey pulled survivors from collapsed buildings overnight as "
            "aftershocks rattled the province of Malatya, officials said.",
            source="BBC",
            hours=2,
        ),
        art(
            "rates",
            "Turkey's central bank raises interest rates to curb inflation",
            "Turkey's central bank raised its benchmark rate by 250 basis points on Thursday, "
            "saying inflation expectations remained too high after the lira slid.",
            source="Reuters",
            hours=4,
        ),
        art(
            "nato-summit",
            "NATO allies agree new defence spending target at summit",
            "NATO leaders agreed to raise defence spending, with Turkey and other allies pledging "
            "to meet the target within a decade, the alliance said.",
            source="DW",
            hours=5,
        ),
        art(
            "s400-sanctions",
            "US senators push new sanctions on Turkey over S-400 activation",
            "A bipartisan group of senators introduced a bill to sanction Turkey after Ankara "
            "tested its Russian-made S-400 system, saying the NATO ally had crossed a red line.",
            source="Politico",
            hours=6,
        ),
        art(
            "turkey-dinner",
            "How to roast a turkey for Thanksgiving without drying it out",
            "Brining the turkey overnight and roasting at a lower temperature keeps the meat moist.",
            source="Food",
            hours=7,
        ),
    ]


def test_syndicated_copies_and_rewrite_cluster_with_the_earliest_as_id() -> None:
    clusters = assign_clusters(seed_copies())
    assert clusters == {"bbg": "bbg", "portal": "bbg", "rewrite": "bbg"}


def test_unrelated_turkey_stories_stay_apart_even_beside_the_seed_story() -> None:
    articles = seed_copies() + unrelated_turkey()
    clusters = assign_clusters(articles)
    for other in unrelated_turkey():
        assert clusters[other.id] == other.id, other.title
    assert {clusters["bbg"], clusters["portal"], clusters["rewrite"]} == {"bbg"}


def test_url_equal_copies_cluster_even_with_different_titles_and_tracking_params() -> None:
    a = art("a", "Kabinet onaylandı", url="https://www.example.com/story/123/?utm_source=x")
    b = art(
        "b",
        "Cabinet approved",
        url="http://example.com/story/123#comments",
        source="Mirror",
        hours=30,
    )
    c = art("c", "Something else entirely", url="https://example.com/story/124")
    assert assign_clusters([b, c, a]) == {"a": "a", "b": "a", "c": "c"}


def test_canonical_url_keeps_meaningful_query_and_drops_tracking() -> None:
    assert canonical_url("https://www.x.com/a/?id=7&utm_campaign=z&fbclid=1") == "x.com/a?id=7"
    assert canonical_url("https://x.com/a?id=7") != canonical_url("https://x.com/a?id=8")


def test_strip_outlet_only_removes_known_outlets() -> None:
    assert strip_outlet("Turkey buys S-400 - Reuters") == "Turkey buys S-400"
    assert strip_outlet("Turkey buys S-400 | Daily Sabah", "Daily Sabah") == "Turkey buys S-400"
    assert strip_outlet("Erdogan - the long game") == "Erdogan - the long game"


def test_same_title_far_apart_in_time_is_not_one_story() -> None:
    a = art("mon", "Turkey markets wrap: lira, stocks and bonds", source="A")
    b = art("fri", "Turkey markets wrap: lira, stocks and bonds", source="A", hours=96)
    c = art("mon2", "TURKEY MARKETS WRAP — lira, stocks & bonds", source="B", hours=2)
    assert assign_clusters([a, b, c]) == {"mon": "mon", "mon2": "mon", "fri": "fri"}


def test_short_generic_titles_do_not_merge() -> None:
    a = art("a", "Live updates", "Missile strikes reported in Kyiv overnight.", source="A")
    b = art("b", "Live updates", "Parliament votes on the budget in Ankara.", source="B", hours=1)
    assert assign_clusters([a, b]) == {"a": "a", "b": "b"}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_order_independent(seed: int) -> None:
    articles = seed_copies() + unrelated_turkey()
    expected = assign_clusters(articles)
    shuffled = articles[:]
    random.Random(seed).shuffle(shuffled)
    assert assign_clusters(shuffled) == expected


def test_cluster_id_is_earliest_by_published_then_id() -> None:
    same = "Erdogan meets Trump at White House over S-400 dispute"
    a = art("zzz", same, source="A", hours=0)
    b = art("aaa", same, source="B", hours=0)
    c = art("mmm", same, source="C", hours=-1)
    assert set(assign_clusters([a, b, c]).values()) == {"mmm"}
    assert set(assign_clusters([a, b]).values()) == {"aaa"}


def synthetic(n: int, seed: int = 7) -> tuple[list[Article], dict[str, str]]:
    """n articles: stories each told by 1-4 outlets (copies vary case/punctuation/suffix)."""
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(3000)]
    common = ["Turkey", "NATO", "Russia", "Erdogan", "S-400", "missile", "talks", "minister"]
    articles: list[Article] = []
    truth: dict[str, str] = {}
    story = 0
    while len(articles) < n:
        story += 1
        words = rng.sample(common, 2) + rng.sample(vocab, 5)
        rng.shuffle(words)
        title = " ".join(words)
        summary = " ".join(rng.sample(vocab, 30) + rng.sample(common, 3))
        hours = rng.uniform(0, 24 * 14)
        first = None
        for copy in range(rng.choice([1, 1, 2, 3, 4])):
            aid = f"s{story}c{copy}"
            first = first or aid
            t = title.upper() if copy == 2 else title
            t = f"{t} - Reuters" if copy == 3 else t
            articles.append(art(aid, t, summary, source=f"Outlet{copy}", hours=hours + copy * 0.5))
            truth[aid] = first
    return articles[:n], truth


def test_20k_synthetic_articles_cluster_as_generated() -> None:
    articles, truth = synthetic(20_000)
    clusters = assign_clusters(articles)
    assert len(clusters) == 20_000
    wrong = [a.id for a in articles if clusters[a.id] != truth[a.id]]
    assert len(wrong) == 0, wrong[:10]


def test_a_stream_of_narrow_rows_clusters_as_the_articles_do() -> None:
    """The poll streams rows with only what clustering reads (warehouse.ClusterRow, no
    summary) and gives the summaries on request; read once, they give the same stories."""
    from newswatch.digest.cluster import SUMMARY_CHARS
    from newswatch.store.warehouse import ClusterRow

    articles = seed_copies() + unrelated_turkey()
    by_id = {a.id: a for a in articles}
    asked: list[str] = []

    def summaries(ids: Sequence[str]) -> dict[str, str]:
        asked.extend(ids)
        return {i: by_id[i].summary[:SUMMARY_CHARS] for i in ids}

    rows = (ClusterRow(a.id, a.title, a.source, a.url, a.published_at) for a in reversed(articles))
    streamed = assign_clusters(rows, summaries)
    assert streamed == assign_clusters(articles)
    assert streamed["portal"] == streamed["rewrite"] == "bbg"
    # Every article's text is read (near-duplicate text needs it), each asked once.
    assert "rewrite" in asked
    assert len(asked) == len(set(asked)) == len(articles)


def rewrites(stories: int, seed: int = 11) -> tuple[list[Article], dict[str, str]]:
    """Per story an original, a rewrite whose title only its summary confirms, and a decoy
    with the rewrite's kind of title but another story's words in its summary."""
    rng = random.Random(seed)
    vocab = ["".join(rng.choices("bcdfghklmnprstvz", k=4)) + f"{i:05d}" for i in range(50_000)]
    articles: list[Article] = []
    truth: dict[str, str] = {}
    for story in range(stories):
        words = rng.sample(vocab, 12)
        summary = " ".join(rng.sample(vocab, 30))
        hours = rng.uniform(0, 24 * 14)
        kept = words[:3]
        copies = [
            (f"o{story}", " ".join(words[:6]), summary),
            (f"r{story}", " ".join(kept + words[6:9]), summary),
            (f"d{story}", " ".join(kept + words[9:12]), " ".join(rng.sample(vocab, 30))),
        ]
        for n, (aid, title, text) in enumerate(copies):
            articles.append(art(aid, title, text, source=f"Outlet{n}", hours=hours + n))
        truth.update({f"o{story}": f"o{story}", f"r{story}": f"o{story}", f"d{story}": f"d{story}"})
    return articles, truth


def test_summaries_on_request_give_the_stories_whole_articles_do_at_scale() -> None:
    articles, truth = rewrites(2_000)
    by_id = {a.id: a.summary for a in articles}
    asked: list[Sequence[str]] = []

    def summaries(ids: Sequence[str]) -> dict[str, str]:
        asked.append(ids)
        return {i: by_id[i] for i in ids}

    whole = assign_clusters(articles)
    assert [a.id for a in articles if whole[a.id] != truth[a.id]] == []
    narrow = [replace(a, summary="") for a in articles]
    assert assign_clusters(narrow, summaries) == whole
    # Asked in batches, each article at most once (here every one has a pair left open).
    ids = [i for batch in asked for i in batch]
    assert len(asked) > 1 and max(len(batch) for batch in asked) <= SUMMARY_BATCH
    assert len(ids) == len(set(ids)) == 3 * 2_000
    # Without the summaries the rewrites stay apart: the summaries were needed.
    assert assign_clusters(narrow) != whole


def test_titles_sharing_only_common_words_are_still_compared() -> None:
    # Each of these words heads hundreds of titles, too many to block on alone; only the
    # two copies of the story have all four, so their pairs of words bring them together.
    common = ["alpha", "bravo", "charlie", "delta"]
    fillers = [
        art(f"f{i}", f"{common[i % 4]} filler{i} story{i} words{i}", hours=i * 0.01)
        for i in range(1_200)
    ]
    a = art("a", "Alpha bravo charlie delta", hours=1.0)
    b = art("b", "Delta charlie bravo alpha", hours=2.0)
    clusters = assign_clusters([*fillers, a, b])
    assert clusters["a"] == clusters["b"] == "a"
    assert sum(1 for i, c in clusters.items() if c == "a") == 2


def test_blocking_on_pairs_of_common_words_only_finds_the_same_stories(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The former blocking keyed every pair of title words; pairs with a rarer word are
    # compared through that word's posting anyway, so the stories must be the same.
    from newswatch.digest import cluster

    def every_pair(doc: cluster._Doc, common: frozenset[str]) -> list[str]:
        words = sorted(doc.title_words)
        return words + [f"{w} {v}" for i, w in enumerate(words) for v in words[i + 1 :]]

    articles = synthetic(6_000)[0] + rewrites(500)[0]
    now = assign_clusters(articles)
    monkeypatch.setattr(cluster, "_block_keys", every_pair)
    assert assign_clusters(articles) == now


def test_labelled_set_wire_copies_merge_and_same_topic_stories_with_boilerplate_do_not() -> None:
    """tests/data/cluster_labelled.yaml (bench/cluster_eval.py prints its figures)."""
    from bench.cluster_eval import load, score

    articles, labels = load()
    s = score(assign_clusters(articles), labels)
    assert s.missed == () and s.false == ()
    # And whatever order the articles come in.
    s = score(assign_clusters(list(reversed(articles))), labels)
    assert (s.precision, s.recall) == (1.0, 1.0)


def test_a_wire_copy_under_a_new_headline_is_the_same_story() -> None:
    original = seed_copies()[0]
    copy = art(
        "copy",
        "Erdogan to press Trump over S-400 purchase in Washington",
        SEED_SUMMARY.replace("(Bloomberg) -- ", ""),
        source="Yahoo",
        hours=2,
    )
    assert assign_clusters([original, copy]) == {"bbg": "bbg", "copy": "bbg"}
    # The text decides: the same headline pair with another story's text stays apart.
    other = replace(copy, summary=unrelated_turkey()[1].summary * 3)
    assert assign_clusters([original, other]) == {"bbg": "bbg", "copy": "copy"}


def test_an_outlets_repeated_boilerplate_does_not_make_its_stories_one() -> None:
    promo = (
        "Subscribe to our Turkey newsletter for weekly analysis of Ankara's politics and "
        "foreign policy, delivered to your inbox every Friday morning by our correspondents."
    )
    stories = [
        "Turkish officials met Russian and Ukrainian delegations in Istanbul on Monday.",
        "Kurdish-led forces resumed negotiations with the government in Damascus.",
        "The central bank left its key rate unchanged, surprising some economists.",
    ]
    articles = [
        art(f"s{i}", f"Unrelated headline number {i} here", f"{promo} {text}", hours=i)
        for i, text in enumerate(stories)
    ]
    assert assign_clusters(articles) == {a.id: a.id for a in articles}
    # Two articles are not enough to call a passage boilerplate: then it is shared text.
    pair = articles[:2]
    assert len(set(assign_clusters(pair).values())) == 1


def test_articles_with_headline_only_summaries_are_compared_on_their_content() -> None:
    body = SEED_SUMMARY.replace("(Bloomberg) -- ", "") * 2
    a = replace(art("a", "Turkey's S-400 purchase to top agenda", "Read more", source="A"),
                content=body)  # fmt: skip
    b = replace(art("b", "Missile dispute looms over Washington visit", "", source="B", hours=2),
                content=body)  # fmt: skip
    assert assign_clusters([a, b]) == {"a": "a", "b": "a"}
    # Without their content they say too little to be one story.
    assert assign_clusters([replace(a, content=""), replace(b, content="")]) == {"a": "a", "b": "b"}


# One event in each outlet's own words (`_rewrites`). The background gives the batch
# the spread of words a day's matches have, so rarity (idf) means what it means in a poll.
def _background() -> list[Article]:
    return unrelated_turkey() + seed_copies()


def _airbus_reports() -> list[Article]:
    return [
        art(
            "thy-wire",
            "Turkish Airlines orders 60 Airbus A350 jets, eyes more",
            "Turkish Airlines has signed a firm order for 60 Airbus A350 widebody jets with "
            "rights for 15 more, the carrier said in a filing to the Istanbul exchange, as it "
            "expands its long-haul network towards Asia and Latin America. Deliveries start in 2028.",
            source="Wire",
            hours=1,
        ),
        art(
            "thy-local",
            "THY signs up for dozens of A350 widebodies",
            "Flag carrier THY told the Istanbul bourse it had finalised a deal with European "
            "planemaker Airbus for 60 A350 aircraft, plus 15 purchase rights, to grow long-haul "
            "flying to Asia and Latin America from 2028, when deliveries begin.",
            source="Local Daily",
            hours=2.5,
        ),
        art(
            "thy-finance",
            "Airbus wins widebody deal from Turkey's flag carrier",
            "Airbus secured an order for 60 A350 jets from Turkish Airlines, with 15 more "
            "available as options, handing the European planemaker a boost in its widebody "
            "race; the carrier plans long-haul growth in Asia and Latin America with deliveries "
            "from 2028.",
            source="Finance Desk",
            hours=3,
        ),
    ]


def test_one_event_told_in_each_outlet_s_own_words_is_one_story() -> None:
    reports = _airbus_reports()
    clusters = assign_clusters(reports + _background())
    assert {clusters[a.id] for a in reports} == {"thy-wire"}
    # The titles share too little for the title rules, and the texts no run of words.
    assert len({cluster_without_rewrites(reports + _background())[a.id] for a in reports}) == 3


def cluster_without_rewrites(articles: list[Article]) -> dict[str, str]:
    import newswatch.digest.cluster as cluster

    saved = cluster._rewrites
    cluster._rewrites = lambda *args, **kwargs: []
    try:
        return assign_clusters(articles)
    finally:
        cluster._rewrites = saved


def test_the_same_actors_in_another_event_stay_apart() -> None:
    reports = _airbus_reports()
    diversion = art(
        "thy-diversion",
        "Turkish Airlines Istanbul flight diverts to Budapest after passenger falls ill",
        "A Turkish Airlines Airbus flying from Istanbul to New York landed in Budapest on "
        "Tuesday after a passenger fell seriously ill; the flight resumed two hours later.",
        source="News Agency",
        hours=2,
    )
    clusters = assign_clusters([*reports, diversion, *_background()])
    assert clusters["thy-diversion"] == "thy-diversion"


def test_an_outlet_tells_one_event_once() -> None:
    """A reaction from the outlet that reported the event is another story, however alike its
    words; an outlet's copies of one text are joined by the other passes."""
    reports = _airbus_reports()
    reaction = art(
        "thy-reaction",
        "Boeing says it will keep courting Turkish Airlines after losing widebody order",
        "Turkish Airlines' order for 60 Airbus A350 widebody jets, with 15 purchase rights and "
        "deliveries from 2028, shuts Boeing out of the carrier's long-haul growth in Asia and "
        "Latin America for now, Boeing said, adding it would keep courting the airline.",
        source="Wire",
        hours=4,
    )
    clusters = assign_clusters([reports[0], reaction, *_background()])
    assert clusters["thy-reaction"] == "thy-reaction"
    # From another outlet, the same text is a report of the event.
    other = replace(reaction, id="thy-other", source="Other Outlet", feed_url="https://o.example/f")
    clusters = assign_clusters([reports[0], other, *_background()])
    assert clusters["thy-other"] == "thy-wire"
    # And a story holding an article of the outlet is not joined to another holding one.
    clusters = assign_clusters([*reports, replace(reaction, source="Finance Desk"), *_background()])
    assert clusters["thy-reaction"] != clusters["thy-finance"]


def test_live_blogs_explainers_and_questions_are_not_joined_by_their_words() -> None:
    reports = _airbus_reports()
    for title in (
        "Business live: lira steadies, carrier's widebody deal, stocks",
        "The flag carrier's widebody deal: what you need to know",
        "Can the flag carrier fill its new widebodies?",
    ):
        item = replace(reports[2], id="item", title=title, source="Other Outlet")
        clusters = assign_clusters([*reports[:2], item, *_background()])
        assert clusters["item"] == "item", title
        assert clusters["thy-local"] == "thy-wire"


def test_reports_half_a_day_apart_are_not_joined_by_their_words() -> None:
    reports = _airbus_reports()
    late = replace(reports[2], published_at=reports[0].published_at + timedelta(hours=13))
    clusters = assign_clusters([reports[0], late, *_background()])
    assert clusters["thy-finance"] == "thy-finance"
    soon = replace(reports[2], published_at=reports[0].published_at + timedelta(hours=11))
    assert assign_clusters([reports[0], soon, *_background()])["thy-finance"] == "thy-wire"


def test_a_reporting_credit_does_not_make_two_stories_alike() -> None:
    credit = "Reporting by Deniz Arslan and Huseyin Hayatsever; Editing by Janet Lawrence and Ros Russell"
    a = art(
        "ministry",
        "Turkish police detain 30 suspects in raids on Islamic State cells",
        "Police in Istanbul and Ankara detained 30 suspected Islamic State members in dawn "
        "raids, the interior minister said. " + credit,
        source="Wire",
        hours=1,
    )
    b = art(
        "exports",
        "Turkey's defence exports hit record in first ten months",
        "Turkish defence and aerospace exports reached a record $6.1 billion in the first ten "
        "months, the industry body said. " + credit,
        source="Wire Two",
        hours=2,
    )
    clusters = assign_clusters([a, b, *_background()])
    assert clusters["exports"] == "exports"


@pytest.mark.parametrize(
    ("name", "precision", "recall"),
    [
        # Written blind and measured (fresh7 held out until its one run after the change),
        # then guards: docs/evaluation.md has each one's first-run figures. (Set 3 labels
        # Russia's reaction to NATO's Baltic drills apart from the drills; sets 14-17 label
        # a reaction with its event, and kinds of event across languages join them.)
        ("cluster_fresh.yaml", 1.0, 0.93),
        ("cluster_fresh2.yaml", 0.94, 0.5),
        ("cluster_fresh3.yaml", 0.84, 0.43),
        ("cluster_fresh4.yaml", 1.0, 0.48),
        ("cluster_fresh5.yaml", 1.0, 0.48),
        ("cluster_fresh6.yaml", 1.0, 0.67),
        ("cluster_fresh7.yaml", 1.0, 0.6),
        ("cluster_fresh8.yaml", 1.0, 0.53),
        ("cluster_fresh9.yaml", 0.94, 0.6),
        ("cluster_fresh10.yaml", 1.0, 0.3),
        ("cluster_fresh11.yaml", 1.0, 0.41),
        ("cluster_fresh12.yaml", 0.95, 0.31),
        ("cluster_fresh13.yaml", 1.0, 0.31),
        ("cluster_fresh14.yaml", 0.96, 0.38),
        ("cluster_fresh15.yaml", 1.0, 0.31),
        ("cluster_fresh16.yaml", 1.0, 0.33),
        ("cluster_fresh17.yaml", 1.0, 0.2),
    ],
)
def test_the_blind_sets_keep_their_figures(name: str, precision: float, recall: float) -> None:
    """Regression guards at the figures docs/evaluation.md reports (bench/cluster_eval.py)."""
    from pathlib import Path

    from bench.cluster_eval import load, score

    articles, labels = load(Path(__file__).parent / "data" / name)
    s = score(assign_clusters(articles), labels)
    assert s.precision >= precision, s.false
    assert s.recall >= recall, s.missed


@given(
    st.lists(st.integers(0, 30), max_size=20),
    st.lists(st.integers(0, 10), max_size=22),
    st.frozensets(st.integers(0, 10), max_size=4),
)
def test_a_boilerplate_run_masks_its_three_words(
    codes: list[int], runs: list[int], boilerplate: frozenset[int]
) -> None:
    from array import array

    from newswatch.digest.cluster import _event_words, _StemCodes

    masked = {i + k for i, h in enumerate(runs[: len(codes)]) if h in boilerplate for k in range(3)}
    want = {c for i, c in enumerate(codes) if c and i not in masked}
    got = _event_words((), array("I", codes), array("I", runs), boilerplate, _StemCodes())
    assert got == want


def test_a_headline_template_filled_twice_is_two_stories() -> None:
    """Anadolu-style headlines that differ only in the other leader's name are two meetings;
    an edited copy of one headline is still the same story."""
    putin = art(
        "putin",
        "Cumhurbaşkanı Erdoğan, Rusya Devlet Başkanı Putin ile telefonda görüştü",
        "İletişim Başkanlığı'nın açıklamasına göre görüşmede Türkiye-Rusya ilişkileri, Akkuyu "
        "Nükleer Güç Santrali ve enerji alanındaki iş birliği ele alındı.",
        source="Agency",
        hours=1,
    )
    zelensky = art(
        "zelensky",
        "Cumhurbaşkanı Erdoğan, Ukrayna Devlet Başkanı Zelenskiy ile telefonda görüştü",
        "İletişim Başkanlığı'nın açıklamasına göre görüşmede Karadeniz'de seyir güvenliği ve "
        "esir takası konuları ele alındı.",
        source="Daily",
        hours=20,
    )
    clusters = assign_clusters([putin, zelensky, *_background()])
    assert clusters["zelensky"] == "zelensky"
    # A copy whose headline says "Lideri" for "Başkanı": its text has "Başkanı".
    copy = replace(
        putin,
        id="copy",
        title="Cumhurbaşkanı Erdoğan, Rusya Devlet Lideri Putin ile telefonda görüştü",
        summary="Görüşmede enerji ve Akkuyu ele alındı; Erdoğan, Rusya Devlet Başkanı "
        "Putin'e teşekkür etti.",
        source="Portal",
        url="https://portal.example/copy",
    )
    clusters = assign_clusters([putin, copy, *_background()])
    assert clusters["copy"] == clusters["putin"]
    # A teaser with no text cannot tell: the headlines decide, as before.
    teaser = replace(zelensky, id="teaser", summary="", source="Teasers")
    assert assign_clusters([putin, teaser, *_background()])["teaser"] == "putin"
    # Each text names the other call's country (the war is between them), not its leader.
    crossed_putin = replace(
        putin,
        summary="Görüşmede Türkiye-Rusya ilişkileri ile Ukrayna'daki savaşın sona "
        "erdirilmesine yönelik müzakereler ele alındı.",
    )
    crossed_zelensky = replace(
        zelensky,
        summary="Erdoğan, Rusya ile Ukrayna arasında kalıcı barışın tesisi için çabalarını "
        "sürdüreceğini ifade etti; esir takası da ele alındı.",
    )
    clusters = assign_clusters([crossed_putin, crossed_zelensky, *_background()])
    assert clusters["zelensky"] == "zelensky"


def _flash_and_full() -> list[Article]:
    return [
        art(
            "thy-flash",
            "BREAKING: Turkish Airlines orders 60 Airbus A350 widebody jets",
            "Turkish Airlines orders 60 Airbus A350 widebody jets, filing shows.",
            source="Wire",
            hours=0.5,
        ),
        art(
            "thy-full",
            "Flag carrier bets on long-haul growth with big widebody purchase",
            "Turkish Airlines has signed a firm order for 60 Airbus A350 widebody jets with "
            "rights for 15 more, the carrier said in a filing to the Istanbul exchange, as it "
            "expands its long-haul network towards Asia and Latin America.",
            source="Wire",
            hours=1.5,
        ),
    ]


def test_an_outlet_s_flash_and_its_full_report_are_one_story() -> None:
    flash, full = _flash_and_full()
    clusters = assign_clusters([flash, full, *_background()])
    assert clusters["thy-full"] == "thy-flash"
    # In another language ("SON DAKİKA" lower-cases with a dotted i) and with other outlets.
    son_dakika = replace(flash, title="SON DAKİKA: " + flash.title.split(": ", 1)[1])
    clusters = assign_clusters([son_dakika, full, *_airbus_reports()[1:], *_background()])
    assert clusters["thy-full"] == clusters["thy-local"] == "thy-flash"


def test_without_a_flash_marker_or_far_apart_an_outlet_s_two_articles_stay_two() -> None:
    flash, full = _flash_and_full()
    # "Flash floods ..." is a title, not a marker; without one, the outlet rule holds.
    plain = replace(flash, title="Flash floods: " + flash.title.split(": ", 1)[1])
    assert assign_clusters([plain, full, *_background()])["thy-full"] == "thy-full"
    late = replace(full, published_at=flash.published_at + timedelta(hours=5))
    assert assign_clusters([flash, late, *_background()])["thy-full"] == "thy-full"


def test_a_flash_is_not_joined_to_the_outlet_s_next_article_on_another_event() -> None:
    flash, _ = _flash_and_full()
    other = art(
        "thy-strike",
        "Turkish Airlines cabin crew union calls strike over pay",
        "The union representing Turkish Airlines cabin crew called a 48-hour strike from "
        "Friday after talks on pay broke down, threatening flights from Istanbul.",
        source="Wire",
        hours=1.5,
    )
    assert assign_clusters([flash, other, *_background()])["thy-strike"] == "thy-strike"


def test_a_flash_is_not_joined_to_the_outlet_s_report_of_a_like_event_elsewhere() -> None:
    """An agency's quake flash and, three hours later, its report of another quake: the
    report has the flash's words ("büyüklüğünde deprem") but not its place. Its full report
    of the flash's own event may leave out the country's name, not the headline's others."""
    flash = art(
        "malatya-flash",
        "SON DAKİKA: Malatya'da 5,8 büyüklüğünde deprem",
        "AFAD, merkez üssü Malatya'nın Pütürge ilçesi olan depremin saat 09.42'de "
        "meydana geldiğini duyurdu.",
        source="Agency",
        hours=0.5,
    )
    crete = art(
        "crete",
        "Yunanistan'ın Girit Adası açıklarında 5,6 büyüklüğünde deprem",
        "Yunanistan'ın Girit Adası açıklarında 5,6 büyüklüğünde deprem meydana geldi. "
        "Atina Ulusal Gözlemevi verilerine göre deprem 12 kilometre derinlikte kaydedildi.",
        source="Agency",
        hours=2.5,
    )
    assert assign_clusters([flash, crete, *_background()])["crete"] == "crete"
    typhoon_flash = art(
        "typhoon-flash",
        "SON DAKİKA: Katar'dan alınan ilk Eurofighter Typhoon uçakları Türkiye'ye ulaştı",
        "Milli Savunma Bakanlığı, Katar'dan tedarik edilen ilk 4 Eurofighter Typhoon savaş "
        "uçağının Türkiye'ye ulaştığını duyurdu.",
        source="Agency",
        hours=0.5,
    )
    typhoon_full = art(
        "typhoon-full",
        "Eurofighter Typhoon'lar Hava Kuvvetleri envanterine katıldı",
        "Katar'dan tedarik edilen ilk 4 Eurofighter Typhoon savaş uçağı, Eskişehir'deki "
        "1. Ana Jet Üs Komutanlığına iniş yaptı. Uçaklar, Hava Kuvvetleri Komutanı Orgeneral "
        "Ziya Cemal Kadıoğlu'nun katıldığı törenle karşılandı.",
        source="Agency",
        hours=1.0,
    )
    clusters = assign_clusters([typhoon_flash, typhoon_full, *_background()])
    assert clusters["typhoon-full"] == "typhoon-flash"


def test_a_flash_in_cyrillic_and_its_full_report_are_one_story() -> None:
    """A flash is its headline: TASS's "СРОЧНО" line and its full report share the
    headline's words (Cyrillic words are words), whatever the flash's own line of text."""
    flash = art(
        "tass-flash",
        "СРОЧНО: Россия завершила поставки Индии комплексов С-400",
        "Подробности позже. Следите за обновлениями на нашем сайте и в телеграм-канале.",
        source="ТАСС",
        hours=0.5,
    )
    full = art(
        "tass-full",
        "ФСВТС: контракт на поставку Индии пяти полковых комплектов С-400 выполнен",
        "Россия завершила поставку Индии последнего, пятого полкового комплекта зенитных "
        "ракетных систем С-400. Контракт 2018 года на 5,4 млрд долларов выполнен полностью, "
        "заявили в Федеральной службе по военно-техническому сотрудничеству.",
        source="ТАСС",
        hours=0.9,
    )
    other = art(
        "tass-other",
        "В Москве открылся международный форум по кибербезопасности",
        "Форум собрал более двух тысяч участников из сорока стран, сообщили организаторы. "
        "В программе дискуссии об искусственном интеллекте и защите данных.",
        source="ТАСС",
        hours=0.7,
    )
    langs = {"tass-flash": "ru", "tass-full": "ru", "tass-other": "ru"}
    batch = [replace(a, language=langs[a.id]) for a in (flash, full, other)]
    clusters = assign_clusters([*batch, *_background()])
    assert clusters["tass-full"] == "tass-flash"
    assert clusters["tass-other"] == "tass-other"


def test_a_template_with_a_longer_name_in_its_slot_is_two_stories() -> None:
    """One outlet's two headlines alike but for the names in one slot, of other lengths
    ("... главой МИД Турции Фиданом" / "... Египта Абдель Ати"), with the same opening line of
    text: two meetings, as with a template filled with names of one length."""
    lead = "Министр иностранных дел России Сергей Лавров провел в Москве переговоры с "
    fidan = art(
        "lavrov-fidan",
        "Лавров провел переговоры с главой МИД Турции Фиданом",
        lead + "турецким коллегой Хаканом Фиданом. Стороны обсудили ситуацию на Украине и в "
        "Сирии, а также строительство АЭС «Аккую».",
        source="ТАСС",
        hours=1,
    )
    egypt = art(
        "lavrov-egypt",
        "Лавров провел переговоры с главой МИД Египта Абдель Ати",
        lead + "министром иностранных дел Египта Бадром Абдель Ати. Обсуждались ситуация в "
        "секторе Газа и строительство АЭС «Эль-Дабаа».",
        source="ТАСС",
        hours=4,
    )
    clusters = assign_clusters([fidan, egypt, *_background()])
    assert clusters["lavrov-egypt"] == "lavrov-egypt"


def test_two_quakes_told_in_one_agency_template_stay_two_stories() -> None:
    """Two outlets' reports of two quakes in one template: alike words, but each headline
    names a province the other article never mentions, and the texts share no other name
    than the agency's. A second report of one of them, naming its province, still joins."""
    template = (
        "Depremin yerin 7 kilometre derinliğinde gerçekleştiği bildirildi. Kandilli "
        "Rasathanesi de depremin büyüklüğünü açıkladı."
    )
    malatya = art(
        "malatya",
        "Malatya'da 5.6 büyüklüğünde deprem",
        "AFAD, Malatya'nın Pütürge ilçesinde saat 09.34'te 5.6 büyüklüğünde deprem meydana "
        f"geldiğini duyurdu. {template} Ayrıntılar gelecek.",
        source="Anadolu Ajansı",
        hours=1,
    )
    canakkale = art(
        "canakkale",
        "Çanakkale'de korkutan deprem: Ayvacık açıklarında 4.7",
        "AFAD, Çanakkale'nin Ayvacık ilçesi açıklarında, Ege Denizi'nde saat 12.21'de 4.7 "
        f"büyüklüğünde deprem meydana geldiğini duyurdu. {template} Deprem Balıkesir ve "
        "İzmir'de de hissedildi.",
        source="Hürriyet",
        hours=5,
    )
    second = art(
        "malatya-2",
        "Pütürge merkezli 5.6'lık Malatya depremi korkuttu",
        "AFAD, Malatya'nın Pütürge ilçesinde saat 09.34'te 5.6 büyüklüğünde deprem meydana "
        f"geldiğini duyurdu. {template} Deprem Elazığ ve Adıyaman'da da hissedildi.",
        source="Sabah",
        hours=2,
    )
    batch = [replace(a, language="tr") for a in (malatya, canakkale)]
    assert assign_clusters([*batch, *_background()])["canakkale"] == "canakkale"
    clusters = assign_clusters([*batch, replace(second, language="tr"), *_background()])
    assert clusters["malatya-2"] == "malatya" and clusters["canakkale"] == "canakkale"


def _rescue(id: str, province: str, district: str, n: int, hours: float) -> Article:
    return art(
        id,
        f"{province} açıklarında {n} düzensiz göçmen yakalandı",
        f"{province}'in {district} ilçesi açıklarında lastik bot içinde bulunan {n} düzensiz "
        "göçmen yakalandı. Sahil Güvenlik Komutanlığından yapılan açıklamaya göre, göçmenler "
        "Sahil Güvenlik botuyla karaya çıkarıldı. Göçmenler, işlemlerinin ardından İl Göç "
        "İdaresi Müdürlüğüne teslim edildi.",
        source="Anadolu Ajansı",
        hours=hours,
    )


def test_an_agency_s_template_told_of_two_events_is_two_stories() -> None:
    """Same headline and text but for the place and the number: two rescues, though the
    texts are near-duplicates and the headlines alike."""
    a = _rescue("ayvalik", "Balıkesir", "Ayvalık", 38, 1)
    b = _rescue("cesme", "İzmir", "Çeşme", 21, 9)
    clusters = assign_clusters([a, b, *_background()])
    assert clusters["cesme"] == "cesme"
    # A copy of one of them by another outlet is still joined to it.
    copy = replace(b, id="cesme-dha", source="DHA", url="https://dha.example/cesme", title=b.title)
    clusters = assign_clusters([a, b, copy, *_background()])
    assert clusters["cesme-dha"] == "cesme" and clusters["ayvalik"] == "ayvalik"


def test_an_update_that_changes_only_a_figure_is_the_same_story() -> None:
    first = art(
        "toll-5",
        "Death toll in Dilovası factory blast rises to 5",
        "The death toll from an explosion at a paint factory in Dilovası, Kocaeli, rose to 5, "
        "the governor said, as rescuers searched the rubble for missing workers.",
        source="Wire",
        hours=1,
    )
    later = replace(
        first,
        id="toll-7",
        url="https://wire.example/toll-7",
        title=first.title.replace("5", "7"),
        summary=first.summary.replace("to 5", "to 7"),
        published_at=first.published_at + timedelta(hours=3),
    )
    assert assign_clusters([first, later, *_background()])["toll-7"] == "toll-5"


def test_a_live_blog_or_explainer_echoing_a_headline_is_not_that_story() -> None:
    report = art(
        "fms",
        "NATO foreign ministers meet in Brussels",
        "NATO foreign ministers gathered in Brussels on Tuesday to discuss air defence for "
        "Ukraine and the alliance's new spending target, officials said.",
        source="Wire",
        hours=2,
    )
    live = art(
        "fms-live",
        "NATO foreign ministers meet in Brussels - live updates",
        "Follow our live coverage of the meeting: arrivals, statements and the press conference.",
        source="Daily",
        hours=3,
    )
    explainer = art(
        "fms-stake",
        "NATO foreign ministers meet in Brussels: what's at stake?",
        "Air defence, money and Ukraine top the agenda. Here is what to watch.",
        source="Weekly",
        hours=1,
    )
    clusters = assign_clusters([report, live, explainer, *_background()])
    assert len({clusters["fms"], clusters["fms-live"], clusters["fms-stake"]}) == 3
    # A copy of the live blog under the same headline is still the live blog.
    copy = replace(live, id="fms-live-copy", source="Portal", url="https://portal.example/l")
    clusters = assign_clusters([report, live, copy, *_background()])
    assert clusters["fms-live-copy"] == "fms-live" != clusters["fms"]


def test_the_warehouse_tells_flashes_as_clustering_does() -> None:
    """`latest_stories` (store/migrations/0011_story_headline.sql) tells flashes in DuckDB's
    regex dialect by the same markers as `is_flash`, with the same answers."""
    import re
    from pathlib import Path

    import duckdb

    from newswatch.digest.cluster import FLASH_MARKERS, is_flash
    from newswatch.resources import migrations_dir

    sql = (Path(migrations_dir()) / "0011_story_headline.sql").read_text(encoding="utf-8")
    [pattern] = re.findall(r"'(\^\[\^\\pL\\pN\]\*\(\?:.*?\)\\s\*.*?)'\s*\)", sql, re.S)
    pattern = pattern.replace("''", "'")
    alternatives = re.search(r"\(\?:(.*?)\)", pattern)
    assert alternatives is not None
    assert tuple(alternatives.group(1).split("|")) == FLASH_MARKERS
    titles = [
        "Flash floods kill 2 in Antalya",
        "Turkey says BREAKING: nothing",
        "Urgent care clinics close",
        "Eilige Post: neue Marken",
        "Москва срочно: ничего",
        "Ankara — talks resume",
        "",
    ]
    for marker in FLASH_MARKERS:
        for form in (marker, marker.upper(), marker.title()):
            titles += [f"{form}: Ankara confirms delivery", f"🔴 {form} - x", f"{form} | y"]
            titles += [f"{form}s and more", f"The {form}: a review"]
    con = duckdb.connect()
    for title in titles:
        [(flash,)] = con.execute(
            "SELECT regexp_matches(lower(replace(?, 'İ', 'i')), ?)", [title, pattern]
        ).fetchall()
        assert flash == is_flash(title), title
