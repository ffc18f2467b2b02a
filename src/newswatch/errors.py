"""Every exception newswatch raises on purpose, in one place, under one base class.

`NewswatchError` is the base of them all: `except NewswatchError` catches every failure
newswatch expects and explains (a bad sources file, an unusable warehouse, a refused send),
and nothing else. Each message is one line a user can act on. Those that are also a
`ValueError` (a bad value in a setting or rule) stay one, so code that caught `ValueError`
still does.

`Interrupted` is the exception: Ctrl-C or SIGTERM is a `KeyboardInterrupt`, which no
`except Exception` may swallow, so it is not a `NewswatchError`.

Pure module: importing it loads nothing else of newswatch.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from newswatch.orchestrate.pipeline import DigestSummary

__all__ = [
    "AnalystError",
    "ConfigError",
    "DbWaitError",
    "DigestAlreadySending",
    "DigestFailed",
    "FetchFailure",
    "Interrupted",
    "MailConfigError",
    "MailError",
    "NewswatchError",
    "PollAlreadyRunning",
    "QueryError",
    "RunnerError",
    "ScheduleError",
    "SearchUnavailable",
    "SendFailed",
    "ServeError",
    "TopicRuleError",
    "UnknownTopic",
    "UserError",
    "WarehouseError",
    "WarehouseLocked",
]

# A key path inside one topic of sources.yaml: ("rules", 0, "all").
RulePath = tuple[str | int, ...]


class NewswatchError(Exception):
    """The base of every failure newswatch expects and reports in one line."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM, with what the command says about it."""


# -- the sources file ----------------------------------------------------------------------


class ConfigError(NewswatchError):
    """A problem in sources.yaml, located by file, line and field."""

    def __init__(self, file: str | Path, line: int | None, field: str, message: str) -> None:
        self.file = str(file)
        self.line = line
        self.field = field
        self.message = message
        where = f"{self.file}:{line}" if line else self.file
        super().__init__(f"{where}: {field}: {message}" if field else f"{where}: {message}")


class TopicRuleError(NewswatchError, ValueError):
    """An invalid topic rule. `index` is the topic's position in the list, `path` the key
    path inside that topic (for line numbers), `topic` its name."""

    def __init__(
        self, topic: str, message: str, index: int | None = None, path: RulePath = ()
    ) -> None:
        self.topic = topic
        self.message = message
        self.index = index
        self.path = path
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
        super().__init__(f"topic {topic!r}: {where + ': ' if where else ''}{message}")


class UnknownTopic(NewswatchError, ValueError):
    """A topic name that the sources file does not define."""


class ScheduleError(NewswatchError, ValueError):
    """An unusable schedule spec or time zone name; the message is one line a user can act on."""


class RunnerError(NewswatchError, ValueError):
    """A runner that cannot be used as asked (one line for the user)."""


class DbWaitError(NewswatchError, ValueError):
    """NEWSWATCH_DB_WAIT is not a number of seconds."""


# -- fetching ------------------------------------------------------------------------------


class FetchFailure(NewswatchError):
    """A per-feed failure with a machine-readable kind and a one-line message."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


# -- the warehouse -------------------------------------------------------------------------


class WarehouseError(NewswatchError):
    """The warehouse cannot be used (unwritable, corrupt, newer schema): one line for users."""


class WarehouseLocked(WarehouseError):
    """Another process holds the database file for longer than we may wait."""


class SearchUnavailable(WarehouseError):
    """Full-text search cannot run (extension missing, or no index built yet)."""


class QueryError(WarehouseError):
    """An analyst's SQL failed: the database's message, first line only."""


class AnalystError(WarehouseError):
    """A usage problem in an analyst command (one line, exit status 2)."""


class PollAlreadyRunning(NewswatchError):
    """Another poll holds this warehouse's poll lock."""


class DigestAlreadySending(NewswatchError):
    """Another `digest --send` of this warehouse held its send lock for too long."""


# -- the digest and its delivery -----------------------------------------------------------


class MailConfigError(NewswatchError):
    """Bad mail settings; the message names the environment variable and the fix."""


class MailError(NewswatchError):
    """Delivery failed; the message is one line and never contains the password.

    `transient` is True when trying again later may work (the server said 4xx, the
    connection dropped or timed out); False for a refusal that will not change by itself.
    """

    def __init__(self, message: str, *, transient: bool = False, answered: bool = True) -> None:
        super().__init__(message)
        self.transient = transient
        self.answered = answered


class SendFailed(NewswatchError):
    """The send failed and was recorded as `failed`; `transient` when a retry may work."""

    def __init__(self, digest_id: str, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.digest_id = digest_id
        self.transient = transient


class DigestFailed(NewswatchError):
    """The digest could not be sent (recorded as `failed`); carries the run's summary."""

    def __init__(self, summary: DigestSummary) -> None:
        super().__init__(summary.message or "the digest could not be sent")
        self.summary = summary


# -- commands ------------------------------------------------------------------------------


class UserError(NewswatchError):
    """An expected failure with a message for the user (exit status 2)."""


class ServeError(NewswatchError):
    """An expected failure of `newswatch serve`, with a one-line message for the user."""
