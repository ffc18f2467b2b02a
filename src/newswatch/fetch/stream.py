"""Fetching many feeds at once: `fetch_stream` yields one `FetchResult` per feed as each
completes, so parsing can overlap fetching; `fetch_all` collects them in request order.

Requests are sharded by host over ceil(concurrency / connections_per_client) httpx clients,
each with at most `connections_per_client` connections: one big httpcore pool spends most of
its CPU on pool bookkeeping, several small ones do not. Sharding by host keeps keep-alive
connections reused. Limits: `concurrency` overall, `per_host` per host name, and
`connections_per_client` per client; a feed's clock starts once it holds all three.
"""

from __future__ import annotations

import asyncio
import math
import ssl
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from newswatch.clock import utc_now
from newswatch.config import FetchSettings
from newswatch.fetch.client import (
    ACCEPT,
    Resolver,
    VettedBackend,
    default_ssl_context,
    make_client,
    open_files_allow,
    system_resolver,
)
from newswatch.fetch.get import fetch_one
from newswatch.fetch.netsafety import AllowList, normalise_host
from newswatch.models import FeedState, FetchResult


@dataclass(frozen=True, slots=True)
class FetchRequest:
    url: str
    etag: str | None = None
    last_modified: str | None = None

    @classmethod
    def for_state(cls, state: FeedState) -> FetchRequest:
        """A conditional request from what was remembered about the feed."""
        return cls(state.url, etag=state.etag, last_modified=state.last_modified)


# -- public API -----------------------------------------------------------------------


async def fetch_stream(
    requests: Sequence[FetchRequest],
    settings: FetchSettings,
    *,
    allow_hosts: Sequence[str] = (),
    resolver: Resolver | None = None,
    clock: Callable[[], datetime] = utc_now,
    ssl_context: ssl.SSLContext | None = None,
    admit: Callable[[], Awaitable[Any]] | None = None,
    accept: str = ACCEPT,
) -> AsyncGenerator[FetchResult, None]:
    """Fetch all requests concurrently; yield each result as soon as it is complete.

    `allow_hosts` is the `allow_hosts:` list of sources.yaml (host names, addresses, CIDR
    ranges). `resolver` replaces DNS (tests). `ssl_context` replaces the default trust store
    (e.g. a private CA). `admit`, when given, is awaited before each fetch starts (before
    its deadline runs): a consumer slower than the network uses it to bound how many
    bodies wait in memory. `accept` is the Accept header (feeds by default; ACCEPT_HTML for
    article pages).
    """
    async for _index, result in _fetch_indexed(
        requests, settings, allow_hosts, resolver, clock, ssl_context, admit, accept
    ):
        yield result


async def fetch_all(
    requests: Sequence[FetchRequest],
    settings: FetchSettings,
    *,
    allow_hosts: Sequence[str] = (),
    resolver: Resolver | None = None,
    clock: Callable[[], datetime] = utc_now,
    ssl_context: ssl.SSLContext | None = None,
) -> list[FetchResult]:
    """Fetch all requests concurrently; return the results in request order."""
    out: list[FetchResult | None] = [None] * len(requests)
    async for index, result in _fetch_indexed(
        requests, settings, allow_hosts, resolver, clock, ssl_context
    ):
        out[index] = result
    return [r for r in out if r is not None]


# -- scheduling -------------------------------------------------------------------------


def _host_key(url: str) -> str:
    try:
        return normalise_host(urlsplit(url).hostname or "")
    except ValueError:
        return ""


def shard_hosts(hosts: Iterable[str], n_clients: int) -> dict[str, int]:
    """Give each host one client, balancing the number of requests per client.

    `hosts` has one entry per request; all requests of a host share a client so its
    keep-alive connections are reused.
    """
    counts: dict[str, int] = {}
    for host in hosts:
        counts[host] = counts.get(host, 0) + 1
    load = [0] * n_clients
    out: dict[str, int] = {}
    for host, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        client = min(range(n_clients), key=load.__getitem__)
        out[host] = client
        load[client] += count
    return out


async def _fetch_indexed(
    requests: Sequence[FetchRequest],
    settings: FetchSettings,
    allow_hosts: Sequence[str],
    resolver: Resolver | None,
    clock: Callable[[], datetime],
    ssl_context: ssl.SSLContext | None,
    admit: Callable[[], Awaitable[Any]] | None = None,
    accept: str = ACCEPT,
) -> AsyncIterator[tuple[int, FetchResult]]:
    if not requests:
        return
    backend = VettedBackend(AllowList.parse(allow_hosts), resolver or system_resolver)
    hosts = [_host_key(r.url) for r in requests]
    concurrency = open_files_allow(settings.concurrency)
    per_client = max(1, settings.connections_per_client)
    n_clients = max(1, min(math.ceil(concurrency / per_client), len(set(hosts))))
    shard = shard_hosts(hosts, n_clients)
    all_slots = asyncio.Semaphore(max(1, concurrency))
    client_slots = [asyncio.Semaphore(per_client) for _ in range(n_clients)]
    host_slots = {h: asyncio.Semaphore(max(1, settings.per_host)) for h in shard}
    context = ssl_context or default_ssl_context()

    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(make_client(settings, backend, context, accept))
            for _ in range(n_clients)
        ]

        async def run(index: int) -> tuple[int, FetchResult]:
            if admit is not None:
                await admit()
            host = hosts[index]
            client = shard[host]
            # Host first, so a feed waiting for its busy host holds no other slot.
            async with host_slots[host], client_slots[client], all_slots:
                return index, await fetch_one(requests[index], clients[client], settings, clock)

        # Finished fetches go to a queue and their tasks are dropped at once: a list of all
        # tasks would keep every body of the poll alive until the last fetch ends (4,000
        # feeds: +80 MB per shard process), whatever the consumer has already parsed.
        finished: asyncio.Queue[asyncio.Task[tuple[int, FetchResult]]] = asyncio.Queue()
        pending: set[asyncio.Task[tuple[int, FetchResult]]] = set()

        def on_done(task: asyncio.Task[tuple[int, FetchResult]]) -> None:
            pending.discard(task)
            finished.put_nowait(task)

        for i in range(len(requests)):
            task = asyncio.create_task(run(i))
            pending.add(task)
            task.add_done_callback(on_done)
        try:
            for _ in range(len(requests)):
                done = await finished.get()
                yield done.result()
                del done
        finally:
            for task in list(pending):
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
