"""When to poll each feed: fire times, backoff, politeness and feed health.

Pure decision code: every function takes the clock (`now`, `after`) as a value and returns
values, so all of it is testable with injected times. Nothing here sleeps, reads the wall
clock or talks to the network.

Schedules (`schedule.poll`, `schedule.digest` in sources.yaml) are either
- an interval in seconds, anchored to the Unix epoch: 900 fires at :00/:15/:30/:45 UTC, so a
  restart never shifts the grid; or
- a 5-field cron string evaluated on the wall clock of a time zone. DST rules:
  * a wall time skipped by spring-forward (02:30 on a day the clock jumps 02:00 -> 03:00) fires
    once, at the moment the clock jumps (03:00 local): the run is late, never lost;
  * a wall time that occurs twice at fall-back fires once, at its first occurrence — unless the
    hour field starts with `*` ("*/15 * * * *", "0 * * * *"): such a job is about elapsed time,
    not an appointment, so it fires at both occurrences (as Vixie cron does).
"""

from __future__ import annotations

import hashlib
import itertools
import math
import os
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from newswatch.config import parse_duration
from newswatch.errors import ScheduleError
from newswatch.models import FeedCadence, FeedHealth, FeedSource, FeedState, FetchResult

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# -- time zones -----------------------------------------------------------------------------


def _is_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _zone_from_path(path: str) -> str | None:
    """'/usr/share/zoneinfo/Europe/Berlin' -> 'Europe/Berlin' (also under posix/ or right/)."""
    marker = "zoneinfo/"
    if marker not in path:
        return None
    name = path.rsplit(marker, 1)[1]
    for prefix in ("posix/", "right/"):
        name = name.removeprefix(prefix)
    return name if name and _is_zone(name) else None


def local_timezone_name(
    *,
    environ: Mapping[str, str] | None = None,
    localtime: Path = Path("/etc/localtime"),
    timezone_file: Path = Path("/etc/timezone"),
) -> str:
    """The machine's IANA zone: $TZ, else the /etc/localtime link, else /etc/timezone, else UTC.

    The keyword arguments exist so tests can point at a fake environment and files.
    """
    env = os.environ if environ is None else environ
    tz = env.get("TZ", "").strip().removeprefix(":")
    if tz:
        if _is_zone(tz):
            return tz
        from_path = _zone_from_path(tz) if tz.startswith("/") else None
        if from_path:
            return from_path
    try:
        # Follow one link only: the first target is the name the admin chose
        # (a full resolve could turn Europe/Istanbul into its alias Asia/Istanbul).
        target = os.readlink(localtime)
    except OSError:
        target = ""
    if target:
        name = _zone_from_path(str(localtime.parent / target))
        if name:
            return name
    try:
        name = timezone_file.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        name = ""
    if name and _is_zone(name):
        return name
    return "UTC"


# Other names of UTC: a machine set to UTC often reports "Etc/UTC"; digests and commands say
# "UTC" whichever name reached them.
_UTC_ALIASES = frozenset(
    {"Etc/UTC", "Etc/UCT", "Etc/Universal", "Etc/Zulu", "UCT", "Universal", "Zulu", "Etc/GMT+0",
     "Etc/GMT-0", "Etc/GMT0", "Etc/Greenwich", "GMT0"}
)  # fmt: skip


def resolve_timezone(name: str) -> ZoneInfo:
    """An IANA name to a ZoneInfo; "" means the machine's zone."""
    name = name.strip() or local_timezone_name()
    if name in _UTC_ALIASES:
        name = "UTC"
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ScheduleError(
            f"unknown time zone {name!r}; use an IANA name like Europe/Istanbul"
        ) from None


# -- schedule specs -------------------------------------------------------------------------


def parse_spec(spec: str | int) -> str | int:
    """Normalise a schedule spec: an interval in whole seconds, or a validated cron string."""
    if isinstance(spec, bool):
        raise ScheduleError(f"a schedule must be a cron string or seconds, got {spec!r}")
    seconds = parse_duration(spec)
    if seconds is not None:
        if seconds < 1:
            raise ScheduleError(f"an interval must be at least 1 second, got {spec!r}")
        return seconds
    if isinstance(spec, str):
        text = " ".join(spec.split())
        from croniter import croniter  # here: its import runs `file` on the interpreter

        if len(text.split(" ")) == 5 and croniter.is_valid(text):
            return text
    raise ScheduleError(
        "a schedule must be a 5-field cron string like '0 7 * * *', or an interval: seconds "
        f"(900) or a duration like '15m', '2h', got {spec!r}"
    )


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value!r}")


def _wall_to_utc(wall: datetime, zone: ZoneInfo) -> tuple[datetime, ...]:
    """The UTC instants at which naive local `wall` happens in `zone`, earliest first.

    One instant normally; two inside a fall-back overlap; for a time skipped by
    spring-forward, the instant the clock jumps (the first valid moment after the gap).
    """
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if first == second:
        return (first,)
    exists = [u for u in (first, second) if u.astimezone(zone).replace(tzinfo=None) == wall]
    if exists:
        return tuple(sorted(exists))
    # A gap: the earlier candidate lies before the jump, the later one after it. Transitions
    # happen on whole seconds, so bisect on seconds for the first instant after the jump.
    lo, hi = min(first, second), max(first, second)
    before = lo.astimezone(zone).utcoffset()
    while hi - lo > timedelta(seconds=1):
        mid = lo + timedelta(seconds=(hi - lo).total_seconds() // 2)
        if mid.astimezone(zone).utcoffset() == before:
            lo = mid
        else:
            hi = mid
    return (hi,)


def _hour_is_wildcard(cron: str) -> bool:
    return cron.split(" ")[1].startswith("*")


def next_fire_times(
    spec: str | int, timezone: str, after: datetime, count: int = 1
) -> list[datetime]:
    """The next `count` fire times of `spec` strictly after `after`, as aware UTC datetimes.

    Cron specs run on the wall clock of `timezone` ("" = the machine's zone); intervals are
    anchored to the Unix epoch and ignore the zone. See the module docstring for DST rules.
    """
    _require_aware(after, "after")
    if count < 1:
        return []
    parsed = parse_spec(spec)
    after = after.astimezone(UTC)
    if isinstance(parsed, int):
        step = timedelta(seconds=parsed)
        index = (after - EPOCH) // step
        return [EPOCH + step * (index + k) for k in range(1, count + 1)]

    zone = resolve_timezone(timezone)
    both_occurrences = _hour_is_wildcard(parsed)
    from croniter import croniter

    walls = croniter(parsed, after.astimezone(zone).replace(tzinfo=None))
    found: set[datetime] = set()
    while True:
        try:
            wall = walls.get_next(datetime)
        except Exception as exc:  # croniter raises its own errors for impossible dates
            raise ScheduleError(f"cron {parsed!r} never fires: {exc}") from None
        instants = _wall_to_utc(wall, zone)
        found.update(u for u in instants[: None if both_occurrences else 1] if u > after)
        # Instants grow with wall time, except a second occurrence can trail the next wall
        # times by the overlap; stop once this wall time is past everything we keep.
        if len(found) >= count:
            kept = sorted(found)[:count]
            if instants[0] > kept[-1]:
                return kept


def _plural(n: int, unit: str) -> str:
    return f"every {unit}" if n == 1 else f"every {n} {unit}s"


def describe_interval(seconds: float) -> str:
    """900 -> 'every 15 minutes'; 3600 -> 'every hour'; 90 -> 'every 90 seconds'."""
    whole = int(seconds)
    if whole != seconds:
        return f"every {seconds:g} seconds"
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if whole >= size and whole % size == 0:
            return _plural(whole // size, unit)
    return _plural(whole, "second")


_DAYS = {
    "0": "Sundays", "1": "Mondays", "2": "Tuesdays", "3": "Wednesdays", "4": "Thursdays",
    "5": "Fridays", "6": "Saturdays", "7": "Sundays", "sun": "Sundays", "mon": "Mondays",
    "tue": "Tuesdays", "wed": "Wednesdays", "thu": "Thursdays", "fri": "Fridays",
    "sat": "Saturdays", "1-5": "weekdays", "mon-fri": "weekdays",
}  # fmt: skip


def _describe_cron(cron: str) -> str | None:
    minute, hour, dom, month, dow = cron.split(" ")
    if dom != "*" or month != "*":
        return None
    if minute.isdigit() and hour.isdigit():
        when = f"at {int(hour):02d}:{int(minute):02d}"
        if dow == "*":
            return f"{when} daily"
        days = _DAYS.get(dow.lower())
        return f"{when} on {days}" if days else None
    if dow != "*":
        return None
    if minute.startswith("*/") and minute[2:].isdigit() and hour == "*":
        return _plural(int(minute[2:]), "minute")
    if minute == "*" and hour == "*":
        return "every minute"
    if minute.isdigit() and hour == "*":
        return f"hourly at :{int(minute):02d}"
    if minute.isdigit() and hour.startswith("*/") and hour[2:].isdigit():
        return f"{_plural(int(hour[2:]), 'hour')} at :{int(minute):02d}"
    return None


def describe_spec(spec: str | int, timezone: str | None = None) -> str:
    """A human line for banners: 'every 15 minutes', "at 07:00 daily (cron '0 7 * * *')".

    With `timezone` given, cron descriptions name the zone ("", the machine's, is resolved).
    """
    parsed = parse_spec(spec)
    if isinstance(parsed, int):
        return describe_interval(parsed)
    text = _describe_cron(parsed)
    zone = ""
    if timezone is not None:
        zone = f", {timezone.strip() or local_timezone_name()} time"
    if text is None:
        return f"cron '{parsed}'{zone}"
    return f"{text}{zone} (cron '{parsed}')"


# -- polling decisions ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PollPolicy:
    """Tunables for when a feed is polled again. All durations are seconds."""

    base_interval: float = 900.0  # the schedule's poll interval (see policy_for_schedule)
    backoff_factor: float = 2.0
    # Capped exponential backoff: a failing feed is retried at least this often, forever.
    max_backoff: float = 6 * 3600.0
    # Retry-After values beyond this are capped to it (a server saying "a year" gets a day).
    max_retry_after: float = 24 * 3600.0
    min_interval: float = 60.0
    # Cache-Control max-age may stretch the interval, but never beyond this.
    max_age_cap: float = 6 * 3600.0
    # Deterministic per-URL spread of retries, as a fraction of the backoff (0.1 = up to +10%).
    jitter_fraction: float = 0.1
    # A feed counts as due this long before its next_poll_at, so a run that polled it a few
    # seconds after its own start does not make the next run of the same cadence skip it.
    due_slack: float = 30.0


def policy_for_schedule(
    poll: str | int, timezone: str, now: datetime, **overrides: float
) -> PollPolicy:
    """A PollPolicy whose base_interval matches the poll schedule (for cron: its usual gap)."""
    parsed = parse_spec(poll)
    if isinstance(parsed, int):
        base = float(parsed)
    else:
        fires = next_fire_times(parsed, timezone, now, count=9)
        base = statistics.median((b - a).total_seconds() for a, b in itertools.pairwise(fires))
    return PollPolicy(**{"base_interval": base, **overrides})


def url_jitter(url: str) -> float:
    """A stable number in [0, 1) derived from the URL, so feeds that fail together retry apart."""
    digest = hashlib.sha256(url.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def success_delay(policy: PollPolicy, interval: float, max_age: float | None) -> float:
    """Seconds until the next poll after a success: the interval, stretched to max-age."""
    delay = max(interval, policy.min_interval)
    if max_age is not None and max_age > delay:
        delay = max(delay, min(max_age, policy.max_age_cap))
    return delay


def backoff_delay(policy: PollPolicy, interval: float, failures: int, url: str) -> float:
    """Seconds until the retry after `failures` consecutive failures (failures >= 1).

    interval * factor**(failures - 1), capped at max_backoff (or at the feed's own interval if
    that is longer: a failing feed is never polled more often than a healthy one), then
    stretched by the URL's deterministic jitter; never below min_interval.
    """
    interval = max(interval, policy.min_interval)
    cap = max(policy.max_backoff, interval)
    try:
        grown = interval * policy.backoff_factor ** max(failures - 1, 0)
    except OverflowError:
        grown = math.inf
    delay = min(cap, max(grown, interval))
    return delay * (1.0 + policy.jitter_fraction * url_jitter(url))


@dataclass(frozen=True, slots=True)
class FeedDecider:
    """Decides, for one feed at one moment, whether to poll it and what to remember after."""

    source: FeedSource
    state: FeedState
    policy: PollPolicy
    now: datetime

    @property
    def interval(self) -> float:
        """The feed's normal poll interval: its own override, else the schedule's."""
        if self.source.interval_seconds is not None:
            return float(self.source.interval_seconds)
        return self.policy.base_interval

    def is_due(self) -> bool:
        """Whether to poll now: enabled, and never polled or next_poll_at reached (with slack)."""
        if not self.source.enabled:
            return False
        due_at = self.state.next_poll_at
        return due_at is None or due_at <= self.now + timedelta(seconds=self.policy.due_slack)

    def after_fetch(self, result: FetchResult, new_items: int = 0) -> FeedState:
        """The feed's next state after `result`.

        Success (ok / not_modified) resets the failure count and schedules now + interval
        (stretched to Cache-Control max-age); an error keeps the validators, counts the
        failure and backs off, never earlier than the server's Retry-After.
        `new_items` is accepted for adaptive polling; it does not change the decision yet.
        """
        del new_items
        state, now = self.state, self.now
        attempt = result.started_at
        if result.outcome == "error":
            failures = state.consecutive_failures + 1
            delay = backoff_delay(self.policy, self.interval, failures, state.url)
            retry_after = result.retry_after_seconds
            if retry_after is not None and retry_after > 0:
                delay = max(delay, min(retry_after, self.policy.max_retry_after))
            return replace(
                state,
                consecutive_failures=failures,
                last_attempt_at=attempt,
                next_poll_at=now + timedelta(seconds=delay),
            )
        delay = success_delay(self.policy, self.interval, result.max_age_seconds)
        if result.outcome == "ok":
            # A 200 replaces the validators: a server that dropped its ETag must not get it back.
            etag, last_modified = result.etag, result.last_modified
            body_sha256 = result.body_sha256 or state.body_sha256
        else:
            # A 304 may carry refreshed validators (RFC 9110 15.4.5); otherwise keep ours.
            etag = result.etag or state.etag
            last_modified = result.last_modified or state.last_modified
            body_sha256 = state.body_sha256
        return replace(
            state,
            etag=etag,
            last_modified=last_modified,
            body_sha256=body_sha256,
            consecutive_failures=0,
            last_attempt_at=attempt,
            last_success_at=attempt,
            next_poll_at=now + timedelta(seconds=delay),
        )


# -- health ---------------------------------------------------------------------------------

RECENT_ITEMS = 50  # how many of the newest items define a feed's usual rhythm
RATE_DAYS = 7  # items per day are counted over this many days


def cadence_of(
    item_times: Sequence[datetime],
    now: datetime,
    *,
    recent: int = RECENT_ITEMS,
    days: int = RATE_DAYS,
) -> FeedCadence:
    """A feed's rhythm from the dates of its items, of any age (warehouse.feed_cadence does
    the same in SQL). Dates after `now` count as `now`: a publisher's clock may run ahead."""
    _require_aware(now, "now")
    if days <= 0:
        raise ValueError(f"days must be positive, got {days}")
    times = sorted((min(t, now) for t in item_times), reverse=True)
    if not times:
        return FeedCadence(recent=recent, days=days)
    newest = times[:recent]
    gaps = [(a - b).total_seconds() for a, b in itertools.pairwise(newest)]
    start = now - timedelta(days=days)
    return FeedCadence(
        items=len(newest),
        newest=newest[0],
        usual_gap_s=statistics.median(gaps) if gaps else None,
        last_days=sum(1 for t in times if t > start),
        oldest=times[-1],
        recent=recent,
        days=days,
    )


def gone_quiet(
    cadence: FeedCadence,
    now: datetime,
    *,
    min_items: int = 5,
    factor: float = 4.0,
    min_quiet: timedelta = timedelta(days=2),
) -> bool:
    """Whether a feed has gone quiet: silent for more than `factor` times its usual gap (the
    median gap between its newest items, however old they are) and at least `min_quiet`. A
    feed with fewer than `min_items` dated items has no usual rhythm and is never quiet."""
    _require_aware(now, "now")
    if cadence.items < max(min_items, 2) or cadence.newest is None:
        return False
    usual = timedelta(seconds=cadence.usual_gap_s or 0.0)
    return now - cadence.newest > max(usual * factor, min_quiet)


def items_per_day(cadence: FeedCadence, now: datetime) -> float:
    """Average items per day over the cadence's last `days` days up to `now`.

    When the whole history is younger than that (a feed added yesterday brings a day or two
    of backlog), the rate is taken over the span since its oldest item, at least one day, so
    a new hourly feed reads ~24/day rather than 24/7.
    """
    _require_aware(now, "now")
    if cadence.oldest is None:
        return 0.0
    span_days = (now - cadence.oldest) / timedelta(days=1)
    window = min(float(cadence.days), max(1.0, span_days))
    return cadence.last_days / window


def feed_health(
    source: FeedSource,
    state: FeedState | None,
    last_error: str | None,
    cadence: FeedCadence,
    now: datetime,
) -> FeedHealth:
    """A feed's health for the digest footer and `newswatch feeds`.

    status: "never_polled" (no attempt yet), "failing" (the latest attempt failed — one
    failure is enough, because the digest must not hide a feed that stopped working),
    "quiet" (polls succeed but items stopped arriving, see gone_quiet), else "ok".
    last_error is only reported while failing, so a recovered feed shows no stale error.
    """
    if state is None or state.last_attempt_at is None:
        return FeedHealth(
            url=source.url,
            name=source.name,
            status="never_polled",
            next_poll_at=state.next_poll_at if state else None,
            last_item_at=cadence.newest,
        )
    failing = state.consecutive_failures >= 1
    if failing:
        status = "failing"
    elif gone_quiet(cadence, now):
        status = "quiet"
    else:
        status = "ok"
    return FeedHealth(
        url=source.url,
        name=source.name,
        status=status,
        last_error=last_error if failing else None,
        last_attempt_at=state.last_attempt_at,
        last_success_at=state.last_success_at,
        consecutive_failures=state.consecutive_failures,
        items_per_day=items_per_day(cadence, now),
        next_poll_at=state.next_poll_at,
        last_item_at=cadence.newest,
        usual_gap_s=cadence.usual_gap_s,
    )
