"""Full-text search: offline extension load, BM25 ranking, snippets, the `search` command."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import shutil
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from newswatch import cli
from newswatch.store import search, warehouse
from newswatch.store.snippets import ELLIPSIS, best_snippet, first_match, snippet
from tests import warehouse_helpers
from tests.feedserver import FeedServer
from tests.helpers import rss, write_sources
from tests.warehouse_helpers import SUMMARY_HIT, TITLE_HIT, poll_once

SRC = Path(__file__).resolve().parent.parent / "src"


@pytest.fixture(scope="session")
def db(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return warehouse_helpers.populated_db(tmp_path_factory)


def _network_isolation() -> list[str]:
    """`unshare -rn` (a private network namespace with no interfaces) when the OS allows it."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return []
    for prefix in ([unshare, "-n"], [unshare, "-rn"]):
        if subprocess.run([*prefix, "true"], capture_output=True).returncode == 0:
            return prefix
    return []


OFFLINE_SCRIPT = textwrap.dedent(
    """
    import ipaddress, json, socket, sys
    from datetime import UTC, datetime
    from pathlib import Path

    # Every connect from Python code to a non-loopback address fails and is recorded, so the
    # check below runs even where no network namespace is available.
    blocked = []
    real_connect = socket.socket.connect

    def guarded(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            host = str(address[0])
            try:
                loopback = ipaddress.ip_address(host).is_loopback
            except ValueError:
                loopback = host == "localhost"
            if not loopback:
                blocked.append(host)
                raise OSError("network blocked by the test's guard")
        return real_connect(self, address)

    socket.socket.connect = guarded
    socket.socket.connect_ex = lambda self, address: guarded(self, address) or 0

    from newswatch.store import search, warehouse

    db = Path(sys.argv[1])
    now = datetime.now(UTC)
    with warehouse.connect(db) as con:
        rows = [
            ("t", "Ankara weighs second S-400 battery", "Talks continue in the capital."),
            ("s", "Weekly defence roundup",
             "A long list of items on budgets, ships and training, plus the S-400 battery."),
            ("x", "Cooking with lentils", "Soak them overnight."),
        ]
        for id_, title, summary in rows:
            con.execute(
                "INSERT INTO articles (id, feed_url, source, url, title, summary, summary_html, "
                "published_at, published_at_known, guid, author, first_seen_at, poll_id) VALUES (?, 'f', 'src', 'u', ?, ?, '', ?, true, NULL, NULL, ?, 'p')",
                [id_, title, summary, now, now],
            )
        search.refresh_search_index(con)
        loaded = con.execute(
            "SELECT install_mode FROM duckdb_extensions() WHERE extension_name = 'fts' AND loaded"
        ).fetchall()
    with warehouse.connect(db, read_only=True) as con:
        hits = search.search_articles(con, "S-400 battery")
    attempts_by_newswatch = list(blocked)
    try:
        socket.create_connection(("1.1.1.1", 443), timeout=1).close()  # stopped by the guard
        guarded_online = True
    except OSError:
        guarded_online = False
    namespace_online = None
    if sys.argv[2] == "namespace":  # no interface but loopback: even C code cannot get out
        raw = socket.socket()
        raw.settimeout(1)
        try:
            real_connect(raw, ("1.1.1.1", 443))
            namespace_online = True
        except OSError:
            namespace_online = False
        finally:
            raw.close()
    print(json.dumps({
        "ids": [h.id for h in hits], "loaded": loaded, "attempts": attempts_by_newswatch,
        "guarded_online": guarded_online, "namespace_online": namespace_online,
    }))
    """
)


def test_fts_loads_offline_without_install_and_ranks_title_hits_first(tmp_path: Path) -> None:
    # Always in-process behind the socket guard; also in a network namespace with no
    # interface when the OS allows one (then not even DuckDB's own C++ client can get out).
    isolation = _network_isolation()
    runs = [("guard", [])] + ([("namespace", isolation)] if isolation else [])
    for mode, prefix in runs:
        home = tmp_path / mode / "home"
        home.mkdir(parents=True)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "PYTHONPATH": str(SRC),
            "NO_PROXY": "*",
        }
        db = tmp_path / mode / "fts.duckdb"
        proc = subprocess.run(
            [*prefix, sys.executable, "-c", OFFLINE_SCRIPT, str(db), mode],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        result = json.loads(proc.stdout)
        assert result["ids"] == ["t", "s"], mode  # the title hit outranks the summary-only hit
        # Loaded from the wheel's file by path, not installed from a repository.
        assert result["loaded"] == [["NOT_INSTALLED"]], mode
        assert result["attempts"] == [], mode  # nothing tried to reach the network
        assert result["guarded_online"] is False, mode
        assert result["namespace_online"] is (False if mode == "namespace" else None)
        # Nothing downloaded into or installed under the (empty) home directory.
        assert list(home.iterdir()) == [], mode


def test_search_command_ranks_filters_and_snips(db: Path) -> None:
    out = io.StringIO()
    assert cli.main(["search", "S-400 battery", "--db", str(db), "--format", "json"], out=out) == 0
    hits = json.loads(out.getvalue())
    titles = [h["title"] for h in hits]
    assert titles[0] == TITLE_HIT
    assert SUMMARY_HIT in titles
    roundup = next(h for h in hits if h["title"] == SUMMARY_HIT)
    assert "S-400 battery" in roundup["snippet"] and roundup["snippet"].startswith(ELLIPSIS)
    assert roundup["topics"] == ["S-400", "Turkey"]
    assert [h["rank"] for h in hits] == list(range(1, len(hits) + 1))
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)

    out = io.StringIO()
    args = ["search", "S-400", "--db", str(db), "--format", "json", "--topic", "nato"]
    assert cli.main(args, out=out) == 0
    nato = json.loads(out.getvalue())
    assert nato and all("NATO" in h["topics"] for h in nato)
    assert SUMMARY_HIT not in {h["title"] for h in nato}

    since = (datetime.now(UTC) - timedelta(hours=12)).isoformat()
    out = io.StringIO()
    args = [
        "search",
        "S-400",
        "--db",
        str(db),
        "--format",
        "json",
        "--since",
        since,
        "--limit",
        "1",
    ]
    assert cli.main(args, out=out) == 0
    recent = json.loads(out.getvalue())
    assert [h["title"] for h in recent] == [TITLE_HIT]

    out = io.StringIO()
    assert cli.main(["search", "S-400 battery", "--db", str(db), "--limit", "2"], out=out) == 0
    text = out.getvalue()
    assert text.startswith(f" 1. {TITLE_HIT}\n")
    assert text.rstrip().splitlines()[-1].startswith("2 results; articles matching S-400 first.")


def test_a_minus_word_leaves_out_the_articles_that_have_it(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def titles(*terms: str) -> list[str]:
        out = io.StringIO()
        assert cli.main(["search", *terms, "--db", str(db), "--format", "json"], out=out) == 0
        return [h["title"] for h in json.loads(out.getvalue())]

    both = titles("S-400 battery")
    assert TITLE_HIT in both and SUMMARY_HIT in both
    # "roundups" is left out in every form ("roundup"), wherever it is (here: the title).
    without = titles("S-400 battery -roundups")
    assert TITLE_HIT in without and SUMMARY_HIT not in without
    assert set(without) == set(both) - {SUMMARY_HIT}
    # A designation is left out in each way it is written.
    assert TITLE_HIT not in titles("battery -S400")
    assert cli.main(["search", "-roundup -weekly", "--db", str(db)]) == 2
    assert "no word to look for" in capsys.readouterr().err


def test_a_search_with_no_word_says_it_needs_one(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # An empty query has no "-word" to blame: say what is missing, and what works instead.
    for terms in ("", "   "):
        assert cli.main(["search", terms, "--db", str(db)], out=io.StringIO()) == 2
        err = capsys.readouterr().err
        assert err.startswith("newswatch: error: search needs a word to look for"), err
        assert "leave out" not in err and "--topic T" in err and err.count("\n") == 1
    assert cli.main(["search", "--db", str(db), "--", "-roundup"], out=io.StringIO()) == 2
    err = capsys.readouterr().err
    assert "has no word to look for, only words to leave out (-word)" in err


def test_no_word_and_a_topic_lists_the_topics_articles_newest_first(db: Path) -> None:
    def listed(terms: str, *args: str) -> list[dict[str, object]]:
        out = io.StringIO()
        argv = ["search", *args, "--db", str(db), "--format", "json", "--", terms]
        assert cli.main(argv, out=out) == 0
        hits = json.loads(out.getvalue())
        assert isinstance(hits, list)
        return hits

    con = duckdb.connect(str(db), read_only=True)
    try:
        expected = con.execute(
            "SELECT id FROM matched_articles WHERE list_contains(topics, 'S-400') "
            "ORDER BY published_at DESC, id"
        ).fetchall()
    finally:
        con.close()
    assert len(expected) >= 3
    hits = listed("", "--topic", "s-400", "--limit", "100")
    assert [h["id"] for h in hits] == [r[0] for r in expected]
    assert all("S-400" in h["topics"] and h["score"] is None for h in hits)  # type: ignore[operator]
    assert [h["rank"] for h in hits] == list(range(1, len(hits) + 1))
    assert len(listed("", "--topic", "S-400", "--limit", "2")) == 2
    # "-word" still leaves out articles, also with no word to look for.
    titles = {h["title"] for h in listed("-roundups", "--topic", "S-400", "--limit", "100")}
    assert TITLE_HIT in titles and SUMMARY_HIT not in titles
    assert len(titles) == len(hits) - 1

    out = io.StringIO()
    assert cli.main(["search", "", "--topic", "S-400", "--db", str(db)], out=out) == 0
    text = out.getvalue()
    assert text.startswith(" 1. ")
    last = text.rstrip().splitlines()[-1]
    assert last.startswith(f"{len(hits)} articles that matched S-400, newest first. Times are ")
    # Cut by --limit, the footer does not pass the shown articles off as all of them.
    out = io.StringIO()
    assert (
        cli.main(["search", "", "--topic", "S-400", "--limit", "2", "--db", str(db)], out=out) == 0
    )
    last = out.getvalue().rstrip().splitlines()[-1]
    assert last.startswith("the 2 newest articles that matched S-400 (--limit 2; more may have)")


def test_tag_keeps_the_articles_of_feeds_with_that_tag(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def sources_of(*args: str) -> list[str]:
        out = io.StringIO()
        argv = ["search", *args, "--db", str(db), "--format", "json", "--limit", "100"]
        assert cli.main(argv, out=out) == 0
        return [h["source"] for h in json.loads(out.getvalue())]

    everyone = sources_of("S-400")
    assert {"Ankara Daily", "Brussels Wire", "Defense Monitor"} <= set(everyone)
    # The farm's tags (warehouse_helpers.FARM_TAGS): Ankara Daily is TR, Brussels Wire a wire.
    turkish = sources_of("S-400", "--tag", "tr")  # any case
    assert turkish and set(turkish) == {"Ankara Daily"}
    assert turkish == [s for s in everyone if s == "Ankara Daily"]  # in the same order
    assert set(sources_of("S-400", "--tag", "wire")) == {"Brussels Wire"}
    # With no word, a topic's articles of the tagged feeds.
    assert set(sources_of("", "--topic", "S-400", "--tag", " TR ")) == {"Ankara Daily"}
    # A tag no feed carries is a mistake to name, not an empty result.
    for words in (["S-400"], ["", "--topic", "S-400"]):
        assert cli.main(["search", *words, "--db", str(db), "--tag", "nowhere"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("newswatch: error: --tag 'nowhere': no feed is tagged so (the "), err
        assert "TR" in err and err.count("\n") == 1

    assert cli.main(["search", "S-400", "--db", str(db), "--tag", "TR,GR"]) == 2
    err = capsys.readouterr().err
    assert err == "newswatch: error: --tag takes one feed tag (no commas), got 'TR,GR'\n"


def test_index_is_a_snapshot_until_refreshed(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    now = datetime.now(UTC)

    def add(con: object, id_: str, title: str) -> None:
        con.execute(  # type: ignore[attr-defined]
            "INSERT INTO articles (id, feed_url, source, url, title, summary, summary_html, "
            "published_at, published_at_known, guid, author, first_seen_at, poll_id) VALUES (?, 'f', 'src', 'u', ?, '', '', ?, true, NULL, NULL, ?, 'p')",
            [id_, title, now, now],
        )

    with warehouse.connect(db) as con:
        add(con, "a", "Frigate launched")
        assert search.refresh_search_index(con) == 1
        add(con, "b", "Second frigate launched")
        assert [h.id for h in search.search_articles(con, "frigate")] == ["a"]
        assert search.refresh_search_index(con) == 2
        assert {h.id for h in search.search_articles(con, "frigates")} == {"a", "b"}


def test_search_without_index_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "w.duckdb"
    with warehouse.connect(db):
        pass
    assert cli.main(["search", "nato", "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--reindex" in err
    assert cli.main(["search", "nato", "--db", str(db), "--reindex"], out=io.StringIO()) == 0


def test_bad_since_is_one_line(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["search", "nato", "--db", str(db), "--since", "last week"]) == 2
    assert "--since" in capsys.readouterr().err
    # A date's shape but no date: what is wrong with it.
    assert cli.main(["search", "nato", "--db", str(db), "--since", "2026-13-01"]) == 2
    err = capsys.readouterr().err
    assert "'2026-13-01' (month must be in 1..12)" in err and err.count("\n") == 1


def test_snippet_windows_around_first_stemmed_match() -> None:
    text = ("Filler words here. " * 20) + "Sanctions were announced on Monday. " + ("More. " * 40)
    cut = snippet(text, ["sanction"], width=80)
    assert "Sanctions" in cut and cut.startswith(ELLIPSIS) and cut.endswith(ELLIPSIS)
    assert len(cut) <= 82
    assert snippet("Short text.", ["zzz"]) == "Short text."
    assert snippet(text, ["absent"], width=40).startswith("Filler words")
    assert first_match("Türkiye said", ["turkiy"]) == (0, 7)
    assert first_match("nothing here", []) is None


@pytest.mark.parametrize(
    ("docs_per_pass", "threads"), [(None, 1), (40, 1), (None, 2), (40, 3), (None, 6)]
)
def test_appending_to_the_index_scores_exactly_like_the_extensions_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, docs_per_pass: int | None, threads: int
) -> None:
    # Real feed text (the captured feeds' titles and summaries, plus text that stresses the
    # tokenizer), indexed in three appends from an empty index, must rank and score every
    # query exactly as one build by the extension itself does; so must `rebuild=True`.
    # With small slices each append works in several of them; with more threads each
    # field's documents are tokenised in as many branches (at most TOKEN_BRANCHES_MAX).
    if docs_per_pass is not None:
        monkeypatch.setattr(search, "FTS_DOCS_PER_PASS", docs_per_pass)
    from newswatch.parse.feed import parse_feed
    from tests.conftest import CORPUS

    bodies = sorted((CORPUS / "realnews").glob("*.xml"))[:12]
    now = datetime.now(UTC)
    articles = [
        a
        for i, path in enumerate(bodies)
        for a in parse_feed(
            path.read_bytes(), feed_url=f"https://f{i}.example/", source="s", now=now
        ).articles
    ]
    assert len(articles) > 100
    # An article with no indexable word at all counts as a document of length 0.
    articles.append(dataclasses.replace(articles[0], id="empty", title="the", summary=""))
    odd = [
        ("Türkiye'nin İstanbul\\nçıkışı", "ERDOĞAN\tsaid \\n\\t S‑400 S–400 naïve Ελλάδα 東京 ß"),
        ("  \\\\ back\\slash ", "a\\.b c\\"),
        ("NATO-led, NATO's", "   "),
    ]
    for n, (title, summary) in enumerate(odd):
        articles.append(
            dataclasses.replace(articles[1], id=f"odd{n}", title=title, summary=summary)
        )
    # Most first, then smaller additions.
    cut = len(articles) * 7 // 10
    batches = [articles[:cut], articles[cut:-5], articles[-5:]]
    queries = [
        "NATO", "Turkey Erdogan", "missile defence", "the", "S-400", "election results",
        "turkiye istanbul", "erdogan", "naive", "slash", "nato led", "cikisi", "ss",
    ]  # fmt: skip

    def insert(con: object, batch: list[object]) -> None:
        for a in batch:
            con.execute(  # type: ignore[attr-defined]
                "INSERT OR IGNORE INTO articles (id, feed_url, source, url, title, summary, "
                "summary_html, content, published_at, published_at_known, guid, author, "
                "first_seen_at, poll_id) "
                "VALUES (?, 'f', 'src', 'u', ?, ?, '', ?, ?, true, NULL, NULL, ?, 'p')",
                [a.id, a.title, a.summary, a.content, now, now],  # type: ignore[attr-defined]
            )

    def scores(con: object) -> dict[str, list[tuple[str, float]]]:
        out = {}
        for q in queries:
            rows = con.execute(  # type: ignore[attr-defined]
                f"SELECT id, round({search.FTS_SCHEMA}.match_bm25(id, ?), 9) AS s "
                "FROM articles WHERE s IS NOT NULL ORDER BY s DESC, id",
                [q],
            ).fetchall()
            out[q] = rows
        return out

    with (
        warehouse.connect(tmp_path / "inc.duckdb", threads=threads) as inc,
        warehouse.connect(tmp_path / "full.duckdb") as full,
    ):
        appended: list[bool] = []
        append = search._append_to_search_index
        monkeypatch.setattr(
            search,
            "_append_to_search_index",
            lambda con: appended.append(append(con)) or appended[-1],
        )
        search.prepare_search_index(inc)  # an empty index, as before a first poll
        for batch in batches:
            insert(inc, batch)
            assert search.refresh_search_index(inc) == _count(inc)
        assert appended == [True, True, True]
        insert(full, articles)
        search.load_fts(full)
        search._build_search_index(full)  # the extension's own build
        got, want = scores(inc), scores(full)
        assert any(want[q] for q in queries)
        assert got == want
        stats = f"SELECT num_docs, round(avgdl, 9) FROM {search.FTS_SCHEMA}.stats"
        assert inc.execute(stats).fetchall() == full.execute(stats).fetchall()
        assert search.refresh_search_index(inc, rebuild=True) == _count(inc)
        assert scores(inc) == want


def _count(con: object) -> int:
    row = con.execute("SELECT count(*) FROM articles").fetchone()  # type: ignore[attr-defined]
    return int(row[0])


def _search_titles(db: Path, terms: str) -> list[str]:
    out = io.StringIO()
    assert cli.main(["search", terms, "--db", str(db), "--format", "json"], out=out) == 0
    return [h["title"] for h in json.loads(out.getvalue())]


def _scores_by_the_extensions_build(db: Path, tmp_path: Path, queries: list[str]) -> None:
    """The poll-maintained index scores every query exactly as the extension's own build."""
    copy = tmp_path / "rebuilt.duckdb"
    shutil.copy(db, copy)

    def scores(path: Path, rebuild: bool) -> dict[str, list[tuple[str, float]]]:
        with warehouse.connect(path) as con:
            search.load_fts(con)
            if rebuild:
                search._build_search_index(con)
            return {
                # Queries reach the index stemmed (every language's forms; search_stems).
                q: con.execute(
                    f"SELECT id, round({search.FTS_SCHEMA}.match_bm25(id, ?), 9) AS s "
                    "FROM articles WHERE s IS NOT NULL ORDER BY s DESC, id",
                    [" ".join(search.search_stems(con, q))],
                ).fetchall()
                for q in queries
            }

    got, want = scores(db, False), scores(copy, True)
    assert all(want.values()) and got == want


def test_each_poll_brings_the_index_up_to_date(
    feed_server: FeedServer, tmp_path: Path, prefect_harness: None
) -> None:
    now = datetime.now(UTC)

    def item(n: int, title: str) -> dict[str, str | datetime]:
        return {
            "title": title,
            "link": f"https://wire.example/{n}",
            "guid": f"wire-{n}",
            "description": f"Dispatch number {n} from the harbour.",
            "pubDate": now - timedelta(hours=10 - n),
        }

    first = [item(1, "Frigate leaves the harbour")]
    second = [*first, item(2, "Second frigate follows"), item(3, "Harbour pilots strike")]
    feed_server.route("/wire.xml", body=rss("Wire", first))
    sources = write_sources(
        tmp_path / "sources.yaml", [(feed_server.url("/wire.xml"), "Wire")], timeout=3
    )
    db = tmp_path / "wh" / "news.duckdb"
    poll_once(sources, db)
    assert _search_titles(db, "frigate") == ["Frigate leaves the harbour"]

    feed_server.route("/wire.xml", body=rss("Wire", second))
    poll_once(sources, db)  # new items: the poll appends them to the index
    assert set(_search_titles(db, "frigates")) == {
        "Frigate leaves the harbour",
        "Second frigate follows",
    }
    assert _search_titles(db, "pilots") == ["Harbour pilots strike"]
    _scores_by_the_extensions_build(db, tmp_path, ["frigate", "harbour", "pilots strike"])

    # An index the append must not write into (here: rebuilt by hand with the extension's
    # default tokenizer, which drops digits) is rebuilt by the extension at the next poll.
    with warehouse.connect(db) as con:
        search.load_fts(con)
        con.execute("PRAGMA create_fts_index('articles', 'id', 'title', 'summary', overwrite = 1)")
        assert search.search_index_layout_problem(con) is not None
    assert _search_titles(db, "S-400") == []
    third = [*second, item(4, "S-400 battery arrives by sea")]
    feed_server.route("/wire.xml", body=rss("Wire", third))
    poll_once(sources, db)
    assert _search_titles(db, "S-400") == ["S-400 battery arrives by sea"]
    with warehouse.connect(db, read_only=True) as con:
        search.load_fts(con)
        assert search.search_index_layout_problem(con) is None
    _scores_by_the_extensions_build(db, tmp_path, ["frigate", "harbour", "S-400 battery"])


def _mutations() -> dict[str, str]:
    fts = search.FTS_SCHEMA
    return {
        "renamed column": f"ALTER TABLE {fts}.terms RENAME COLUMN termid TO term_id",
        "extra column": f"ALTER TABLE {fts}.docs ADD COLUMN extra BIGINT",
        "other type": f"ALTER TABLE {fts}.dict ALTER df TYPE INTEGER",
        "missing table": f"DROP TABLE {fts}.stopwords",
        "other fields": f"UPDATE {fts}.fields SET fieldid = fieldid + 1",
        "other tokenizer": f"CREATE OR REPLACE MACRO {fts}.tokenize(s) AS string_split(s, ' ')",
        "other stemmer": "PRAGMA create_fts_index('articles', 'id', 'title', 'summary', "
        "stemmer = 'english', ignore = '(\\\\.|[^a-z0-9])+', overwrite = 1)",
    }


@pytest.mark.parametrize("mutation", sorted(_mutations()))
def test_an_index_laid_out_otherwise_is_rebuilt_by_the_extension(
    tmp_path: Path, mutation: str
) -> None:
    now = datetime.now(UTC)
    rows = [
        ("t", "Ankara weighs second S-400 battery", "Talks continue."),
        ("s", "Weekly defence roundup", "Budgets, ships, training and the S-400 battery."),
        ("x", "Cooking with lentils", "Soak them overnight."),
    ]
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        search.prepare_search_index(con)
        for id_, title, summary in rows[:2]:
            _insert(con, id_, title, summary, now)
        search.refresh_search_index(con)
        assert search.search_index_layout_problem(con) is None
        con.execute(_mutations()[mutation])
        assert search.search_index_layout_problem(con) is not None
        _insert(con, *rows[2], now)
        assert search.refresh_search_index(con) == 3
        assert search.search_index_layout_problem(con) is None
        assert [h.id for h in search.search_articles(con, "S-400 battery")] == ["t", "s"]
        assert [h.id for h in search.search_articles(con, "lentil")] == ["x"]


def test_reindex_is_the_extensions_own_build(tmp_path: Path) -> None:
    # Whatever the index holds (here one built by hand with the extension's defaults, whose
    # tokenizer cannot see "400"), `search --reindex` replaces it through the extension.
    db = tmp_path / "w.duckdb"
    now = datetime.now(UTC)
    with warehouse.connect(db) as con:
        _insert(con, "t", "Ankara weighs second S-400 battery", "Talks continue.", now)
        search.load_fts(con)
        con.execute("PRAGMA create_fts_index('articles', 'id', 'title', 'summary', overwrite = 1)")
    assert _search_titles(db, "S-400") == []
    out = io.StringIO()
    assert cli.main(["search", "S-400", "--db", str(db), "--reindex"], out=out) == 0
    assert out.getvalue().startswith(" 1. Ankara weighs second S-400 battery\n")
    with warehouse.connect(db, read_only=True) as con:
        search.load_fts(con)
        assert search.search_index_layout_problem(con) is None


def _insert(con: object, id_: str, title: str, summary: str, now: datetime) -> None:
    con.execute(  # type: ignore[attr-defined]
        "INSERT INTO articles (id, feed_url, source, url, title, summary, summary_html, "
        "published_at, published_at_known, guid, author, first_seen_at, poll_id) VALUES (?, 'f', 'src', 'u', ?, ?, '', ?, true, NULL, NULL, ?, 'p')",
        [id_, title, summary, now, now],
    )


def test_an_index_over_deleted_articles_is_rebuilt_by_the_extension(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        search.prepare_search_index(con)
        _insert(con, "a", "Frigate launched", "", now)
        _insert(con, "b", "Frigate sinks", "", now)
        assert search.refresh_search_index(con) == 2
        con.execute("DELETE FROM articles WHERE id = 'a'")  # by hand: newswatch never deletes
        _insert(con, "c", "Third frigate ordered", "", now)
        assert search.refresh_search_index(con) == 2
        assert {h.id for h in search.search_articles(con, "frigate")} == {"b", "c"}
        stats = con.execute(f"SELECT num_docs FROM {search.FTS_SCHEMA}.stats").fetchone()
        assert stats == (2,)


def test_search_treats_designations_as_the_matcher_does_and_ranks_topic_matches_first(
    prefect_harness: None, tmp_path: Path
) -> None:
    """A real poll from loopback feeds, then `newswatch search` as a user types it."""
    now = datetime.now(UTC)
    items = [
        # An incidental hit: many words of the query, but no S-400 story (the S-400 topic's
        # rule leaves Mercedes out).
        {
            "title": "Mercedes S 400 review: the S 400 is the quiet S-class",
            "link": "http://cars.example/s400",
            "description": "We drove the Mercedes-Benz S 400 for a week; the S 400 is smooth.",
            "pubDate": now - timedelta(hours=1),
        },
        {
            "title": "Ankara says S400 batteries will be switched on",
            "link": "http://news.example/s400",
            "description": "Turkey's defence minister said the Russian systems are ready.",
            "pubDate": now - timedelta(hours=2),
        },
    ]
    server = FeedServer().start()
    try:
        server.route("/mixed.xml", body=rss("Mixed", items))
        sources = write_sources(tmp_path / "sources.yaml", [(server.url("/mixed.xml"), "Mixed")])
        db = tmp_path / "news.duckdb"
        poll_once(sources, db)
    finally:
        server.stop()
    for query in ("S-400", "S400", "s 400"):
        out = io.StringIO()
        args = ["search", query, "--db", str(db), "--sources", str(sources), "--format", "json"]
        assert cli.main(args, out=out) == 0, query
        hits = json.loads(out.getvalue())
        assert [h["title"] for h in hits] == [
            "Ankara says S400 batteries will be switched on",
            "Mercedes S 400 review: the S 400 is the quiet S-class",
        ], query
        assert hits[0]["topics"] == ["S-400", "Turkey"] and hits[1]["topics"] == []
    out = io.StringIO()
    assert cli.main(["search", "S400", "--db", str(db), "--sources", str(sources)], out=out) == 0
    text = out.getvalue()
    assert "2 results; articles matching S-400 first." in text
    assert "Times are " in text and "UTC" in text


def test_search_topic_names_follow_the_one_rule(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = io.StringIO()
    assert cli.main(["search", "S-400", "--db", str(db), "--topic", "s-400"], out=out) == 0
    assert cli.main(["search", "S-400", "--db", str(db), "--topic", "Brexit"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown topic 'Brexit'" in err
    assert "Turkey, S-400, NATO" in err


def test_the_snippet_comes_from_the_field_the_word_is_in() -> None:
    summary = "Ministers met on Tuesday."
    body = "The talks in Ankara turned to the S-400 batteries Turkey bought in 2019."
    assert best_snippet((summary, body), ["batteri"]) == body
    assert best_snippet((summary, body), ["minist"]) == summary
    # Nowhere (a title hit): the first text there is, passing over a teaser (under 60
    # characters) when the body is there.
    assert best_snippet((summary, body), ["zzz"]) == body
    assert best_snippet((summary, ""), ["zzz"]) == summary
    full = "Ministers met on Tuesday in Ankara to discuss the air-defence deal and its terms."
    assert best_snippet((full, body), ["zzz"]) == full
    assert best_snippet(("", body), ["zzz"]) == body
    assert best_snippet(("", ""), ["zzz"]) == ""


def test_a_quoted_phrase_needs_its_words_in_order_and_a_minus_phrase_leaves_them_out(
    feed_server: FeedServer,
    tmp_path: Path,
    prefect_harness: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    now = datetime.now(UTC)
    items = [
        ("red", "Red Sea shipping attacks resume", "Insurers raise rates for the Red Sea route."),
        ("bass", "Black Sea bass with lemon", "A quick weeknight fish: sea bass, red onion."),
        ("tulips", "Sea of red tulips in Istanbul's parks", "The spring festival opens."),
        ("coast", "Turkish coastguard rescues tanker crew in the Bosphorus", "Ten were saved."),
        ("navy", "Turkish navy escorts grain ships through the Bosphorus", "The convoy left."),
    ]
    entries = [
        {"title": t, "link": f"https://w.example/{i}", "guid": i, "description": d,
         "pubDate": now - timedelta(hours=n)}
        for n, (i, t, d) in enumerate(items)
    ]  # fmt: skip
    feed_server.route("/w.xml", body=rss("Wire", entries))
    sources = write_sources(tmp_path / "sources.yaml", [(feed_server.url("/w.xml"), "Wire")])
    db = tmp_path / "w.duckdb"
    poll_once(sources, db)

    def titles(*terms: str) -> set[str]:
        out = io.StringIO()
        argv = ["search", *terms, "--db", str(db), "--format", "json"]
        assert cli.main(argv, out=out) == 0, out.getvalue()
        return {h["title"] for h in json.loads(out.getvalue())}

    red_sea = {"Red Sea shipping attacks resume"}
    assert len(titles("red sea")) == 3  # the words anywhere
    assert titles('"Red Sea"') == red_sea  # the phrase: those words, in that order
    assert titles("“red sea”") == red_sea  # typographic quotes, any case
    assert titles('"red sea" shipping') == red_sea
    # -"phrase" leaves out the articles with the phrase, not those with either word.
    assert titles('Bosphorus -"Turkish coastguard"') == {
        "Turkish navy escorts grain ships through the Bosphorus"
    }
    assert cli.main(["search", '"Red Sea', "--db", str(db)], out=io.StringIO()) == 2
    assert "a quote is never closed" in capsys.readouterr().err


def test_an_empty_result_says_whether_the_words_or_the_filters_find_nothing(
    feed_server: FeedServer, tmp_path: Path, prefect_harness: None
) -> None:
    now = datetime.now(UTC)
    feed_server.route("/a.xml", body=rss("Athens Wire", [
        {"title": "Mitsotakis meets Erdogan in Ankara", "link": "https://a.example/1",
         "guid": "a1", "description": "Talks on the Aegean.", "pubDate": now}]))  # fmt: skip
    feed_server.route("/b.xml", body=rss("Greek Desk", [
        {"title": "Ferry strike ends in Piraeus", "link": "https://b.example/1",
         "guid": "b1", "description": "Boats sail again.", "pubDate": now}]))  # fmt: skip
    feeds = [(feed_server.url("/a.xml"), "Athens Wire"), (feed_server.url("/b.xml"), "Greek Desk")]
    sources = write_sources(tmp_path / "sources.yaml", feeds, tags={"Greek Desk": ["GR"]})
    db = tmp_path / "w.duckdb"
    poll_once(sources, db)

    def said(*argv: str) -> str:
        out = io.StringIO()
        assert cli.main(["search", *argv, "--db", str(db)], out=out) == 0
        return out.getvalue()

    assert said("Mitsotakis", "--tag", "gr") == (
        "no articles match 'Mitsotakis' with --tag gr; 1 without it\n"
    )
    assert said("Mitsotakis", "--tag", "gr", "--since", "2020-01-01") == (
        "no articles match 'Mitsotakis' with --tag gr --since 2020-01-01; 1 without them\n"
    )
    assert said("Lisbon", "--tag", "gr") == "no articles match 'Lisbon'\n"
