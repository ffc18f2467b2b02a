"""A warehouse populated by a real poll of a loopback feed server, shared by warehouse tests.

Real captured feeds from the corpus plus synthetic feeds (written here) with Turkey / S-400 /
NATO stories published this week, a failing feed and a slow one, so every example query has
rows to return.
"""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from newswatch import cli
from tests.conftest import CORPUS as _CORPUS
from tests.feedserver import FeedServer
from tests.helpers import rss, write_sources

CORPUS = _CORPUS if _CORPUS.is_dir() else Path("/work/shared/corpus")
REAL_FEEDS = (
    ("bbc-world.rss.xml", "BBC World"),
    ("al-monitor.rss.xml", "Al-Monitor"),
    ("dawn-world.rss.xml", "Dawn"),
    ("dw-english-all.rdf.xml", "DW"),
    ("foreignpolicy.rss.xml", "Foreign Policy"),
    ("aljazeera-all.rss.xml", "Al Jazeera"),
)

# Titles the tests look for.
TITLE_HIT = "Ankara weighs second S-400 battery as NATO allies object"
SUMMARY_HIT = "Regional defence roundup for the week"


def synthetic_feeds(now: datetime) -> dict[str, tuple[str, bytes]]:
    """path -> (name, body) of feeds written for these tests, dated relative to `now`."""
    day = timedelta(days=1)
    ankara = rss(
        "Ankara Daily",
        [
            {
                "title": TITLE_HIT,
                "link": "https://ankara.example/s400-second-battery",
                "guid": "ankara-1",
                "description": "Officials in Ankara said talks with Moscow continue; alliance "
                "partners in Brussels warned of consequences.",
                "pubDate": now - timedelta(hours=3),
            },
            {
                "title": "Turkey and NATO hold joint naval drill in the Aegean",
                "link": "https://ankara.example/naval-drill",
                "guid": "ankara-2",
                "description": "Turkish frigates joined NATO ships for a two-day exercise.",
                "pubDate": now - day,
            },
            {
                "title": "Local elections: turnout higher than expected",
                "link": "https://ankara.example/elections",
                "guid": "ankara-3",
                "description": "Municipal races drew record numbers.",
                "pubDate": now - 2 * day,
            },
        ],
    )
    brussels = rss(
        "Brussels Wire",
        [
            {
                "title": "NATO defence ministers meet on air defence gaps",
                "link": "https://brussels.example/nato-ministers",
                "guid": "bw-1",
                "description": "Ministers discussed how the S-400 question affects "
                "integration of Turkish systems.",
                "pubDate": now - timedelta(hours=5),
            },
            {
                "title": "NATO summit communique stresses deterrence",
                "link": "https://brussels.example/summit",
                "guid": "bw-2",
                "description": "Allies agreed on spending targets.",
                "pubDate": now - 3 * day,
            },
        ],
    )
    monitor = rss(
        "Defense Monitor",
        [
            {
                "title": SUMMARY_HIT,
                "link": "https://monitor.example/roundup",
                "guid": "dm-1",
                "description": "Among other items, a long discussion of procurement, budgets, "
                "training, logistics and a brief mention of the S-400 battery that Ankara "
                "bought from Russia, which keeps coming up in talks with Washington.",
                "pubDate": now - 2 * day,
            },
            {
                "title": "Erdogan: S-400 deal is a sovereign decision",
                "link": "https://monitor.example/erdogan-s400",
                "guid": "dm-2",
                "description": "The Turkish president rejected US pressure over the S-400.",
                "pubDate": now - 4 * day,
            },
        ],
    )
    return {
        "/ankara.xml": ("Ankara Daily", ankara),
        "/brussels.xml": ("Brussels Wire", brussels),
        "/monitor.xml": ("Defense Monitor", monitor),
    }


def serve_farm(server: FeedServer, now: datetime) -> list[tuple[str, str]]:
    """Route every feed on `server`; returns (url, name) pairs for the sources file."""
    feeds = []
    for path, (name, body) in synthetic_feeds(now).items():
        server.route(path, body=body)
        feeds.append((server.url(path), name))
    for file, name in REAL_FEEDS:
        server.route(f"/{file}", body=(CORPUS / "realnews" / file).read_bytes())
        feeds.append((server.url(f"/{file}"), name))
    server.route(
        "/500.xml", status=500, body=b"internal error", headers={"Content-Type": "text/plain"}
    )
    feeds.append((server.url("/500.xml"), "Server error"))
    server.route("/slow.xml", body=rss("Slow", []), delay=0.4)
    feeds.append((server.url("/slow.xml"), "Slow feed"))
    return feeds


# Tags of the farm's feeds, by name (sources.yaml `tags:`), for the queries that ask by tag.
FARM_TAGS = {
    "Ankara Daily": ["TR", "regional"],
    "Brussels Wire": ["BE", "wire"],
    "Defense Monitor": ["trade-press"],
    "BBC World": ["GB", "world-desk"],
}


def poll_once(sources: Path, db: Path) -> str:
    out = io.StringIO()
    status = cli.main(["poll", "--sources", str(sources), "--db", str(db)], out=out)
    assert status == 0, out.getvalue()
    return out.getvalue()


def build_populated_db(root: Path) -> Path:
    """Poll the farm once through the real CLI (which also brings the search index up to date)."""
    server = FeedServer().start()
    try:
        feeds = serve_farm(server, datetime.now(UTC))
        sources = write_sources(root / "sources.yaml", feeds, timeout=3, tags=FARM_TAGS)
        db = root / "wh" / "news.duckdb"
        poll_once(sources, db)
    finally:
        server.stop()
    return db


_cache: dict[str, Path] = {}


def populated_db(root_factory: object) -> Path:
    """One populated warehouse per test session (a poll costs a few seconds)."""
    if "db" not in _cache:
        root = root_factory.mktemp("populated")  # type: ignore[attr-defined]
        _cache["db"] = build_populated_db(root)
    return _cache["db"]


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`newswatch ARGS` in its own process, as a user runs it (stderr as the user sees it)."""
    return subprocess.run(
        [sys.executable, "-m", "newswatch.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *names: str) -> None:
    """Exit 2 and exactly one line on stderr that names each of `names`; no traceback."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith("newswatch: error: ") and proc.stderr.count("\n") == 1, (
        proc.stderr
    )
    for name in names:
        assert name in proc.stderr, (name, proc.stderr)


# One story carried by two outlets: the Sahel outlet's report names Wagner, the Greek outlet's
# copy (same headline, so one story cluster) only Mali. Both match "Mali"; only the first
# matches "Wagner".
STORY_TITLE = "Mercenaries leave Mali base after two years"
STORY_TOPICS = "topics:\n  - name: Wagner\n    terms: [Wagner]\n  - name: Mali\n    terms: [Mali]\n"


def serve_one_story_two_outlets(server: FeedServer, now: datetime) -> list[tuple[str, str]]:
    """Route the two outlets' feeds on `server`; returns (url, name) pairs for the sources file."""
    sahel = rss(
        "Sahel Post",
        [
            {
                "title": STORY_TITLE,
                "link": "https://sahel.example/mali-base",
                "guid": "sahel-1",
                "description": "Wagner fighters left the base at Tessalit on Monday.",
                "pubDate": now - timedelta(hours=3),
            }
        ],
    )
    greek = rss(
        "eKathimerini",
        [
            {
                "title": STORY_TITLE,
                "link": "https://ekathimerini.example/mali-base",
                "guid": "ek-1",
                "description": "Russian-backed fighters left the base at Tessalit on Monday.",
                "pubDate": now - timedelta(hours=2),
            }
        ],
    )
    server.route("/sahel.xml", body=sahel)
    server.route("/ekathimerini.xml", body=greek)
    return [
        (server.url("/sahel.xml"), "Sahel Post"),
        (server.url("/ekathimerini.xml"), "eKathimerini (GR)"),
    ]
