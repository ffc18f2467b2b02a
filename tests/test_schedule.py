"""Schedule decisions with injected clocks: no sleeping, no wall clock."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from newswatch.errors import ScheduleError
from newswatch.models import FeedSource, FeedState, FetchOutcome, FetchResult
from newswatch.orchestrate.schedule import (
    RECENT_ITEMS,
    FeedDecider,
    PollPolicy,
    cadence_of,
    describe_spec,
    feed_health,
    gone_quiet,
    items_per_day,
    local_timezone_name,
    next_fire_times,
    policy_for_schedule,
    resolve_timezone,
)

URL = "https://news.example.org/feed.xml"
NOW = datetime(2026, 5, 4, 10, 7, 13, tzinfo=UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def local_hm(times: list[datetime], zone: str) -> set[tuple[int, int]]:
    return {(t.astimezone(ZoneInfo(zone)).hour, t.astimezone(ZoneInfo(zone)).minute) for t in times}


# -- cron across DST -------------------------------------------------------------------------


def test_daily_cron_in_berlin_across_spring_forward() -> None:
    fires = next_fire_times("0 7 * * *", "Europe/Berlin", utc(2026, 3, 27), count=4)
    # CET is UTC+1, CEST (from 2026-03-29 02:00 local) is UTC+2.
    assert fires == [
        utc(2026, 3, 27, 6),
        utc(2026, 3, 28, 6),
        utc(2026, 3, 29, 5),
        utc(2026, 3, 30, 5),
    ]
    assert local_hm(fires, "Europe/Berlin") == {(7, 0)}
    assert all(t.tzinfo is UTC for t in fires)


def test_daily_cron_in_berlin_across_fall_back() -> None:
    fires = next_fire_times("0 7 * * *", "Europe/Berlin", utc(2026, 10, 23), count=4)
    assert fires == [
        utc(2026, 10, 23, 5),
        utc(2026, 10, 24, 5),
        utc(2026, 10, 25, 6),
        utc(2026, 10, 26, 6),
    ]
    assert local_hm(fires, "Europe/Berlin") == {(7, 0)}


def test_daily_cron_in_new_york_across_both_changes() -> None:
    spring = next_fire_times("0 7 * * *", "America/New_York", utc(2026, 3, 7), count=3)
    assert spring == [utc(2026, 3, 7, 12), utc(2026, 3, 8, 11), utc(2026, 3, 9, 11)]
    fall = next_fire_times("0 7 * * *", "America/New_York", utc(2026, 10, 31), count=3)
    assert fall == [utc(2026, 10, 31, 11), utc(2026, 11, 1, 12), utc(2026, 11, 2, 12)]


def test_daily_cron_in_istanbul_has_no_dst() -> None:
    for start in (utc(2026, 3, 27), utc(2026, 10, 23), utc(2026, 3, 6), utc(2026, 10, 30)):
        fires = next_fire_times("0 7 * * *", "Europe/Istanbul", start, count=4)
        assert [t - start for t in fires] == [timedelta(days=d, hours=4) for d in range(4)]


def test_daily_cron_fires_once_every_local_day_for_a_whole_year() -> None:
    fires = next_fire_times("0 7 * * *", "Europe/Berlin", utc(2025, 12, 31, 12), count=365)
    berlin = [t.astimezone(ZoneInfo("Europe/Berlin")) for t in fires]
    assert [d.date() for d in berlin] == [
        (datetime(2026, 1, 1) + timedelta(days=i)).date() for i in range(365)
    ]
    assert {(d.hour, d.minute) for d in berlin} == {(7, 0)}
    assert {d.utcoffset() for d in berlin} == {timedelta(hours=1), timedelta(hours=2)}


def test_cron_time_skipped_by_spring_forward_fires_when_the_clock_jumps() -> None:
    fires = next_fire_times("30 2 * * *", "Europe/Berlin", utc(2026, 3, 28), count=3)
    # 02:30 does not exist on 2026-03-29; it fires once at 03:00 CEST = 01:00Z.
    assert fires == [utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1), utc(2026, 3, 30, 0, 30)]
    ny = next_fire_times("30 2 * * *", "America/New_York", utc(2026, 3, 8), count=1)
    assert ny == [utc(2026, 3, 8, 7)]  # 03:00 EDT
    assert ny[0].astimezone(ZoneInfo("America/New_York")).hour == 3


def test_cron_time_repeated_by_fall_back_fires_once() -> None:
    fires = next_fire_times("30 2 * * *", "Europe/Berlin", utc(2026, 10, 24, 12), count=2)
    assert fires == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]  # first occurrence (CEST)
    # Between the two occurrences of 02:30 the next fire is the following day.
    between = next_fire_times("30 2 * * *", "Europe/Berlin", utc(2026, 10, 25, 0, 45), count=1)
    assert between == [utc(2026, 10, 26, 1, 30)]


def test_wildcard_hour_cron_keeps_real_time_spacing_across_dst() -> None:
    fall = next_fire_times("*/30 * * * *", "Europe/Berlin", utc(2026, 10, 24, 23), count=8)
    assert [b - a for a, b in itertools.pairwise(fall)] == [timedelta(minutes=30)] * 7
    spring = next_fire_times("*/30 * * * *", "Europe/Berlin", utc(2026, 3, 29), count=4)
    # 02:00 and 02:30 local do not exist: both collapse into the jump at 03:00 CEST.
    assert spring == [
        utc(2026, 3, 29, 0, 30),
        utc(2026, 3, 29, 1),
        utc(2026, 3, 29, 1, 30),
        utc(2026, 3, 29, 2),
    ]


def test_fire_times_are_strictly_after() -> None:
    at_seven = datetime(2026, 5, 4, 7, tzinfo=ZoneInfo("Europe/Istanbul"))
    assert next_fire_times("0 7 * * *", "Europe/Istanbul", at_seven) == [utc(2026, 5, 5, 4)]
    assert next_fire_times(900, "", utc(2026, 5, 4, 10, 15)) == [utc(2026, 5, 4, 10, 30)]


# -- intervals -------------------------------------------------------------------------------


def test_interval_fires_on_quarter_hour_boundaries() -> None:
    fires = next_fire_times(900, "Europe/Berlin", NOW, count=4)
    assert fires == [
        utc(2026, 5, 4, 10, 15),
        utc(2026, 5, 4, 10, 30),
        utc(2026, 5, 4, 10, 45),
        utc(2026, 5, 4, 11),
    ]
    # Anchored to the epoch, not to the zone or to `after`: the same grid from anywhere.
    assert next_fire_times("15m", "America/New_York", NOW, count=4) == fires
    assert next_fire_times(900, "", NOW + timedelta(minutes=3), count=3) == fires[:3]


def test_odd_interval_is_anchored_to_the_epoch() -> None:
    fires = next_fire_times(7, "", NOW, count=5)
    assert all(t.timestamp() % 7 == 0 for t in fires)
    assert fires[0] - NOW <= timedelta(seconds=7)
    assert [b - a for a, b in itertools.pairwise(fires)] == [timedelta(seconds=7)] * 4


def test_bad_inputs_are_specific_errors() -> None:
    with pytest.raises(ScheduleError, match="cron"):
        next_fire_times("every morning", "", NOW)
    with pytest.raises(ScheduleError, match="at least 1 second"):
        next_fire_times(0, "", NOW)
    with pytest.raises(ScheduleError, match="unknown time zone 'Mars/Olympus'"):
        next_fire_times("0 7 * * *", "Mars/Olympus", NOW)
    with pytest.raises(ValueError, match="timezone-aware"):
        next_fire_times(900, "", datetime(2026, 5, 4))
    assert next_fire_times(900, "", NOW, count=0) == []


# -- time zone discovery ---------------------------------------------------------------------


def test_local_timezone_from_env(tmp_path: Path) -> None:
    nothing = tmp_path / "missing"
    kw = {"localtime": nothing, "timezone_file": nothing}
    assert local_timezone_name(environ={"TZ": "Europe/Istanbul"}, **kw) == "Europe/Istanbul"
    assert local_timezone_name(environ={"TZ": ":Europe/Berlin"}, **kw) == "Europe/Berlin"
    assert (
        local_timezone_name(environ={"TZ": "/usr/share/zoneinfo/Asia/Tokyo"}, **kw) == "Asia/Tokyo"
    )
    assert local_timezone_name(environ={}, **kw) == "UTC"
    assert local_timezone_name(environ={"TZ": "Nowhere/Special"}, **kw) == "UTC"


def test_local_timezone_from_localtime_link_then_timezone_file(tmp_path: Path) -> None:
    link = tmp_path / "localtime"
    link.symlink_to("/usr/share/zoneinfo/posix/America/New_York")
    missing = tmp_path / "missing"
    assert (
        local_timezone_name(environ={}, localtime=link, timezone_file=missing) == "America/New_York"
    )
    relative = tmp_path / "etc" / "localtime"
    relative.parent.mkdir()
    relative.symlink_to("../usr/share/zoneinfo/Europe/Istanbul")
    assert (
        local_timezone_name(environ={}, localtime=relative, timezone_file=missing)
        == "Europe/Istanbul"
    )
    tz_file = tmp_path / "timezone"
    tz_file.write_text("Europe/Paris\n")
    assert (
        local_timezone_name(environ={}, localtime=missing, timezone_file=tz_file) == "Europe/Paris"
    )


def test_resolve_timezone_empty_means_local(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    assert resolve_timezone("") == ZoneInfo("Asia/Tokyo")
    assert resolve_timezone("Europe/Istanbul") == ZoneInfo("Europe/Istanbul")
    # A cron in the machine's zone follows it.
    assert next_fire_times("0 7 * * *", "", utc(2026, 5, 4)) == [utc(2026, 5, 4, 22)]


# -- descriptions ----------------------------------------------------------------------------


def test_describe_spec() -> None:
    assert describe_spec(900) == "every 15 minutes"
    assert describe_spec(60) == "every minute"
    assert describe_spec(3600) == "every hour"
    assert describe_spec(7200) == "every 2 hours"
    assert describe_spec(90) == "every 90 seconds"
    assert describe_spec("1d") == "every day"
    assert describe_spec("0 7 * * *") == "at 07:00 daily (cron '0 7 * * *')"
    assert describe_spec("30 6 * * 1-5") == "at 06:30 on weekdays (cron '30 6 * * 1-5')"
    assert describe_spec("*/10 * * * *") == "every 10 minutes (cron '*/10 * * * *')"
    assert describe_spec("5 * * * *") == "hourly at :05 (cron '5 * * * *')"
    assert describe_spec("0 7 1 * *") == "cron '0 7 1 * *'"
    assert (
        describe_spec("0 7 * * *", "Europe/Istanbul")
        == "at 07:00 daily, Europe/Istanbul time (cron '0 7 * * *')"
    )


def test_policy_for_schedule_uses_the_cron_gap() -> None:
    assert policy_for_schedule(600, "", NOW).base_interval == 600
    assert policy_for_schedule("0 * * * *", "Europe/Berlin", NOW).base_interval == 3600
    assert policy_for_schedule("*/20 * * * *", "", NOW, min_interval=30).min_interval == 30


# -- polling decisions -----------------------------------------------------------------------


def result(outcome: FetchOutcome, at: datetime = NOW, **kw: object) -> FetchResult:
    status = {"ok": 200, "not_modified": 304, "error": 500}[outcome]
    kw.setdefault("http_status", status)
    return FetchResult(feed_url=URL, outcome=outcome, started_at=at, duration_ms=120.0, **kw)  # type: ignore[arg-type]


def decider(
    state: FeedState | None = None,
    now: datetime = NOW,
    source: FeedSource | None = None,
    policy: PollPolicy | None = None,
) -> FeedDecider:
    return FeedDecider(
        source=source or FeedSource(url=URL, name="Example"),
        state=state or FeedState(url=URL),
        policy=policy or PollPolicy(),
        now=now,
    )


def test_is_due() -> None:
    assert decider().is_due()
    assert decider(FeedState(url=URL, next_poll_at=NOW)).is_due()
    assert decider(FeedState(url=URL, next_poll_at=NOW - timedelta(hours=1))).is_due()
    assert not decider(FeedState(url=URL, next_poll_at=NOW + timedelta(minutes=5))).is_due()
    # A few seconds early still counts: the previous run polled this feed a little after its start.
    assert decider(FeedState(url=URL, next_poll_at=NOW + timedelta(seconds=10))).is_due()
    disabled = FeedSource(url=URL, name="Example", enabled=False)
    assert not decider(source=disabled).is_due()


def test_success_schedules_the_normal_interval_and_stores_validators() -> None:
    failing = FeedState(
        url=URL, etag='"old"', consecutive_failures=3, last_success_at=utc(2026, 5, 1)
    )
    started = NOW - timedelta(seconds=2)
    new = decider(failing).after_fetch(
        result(
            "ok",
            started,
            etag='"v2"',
            last_modified="Mon, 04 May 2026 09:00:00 GMT",
            body_sha256="abc",
        ),
        new_items=4,
    )
    assert new.consecutive_failures == 0
    assert new.etag == '"v2"'
    assert new.last_modified == "Mon, 04 May 2026 09:00:00 GMT"
    assert new.body_sha256 == "abc"
    assert new.last_attempt_at == started
    assert new.last_success_at == started
    assert new.next_poll_at == NOW + timedelta(seconds=900)
    assert new.url == URL


def test_200_without_etag_drops_the_stale_one() -> None:
    state = FeedState(url=URL, etag='"old"', last_modified="yesterday", body_sha256="abc")
    new = decider(state).after_fetch(result("ok", body_sha256="def"), 1)
    assert new.etag is None
    assert new.last_modified is None
    assert new.body_sha256 == "def"


def test_not_modified_keeps_validators() -> None:
    state = FeedState(
        url=URL, etag='"v1"', last_modified="Sun, 03 May 2026 10:00:00 GMT", body_sha256="abc"
    )
    new = decider(state).after_fetch(result("not_modified"), 0)
    assert (new.etag, new.last_modified, new.body_sha256) == ('"v1"', state.last_modified, "abc")
    assert new.last_success_at == NOW
    assert new.next_poll_at == NOW + timedelta(seconds=900)
    refreshed = decider(state).after_fetch(result("not_modified", etag='"v1b"'), 0)
    assert refreshed.etag == '"v1b"'
    assert refreshed.body_sha256 == "abc"


def test_error_keeps_validators_and_counts_the_failure() -> None:
    state = FeedState(
        url=URL, etag='"v1"', last_modified="lm", body_sha256="abc", last_success_at=utc(2026, 5, 1)
    )
    new = decider(state).after_fetch(result("error", error="HTTP 500", error_kind="http_status"), 0)
    assert (new.etag, new.last_modified, new.body_sha256) == ('"v1"', "lm", "abc")
    assert new.consecutive_failures == 1
    assert new.last_success_at == utc(2026, 5, 1)
    assert new.last_attempt_at == NOW


def test_per_feed_interval_override() -> None:
    slow = FeedSource(url=URL, name="Slow", interval_seconds=3600)
    assert decider(source=slow).after_fetch(result("ok"), 0).next_poll_at == NOW + timedelta(
        hours=1
    )
    too_fast = FeedSource(url=URL, name="Fast", interval_seconds=5)
    assert decider(source=too_fast).after_fetch(result("ok"), 0).next_poll_at == NOW + timedelta(
        seconds=60
    )


def test_cache_control_max_age_stretches_the_interval_up_to_a_cap() -> None:
    def next_after(max_age: float) -> timedelta:
        polled = decider().after_fetch(result("ok", max_age_seconds=max_age), 0).next_poll_at
        assert polled is not None
        return polled - NOW

    assert next_after(7200) == timedelta(hours=2)
    assert next_after(60) == timedelta(minutes=15)  # shorter than our interval: ours wins
    assert next_after(30 * 86400) == timedelta(hours=6)  # absurd max-age: capped
    not_modified = decider().after_fetch(result("not_modified", max_age_seconds=1800), 0)
    assert not_modified.next_poll_at == NOW + timedelta(minutes=30)


def fail_repeatedly(
    times: int, url: str = URL, policy: PollPolicy | None = None
) -> tuple[list[float], FeedState, datetime]:
    """Fail `times` polls in a row, each at the moment the previous one scheduled; return delays."""
    state, now, delays = FeedState(url=url), NOW, []
    source = FeedSource(url=url, name="Example")
    for _ in range(times):
        d = decider(state, now, source, policy)
        assert d.is_due()
        state = d.after_fetch(result("error", now), 0)
        assert state.next_poll_at is not None
        delays.append((state.next_poll_at - now).total_seconds())
        now = state.next_poll_at
    return delays, state, now


def test_backoff_grows_until_the_cap_then_recovers_after_success() -> None:
    policy = PollPolicy()
    delays, state, now = fail_repeatedly(12)
    assert state.consecutive_failures == 12
    jitter = 1 + policy.jitter_fraction
    assert 900 <= delays[0] <= 900 * jitter
    capped_from = next(i for i, d in enumerate(delays) if d >= policy.max_backoff)
    assert capped_from == 5  # 900 * 2**5 = 28800 > 21600 (the 6th failure)
    assert all(b == pytest.approx(2 * a) for a, b in itertools.pairwise(delays[:capped_from]))
    assert all(a < b for a, b in itertools.pairwise(delays[: capped_from + 1]))
    assert all(policy.max_backoff <= d <= policy.max_backoff * jitter for d in delays[capped_from:])
    assert len(set(delays[capped_from:])) == 1
    recovered = decider(state, now).after_fetch(result("ok", now), 3)
    assert recovered.consecutive_failures == 0
    assert recovered.next_poll_at == now + timedelta(seconds=900)
    again = decider(recovered, now + timedelta(seconds=900)).after_fetch(result("error"), 0)
    assert again.consecutive_failures == 1


def test_backoff_jitter_is_deterministic_and_spreads_feeds() -> None:
    a1, _, _ = fail_repeatedly(3, "https://a.example/feed")
    a2, _, _ = fail_repeatedly(3, "https://a.example/feed")
    b, _, _ = fail_repeatedly(3, "https://b.example/feed")
    assert a1 == a2
    assert a1 != b


def test_failing_slow_feed_is_not_polled_more_often_than_a_healthy_one() -> None:
    daily = FeedSource(url=URL, name="Daily", interval_seconds=86400)
    new = decider(source=daily).after_fetch(result("error"), 0)
    assert new.next_poll_at is not None
    assert new.next_poll_at - NOW >= timedelta(days=1)


def test_retry_after_is_honoured_and_capped() -> None:
    limited = decider().after_fetch(result("error", http_status=429, retry_after_seconds=7200), 0)
    assert limited.next_poll_at == NOW + timedelta(hours=2)
    absurd = decider().after_fetch(
        result("error", http_status=503, retry_after_seconds=365 * 86400), 0
    )
    assert absurd.next_poll_at == NOW + timedelta(hours=24)
    # A short Retry-After never shortens the backoff of a feed that keeps failing.
    _, state, now = fail_repeatedly(8)
    short = decider(state, now).after_fetch(
        result("error", now, http_status=429, retry_after_seconds=5), 0
    )
    assert short.next_poll_at is not None
    assert short.next_poll_at - now >= timedelta(seconds=PollPolicy().max_backoff)


@given(
    failures=st.integers(min_value=1, max_value=5000),
    interval=st.floats(min_value=1, max_value=3 * 86400, allow_nan=False),
    url=st.text(min_size=1, max_size=40),
)
def test_backoff_is_bounded_and_non_decreasing(failures: int, interval: float, url: str) -> None:
    policy = PollPolicy(base_interval=interval)
    source = FeedSource(url=url, name="x")

    def delay(n: int) -> float:
        state = FeedState(url=url, consecutive_failures=n - 1)
        new = FeedDecider(source, state, policy, NOW).after_fetch(result("error"), 0)
        assert new.consecutive_failures == n
        assert new.next_poll_at is not None
        return (new.next_poll_at - NOW).total_seconds()

    upper = max(policy.max_backoff, interval) * (1 + policy.jitter_fraction) + 1e-6
    d = delay(failures)
    assert policy.min_interval <= d <= upper
    assert d <= delay(failures + 1)


# -- health ----------------------------------------------------------------------------------


def hourly(count: int, newest: datetime) -> list[datetime]:
    return [newest - timedelta(hours=i) for i in range(count)]


def quiet(times: list[datetime], now: datetime = NOW) -> bool:
    return gone_quiet(cadence_of(times, now), now)


def rate(times: list[datetime], now: datetime = NOW, days: int = 7) -> float:
    return items_per_day(cadence_of(times, now, days=days), now)


def test_gone_quiet() -> None:
    # Hourly feed silent for three days: quiet.
    assert quiet(hourly(48, NOW - timedelta(days=3)))
    # Hourly feed with a fresh item: not quiet; silent for a day (> 4 gaps, < min_quiet): not quiet.
    assert not quiet(hourly(48, NOW - timedelta(hours=1)))
    assert not quiet(hourly(48, NOW - timedelta(days=1)))
    weekly = [NOW - timedelta(days=3) - timedelta(weeks=i) for i in range(10)]
    assert not quiet(weekly)  # its usual gap is a week
    weekly_long_ago = [t - timedelta(days=26) for t in weekly]
    assert quiet(weekly_long_ago)  # 29 days > 4 weeks
    # Too little history is never quiet.
    assert not quiet(hourly(3, NOW - timedelta(days=30)))
    assert not quiet([])
    # Order of input does not matter.
    assert quiet(list(reversed(hourly(48, NOW - timedelta(days=3)))))


def test_gone_quiet_has_no_horizon() -> None:
    """Silence is measured from the newest item however old it is: a feed quiet for a month,
    two months or a year stays quiet (a window over recent items would call it ok)."""
    for silent_days in (31, 61, 365):
        assert quiet(hourly(48, NOW - timedelta(days=silent_days))), silent_days
        daily = [NOW - timedelta(days=silent_days + i) for i in range(20)]
        assert quiet(daily), silent_days
    # Only the newest RECENT_ITEMS items define the rhythm: an old slow past does not hide
    # that a feed which became hourly has now stopped.
    became_hourly = hourly(RECENT_ITEMS, NOW - timedelta(days=3))
    slow_past = [NOW - timedelta(days=100 + 7 * i) for i in range(60)]
    assert quiet(became_hourly + slow_past)
    # Over all 110 items the median gap would be a week, and 3 days of silence nothing.
    assert not gone_quiet(cadence_of(became_hourly + slow_past, NOW, recent=200), NOW)


def test_weekly_feed_is_judged_in_weeks() -> None:
    # Five weekly items span 28 days: in a 30-day window that is all the history there is.
    weekly = [NOW - timedelta(days=2) - timedelta(weeks=i) for i in range(5)]
    assert not quiet(weekly)
    assert not quiet([t - timedelta(days=20) for t in weekly])  # 22 days < 4 weeks
    assert quiet([t - timedelta(days=29) for t in weekly])  # 31 days > 4 weeks
    assert quiet([t - timedelta(days=59) for t in weekly])  # 61 days
    # Four items are too few to know a rhythm.
    assert not quiet([t - timedelta(days=59) for t in weekly[:4]])


def test_future_dates_count_as_now() -> None:
    ahead = [*hourly(48, NOW - timedelta(days=3)), NOW + timedelta(hours=3)]
    assert not quiet(ahead)  # a publisher whose clock runs ahead just published
    assert cadence_of(ahead, NOW).newest == NOW


def test_items_per_day() -> None:
    recent = [NOW - timedelta(hours=12 * i) for i in range(14)]  # 14 items in the last 7 days
    old = [NOW - timedelta(days=8), NOW - timedelta(days=30)]
    assert rate(recent + old, NOW) == 2.0
    assert rate(recent + old + [NOW + timedelta(days=1)], NOW) == 15 / 7  # future = now
    assert rate(recent, NOW, days=1) == 2.0
    assert rate([], NOW) == 0.0
    # History younger than the window: the rate is over the span since the oldest item.
    assert rate(recent, NOW) == pytest.approx(14 / 6.5)
    assert rate([NOW - timedelta(minutes=1), NOW], NOW) == 2.0  # at least one day
    # The rate counts every item of the window, not only the RECENT_ITEMS newest.
    busy = [NOW - timedelta(minutes=30 * i) for i in range(7 * 48)]
    assert rate(busy, NOW) == pytest.approx(48, rel=0.01)


def test_feed_health() -> None:
    source = FeedSource(url=URL, name="Example")
    never = feed_health(source, None, None, cadence_of([], NOW), NOW)
    assert never.status == "never_polled"
    assert never.name == "Example"
    fresh = hourly(30, NOW - timedelta(minutes=20))
    polled = FeedState(
        url=URL, last_attempt_at=NOW, last_success_at=NOW, next_poll_at=NOW + timedelta(minutes=15)
    )
    ok = feed_health(source, polled, "HTTP 500 (old)", cadence_of(fresh, NOW), NOW)
    assert ok.status == "ok"
    assert ok.last_error is None
    assert ok.items_per_day == pytest.approx(30 / (29 + 1 / 3) * 24)  # 30 items over 29h20m
    assert ok.next_poll_at == polled.next_poll_at
    failing_state = FeedState(
        url=URL,
        consecutive_failures=1,
        last_attempt_at=NOW,
        last_success_at=NOW - timedelta(hours=1),
    )
    failing = feed_health(source, failing_state, "HTTP 404 Not Found", cadence_of(fresh, NOW), NOW)
    assert failing.status == "failing"
    assert failing.last_error == "HTTP 404 Not Found"
    assert failing.consecutive_failures == 1
    silent = hourly(30, NOW - timedelta(days=3))
    quiet_feed = feed_health(source, polled, None, cadence_of(silent, NOW), NOW)
    assert quiet_feed.status == "quiet"
    assert quiet_feed.items_per_day == pytest.approx(30 / (72 + 29) * 24)
    assert quiet_feed.last_item_at == NOW - timedelta(days=3)


@pytest.mark.parametrize("name", ["Etc/UTC", "Etc/Universal", "Zulu", "UTC"])
def test_utc_is_called_utc_whatever_name_the_machine_gives_it(name: str) -> None:
    from newswatch.orchestrate.schedule import resolve_timezone

    assert resolve_timezone(name).key == "UTC"
    assert resolve_timezone("Europe/Istanbul").key == "Europe/Istanbul"
