"""What a scheduled run under `newswatch serve` prints on serve's terminal for failures
newswatch expects and reports itself.

A failed send is one line from the digest ("sending the digest for ... failed: SMTP server
... unreachable"). Prefect adds, for the same failure, the task's and the flow's tracebacks
and "Finished in state Failed(...)" lines; and when `newswatch serve` stops while a scheduled
run is still working, that run's process prints the SIGTERM's traceback and says the run
crashed. These records are dropped from the console handlers only: the run's log in the
Prefect API keeps every line, tracebacks included.

A scheduled run is its own process, started by Prefect's runner; `newswatch serve` marks
those processes with SERVED_RUN_ENV, and the flow modules call `quiet_served_run()` when they
are imported there. (One-off commands keep Prefect off the terminal altogether: see
cli._use_prefect.)
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Mapping

# Set by `newswatch serve` for its runner and the flow-run processes the runner starts.
SERVED_RUN_ENV = "NEWSWATCH_SERVED_RUN"

# Exceptions whose message newswatch has already logged in one line (matched by name: a
# scheduled run loads the flow module from its file, so its classes are not the package's).
EXPECTED_FAILURES = frozenset({"DigestFailed", "SendFailed", "MailError"})
# Raised by Prefect in a run's process when serve stops it (SIGTERM): serve says "stopping".
STOPPED = "TerminationSignal"
# What Prefect says of a run serve stopped: the state it was in, or that it was "aborted by a
# termination signal" or, for a task still working, "cancelled by the runtime environment"
# (Crashed).
_STOPPED_RUN = re.compile(
    r"^Finished in state (Scheduled|Pending|Submitting|Running)\b|by a termination signal"
    r"|Execution was cancelled by the runtime environment"
)


class DropExpectedFailure(logging.Filter):
    """Drops the records Prefect writes for an expected failure (and, with `stopping`, for
    a run that serve stopped)."""

    def __init__(self, *, stopping: bool = False) -> None:
        super().__init__()
        self.names = EXPECTED_FAILURES | {STOPPED} if stopping else EXPECTED_FAILURES
        self.stopping = stopping

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and type(exc).__name__ in self.names:
            return False
        if (
            self.stopping
            and isinstance(exc, asyncio.CancelledError)
            and isinstance(exc.__context__, SystemExit)
        ):
            # The runner's exit on SIGTERM cancels what its loop still ran (asyncio logs
            # "Exception in callback ..." for Prefect's control channel).
            return False
        text = record.getMessage()
        if any(name in text for name in self.names):
            return False
        return not (self.stopping and _STOPPED_RUN.search(text))


def console_handlers() -> list[logging.Handler]:
    """The handlers that write to the terminal: every handler of Prefect's loggers and the
    root logger except the one that ships records to the Prefect API."""
    from prefect.logging.handlers import APILogHandler

    found: list[logging.Handler] = []
    for name in ("", "prefect", "prefect.flow_runs", "prefect.task_runs"):
        for handler in logging.getLogger(name).handlers:
            if not isinstance(handler, APILogHandler) and handler not in found:
                found.append(handler)
    return found


def quiet_served_run(environ: Mapping[str, str] | None = None) -> bool:
    """In a process started by `newswatch serve`, filter the terminal for the rest of the
    process's life; returns whether it did. Idempotent."""
    env = os.environ if environ is None else environ
    if env.get(SERVED_RUN_ENV) != "1":
        return False
    for handler in console_handlers():
        if not any(isinstance(f, DropExpectedFailure) for f in handler.filters):
            handler.addFilter(DropExpectedFailure(stopping=True))
    return True
