"""Ctrl-C (or SIGTERM) during a command that runs a Prefect flow: one line, then a prompt exit.

Left to itself, an interrupted flow first reports its crash to the Prefect API. A terminal's
Ctrl-C reaches the whole process group, so a one-off command's temporary API server is
already gone: Prefect then retried for over a minute (measured: 85 s from Ctrl-C to exit)
and printed a screen of connection tracebacks. Here the first signal prints one line,
silences the terminal, and lets Prefect report the crash for `grace` seconds (enough when
the API is a running server); then the command's own processes (temporary API server, poll
shards) are stopped and it exits with status 130. A second signal exits at once.

Nothing is lost by leaving early: a poll's spooled batch is complete only once its manifest
is written (an incomplete one is discarded by the next poll, which fetches those feeds
again), and a merge that did not commit is rolled back by DuckDB.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from types import FrameType
from typing import Any, TextIO

EXIT_INTERRUPTED = 130
INTERRUPT_GRACE_SECONDS = 3.0


def stop_own_processes() -> None:
    """SIGTERM every live descendant of this process."""
    from newswatch.serve import descendants

    for child in descendants(os.getpid()):
        with suppress(ProcessLookupError):
            os.kill(child, signal.SIGTERM)


def _leave() -> None:
    stop_own_processes()
    os._exit(EXIT_INTERRUPTED)


def _silence_terminal() -> None:
    # What follows an interrupt is Prefect's shutdown chatter; the user was told already.
    devnull = os.open(os.devnull, os.O_WRONLY)
    for fd in (1, 2):
        with suppress(OSError):
            os.dup2(devnull, fd)
    os.close(devnull)


@contextmanager
def prompt_exit_on_interrupt(
    message: str,
    *,
    grace: float = INTERRUPT_GRACE_SECONDS,
    stderr: TextIO | None = None,
    leave: Callable[[], None] = _leave,
    silence: Callable[[], None] = _silence_terminal,
) -> Iterator[None]:
    """While inside, SIGINT/SIGTERM print `message`, raise KeyboardInterrupt in the main
    thread (Prefect records the run as crashed if its API answers) and end the process
    `grace` seconds later at the latest."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers belong to the main thread
        return
    interrupted = threading.Event()
    finished = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        del frame
        if interrupted.is_set():
            leave()
            return
        interrupted.set()
        out = stderr or sys.stderr
        try:
            out.write(f"\n{message}\n")
            out.flush()
        except (OSError, ValueError):
            pass
        silence()

        def watchdog() -> None:
            if not finished.wait(grace):
                leave()

        threading.Thread(target=watchdog, name="newswatch-interrupt", daemon=True).start()
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous: dict[signal.Signals, Any] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, on_signal)
    try:
        yield
    finally:
        finished.set()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if interrupted.is_set():
            leave()  # the flow unwound within the grace: no need to wait for it
