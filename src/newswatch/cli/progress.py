"""Progress of a poll over its feeds: a rich progress bar in a terminal, plain lines otherwise.

`poll_progress(total, stream)` is a context manager yielding the callback the poll calls once
per finished feed (`poll.collect_batch(on_feed_done=...)`). The display goes to `stream`
(stderr by default) so the summary on stdout stays clean for pipes and logs.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Protocol, TextIO

from newswatch.models import describe_skipped


class FinishedFeed(Protocol):
    """What the display needs of a feed's report (poll.FeedReport has these fields)."""

    @property
    def name(self) -> str: ...
    @property
    def outcome(self) -> str: ...
    @property
    def http_status(self) -> int | None: ...
    @property
    def error(self) -> str | None: ...
    @property
    def entries(self) -> int: ...
    @property
    def duration_ms(self) -> float: ...


FeedDone = Callable[[FinishedFeed], None]

MARKS = {"ok": "ok", "unchanged": "same", "not_modified": "304", "error": "FAIL", "skipped": "skip"}


def describe_feed(report: FinishedFeed) -> str:
    """'ok    BBC World: 200, 45 entries, 120 ms' — one feed's result on one line."""
    mark = MARKS.get(report.outcome, report.outcome)
    if report.outcome == "skipped":
        # A skipped feed's `error` says why (e.g. backing off), when there is more to say.
        return f"{mark:<4}  {report.name}: {report.error or 'not due'}"
    parts = [str(report.http_status) if report.http_status is not None else "no response"]
    if report.outcome == "error" and report.error:
        parts.append(report.error)
    elif report.entries or _skipped(report) or getattr(report, "warning", None):
        parts.append(entries_text(report))
    parts.append(f"{report.duration_ms:.0f} ms")
    return f"{mark:<4}  {report.name}: {', '.join(parts)}"


def _skipped(report: FinishedFeed) -> tuple[tuple[str, int], ...]:
    """The report's skipped entries ((reason, count) pairs), if it carries any."""
    skipped: tuple[tuple[str, int], ...] = getattr(report, "skipped", ())
    return skipped


def entries_text(report: FinishedFeed) -> str:
    """'48 entries', or '48 entries, 2 skipped: no content at all' when some were not stored,
    then the report's warning, if any ('; body ends mid-document (truncated?): ...')."""
    skipped = describe_skipped(_skipped(report))
    warning: str | None = getattr(report, "warning", None)
    return (
        f"{report.entries} entr{'y' if report.entries == 1 else 'ies'}"
        + (f", {skipped}" if skipped else "")
        + (f"; {warning}" if warning else "")
    )


class PlainProgress:
    """'[ 3/27] ok    BBC World: 200, 45 entries, 120 ms' per finished feed."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total = total
        self.done = 0
        self.stream = stream
        self._lock = threading.Lock()

    def __call__(self, report: FinishedFeed) -> None:
        with self._lock:
            self.done += 1
            width = len(str(self.total))
            self.stream.write(f"[{self.done:>{width}}/{self.total}] {describe_feed(report)}\n")
            self.stream.flush()


class BarProgress:
    """A rich progress bar; failures are printed above the bar so they stay visible."""

    def __init__(self, total: int, stream: TextIO) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.failed = 0
        self._lock = threading.Lock()
        self.progress = Progress(
            TextColumn("polling"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failed]} failed"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[last]}"),
            console=Console(file=stream),
            transient=True,
        )
        self.task = self.progress.add_task("poll", total=total, failed=0, last="")

    def __call__(self, report: FinishedFeed) -> None:
        with self._lock:
            if report.outcome == "error":
                self.failed += 1
                self.progress.console.print(describe_feed(report), markup=False, highlight=False)
            self.progress.update(self.task, advance=1, failed=self.failed, last=report.name[:40])


@contextlib.contextmanager
def poll_progress(total: int, stream: TextIO | None = None) -> Iterator[FeedDone]:
    """Yield a per-feed callback: a progress bar when `stream` is a terminal, else plain lines."""
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    if callable(isatty) and isatty():
        bar = BarProgress(total, stream)
        with bar.progress:
            yield bar
    else:
        yield PlainProgress(total, stream)
