"""Storing: the DuckDB warehouse and the Parquet spool a poll stages its batches in.

`warehouse` is the only module that talks to DuckDB, `spool` stages a poll's batch on disk,
`dbwait` says how long to wait for a database another process holds, and `snippets` cuts
search-result snippets (pure).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from newswatch._lazy import exports

if TYPE_CHECKING:
    from newswatch.store.dbwait import db_wait_seconds as db_wait_seconds
    from newswatch.store.spool import SpoolWriter as SpoolWriter
    from newswatch.store.spool import new_poll_id as new_poll_id
    from newswatch.store.warehouse import (
        connect as connect,
    )
    from newswatch.store.warehouse import (
        merge_batch as merge_batch,
    )
    from newswatch.store.warehouse import (
        migrate as migrate,
    )
    from newswatch.store.warehouse import (
        schema_version as schema_version,
    )
    from newswatch.store.warehouse import (
        search_articles as search_articles,
    )

_API = {
    "SpoolWriter": "spool",
    "connect": "warehouse",
    "db_wait_seconds": "dbwait",
    "merge_batch": "warehouse",
    "migrate": "warehouse",
    "new_poll_id": "spool",
    "schema_version": "warehouse",
    "search_articles": "warehouse",
}
__all__ = sorted(_API)
__getattr__, __dir__ = exports(__name__, _API)
