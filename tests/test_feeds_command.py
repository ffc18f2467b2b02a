"""`newswatch feeds`: the health table, from a real poll into a real DuckDB file."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from newswatch import cli
from newswatch.config import load_config
from newswatch.health import collect_health, format_table
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


def test_long_errors_are_cut_to_the_column(tmp_path: Path) -> None:
    from newswatch.models import FeedHealth

    now = datetime(2025, 1, 1, tzinfo=UTC)
    h = FeedHealth(url="u", name="X", status="failing", last_error="e" * 200,
                   last_attempt_at=now, consecutive_failures=3)  # fmt: skip
    table = format_table([h], now, __import__("zoneinfo").ZoneInfo("UTC"), error_width=20)
    row = _row(table, "X")
    assert row.endswith("e" * 19 + "…") and " 3 " in row
