"""newswatch: poll feeds, match watched topics, store in DuckDB, mail a daily digest.

The package is laid out as the pipeline (docs/code.md): `fetch` -> `parse` -> `match` ->
`store`, then `digest`; `orchestrate` sequences them (and wraps them in Prefect flows), `cli`
is the `newswatch` command. Here: the settings, the values passed between the stages, and
every exception (all `NewswatchError`s but `Interrupted`).

The settings and the values are imported on first use: `import newswatch` (which every
`newswatch` command does first) then costs the exceptions alone, and the command can start
its poll's shard processes before it imports the rest (newswatch.cli.console_main).
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from newswatch._lazy import exports as _exports
from newswatch.errors import (
    AnalystError,
    ConfigError,
    DbWaitError,
    DigestAlreadySending,
    DigestFailed,
    FetchFailure,
    Interrupted,
    MailConfigError,
    MailError,
    NewswatchError,
    PollAlreadyRunning,
    QueryError,
    RunnerError,
    ScheduleError,
    SearchUnavailable,
    SendFailed,
    ServeError,
    TopicRuleError,
    UnknownTopic,
    UserError,
    WarehouseError,
    WarehouseLocked,
)

if _TYPE_CHECKING:
    from newswatch.config import VERSION, Config, load_config
    from newswatch.models import (
        Article,
        FeedHealth,
        FeedSource,
        FeedState,
        FetchResult,
        ParsedFeed,
        TermHit,
        TopicMatch,
    )

    # The installed distribution's version (pyproject.toml), as the User-Agent reports it.
    __version__ = VERSION

_LAZY = {
    "Config": "config",
    "load_config": "config",
    **dict.fromkeys(
        (
            "Article",
            "FeedHealth",
            "FeedSource",
            "FeedState",
            "FetchResult",
            "ParsedFeed",
            "TermHit",
            "TopicMatch",
        ),
        "models",
    ),
}
_lazy_getattr, _lazy_dir = _exports(__name__, _LAZY)


def __getattr__(name: str) -> object:
    if name == "__version__":
        from newswatch.config import VERSION

        return VERSION
    return _lazy_getattr(name)


def __dir__() -> list[str]:
    return sorted({*globals(), *_lazy_dir(), "__version__"})


__all__ = [
    "AnalystError",
    "Article",
    "Config",
    "ConfigError",
    "DbWaitError",
    "DigestAlreadySending",
    "DigestFailed",
    "FeedHealth",
    "FeedSource",
    "FeedState",
    "FetchFailure",
    "FetchResult",
    "Interrupted",
    "MailConfigError",
    "MailError",
    "NewswatchError",
    "ParsedFeed",
    "PollAlreadyRunning",
    "QueryError",
    "RunnerError",
    "ScheduleError",
    "SearchUnavailable",
    "SendFailed",
    "ServeError",
    "TermHit",
    "TopicMatch",
    "TopicRuleError",
    "UnknownTopic",
    "UserError",
    "WarehouseError",
    "WarehouseLocked",
    "__version__",
    "load_config",
]
