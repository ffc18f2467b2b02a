"""How long pipeline stages wait for a database file another process holds.

An analyst's DuckDB CLI or notebook holds a lock on the file; a poll waits this long for it,
then keeps its batch spooled on disk for the next poll to merge. Set NEWSWATCH_DB_WAIT
(seconds, e.g. 5 or 0.5) to shorten or lengthen the wait.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

from newswatch.errors import DbWaitError

ENV = "NEWSWATCH_DB_WAIT"
DEFAULT_SECONDS = 30.0


def db_wait_seconds(
    env: Mapping[str, str] | None = None, default: float = DEFAULT_SECONDS
) -> float:
    """Seconds to wait for a locked database: $NEWSWATCH_DB_WAIT, else `default`."""
    raw = (os.environ if env is None else env).get(ENV, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise DbWaitError(f"{ENV} must be a number of seconds, got {raw!r}") from None
    if not math.isfinite(value) or value < 0:
        raise DbWaitError(f"{ENV} must be a number of seconds >= 0, got {raw!r}")
    return value
