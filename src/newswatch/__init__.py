"""newswatch: poll feeds, match watched topics, store in DuckDB, mail a daily digest.

The package is laid out as the pipeline (docs/code.md): `fetch` -> `parse` -> `match` ->
`store`, then `digest`; `orchestrate` sequences them (and wraps them in Prefect flows), `cli`
is the `newswatch` command. Here: the settings, the values passed between the stages, and
every exception (all `NewswatchError`s but `Interrupted`).
"""

from newswatch.config import VERSION, Config, load_config
from newswatch.errors import (
    AnalystError,
    ConfigError,
    DbWaitError,
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

__all__ = [
    "AnalystError",
    "Article",
    "Config",
    "ConfigError",
    "DbWaitError",
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
