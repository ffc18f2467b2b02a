"""newswatch: poll feeds, match watched topics, store in DuckDB, mail a daily digest."""

from newswatch.config import Config, ConfigError, load_config
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

__version__ = "0.1.0"

__all__ = [
    "Article",
    "Config",
    "ConfigError",
    "FeedHealth",
    "FeedSource",
    "FeedState",
    "FetchResult",
    "ParsedFeed",
    "TermHit",
    "TopicMatch",
    "__version__",
    "load_config",
]
