"""`newswatch feeds`: the health table, from a real poll into a real DuckDB file."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newswatch import cli
from newswatch.config import load_config
from newswatch.orchestrate.health import collect_health, format_table
from newswatch.orchestrate.schedule import resolve_timezone
from tests.feedserver import FeedServer
from tests.helpers import rss, write_sources


def _row(text: str, name: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(name))


def test_missing_warehouse_shows_every_feed_never_polled(tmp_path: Path) -> None:
    sources = write_sources(
        tmp_path / "s.yaml",
        [("http://127.0.0.1:9/a.xml", "Alpha"), ("http://127.0.0.1:9/b.xml", "Beta")],
    )
    out = io.StringIO()
    db = tmp_path / "none.duckdb"
    assert cli.main(["feeds", "--sources", str(sources), "--db", str(db)], out=out) == 0
    text = out.getvalue()
    assert "run `newswatch poll` first" in text
    for name in ("Alpha", "Beta"):
        assert "never polled" in _row(text, name) and "due now" in _row(text, name)
    assert "2 feeds: 2 never polled" in text
    assert not db.exists()  # looking never creates a warehouse


def test_table_after_a_real_poll(
    feed_server: FeedServer, tmp_path: Path, prefect_harness: None
) -> None:
    now = datetime.now(UTC)
    items = [
        {"title": f"NATO story {i}", "link": f"https://example.org/{i}", "guid": f"g{i}",
         "pubDate": now - timedelta(hours=6 * i)}
        for i in range(8)
    ]  # fmt: skip
    feed_server.route("/good.xml", body=rss("Good", items))
    feed_server.route("/down.xml", status=503, body=b"busy", headers={"Retry-After": "7200"})
    sources = write_sources(
        tmp_path / "s.yaml",
        [(feed_server.url("/good.xml"), "Good wire"), (feed_server.url("/down.xml"), "Down wire"),
         ("http://127.0.0.1:9/later.xml", "Later wire")],
        extra="schedule:\n  timezone: Europe/Berlin\n",
    )  # fmt: skip
    text = (
        (tmp_path / "s.yaml")
        .read_text()
        .replace("name: 'Later wire'", "name: 'Later wire'\n    enabled: false")
    )
    (tmp_path / "s.yaml").write_text(text)
    db = tmp_path / "wh" / "n.duckdb"
    assert cli.main(["poll", "--sources", str(sources), "--db", str(db)], out=io.StringIO()) == 0

    out = io.StringIO()
    assert cli.main(["feeds", "--sources", str(sources), "--db", str(db)], out=out) == 0
    table = out.getvalue()
    good, down, later = (
        _row(table, "Good wire"),
        _row(table, "Down wire"),
        _row(table, "Later wire"),
    )
    assert " ok " in good and "503" not in good
    assert "FAILING" in down and "503" in down
    assert "disabled" in later
    assert "Europe/Berlin" in table

    healths = {h.name: h for h in collect_health(load_config(sources), db, datetime.now(UTC))}
    assert healths["Good wire"].status == "ok"
    # 8 items over the last 42 hours, all within the 7-day window: rate over at least one day.
    assert healths["Good wire"].items_per_day == pytest.approx(8 / (42 / 24), rel=0.05)
    down_health = healths["Down wire"]
    assert down_health.consecutive_failures == 1 and down_health.last_success_at is None
    assert down_health.next_poll_at is not None
    assert down_health.next_poll_at >= datetime.now(UTC) + timedelta(seconds=7000)  # Retry-After
    # The table shows the next poll in the configured zone.
    local = down_health.next_poll_at.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin"))
    assert f"{local:%Y-%m-%d %H:%M}" in down


def test_feeds_shows_each_feeds_tags_after_a_real_poll(
    feed_server: FeedServer, tmp_path: Path, prefect_harness: None
) -> None:
    now = datetime.now(UTC)
    item = {"title": "NATO story", "link": "https://example.org/1", "guid": "g1", "pubDate": now}
    feed_server.route("/kathimerini.xml", body=rss("Kathimerini", [item]))
    feed_server.route("/down.xml", status=503, body=b"busy")
    feeds = [
        (feed_server.url("/kathimerini.xml"), "Kathimerini"),
        (feed_server.url("/down.xml"), "Down wire"),
        ("http://127.0.0.1:9/plain.xml", "Untagged"),
    ]
    tags = {"Kathimerini": ["GR", "greek-press"], "Down wire": ["wire"]}
    sources = write_sources(tmp_path / "s.yaml", feeds, tags=tags)
    db = tmp_path / "wh" / "n.duckdb"
    assert cli.main(["poll", "--sources", str(sources), "--db", str(db)], out=io.StringIO()) == 0

    out = io.StringIO()
    assert cli.main(["feeds", "--sources", str(sources), "--db", str(db)], out=out) == 0
    table = out.getvalue()
    header = table.splitlines()[0]
    assert header.split()[:3] == ["FEED", "TAGS", "STATUS"]
    at = header.index("TAGS")  # the column lines up under its heading
    assert _row(table, "Kathimerini")[at:].startswith("GR, greek-press  ok ")
    assert _row(table, "Down wire")[at:].startswith("wire ")
    assert "FAILING" in _row(table, "Down wire")
    assert _row(table, "Untagged")[at:].startswith("- ")

    # Without tags in the file, the table is as it always was: no TAGS column.
    plain = write_sources(tmp_path / "plain.yaml", feeds)
    out = io.StringIO()
    assert cli.main(["feeds", "--sources", str(plain), "--db", str(db)], out=out) == 0
    assert out.getvalue().splitlines()[0].split()[:2] == ["FEED", "STATUS"]


def test_long_errors_are_cut_to_the_column(tmp_path: Path) -> None:
    from newswatch.models import FeedHealth

    now = datetime(2025, 1, 1, tzinfo=UTC)
    h = FeedHealth(url="u", name="X", status="failing", last_error="e" * 200,
                   last_attempt_at=now, consecutive_failures=3)  # fmt: skip
    table = format_table([h], now, __import__("zoneinfo").ZoneInfo("UTC"), error_width=20)
    row = _row(table, "X")
    assert row.endswith("e" * 19 + "…") and " 3 " in row


def test_quiet_is_judged_on_each_feeds_own_history_in_feeds_and_digest(
    feed_server: FeedServer, tmp_path: Path, prefect_harness: None
) -> None:
    """Feeds silent for 31 and 61 days and weekly feeds, from a real poll: `newswatch feeds`
    and the digest footer agree, however far back the last item lies."""
    from newswatch.digest import delivery
    from newswatch.orchestrate.schedule import cadence_of
    from newswatch.store import warehouse

    now = datetime.now(UTC).replace(microsecond=0)
    day, week = timedelta(days=1), timedelta(weeks=1)
    newest = {
        "busy": (now - timedelta(hours=2), timedelta(hours=1), 30),
        "silent31": (now - 31 * day, day, 20),
        "silent61": (now - 61 * day, day, 20),
        "weekly_fresh": (now - 2 * day, week, 6),
        "weekly_gone": (now - 31 * day, week, 6),
    }
    feeds = []
    times: dict[str, list[datetime]] = {}
    for path, (last, gap, count) in newest.items():
        items = [
            {"title": f"{path} story {i}", "link": f"https://example.org/{path}/{i}",
             "guid": f"{path}-{i}", "pubDate": last - gap * i}
            for i in range(count)
        ]  # fmt: skip
        url = feed_server.route(f"/{path}.xml", body=rss(path, items))
        feeds.append((url, path))
        times[url] = [last - gap * i for i in range(count)]
    sources = write_sources(tmp_path / "s.yaml", feeds)
    db = tmp_path / "wh" / "n.duckdb"
    assert cli.main(["poll", "--sources", str(sources), "--db", str(db)], out=io.StringIO()) == 0

    config = load_config(sources)
    expected = {
        "busy": "ok",
        "silent31": "quiet",
        "silent61": "quiet",
        "weekly_fresh": "ok",
        "weekly_gone": "quiet",  # 31 days > 4 weeks
    }
    in_feeds = {h.name: h for h in collect_health(config, db, now)}
    plan = delivery.gather(db, config, now=now, on_date=None, for_sending=False)
    in_digest = {h.name: h for h in plan.feed_health}
    assert {n: h.status for n, h in in_feeds.items()} == expected
    assert {n: h.status for n, h in in_digest.items()} == expected
    assert in_feeds["silent61"].last_item_at == now - 61 * day
    # The digest says when the newest item was published and the feed's usual rhythm, not
    # when it was last polled.
    rendered = delivery.render(plan, config, now)
    quiet = {f.name: f.detail for f in rendered.digest.quiet_feeds}
    zone = resolve_timezone(config.schedule.timezone)
    newest = (now - 61 * day).astimezone(zone)
    year = "" if newest.year == now.astimezone(zone).year else f" {newest.year}"
    when = f"{newest.day} {newest:%b}{year} {newest:%H:%M}"
    assert quiet["silent61"] == (
        f"newest item published {when} (2 months ago); it usually publishes every 1 day"
    )
    assert quiet["weekly_gone"].endswith("(1 month ago); it usually publishes every 1 week")
    assert f"newest item published {when} (2 months ago)" in rendered.text

    out = io.StringIO()
    assert cli.main(["feeds", "--sources", str(sources), "--db", str(db)], out=out) == 0
    assert "quiet" in _row(out.getvalue(), "silent61") and " ok " in _row(out.getvalue(), "busy")

    # The warehouse's one-query cadence is the pure function's, feed by feed.
    with warehouse.connect(db, read_only=True) as con:
        stored = warehouse.feed_cadence(con, now)
    for url, feed_times in times.items():
        assert stored[url] == cadence_of(feed_times, now), url


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    offsets=st.lists(
        st.lists(st.integers(min_value=-3 * 86400, max_value=400 * 86400), max_size=70),
        min_size=1,
        max_size=4,
    )
)
def test_sql_cadence_equals_the_pure_one(tmp_path: Path, offsets: list[list[int]]) -> None:
    """Any item dates (also future ones and ties), any number of items, several feeds."""
    import duckdb

    from newswatch.orchestrate.schedule import cadence_of
    from newswatch.store import warehouse

    now = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
    db = tmp_path / f"c{abs(hash(str(offsets)))}.duckdb"
    with warehouse.connect(db):
        pass  # create the schema
    con = duckdb.connect(str(db))
    try:
        for f, feed_offsets in enumerate(offsets):
            for i, seconds in enumerate(feed_offsets):
                con.execute(
                    "INSERT INTO articles (id, feed_url, source, url, title, summary, summary_html, "
                    "published_at, published_at_known, first_seen_at, poll_id) "
                    "VALUES (?, ?, 's', 'u', 't', '', '', ?, true, ?, 'p')",
                    [f"{f}-{i}", f"feed{f}", now - timedelta(seconds=seconds), now],
                )
        # An undated item (its date is the first-seen time) does not count.
        con.execute(
            "INSERT INTO articles (id, feed_url, source, url, title, summary, summary_html, "
            "published_at, published_at_known, first_seen_at, poll_id) "
            "VALUES ('undated', 'feed0', 's', 'u', 't', '', '', ?, false, ?, 'p')",
            [now, now],
        )
        stored = warehouse.feed_cadence(con, now)
    finally:
        con.close()
    for f, feed_offsets in enumerate(offsets):
        pure = cadence_of([now - timedelta(seconds=s) for s in feed_offsets], now)
        got = stored.get(f"feed{f}")
        if not feed_offsets:
            assert got is None
            continue
        assert got is not None
        if pure.usual_gap_s is None:
            assert got.usual_gap_s is None
        else:
            assert got.usual_gap_s == pytest.approx(pure.usual_gap_s)
        assert (got.items, got.newest, got.last_days, got.oldest) == (
            pure.items, pure.newest, pure.last_days, pure.oldest
        )  # fmt: skip


def test_feeds_warns_of_feeds_the_warehouse_holds_but_the_sources_file_does_not_list(
    feed_server: FeedServer, tmp_path: Path, prefect_harness: None
) -> None:
    items = [{"title": "Story", "link": "https://example.org/1", "guid": "1",
              "pubDate": datetime.now(UTC)}]  # fmt: skip
    polled = [
        (feed_server.route(f"/{name}.xml", body=rss(name, items)), name)
        for name in ("Alpha", "Beta", "Gamma")
    ]
    db = tmp_path / "wh" / "n.duckdb"
    big = write_sources(tmp_path / "big.yaml", polled)
    assert cli.main(["poll", "--sources", str(big), "--db", str(db)], out=io.StringIO()) == 0
    small = write_sources(tmp_path / "small.yaml", polled[:1])
    out = io.StringIO()
    assert cli.main(["feeds", "--sources", str(small), "--db", str(db)], out=out) == 0
    text = out.getvalue()
    assert " ok " in _row(text, "Alpha") and "Beta" not in text.split("warning:")[0]
    assert f"warning: the warehouse {db} also holds 2 feeds that {small} does not list" in text
    assert "`--unlisted` lists them" in text
    assert re.search(r"Times are [\w/]+, UTC[+-]\d\d:\d\d\.", text)
    out = io.StringIO()
    args = ["feeds", "--sources", str(small), "--db", str(db), "--unlisted"]
    assert cli.main(args, out=out) == 0
    listed = [line.split()[0] for line in out.getvalue().splitlines() if line.startswith("  ")]
    assert listed == ["Beta", "Gamma"]
    # With the file they were polled with, nothing is unlisted.
    out = io.StringIO()
    assert cli.main(["feeds", "--sources", str(big), "--db", str(db)], out=out) == 0
    assert "warning" not in out.getvalue()
