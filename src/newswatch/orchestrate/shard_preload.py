"""What the poll's shard processes inherit: imported once, in the fork server they are forked
from (multiprocessing's forkserver preload), never by a command itself.

It imports the poll's modules, loads the default TLS trust store and, when the command named
its sources file in shards.SHARD_SOURCES_ENV, parses and compiles that file. A shard forked
from this server then starts in milliseconds: otherwise each would import httpx, feedparser
and pyarrow (~1 s of CPU; pyarrow alone ~0.13 s, at a shard's first Parquet part), load the
trust store (~60 ms) and unpickle the compiled topics (~60 ms per 1,000 feeds) after the poll
has started, while the parent waits on the pipe.
lingua's models are not loaded here but by each shard when it first detects a language
(~0.15 s of CPU): an all-304 poll, which parses nothing, would otherwise wait for them.
"""

from __future__ import annotations

import contextlib
import os

# The shards write the poll's Parquet parts (the command itself never imports pyarrow).
import pyarrow.parquet  # noqa: F401

from newswatch.config import load_config
from newswatch.fetch import client as fetch
from newswatch.orchestrate import poll, shards  # noqa: F401 (poll: imported for the shards)

fetch.default_ssl_context()
if os.environ.get(shards.SHARD_SOURCES_ENV):
    # Only a head start: a shard that finds another text parses the one it is sent.
    with contextlib.suppress(Exception):
        load_config(os.environ[shards.SHARD_SOURCES_ENV])
