"""Which of Prefect's console records are dropped for failures newswatch reports itself."""

from __future__ import annotations

import asyncio
import logging
import sys

from newswatch.orchestrate import run_console
from newswatch.orchestrate.run_console import DropExpectedFailure


class SendFailed(Exception):  # matched by name, as a served run's own copy of the class is
    pass


class TerminationSignal(Exception):
    pass


def _record(message: str, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, None) if exc is not None else None
    return logging.LogRecord("prefect.flow_runs", logging.ERROR, __file__, 1, message, (), exc_info)


def _cancelled_on_exit() -> asyncio.CancelledError:
    """A CancelledError raised while the process exits (as the runner's loop does on SIGTERM)."""
    try:
        try:
            raise SystemExit(0)
        except SystemExit:
            raise asyncio.CancelledError() from None
    except asyncio.CancelledError as exc:
        return exc


def test_expected_failures_are_dropped_and_everything_else_kept() -> None:
    drop = DropExpectedFailure()
    assert not drop.filter(_record("Encountered exception", SendFailed("refused")))
    assert not drop.filter(
        _record("Finished in state Failed('Flow run encountered an exception: DigestFailed: x')")
    )
    assert not drop.filter(_record("Task run failed with exception: SendFailed('x') - Retries"))
    # Our own one-line report, and any failure newswatch did not expect, stay.
    assert drop.filter(_record("sending the digest for 2026-12-02 failed: SMTP server down"))
    assert drop.filter(_record("Encountered exception", ValueError("a bug")))
    assert drop.filter(_record("Finished in state Failed('ValueError: a bug')"))
    # What Prefect says of runs serve stops is dropped only when serving.
    stopped = [
        _record("Finished in state Submitting(type=PENDING)"),
        _record("Finished in state Running()"),
        _record("Crash detected! Execution was aborted by a termination signal."),
        _record("unhandled exception during asyncio.run() shutdown", TerminationSignal(15)),
        _record("Crash detected! Execution was cancelled by the runtime environment."),
        _record("Finished in state Crashed('Execution was cancelled by the runtime environment.')"),
        _record("Exception in callback StreamReaderProtocol...callback()", _cancelled_on_exit()),
    ]
    assert all(drop.filter(r) for r in stopped)
    assert not any(DropExpectedFailure(stopping=True).filter(r) for r in stopped)
    assert DropExpectedFailure(stopping=True).filter(_record("Finished in state Completed()"))
    # A cancellation that is not the process exiting is kept.
    assert DropExpectedFailure(stopping=True).filter(
        _record("Exception in callback", asyncio.CancelledError())
    )


def test_served_run_filters_the_console_handlers_only_when_marked() -> None:
    import prefect  # noqa: F401  (configures Prefect's logging and its handlers)
    from prefect.logging.handlers import APILogHandler

    handler = logging.StreamHandler(sys.stderr)
    api = APILogHandler()
    logger = logging.getLogger("prefect.flow_runs")
    logger.addHandler(handler)
    logger.addHandler(api)
    try:
        assert run_console.quiet_served_run({}) is False
        assert not handler.filters
        marked = {run_console.SERVED_RUN_ENV: "1"}
        assert run_console.quiet_served_run(marked) is True
        assert run_console.quiet_served_run(marked) is True  # idempotent: one filter
        assert len([f for f in handler.filters if isinstance(f, DropExpectedFailure)]) == 1
        assert not api.filters  # the API keeps every record
    finally:
        logger.removeHandler(handler)
        logger.removeHandler(api)
        # quiet_served_run filtered every console handler of this process (pytest's too).
        for each in run_console.console_handlers():
            for f in [f for f in each.filters if isinstance(f, DropExpectedFailure)]:
                each.removeFilter(f)
