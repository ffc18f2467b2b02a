"""Which articles a digest covers: plan_window with an injected clock, and the window over a
real warehouse filled by real poll stages (loopback feeds, injected clocks), sent through a
real SMTP server."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from newswatch.config import Config, load_config
from newswatch.digest import delivery
from newswatch.orchestrate import poll
from newswatch.store import spool
from newswatch.store.warehouse import DigestRecord
from tests.feedserver import FeedServer
from tests.helpers import rss, write_sources
from tests.smtp_helpers import StartServer

IST = "Europe/Istanbul"  # UTC+3 all year
BERLIN = "Europe/Berlin"


def record(status: str, start: datetime, end: datetime, day: date, rid: str = "r") -> DigestRecord:
    return DigestRecord(rid, day, start, end, status, "<m@x>", None, None)


def at(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=UTC)


# -- plan_window (pure) ----------------------------------------------------------------


def test_first_digest_ever_starts_at_local_midnight_and_ends_at_the_last_stored_poll() -> None:
    now = at(2026, 11, 25, 4, 0)  # 07:00 in Istanbul
    window, done = delivery.plan_window(
        now=now, timezone=IST, on_date=None, history=(), stored_up_to=at(2026, 11, 25, 3, 55)
    )
    assert done is None
    assert window.start == at(2026, 11, 24, 21, 0)  # 25 Nov 00:00 Istanbul
    assert window.end == at(2026, 11, 25, 3, 55)  # not "now": only what is committed
    assert (window.date, window.basis) == (date(2026, 11, 25), "first")


def test_a_failed_day_is_carried_into_the_next_digest() -> None:
    sent = record("sent", at(2026, 11, 23, 4), at(2026, 11, 24, 4), date(2026, 11, 24), "a")
    failed = record("failed", at(2026, 11, 24, 4), at(2026, 11, 25, 4), date(2026, 11, 25), "b")
    now = at(2026, 11, 26, 4)
    window, done = delivery.plan_window(
        now=now, timezone=IST, on_date=None, history=(failed, sent), stored_up_to=now
    )
    assert done is None  # the 25th's digest failed: the 26th's is due
    assert window.start == at(2026, 11, 24, 4)  # where the last delivered one ended
    assert window.end == now and window.basis == "since_last"


def test_first_ever_send_failed_is_carried_not_lost() -> None:
    failed = record("failed", at(2026, 11, 24, 21), at(2026, 11, 25, 4), date(2026, 11, 25))
    now = at(2026, 11, 26, 4)
    window, _ = delivery.plan_window(
        now=now, timezone=IST, on_date=None, history=(failed,), stored_up_to=now
    )
    assert window.start == at(2026, 11, 24, 21)  # the failed day's midnight, not the 26th's
    assert window.basis == "carried"


def test_a_delivered_day_keeps_its_window_and_unknown_counts_as_delivered() -> None:
    unknown = record("unknown", at(2026, 11, 24, 4), at(2026, 11, 25, 4), date(2026, 11, 25))
    now = at(2026, 11, 25, 12)
    window, done = delivery.plan_window(
        now=now, timezone=IST, on_date=None, history=(unknown,), stored_up_to=now
    )
    assert done == unknown
    assert (window.start, window.end, window.basis) == (
        unknown.window_start,
        unknown.window_end,
        "delivered",
    )
    # The next day starts where it ended.
    tomorrow, done = delivery.plan_window(
        now=now + timedelta(days=1),
        timezone=IST,
        on_date=None,
        history=(unknown,),
        stored_up_to=now + timedelta(days=1),
    )
    assert done is None and tomorrow.start == unknown.window_end


def test_nothing_stored_yet_is_an_empty_window() -> None:
    now = at(2026, 11, 25, 4)
    window, _ = delivery.plan_window(
        now=now, timezone=IST, on_date=None, history=(), stored_up_to=None
    )
    assert window.start == window.end == at(2026, 11, 24, 21)


@pytest.mark.parametrize(
    ("day", "hours"),
    [
        (date(2026, 3, 29), 23),  # Berlin springs forward: a 23-hour day
        (date(2026, 10, 25), 25),  # and falls back: 25 hours
        (date(2026, 6, 1), 24),
    ],
)
def test_an_explicit_day_is_the_local_calendar_day_across_dst(day: date, hours: int) -> None:
    now = at(2026, 12, 1)
    window, _ = delivery.plan_window(
        now=now, timezone=BERLIN, on_date=day, history=(), stored_up_to=now
    )
    assert window.end - window.start == timedelta(hours=hours)
    assert window.basis == "day"
    assert window.start == delivery.local_midnight(day, BERLIN)


def test_first_digest_on_a_dst_morning_starts_at_that_days_midnight() -> None:
    # 29 Mar 2026 in Berlin: midnight is 23:00 UTC the day before (still winter time).
    now = at(2026, 3, 29, 6)  # 08:00 summer time
    window, _ = delivery.plan_window(
        now=now, timezone=BERLIN, on_date=None, history=(), stored_up_to=now
    )
    assert window.start == at(2026, 3, 28, 23)
    assert window.date == date(2026, 3, 29)


def test_a_midnight_that_does_not_exist_starts_the_day_at_the_transition() -> None:
    # Santiago skipped from 00:00 to 01:00 on 6 Sep 2026: the day starts at 04:00 UTC.
    start = delivery.local_midnight(date(2026, 9, 6), "America/Santiago")
    assert start == at(2026, 9, 6, 4)
    assert delivery.local_midnight(date(2026, 9, 7), "America/Santiago") - start == timedelta(
        hours=23
    )


# -- the window over a real warehouse --------------------------------------------------


def item(n: int, when: datetime, title: str = "") -> dict[str, str | datetime]:
    return {
        "title": title or f"Turkey and NATO story number {n}",
        "link": f"https://news.example/story-{n}",
        "guid": f"story-{n}",
        "description": f"Ankara said something new about NATO ({n}).",
        "pubDate": when,
    }


class Poller:
    """The poll's stages with injected clocks: collect (stamps first_seen_at), store."""

    def __init__(self, server: FeedServer, tmp_path: Path) -> None:
        self.server = server
        self.db = tmp_path / "news.duckdb"
        url = server.route("/feed.xml", body=rss("Desk", []))
        sources = write_sources(tmp_path / "sources.yaml", [(url, "Desk")])
        self.config: Config = load_config(str(sources))
        self.spool = poll.spool_root(self.db)
        self.items: list[dict[str, str | datetime]] = []

    def publish(self, n: int, when: datetime, title: str = "") -> None:
        self.items.append(item(n, when, title))
        self.server.route("/feed.xml", body=rss("Desk", self.items))

    def collect(self, when: datetime) -> None:
        poll_id = spool.new_poll_id(when)
        states = poll.read_states(self.db).states
        batch = asyncio.run(
            poll.collect_batch(
                self.config,
                list(self.config.feeds),
                states,
                spool_dir=self.spool,
                poll_id=poll_id,
                clock=lambda: when,
                processes=1,
            )
        )
        poll.finish_poll(self.spool, poll_id, when, when, [batch])

    def store(self, when: datetime) -> None:
        poll.store(self.db, self.spool, clock=lambda: when)
        poll.refresh(self.db, clock=lambda: when)


Send = Callable[[Poller, datetime], delivery.DigestPlan]


@pytest.fixture
def send_at(start_server: StartServer, tmp_path: Path) -> Send:
    server = start_server()
    from newswatch.digest.mail import SmtpSettings

    smtp = SmtpSettings("127.0.0.1", server.port, "news@example.org", ("desk@example.org",),
                        security="none")  # fmt: skip

    def send(p: Poller, now: datetime) -> delivery.DigestPlan:
        plan = delivery.gather(p.db, p.config, now=now, on_date=None, for_sending=True)
        rendered = delivery.render(plan, p.config, now)
        message = delivery.compose(rendered, smtp, now)
        files = delivery.write_files(rendered, tmp_path / "out", plan.window.date, message)
        delivery.deliver(p.db, plan, rendered, files, message, smtp, now)
        return plan

    return send


def titles(plan: delivery.DigestPlan) -> list[str]:
    return sorted(i.article.title for i in plan.items)


def test_articles_committed_after_a_digest_read_are_in_the_next_digest(
    feed_server: FeedServer, tmp_path: Path, send_at: Send
) -> None:
    p = Poller(feed_server, tmp_path)
    day1 = at(2026, 11, 25, 4)  # 07:00 in the configured (machine) zone is irrelevant here
    p.publish(1, day1 - timedelta(hours=2))
    p.collect(day1 - timedelta(hours=1))
    p.store(day1 - timedelta(minutes=50))
    # A poll starts before the digest and commits after it: its articles are stamped
    # first_seen_at = 06:55, before the digest's moment, but were not readable then.
    p.publish(2, day1 - timedelta(minutes=30))
    p.collect(day1 - timedelta(minutes=5))
    first = send_at(p, day1)
    assert titles(first) == ["Turkey and NATO story number 1"]
    p.store(day1 + timedelta(minutes=2))

    second = send_at(p, day1 + timedelta(days=1))
    assert titles(second) == ["Turkey and NATO story number 2"]
    con = duckdb.connect(str(p.db), read_only=True)
    try:
        statuses = con.execute("SELECT status FROM digests ORDER BY created_at").fetchall()
    finally:
        con.close()
    assert statuses == [("sent",), ("sent",)]


def test_backlog_published_long_before_the_window_is_left_out_and_counted(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    p = Poller(feed_server, tmp_path)
    now = at(2026, 11, 25, 4)
    p.publish(1, now - timedelta(hours=3))
    p.publish(2, datetime(2020, 1, 5, tzinfo=UTC), "Turkey and NATO story from 2020")
    p.publish(3, now - timedelta(days=6))
    p.collect(now - timedelta(minutes=10))
    p.store(now - timedelta(minutes=9))
    plan = delivery.gather(p.db, p.config, now=now, on_date=None, for_sending=False)
    assert titles(plan) == ["Turkey and NATO story number 1", "Turkey and NATO story number 3"]
    assert plan.too_old == 1 and plan.max_age_days == 7
    rendered = delivery.render(plan, p.config, now)
    assert "1 older article (published over 7 days earlier) left out" in rendered.text
    assert "1 older article (published over 7 days earlier) left out" in rendered.html
