"""Poll progress: plain lines when not a terminal, a rich bar in one; driven by a real poll."""

from __future__ import annotations

import asyncio
import io
import os
from pathlib import Path

from newswatch.cli.progress import PlainProgress, poll_progress
from tests.feedserver import FeedServer
from tests.helpers import rss, write_sources


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_real_poll_reports_every_feed_once_as_plain_lines(
    feed_server: FeedServer, tmp_path: Path, prefect_harness: None
) -> None:
    from newswatch.orchestrate.flows.poll import poll_flow

    feed_server.route("/a.xml", body=rss("A", [{"title": "NATO", "link": "https://e.org/1"}]))
    feed_server.route("/b.xml", status=503, body=b"busy", headers={"Retry-After": "3600"})
    sources = write_sources(
        tmp_path / "s.yaml",
        [(feed_server.url("/a.xml"), "Feed A"), (feed_server.url("/b.xml"), "Feed B")],
    )
    stream = io.StringIO()
    with poll_progress(2, stream) as on_feed_done:
        assert isinstance(on_feed_done, PlainProgress)
        summary = asyncio.run(
            poll_flow(
                sources=str(sources), db=str(tmp_path / "n.duckdb"), on_feed_done=on_feed_done
            )
        )
    lines = stream.getvalue().splitlines()
    assert len(lines) == len(summary.reports) == 2
    assert {line[:5] for line in lines} == {"[1/2]", "[2/2]"}
    a = next(line for line in lines if "Feed A" in line)
    b = next(line for line in lines if "Feed B" in line)
    assert "ok" in a and "1 entry" in a
    assert "FAIL" in b and "503" in b

    # Polled again by hand: the server asked for a pause; its line says so and when.
    stream = io.StringIO()
    with poll_progress(2, stream) as on_feed_done:
        summary = asyncio.run(
            poll_flow(
                sources=str(sources), db=str(tmp_path / "n.duckdb"), on_feed_done=on_feed_done
            )
        )
    lines = stream.getvalue().splitlines()
    assert len(lines) == len(summary.reports) == 2
    b = next(line for line in lines if "Feed B" in line)
    assert b.startswith("[1/2] skip  Feed B: backing off after 1 failure"), b
    assert "next try" in b and list(summary.held_back) == [feed_server.url("/b.xml")]


def test_terminal_gets_a_bar_that_counts_and_prints_failures(tmp_path: Path) -> None:
    from newswatch.orchestrate.poll import FeedReport

    stream = _Tty()
    os.environ.setdefault("COLUMNS", "100")
    with poll_progress(3, stream) as on_feed_done:
        assert not isinstance(on_feed_done, PlainProgress)
        on_feed_done(FeedReport("u1", "One", "ok", 200, None, 4, 10.0, 100))
        on_feed_done(FeedReport("u2", "Two", "error", 503, "HTTP 503 Busy", 0, 5.0, 0))
        on_feed_done(FeedReport("u3", "Three", "skipped", None, None, 0, 0.0, 0))
        bar = on_feed_done
        assert bar.progress.tasks[0].completed == 3  # type: ignore[attr-defined]
    text = stream.getvalue()
    assert "FAIL  Two: 503, HTTP 503 Busy" in text


def test_a_disabled_feed_says_disabled_in_its_progress_line(
    feed_server: FeedServer, tmp_path: Path, prefect_harness: None
) -> None:
    from newswatch.orchestrate.flows.poll import poll_flow

    feed_server.route("/a.xml", body=rss("A", [{"title": "NATO", "link": "https://e.org/1"}]))
    sources = write_sources(
        tmp_path / "s.yaml",
        [(feed_server.url("/a.xml"), "Feed A"), (feed_server.url("/off.xml"), "Feed Off")],
    )
    text = sources.read_text(encoding="utf-8").replace(
        "name: 'Feed Off'", "name: 'Feed Off'\n    enabled: false"
    )
    assert "enabled: false" in text
    sources.write_text(text, encoding="utf-8")
    stream = io.StringIO()
    with poll_progress(2, stream) as on_feed_done:
        asyncio.run(
            poll_flow(
                sources=str(sources), db=str(tmp_path / "n.duckdb"), on_feed_done=on_feed_done
            )
        )
    off = next(line for line in stream.getvalue().splitlines() if "Feed Off" in line)
    assert off.endswith("skip  Feed Off: disabled"), off
    assert not feed_server.requests_for("/off.xml")
