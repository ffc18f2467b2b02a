"""Storing: the DuckDB warehouse and the Parquet spool a poll stages its batches in.

`warehouse` opens, migrates, merges into and reads the DuckDB file, `search` keeps its
full-text index and searches it, `export` runs analysts' SQL and exports Parquet,
`article_pages` holds the article-page step's rows (these four are the only code that talks
to DuckDB), `spool` stages a poll's batch on disk, `dbwait` says how long to wait for a
database another process holds, and `snippets` cuts search-result snippets (pure).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from newswatch._lazy import exports

if TYPE_CHECKING:
    from newswatch.store.dbwait import db_wait_seconds as db_wait_seconds
    from newswatch.store.export import export_parquet as export_parquet
    from newswatch.store.export import run_query as run_query
    from newswatch.store.search import (
        refresh_search_index as refresh_search_index,
    )
    from newswatch.store.search import (
        search_articles as search_articles,
    )
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

_API = {
    "SpoolWriter": "spool",
    "connect": "warehouse",
    "db_wait_seconds": "dbwait",
    "export_parquet": "export",
    "merge_batch": "warehouse",
    "migrate": "warehouse",
    "new_poll_id": "spool",
    "refresh_search_index": "search",
    "run_query": "export",
    "schema_version": "warehouse",
    "search_articles": "search",
    "topic_articles": "search",
}
__all__ = sorted(_API)
__getattr__, __dir__ = exports(__name__, _API)
