"""Locks that keep two processes from doing one warehouse's job twice.

A lock is an advisory `flock` on a file beside the warehouse (`.NAME.poll.lock`,
`.NAME.send.lock`); the kernel drops it when its process ends, however it ends, so a crash
never leaves one behind.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from newswatch.errors import DigestAlreadySending, PollAlreadyRunning

# How long a second `digest --send` waits for the first one to finish sending (an SMTP
# exchange that stalls gives up well before: mail.DEFAULT_TIMEOUT per operation).
SEND_WAIT_SECONDS = 300.0
_POLL_INTERVAL = 0.1


@contextmanager
def _flock(path: Path, wait_seconds: float) -> Iterator[bool]:
    """Hold an exclusive lock on `path`, waiting up to `wait_seconds` for it; yields whether
    it was taken."""
    # Opened read-only (flock needs no write access): a lock held for a long poll is then no
    # open writer on the warehouse's filesystem, which could otherwise not be remounted
    # read-only (or unmounted cleanly) meanwhile.
    fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    yield False
                    return
                time.sleep(_POLL_INTERVAL)
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


# A poll that finds the lock held tries again for this long before it gives up (a digest
# checking whether a poll runs holds it for an instant, see wait_for_poll).
POLL_LOCK_GRACE = 1.0


def _lock_path(db_path: Path, job: str) -> Path:
    return db_path.parent / f".{db_path.name}.{job}.lock"


@contextmanager
def poll_lock(db_path: Path) -> Iterator[None]:
    """Overlapping polls of one warehouse are refused (a second one would fetch everything
    twice)."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    with _flock(_lock_path(db_path, "poll"), POLL_LOCK_GRACE) as taken:
        if not taken:
            raise PollAlreadyRunning(f"another poll of {db_path} is running")
        yield


@contextmanager
def send_lock(db_path: Path, wait_seconds: float = SEND_WAIT_SECONDS) -> Iterator[None]:
    """One `digest --send` of a warehouse at a time, from deciding to send to recording the
    send: a second one started meanwhile waits, then finds the digest sent and does not send
    it again (two at once would each find it unsent and send it twice). A scheduled digest
    can come before the first poll made the warehouse's folder: the folder is made."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    with _flock(_lock_path(db_path, "send"), wait_seconds) as taken:
        if not taken:
            raise DigestAlreadySending(
                f"another `newswatch digest --send` of {db_path} has been sending for over "
                f"{wait_seconds:.0f} s; nothing was sent by this one; run it again once that "
                "one has finished"
            )
        yield


def wait_for_poll(
    db_path: Path, wait_seconds: float, on_wait: Callable[[], None] | None = None
) -> bool:
    """Wait, up to `wait_seconds`, until no poll of the warehouse runs; returns whether one
    was running (`on_wait` is called once, when one is found running, before waiting). A
    digest that starts beside a poll (both due at 07:00, or the catch-up poll and the late
    digest after `serve` was down) then covers that poll's articles too."""
    try:
        fd = os.open(_lock_path(db_path, "poll"), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False  # no poll has ever run here
    try:
        deadline = time.monotonic() + wait_seconds
        running = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                if not running and on_wait is not None:
                    on_wait()
                running = True
                if time.monotonic() >= deadline:
                    return running
                time.sleep(_POLL_INTERVAL)
                continue
            fcntl.flock(fd, fcntl.LOCK_UN)
            return running
    finally:
        os.close(fd)
