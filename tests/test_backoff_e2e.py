"""Backoff, recovery and Retry-After end to end: a loopback server that fails, real scheduled
(due-only) polls through the real warehouse file, and an injected clock instead of waiting."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from newswatch.config import load_config
from newswatch.models import FeedState
from newswatch.orchestrate import poll
from newswatch.store import spool, warehouse
from tests.feedserver import FeedServer
from tests.helpers import rss, write_sources

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
SIX_HOURS = 6 * 3600.0


def scripted(answers: list[tuple[int, dict[str, str]]], body: bytes) -> Callable[..., None]:
    """A route handler answering the scripted (status, headers) in turn, then 200 + `body`."""
    left = list(answers)

    def handle(h: BaseHTTPRequestHandler) -> None:
        status, headers = left.pop(0) if left else (200, {})
        payload = body if status == 200 else b"try later"
        h._send(status, {"Content-Type": "application/rss+xml", **headers}, payload)  # type: ignore[attr-defined]

    return handle


class Warehouse:
    """Scheduled polls (due_only) of one sources file into one DuckDB file, at chosen times."""

    def __init__(self, sources: Path, db: Path) -> None:
        self.config = load_config(sources)
        self.db = db

    def poll_at(self, at: datetime) -> poll.BatchResult:
        async def run() -> poll.BatchResult:
            states = poll.read_states(self.db).states
            spool_dir = poll.spool_root(self.db)
            poll_id = spool.new_poll_id(at)
            batch = await poll.collect_batch(
                self.config,
                list(self.config.feeds),
                states,
                spool_dir=spool_dir,
                poll_id=poll_id,
                clock=lambda: at,
                due_only=True,
            )
            poll.finish_poll(spool_dir, poll_id, at, at, [batch])
            poll.store(self.db, spool_dir, clock=lambda: at)
            return batch

        return asyncio.run(run())

    def state(self, url: str) -> FeedState:
        """What the warehouse file remembers (a fresh read: it persisted)."""
        with warehouse.connect(self.db, read_only=True) as con:
            return warehouse.load_feed_states(con)[url]

    def articles(self) -> int:
        with warehouse.connect(self.db, read_only=True) as con:
            return len(warehouse.articles_since(con, T0 - timedelta(days=30)))


def items(now: datetime) -> bytes:
    return rss(
        "Wire",
        [
            {"title": f"NATO story {i}", "link": f"https://example.org/{i}", "guid": f"g{i}",
             "pubDate": now - timedelta(hours=i)}
            for i in range(3)
        ],
    )  # fmt: skip


def test_failing_feed_backs_off_growing_to_the_cap_then_recovers(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    failures = 7
    url = feed_server.route("/f.xml", handler=scripted([(500, {})] * failures, items(T0)))
    sources = write_sources(tmp_path / "s.yaml", [(url, "Wire")])
    wh = Warehouse(sources, tmp_path / "wh" / "n.duckdb")

    now, delays = T0, []
    for n in range(1, failures + 1):
        report = wh.poll_at(now).reports[0]
        assert (report.outcome, report.http_status) == ("error", 500)
        state = wh.state(url)
        assert state.consecutive_failures == n
        assert state.next_poll_at is not None and state.last_attempt_at == now
        delays.append((state.next_poll_at - now).total_seconds())
        # Polls before the retry time leave the feed alone: no request, state untouched.
        seen = len(feed_server.requests_for("/f.xml"))
        early = now + timedelta(seconds=delays[-1] / 2)
        assert wh.poll_at(early).reports[0].outcome == "skipped"
        assert len(feed_server.requests_for("/f.xml")) == seen
        assert wh.state(url) == state
        now = state.next_poll_at
    assert len(feed_server.requests_for("/f.xml")) == failures

    # Doubling from the 15-minute interval (plus the URL's fixed jitter of up to 10 %) ...
    assert delays[0] >= 900 and delays[0] <= 990
    for before, after in itertools.pairwise(delays[:5]):
        assert after == pytest.approx(before * 2, abs=0.001)  # times are kept to the µs
    # ... until the 6-hour cap, where it stays: retried forever, never dropped.
    assert delays[-1] == pytest.approx(delays[-2], abs=0.001)
    assert SIX_HOURS <= delays[-1] <= SIX_HOURS * 1.1
    assert wh.articles() == 0

    # The server is back: one poll recovers the feed.
    report = wh.poll_at(now).reports[0]
    assert (report.outcome, report.entries) == ("ok", 3)
    state = wh.state(url)
    assert state.consecutive_failures == 0 and state.last_success_at == now
    assert state.next_poll_at == now + timedelta(seconds=900)  # the normal interval again
    assert wh.articles() == 3


def test_retry_after_is_honoured_over_two_polls(feed_server: FeedServer, tmp_path: Path) -> None:
    # First in seconds, then as an HTTP date, both longer than the backoff would be.
    second_until = T0 + timedelta(seconds=5400 + 7200)
    answers = [
        (429, {"Retry-After": "5400"}),
        (503, {"Retry-After": format_datetime(second_until, usegmt=True)}),
    ]
    url = feed_server.route("/f.xml", handler=scripted(answers, items(T0)))
    sources = write_sources(tmp_path / "s.yaml", [(url, "Wire")])
    wh = Warehouse(sources, tmp_path / "wh" / "n.duckdb")

    assert wh.poll_at(T0).reports[0].http_status == 429
    first = wh.state(url)
    assert first.next_poll_at == T0 + timedelta(seconds=5400)
    assert wh.poll_at(T0 + timedelta(seconds=5000)).reports[0].outcome == "skipped"
    assert len(feed_server.requests_for("/f.xml")) == 1

    at = T0 + timedelta(seconds=5400)
    assert wh.poll_at(at).reports[0].http_status == 503
    second = wh.state(url)
    assert second.consecutive_failures == 2 and second.next_poll_at == second_until
    assert wh.poll_at(second_until - timedelta(minutes=5)).reports[0].outcome == "skipped"
    assert len(feed_server.requests_for("/f.xml")) == 2

    assert wh.poll_at(second_until).reports[0].outcome == "ok"
    assert wh.state(url).consecutive_failures == 0 and wh.articles() == 3
    assert len(feed_server.requests_for("/f.xml")) == 3
