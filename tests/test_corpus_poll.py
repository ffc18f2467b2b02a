"""feedparser's 2,107-fixture corpus served over loopback HTTP through one real poll and a digest.

One poll fetches every fixture (with the response headers its `Header:` lines give) and stores
it; the tests then read the outcome of each fixture back from DuckDB:
- every fixture is either stored or recorded as a feed error with a one-line message;
- for well-formed fixtures the stored articles are exactly the entries feedparser finds;
- the rendered digest of everything stored carries no active content (the sanitisation
  fixtures are the hostile part of the corpus).
"""

from __future__ import annotations

import html.parser
import io
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import duckdb
import feedparser
import pytest

from newswatch import cli
from newswatch.parse.normalise import canonical_url
from tests.conftest import CORPUS
from tests.corpus import Fixture, iter_fixtures
from tests.feedserver import FeedServer
from tests.test_corpus_feedparser import (
    UPSTREAM_EXPECT_FAILURES,
    _applies,
    _expected_title,
    _identity,
)

FIXTURES_ROOT = CORPUS / "feedparser" / "tests"

# Every article with a word or number in its title or summary matches, so that everything the
# poll stores goes on to the digest.
CATCH_ALL_TOPIC = (
    "topics:\n  - name: Everything\n    rules:\n      - any: ["
    + ", ".join(f"'{c}*'" for c in "abcdefghijklmnopqrstuvwxyz0123456789")
    + "]\n"
)


def _header_name(name: str) -> str:
    return "-".join(part.capitalize() for part in name.split("-"))


def _served_headers(fixture: Fixture) -> dict[str, str]:
    # feedparser's own harness served .xml files as application/xml unless told otherwise.
    headers = {"Content-Type": "application/xml"}
    headers.update({_header_name(k): v for k, v in fixture.headers.items()})
    return headers


@dataclass
class CorpusPoll:
    fixtures: list[Fixture]
    url_of: dict[str, str]  # relpath -> served URL
    server: FeedServer
    db: Path
    sources: Path
    seconds: float
    stdout: str


@pytest.fixture(scope="module")
def corpus_poll(
    prefect_harness: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CorpusPoll]:
    fixtures = list(iter_fixtures(FIXTURES_ROOT))
    server = FeedServer().start()
    try:
        url_of: dict[str, str] = {}
        lines = [
            "allow_hosts: [127.0.0.1]",
            # One host serves all 2,107 feeds; a real farm has many hosts.
            "fetch:\n  timeout: 10\n  connect_timeout: 5\n  per_host: 32",
            # max_age_days 0: the fixtures are dated 2003-2006; all of them must reach the digest.
            "digest:\n  max_stories_per_topic: 100000\n  max_age_days: 0\n  html_max_bytes: 0",
            "feeds:",
        ]
        for fixture in fixtures:
            path = "/tests/" + quote(fixture.relpath)
            url_of[fixture.relpath] = server.route(
                path, body=fixture.read_bytes(), headers=_served_headers(fixture), etag=False
            )
            lines.append(f"  - url: {url_of[fixture.relpath]!r}\n    name: {fixture.relpath!r}")
        lines.append(CATCH_ALL_TOPIC)
        tmp = tmp_path_factory.mktemp("corpus-poll")
        sources = tmp / "sources.yaml"
        sources.write_text("\n".join(lines), encoding="utf-8")
        db = tmp / "wh" / "corpus.duckdb"
        out = io.StringIO()
        t0 = time.monotonic()
        status = cli.main(["poll", "--sources", str(sources), "--db", str(db)], out=out)
        seconds = time.monotonic() - t0
        assert status == 0, out.getvalue()[-2000:]
        yield CorpusPoll(fixtures, url_of, server, db, sources, seconds, out.getvalue())
    finally:
        server.stop()


@dataclass(frozen=True)
class FeedRow:
    outcome: str
    error: str | None
    http_status: int | None


def _feed_rows(con: duckdb.DuckDBPyConnection) -> dict[str, FeedRow]:
    rows = con.execute("SELECT url, last_outcome, last_error, last_http_status FROM feeds")
    return {url: FeedRow(o, e, s) for url, o, e, s in rows.fetchall()}


def _reference(fixture: Fixture, url: str, content_type: str) -> Mapping[str, Any]:
    """feedparser's own reading of the fixture as our poll received it."""
    result: Mapping[str, Any] = feedparser.parse(
        io.BytesIO(fixture.read_bytes()),
        response_headers={"content-type": content_type, "content-location": url},
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    return result


def test_every_fixture_is_stored_or_a_recorded_feed_error(corpus_poll: CorpusPoll) -> None:
    cp = corpus_poll
    assert len(cp.fixtures) == 2107
    # Nothing hung: every feed was answered well within one fetch deadline of the others.
    assert len(cp.server.requests) == 2107
    con = duckdb.connect(str(cp.db), read_only=True)
    try:
        feeds = _feed_rows(con)
        logged = dict(
            con.execute("SELECT feed_url, count(*) FROM fetch_log GROUP BY feed_url").fetchall()
        )
        polls = con.execute("SELECT feeds, feeds_failed FROM polls").fetchall()
        stored = dict(
            con.execute("SELECT feed_url, count(*) FROM articles GROUP BY feed_url").fetchall()
        )
    finally:
        con.close()
    assert set(feeds) == set(cp.url_of.values())
    assert all(logged.get(url) == 1 for url in cp.url_of.values())
    errors = {url: row for url, row in feeds.items() if row.outcome == "error"}
    assert polls == [(2107, len(errors))]
    for fixture in cp.fixtures:
        row = feeds[cp.url_of[fixture.relpath]]
        assert row.outcome in ("ok", "error"), (fixture.relpath, row)
        assert row.http_status == 200, (fixture.relpath, row)
        if row.outcome == "error":
            assert row.error and "\n" not in row.error and len(row.error) < 500, row
            assert row.error.startswith("not a feed: "), (fixture.relpath, row.error)
            assert cp.url_of[fixture.relpath] not in stored
    # The summary printed by `newswatch poll` names every failing fixture with its reason.
    for row in errors.values():
        assert row.error is not None and row.error in cp.stdout
    # Only documents feedparser itself flags (ill-formed, bozo, JSON) fail; most are stored.
    failed = {f.relpath for f in cp.fixtures if cp.url_of[f.relpath] in errors}
    assert failed and all(
        not f.is_wellformed or f.path.suffix == ".json" or f.relpath in UPSTREAM_EXPECT_FAILURES
        for f in cp.fixtures
        if f.relpath in failed
    ), sorted(failed)
    assert sum(stored.values()) > 250


def test_entries_feedparser_extracts_are_stored_or_counted_with_a_reason(
    corpus_poll: CorpusPoll,
) -> None:
    """Through a real poll into DuckDB: the entries feedparser extracts from each fixture as
    served, against the articles stored and the skips the fetch log records (with reasons,
    also printed in the poll's summary)."""
    cp = corpus_poll
    con = duckdb.connect(str(cp.db), read_only=True)
    try:
        stored = dict(
            con.execute("SELECT feed_url, count(*) FROM articles GROUP BY feed_url").fetchall()
        )
        logged = {
            url: (outcome, skipped or 0, reasons)
            for url, outcome, skipped, reasons in con.execute(
                "SELECT feed_url, outcome, entries_skipped, skipped_reasons FROM fetch_log"
            ).fetchall()
        }
    finally:
        con.close()
    extracted = kept = skipped = repeats = in_errors = 0
    unaccounted: list[str] = []
    for fixture in cp.fixtures:
        url = cp.url_of[fixture.relpath]
        entries = len(_reference(fixture, url, _served_headers(fixture)["Content-Type"])["entries"])
        outcome, n_skipped, reasons = logged[url]
        extracted += entries
        kept += stored.get(url, 0)
        skipped += n_skipped
        if outcome == "error":
            in_errors += entries
        elif stored.get(url, 0) + n_skipped != entries:
            unaccounted.append(
                f"{fixture.relpath}: {entries} != {stored.get(url, 0)} + {n_skipped}"
            )
        if n_skipped:
            assert reasons and reasons.startswith(f"{n_skipped} skipped: "), reasons
            assert f"entries, {reasons}" in cp.stdout or f"entry, {reasons}" in cp.stdout
            if reasons.endswith("skipped: repeats an earlier entry"):
                repeats += n_skipped
            else:
                repeats += sum(int(n) for n in re.findall(r"(\d+) repeats an earlier", reasons))
    print(
        f"\ncorpus poll: feedparser extracts {extracted} entries from the 2,107 fixtures; "
        f"{kept} stored ({kept / extracted:.2%}); +{repeats} repeating an entry already "
        f"stored ({(kept + repeats) / extracted:.2%}); {skipped} skipped with a reason "
        f"(those {repeats} included); {in_errors} in documents refused as not a feed"
    )
    assert unaccounted == []
    # An entry is in the warehouse when it is stored or repeats one that is (same id).
    assert (kept + repeats) / extracted >= 0.99
    assert kept / extracted >= 0.98


def test_well_formed_fixtures_store_the_entries_feedparser_finds(corpus_poll: CorpusPoll) -> None:
    cp = corpus_poll
    con = duckdb.connect(str(cp.db), read_only=True)
    try:
        feeds = _feed_rows(con)
        articles: dict[str, list[tuple[str | None, str, str]]] = {}
        for feed_url, guid, url, title in con.execute(
            "SELECT feed_url, guid, url, title FROM articles"
        ).fetchall():
            articles.setdefault(feed_url, []).append((guid, url, title))
    finally:
        con.close()
    checked = entries_checked = 0
    problems: list[str] = []
    for fixture in cp.fixtures:
        if not fixture.is_wellformed or fixture.relpath in UPSTREAM_EXPECT_FAILURES:
            continue
        if not _applies(fixture) or fixture.path.suffix == ".json":
            continue
        url = cp.url_of[fixture.relpath]
        row = feeds[url]
        if row.outcome != "ok":
            problems.append(f"{fixture.relpath}: {row.outcome} {row.error}")
            continue
        checked += 1
        content_type = _served_headers(fixture)["Content-Type"]
        reference = _reference(fixture, url, content_type)
        firsts: dict[tuple[str, str], Mapping[str, Any]] = {}
        for entry in reference["entries"]:
            key = _identity(entry, url)
            if key is not None:
                firsts.setdefault(key, entry)
        stored = articles.get(url, [])
        if len(stored) != len(firsts):
            problems.append(f"{fixture.relpath}: stored {len(stored)}, feedparser {len(firsts)}")
            continue
        want = {
            (
                (e.get("id") or "").strip() or None,
                _stored_url(e, url),
                _expected_title(e) or None,
            )
            for e in firsts.values()
        }
        # An entry without a title of its own is stored with one derived from its text.
        untitled = {(g, u) for g, u, t in want if t is None}
        got = {
            (g[:1000] if g else None, u, None if (g, u) in untitled else t) for g, u, t in stored
        }
        entries_checked += len(want)
        if got != want:
            problems.append(f"{fixture.relpath}: stored {sorted(got)} != {sorted(want)}")
    assert problems == []
    assert checked > 1500
    assert entries_checked > 200


def _stored_url(entry: Mapping[str, Any], base: str) -> str:
    """The entry's link; for an entry with no link, guid or title, its enclosure's URL."""
    if entry.get("link"):
        return canonical_url(entry["link"], base)
    if (entry.get("id") or "").strip() or _expected_title(entry):
        return ""
    for enclosure in entry.get("enclosures") or ():
        url = canonical_url(enclosure.get("href") or "", base)
        if url:
            return url
    return ""


class _ActiveContent(html.parser.HTMLParser):
    """Collects anything in rendered HTML that could run, load, submit or track."""

    URL_ATTRS = frozenset({"href", "src", "action", "formaction", "background", "poster", "data"})
    BAD_TAGS = frozenset(
        {"script", "iframe", "frame", "frameset", "object", "embed", "applet", "form", "input",
         "button", "base", "link", "meta", "svg", "math", "audio", "video", "img", "style"}
    )  # fmt: skip

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.links: list[str] = []
        self.head_tags: list[str] = []  # the template's own <head>: metas and its stylesheet
        self.in_head = False

    def handle_endtag(self, tag: str) -> None:
        if tag == "head":
            self.in_head = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "head":
            self.in_head = True
        elif self.in_head:
            self.head_tags.append(tag)
        elif tag in self.BAD_TAGS:
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            value = value or ""
            if name.startswith("on"):
                self.found.append(f"{tag} {name}=")
            if name in ("style",) and any(
                bad in value.lower().replace(" ", "")
                for bad in ("url(", "expression(", "@import", "behavior:", "-moz-binding")
            ):
                self.found.append(f"{tag} style={value!r}")
            if name in self.URL_ATTRS:
                if tag == "a" and name == "href":
                    self.links.append(value)
                elif not value.startswith("#"):
                    self.found.append(f"{tag} {name}={value!r}")


def _active_content(document: str) -> _ActiveContent:
    parser = _ActiveContent()
    parser.feed(document)
    parser.close()
    return parser


_ENTRY_START = re.compile(rb"<(?:entry|item)\b[^>]*>")
_ENTRY_TITLE = re.compile(rb"<(?:entry|item)\b.*?<title", re.DOTALL)


def with_identity(body: bytes, n: int) -> tuple[bytes, int]:
    """The fixture with a guid (and a title, if its entries have none) added to each entry.

    Most sanitisation fixtures have entries with neither link, guid nor title (the poll
    stores them by their content, titled from their text); with a guid and a title of one
    unique word each, no two fixtures are clustered into one story.
    """
    has_title = _ENTRY_TITLE.search(body) is not None
    count = 0

    def add(match: re.Match[bytes]) -> bytes:
        nonlocal count
        count += 1
        extra = f"<guid>urn:newswatch-test:{n}:{count}</guid>"
        if not has_title:
            extra += f"<title>Fixture{n:04d}x{count}</title>"
        return match.group(0) + extra.encode()

    return _ENTRY_START.sub(add, body), count


def test_sanitisation_fixtures_reach_the_digest_only_as_safe_content(
    prefect_harness: None, feed_server: FeedServer, tmp_path: Path
) -> None:
    fixtures = [
        f for f in iter_fixtures(FIXTURES_ROOT) if f.relpath.startswith("wellformed/sanitize/")
    ]
    assert len(fixtures) == 745
    lines = [
        "allow_hosts: [127.0.0.1]",
        "fetch:\n  timeout: 10\n  connect_timeout: 5\n  per_host: 32",
        # max_age_days 0: the fixtures are dated 2003-2006; all of them must reach the digest.
        "digest:\n  max_stories_per_topic: 100000\n  max_age_days: 0\n  html_max_bytes: 0",
        "feeds:",
    ]
    with_entries = 0
    for n, fixture in enumerate(fixtures):
        headers = _served_headers(fixture)
        path = "/tests/" + quote(fixture.relpath)
        url = feed_server.route(path, body=fixture.read_bytes(), headers=headers, etag=False)
        lines.append(f"  - url: {url!r}\n    name: {fixture.relpath!r}")
        body, entries = with_identity(fixture.read_bytes(), n)
        if entries:
            with_entries += 1
            url = feed_server.route("/id" + path, body=body, headers=headers, etag=False)
            lines.append(f"  - url: {url!r}\n    name: {'id/' + fixture.relpath!r}")
    assert with_entries == 580  # the other 165 only have feed-level fields (title, rights...)
    lines.append(CATCH_ALL_TOPIC)
    sources = tmp_path / "sources.yaml"
    sources.write_text("\n".join(lines), encoding="utf-8")
    db = tmp_path / "sanitize.duckdb"
    assert cli.main(["poll", "--sources", str(sources), "--db", str(db)], out=io.StringIO()) == 0
    con = duckdb.connect(str(db), read_only=True)
    try:
        failed = con.execute("SELECT count(*) FROM feeds WHERE last_outcome = 'error'").fetchone()
        with_identity_stored = con.execute(
            "SELECT count(DISTINCT feed_url) FROM articles WHERE source LIKE 'id/%'"
        ).fetchone()
        matched = con.execute("SELECT count(DISTINCT article_id) FROM article_topics").fetchone()
        stored = con.execute("SELECT count(*) FROM articles").fetchone()
        unmatched = con.execute(
            "SELECT title || ' ' || summary FROM articles "
            "WHERE id NOT IN (SELECT article_id FROM article_topics)"
        ).fetchall()
    finally:
        con.close()
    assert failed == (0,)
    assert with_identity_stored == (580,)  # every fixture with entries got into the warehouse
    assert matched is not None and stored is not None
    assert matched[0] > 580
    # Only articles without a single letter or digit escape the catch-all topic.
    assert matched[0] + len(unmatched) == stored[0]
    assert not any(re.search(r"[a-z0-9]", text, re.IGNORECASE) for (text,) in unmatched)

    out_dir = tmp_path / "digests"
    out = io.StringIO()
    argv = ["digest", "--sources", str(sources), "--db", str(db), "--out", str(out_dir)]
    assert cli.main(argv, out=out) == 0
    # Every matched article went into the digest (none dropped on the way).
    assert f"from {matched[0]} matched articles" in out.getvalue()
    [html_file] = out_dir.glob("digest-*.html")
    document = html_file.read_text(encoding="utf-8")
    found = _active_content(document)
    assert found.found == []
    # Feed content never reaches <head>: it holds only the template's metas and one stylesheet.
    assert set(found.head_tags) <= {"meta", "style", "title"}
    assert found.head_tags.count("style") == 1 and found.head_tags.count("title") <= 1
    assert found.links  # the digest does link to articles...
    for link in found.links:  # ...and only over http(s)
        assert urlsplit(link).scheme in ("http", "https"), link
    lowered = document.lower()
    for needle in ("javascript:", "vbscript:", "data:text", "<script", "<iframe", "<form"):
        assert needle not in lowered, needle
    # The hostile text itself is shown (escaped), not dropped: proof that it was rendered.
    # (The catch-all topic highlights every word, so compare the text without the tags.)
    shown = " ".join(re.sub(r"<[^>]+>", "", document).split())
    assert "Did The Javascript Execute?" in shown
    assert document.count("Fixture0") > 400
    text = html_file.with_suffix(".txt").read_text(encoding="utf-8")
    assert "Did The Javascript Execute?" in text


def test_poll_time_is_reported(corpus_poll: CorpusPoll) -> None:
    # Not a speed goal: a bound that catches a hang (each fetch is capped at 10 s anyway).
    print(f"corpus poll: {corpus_poll.seconds:.1f} s for {len(corpus_poll.fixtures)} feeds")
    assert corpus_poll.seconds < 90
    assert "2107 feeds:" in corpus_poll.stdout
