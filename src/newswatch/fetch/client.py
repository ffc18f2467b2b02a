"""Fetch feeds over HTTP: the only module of newswatch that talks to the network.

`fetch_stream` fetches many feeds at once and yields one `FetchResult` per feed as each
completes, so parsing can overlap fetching; `fetch_all` collects them in request order.
Every per-feed problem becomes a result with `outcome="error"`, an `error_kind` and a
one-line `error` a user can act on; nothing per-feed is raised.

How it stays fast and safe:
- Requests are sharded by host over ceil(concurrency / connections_per_client) httpx clients,
  each with at most `connections_per_client` connections: one big httpcore pool spends most of
  its CPU on pool bookkeeping, several small ones do not. Sharding by host keeps keep-alive
  connections reused. Limits: `concurrency` overall, `per_host` per host name, and
  `connections_per_client` per client; a feed's clock starts once it holds all three.
- One deadline (`timeout`) covers DNS, connect, redirects, headers and body, so a server that
  trickles bytes is cut off at the deadline, not only when a read stalls.
- Bodies are read raw and decoded here (gzip, deflate) with a bounded zlib decompressor, so
  the `max_bytes` cap applies to the decoded size while streaming and a gzip bomb never
  inflates beyond the cap.
- Network safety: httpx is given a network backend (`_VettedBackend`) that resolves each host
  itself, checks every address against `netsafety` and connects to a checked address. The
  address checked is therefore the address used (no DNS-rebinding window), while the Host
  header and TLS SNI/certificate check still use the host name from the URL. Redirects are
  followed here, hop by hop, and each new connection goes through the same check. Proxies
  from the environment are ignored (`trust_env=False`) because a proxy would bypass the check.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import math
import resource
import socket
import ssl
import time
import zlib
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpcore
import httpx

from newswatch.clock import utc_now
from newswatch.config import FetchSettings
from newswatch.errors import FetchFailure
from newswatch.fetch.netsafety import AllowList, normalise_host, parse_address, scheme_error
from newswatch.models import FeedState, FetchOutcome, FetchResult

log = logging.getLogger("newswatch.fetch")

Resolver = Callable[[str, int], Awaitable[list[str]]]
"""host, port -> the IP addresses (as strings) the host resolves to."""

ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5"
)
# Article pages (sources.yaml `fetch_article`) ask for HTML.
ACCEPT_HTML = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"
# br/zstd are not offered: no bounded decoder for them is installed.
ACCEPT_ENCODING = "gzip, deflate"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_E = TypeVar("_E", bound=BaseException)


@dataclass(frozen=True, slots=True)
class FetchRequest:
    url: str
    etag: str | None = None
    last_modified: str | None = None

    @classmethod
    def for_state(cls, state: FeedState) -> FetchRequest:
        """A conditional request from what was remembered about the feed."""
        return cls(state.url, etag=state.etag, last_modified=state.last_modified)


async def system_resolver(host: str, port: int) -> list[str]:
    """Resolve with the operating system (asyncio's getaddrinfo)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    out: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = str(sockaddr[0])
        if address not in out:
            out.append(address)
    return out


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


@functools.cache
def default_ssl_context() -> ssl.SSLContext:
    """The system's default trust store (httpx's: certifi, or SSL_CERT_FILE / SSL_CERT_DIR).

    Loaded once per process: it takes ~60 ms of CPU here, and the poll's shard processes
    inherit it already loaded from the fork server they come from.
    """
    return httpx.create_ssl_context()


# Descriptors kept for everything but the fetches' sockets (DuckDB, Parquet parts, pipes).
SPARE_FILES = 128


def open_files_allow(concurrency: int) -> int:
    """How many fetches this process can have in flight, at most `concurrency`.

    Each holds a socket. A soft limit on open files below what that needs (1,024 is common)
    is raised toward the hard limit first; if the hard limit is lower still, fewer fetches
    run at once, with a warning, rather than feeds failing with "too many open files".
    """
    want = concurrency + SPARE_FILES
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != resource.RLIM_INFINITY and soft < want:
            raised = want if hard == resource.RLIM_INFINITY else min(want, hard)
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
    except (OSError, ValueError):
        return concurrency  # cannot tell or change; the limit is the operating system's
    if soft == resource.RLIM_INFINITY or soft >= want:
        return concurrency
    allowed = max(1, soft - SPARE_FILES)
    log.warning(
        "fetching %d feeds at a time instead of %d: this process may open only %d files "
        "(raise the limit with `ulimit -n`, or lower fetch.concurrency)",
        allowed,
        concurrency,
        soft,
    )
    return allowed


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
    backend = _VettedBackend(AllowList.parse(allow_hosts), resolver or system_resolver)
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
            await stack.enter_async_context(_make_client(settings, backend, context, accept))
            for _ in range(n_clients)
        ]

        async def run(index: int) -> tuple[int, FetchResult]:
            if admit is not None:
                await admit()
            host = hosts[index]
            client = shard[host]
            # Host first, so a feed waiting for its busy host holds no other slot.
            async with host_slots[host], client_slots[client], all_slots:
                return index, await _fetch_one(requests[index], clients[client], settings, clock)

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


# -- transport: connect only to vetted addresses ----------------------------------------


class _AsyncioStream(httpcore.AsyncNetworkStream):
    """A connection on plain asyncio streams.

    httpcore's AnyIO backend puts an AnyIO cancel scope around every read and write, which
    costs more CPU than the rest of a small fetch; asyncio's own streams do not.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            async with asyncio.timeout(timeout):
                return await self._reader.read(max_bytes)
        except TimeoutError as exc:
            raise httpcore.ReadTimeout(f"no data for {_seconds(timeout or 0)} s") from exc
        except OSError as exc:
            raise httpcore.ReadError(str(exc) or type(exc).__name__) from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        try:
            async with asyncio.timeout(timeout):
                self._writer.write(buffer)
                await self._writer.drain()
        except TimeoutError as exc:
            raise httpcore.WriteTimeout(f"write stalled for {_seconds(timeout or 0)} s") from exc
        except OSError as exc:
            raise httpcore.WriteError(str(exc) or type(exc).__name__) from exc

    async def aclose(self) -> None:
        self._writer.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                await self._writer.start_tls(ssl_context, server_hostname=server_hostname)
        except TimeoutError as exc:
            self._writer.close()
            raise httpcore.ConnectTimeout(f"TLS handshake took over {timeout} s") from exc
        except (OSError, ssl.SSLError) as exc:  # SSLCertVerificationError is both
            self._writer.close()
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        return self

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object":
            return self._writer.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._writer.get_extra_info("sockname")
        if info == "server_addr":
            return self._writer.get_extra_info("peername")
        if info == "socket":
            return self._writer.get_extra_info("socket")
        if info == "is_readable":
            # httpcore asks this of an idle pooled connection: readable means the server
            # closed it (or sent junk), so it must not be reused.
            return self._reader.at_eof() or self._writer.transport.is_closing()
        return None


async def _open_stream(
    address: str, port: int, timeout: float | None, local_address: str | None
) -> _AsyncioStream:
    local = (local_address, 0) if local_address else None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(address, port, local_addr=local)
    except TimeoutError as exc:
        raise httpcore.ConnectTimeout(f"connect took over {timeout} s") from exc
    except OSError as exc:
        raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
    return _AsyncioStream(reader, writer)


class _VettedBackend(httpcore.AsyncNetworkBackend):
    """Resolves the host, refuses unsafe addresses, connects to a checked address."""

    def __init__(self, allow: AllowList, resolver: Resolver) -> None:
        self._allow = allow
        self._resolver = resolver

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if parse_address(host) is not None:
            addresses = [host]
        else:
            addresses = await self._resolve(host, port, timeout)
        verdict = self._allow.check(host, addresses)
        if not verdict.ok:
            if verdict.refused:
                raise FetchFailure("refused_address", verdict.refused[0].message)
            raise FetchFailure("dns", f"cannot resolve host {host}: no addresses")
        failure: Exception | None = None
        for address in verdict.allowed:
            try:
                return await open_stream(address, port, timeout, local_address)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def _resolve(self, host: str, port: int, timeout: float | None) -> list[str]:
        try:
            async with asyncio.timeout(timeout):
                return list(await self._resolver(host, port))
        except TimeoutError:
            raise FetchFailure(
                "timeout", f"DNS lookup of {host} timed out after {_seconds(timeout or 0)} s"
            ) from None
        except socket.gaierror as exc:
            raise FetchFailure("dns", f"cannot resolve host {host}: {exc.strerror}") from None
        except OSError as exc:
            raise FetchFailure("dns", f"cannot resolve host {host}: {exc}") from None

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise FetchFailure("scheme", "unix sockets are not supported")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


# The one place a TCP connection is opened (tests wrap it to prove what is contacted).
open_stream = _open_stream


class _VettedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport, with its connection pool built on `_VettedBackend`.

    httpx 0.28 has no public way to pass a network backend, so the pool it builds is
    replaced by an identical one that has ours (pyproject pins httpx < 0.29).
    """

    def __init__(
        self, backend: _VettedBackend, context: ssl.SSLContext, limits: httpx.Limits
    ) -> None:
        super().__init__(verify=context, trust_env=False, limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
            network_backend=backend,
        )


class _NoCookies(httpx.Cookies):
    """Feeds are fetched without cookies: none is sent, none is kept.

    A poll is stateless per feed, and httpx's cookie-jar bookkeeping on every response was
    ~10% of the CPU of a re-poll where every feed answers 304.
    """

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


def _make_client(
    settings: FetchSettings,
    backend: _VettedBackend,
    context: ssl.SSLContext,
    accept: str = ACCEPT,
) -> httpx.AsyncClient:
    per_client = max(1, settings.connections_per_client)
    limits = httpx.Limits(max_connections=per_client, max_keepalive_connections=per_client)
    client = httpx.AsyncClient(
        transport=_VettedTransport(backend, context, limits),
        timeout=httpx.Timeout(settings.timeout, connect=settings.connect_timeout),
        follow_redirects=False,
        trust_env=False,
        headers={
            "User-Agent": settings.user_agent,
            "Accept": accept,
            "Accept-Encoding": ACCEPT_ENCODING,
        },
    )
    client._cookies = _NoCookies()  # the `cookies` setter would copy into a plain jar
    return client


# -- one feed ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Progress:
    """What is known so far about one fetch, so a timeout can still report it."""

    url: str
    status: int | None = None
    bytes_received: int = 0
    hops: list[str] = field(default_factory=list)


async def _fetch_one(
    request: FetchRequest,
    client: httpx.AsyncClient,
    settings: FetchSettings,
    clock: Callable[[], datetime],
) -> FetchResult:
    started_at = clock()
    start = time.perf_counter()
    progress = _Progress(url=request.url)

    def result(outcome: FetchOutcome, **fields: Any) -> FetchResult:
        return FetchResult(
            feed_url=request.url,
            outcome=outcome,
            started_at=started_at,
            duration_ms=(time.perf_counter() - start) * 1000.0,
            http_status=progress.status,
            final_url=progress.url,
            bytes_received=progress.bytes_received,
            **fields,
        )

    try:
        async with asyncio.timeout(settings.timeout):
            return await _follow(request, client, settings, clock, progress, result)
    except TimeoutError:
        where = " while reading the body" if progress.bytes_received else ""
        return result(
            "error",
            error_kind="timeout",
            error=f"timed out after {_seconds(settings.timeout)} s{where}",
        )
    except FetchFailure as exc:
        return result("error", error_kind=exc.kind, error=exc.message)
    except httpx.HTTPError as exc:
        kind, message = _describe_http_error(exc, progress.url, settings)
        return result("error", error_kind=kind, error=message)
    except Exception as exc:  # one broken feed must never stop the others
        return result(
            "error", error_kind="internal", error=f"unexpected error: {type(exc).__name__}: {exc}"
        )


async def _follow(
    request: FetchRequest,
    client: httpx.AsyncClient,
    settings: FetchSettings,
    clock: Callable[[], datetime],
    progress: _Progress,
    result: Callable[..., FetchResult],
) -> FetchResult:
    headers: dict[str, str] = {}
    if request.etag:
        headers["If-None-Match"] = request.etag
    if request.last_modified:
        headers["If-Modified-Since"] = request.last_modified
    url = _check_url(request.url)
    chain = [str(url)]
    while True:
        progress.url = str(url)
        response = await client.send(client.build_request("GET", url, headers=headers), stream=True)
        try:
            progress.status = response.status_code
            if response.status_code not in REDIRECT_STATUSES:
                return await _finish(request, response, settings, clock, progress, result)
            location = response.headers.get("location")
            if not location:
                raise FetchFailure(
                    "redirects", f"HTTP {response.status_code} redirect without a Location header"
                )
            try:
                target = _check_url(str(url.join(location).copy_with(fragment=None)))
            except httpx.InvalidURL:
                raise FetchFailure(
                    "redirects", f"redirect to an invalid URL: {location!r}"
                ) from None
            if str(target) in chain:
                loop = " -> ".join([*chain[chain.index(str(target)) :], str(target)])
                raise FetchFailure("redirects", f"redirect loop: {loop}")
            if len(chain) > settings.max_redirects:
                raise FetchFailure(
                    "redirects",
                    f"too many redirects (more than {settings.max_redirects}); last to {target}",
                )
            chain.append(str(target))
            url = target
        finally:
            await response.aclose()


def _check_url(text: str) -> httpx.URL:
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL as exc:
        raise FetchFailure("url", f"invalid URL {text!r}: {exc}") from None
    if not url.scheme:
        raise FetchFailure("url", f"not an absolute http(s) URL: {text!r}")
    problem = scheme_error(url.scheme)
    if problem:
        raise FetchFailure("scheme", problem)
    if not url.host:
        raise FetchFailure("url", f"URL has no host: {text!r}")
    return url


async def _finish(
    request: FetchRequest,
    response: httpx.Response,
    settings: FetchSettings,
    clock: Callable[[], datetime],
    progress: _Progress,
    result: Callable[..., FetchResult],
) -> FetchResult:
    status = response.status_code
    headers = response.headers
    etag = headers.get("etag")
    last_modified = headers.get("last-modified")
    max_age = parse_max_age(headers.get("cache-control"))
    if status == 304:
        # A 304 may omit the validators; the ones sent are still the current ones.
        return result(
            "not_modified",
            etag=etag or request.etag,
            last_modified=last_modified or request.last_modified,
            max_age_seconds=max_age,
        )
    if not 200 <= status < 300:
        return result(
            "error",
            error_kind="http_status",
            error=f"HTTP {status} {_reason(response)}".rstrip(),
            retry_after_seconds=parse_retry_after(headers.get("retry-after"), clock()),
            max_age_seconds=max_age,
        )
    body = await _read_body(response, settings.max_bytes, progress)
    common: dict[str, Any] = {
        "content_type": headers.get("content-type"),
        "etag": etag,
        "last_modified": last_modified,
        "max_age_seconds": max_age,
    }
    if not body:
        return result(
            "error", error_kind="empty", error=f"empty response body (HTTP {status})", **common
        )
    return result("ok", body=body, body_sha256=hashlib.sha256(body).hexdigest(), **common)


def _reason(response: httpx.Response) -> str:
    phrase = response.reason_phrase
    if phrase:
        return phrase
    try:
        return HTTPStatus(response.status_code).phrase
    except ValueError:
        return ""


# -- bodies -----------------------------------------------------------------------------


async def _read_body(response: httpx.Response, max_bytes: int, progress: _Progress) -> bytes:
    encoding = response.headers.get("content-encoding", "").strip().lower()
    decoder = _decoder_for(encoding)

    def too_large() -> FetchFailure:
        return FetchFailure("too_large", f"body larger than {format_size(max_bytes)} cap")

    declared = response.headers.get("content-length", "").strip()
    if decoder is None and declared.isdigit() and int(declared) > max_bytes:
        raise too_large()
    chunks: list[bytes] = []
    size = 0
    async for raw in response.aiter_raw():
        progress.bytes_received += len(raw)
        if progress.bytes_received > max_bytes:  # raw larger than the cap: no feed does that
            raise too_large()
        data = raw if decoder is None else decoder.decode(raw, max_bytes - size + 1)
        size += len(data)
        if size > max_bytes:
            raise too_large()
        chunks.append(data)
    if decoder is not None:
        data = decoder.finish(max_bytes - size + 1)
        size += len(data)
        if size > max_bytes:
            raise too_large()
        chunks.append(data)
    return b"".join(chunks)


class BoundedInflater:
    """zlib/gzip/deflate decoding that never produces more output than asked for.

    `decode(data, limit)` returns at most `limit` bytes; a caller that asks for one byte more
    than it can accept sees an overflow without the rest ever being inflated.
    """

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self._gzip = encoding in ("gzip", "x-gzip")
        self._wbits = 16 + zlib.MAX_WBITS if self._gzip else zlib.MAX_WBITS
        self._obj = zlib.decompressobj(self._wbits)
        self._started = False
        self._done = False  # a complete stream was seen; later garbage is ignored

    def decode(self, data: bytes, limit: int) -> bytes:
        out: list[bytes] = []
        produced = 0
        while data and produced < limit and not self._done:
            try:
                chunk = self._obj.decompress(data, limit - produced)
            except zlib.error as exc:
                if not self._started and not self._gzip and self._wbits > 0:
                    # "deflate" is often sent as a raw deflate stream without zlib header.
                    self._wbits = -zlib.MAX_WBITS
                    self._obj = zlib.decompressobj(self._wbits)
                    continue
                raise FetchFailure(
                    "encoding", f"cannot decode {self.encoding} body: {exc}"
                ) from None
            self._started = True
            out.append(chunk)
            produced += len(chunk)
            if self._obj.eof:
                data = self._obj.unused_data
                if self._gzip and data.lstrip(b"\0"):  # concatenated gzip members
                    self._obj = zlib.decompressobj(self._wbits)
                else:
                    self._done = True
            else:
                data = self._obj.unconsumed_tail
        return b"".join(out)

    def finish(self, limit: int) -> bytes:
        if self._done:
            return b""
        try:
            return self._obj.flush(max(1, limit))
        except zlib.error as exc:
            raise FetchFailure("encoding", f"cannot decode {self.encoding} body: {exc}") from None


def _decoder_for(encoding: str) -> BoundedInflater | None:
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip", "deflate"):
        return BoundedInflater(encoding)
    raise FetchFailure(
        "encoding", f"unsupported Content-Encoding {encoding!r} (newswatch accepts gzip, deflate)"
    )


# -- header values and messages -----------------------------------------------------------


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """`Retry-After` as seconds from `now`: either delta-seconds or an HTTP date."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(int(text))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def parse_max_age(value: str | None) -> float | None:
    """The `max-age` directive of a Cache-Control header, in seconds."""
    if not value:
        return None
    for part in value.split(","):
        name, _, arg = part.partition("=")
        if name.strip().lower() == "max-age":
            arg = arg.strip().strip('"')
            return float(int(arg)) if arg.isdigit() else None
    return None


def format_size(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{round(n / size, 1):g} {unit}"
    return f"{n} bytes"


def _seconds(value: float) -> str:
    return f"{value:g}"


def _describe_http_error(
    exc: httpx.HTTPError, url: str, settings: FetchSettings
) -> tuple[str, str]:
    try:
        parts = urlsplit(url)
        where = f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
    except ValueError:
        where = url
    tls = _find_cause(exc, ssl.SSLError)
    if isinstance(tls, ssl.SSLCertVerificationError):
        detail = tls.verify_message or tls.reason or str(tls)
        return "tls", f"TLS error: certificate verify failed: {detail} ({where})"
    if tls is not None:
        return "tls", f"TLS error: {tls.reason or tls} ({where})"
    if isinstance(exc, httpx.ConnectTimeout):
        return (
            "timeout",
            f"connect to {where} timed out after {_seconds(settings.connect_timeout)} s",
        )
    if isinstance(exc, httpx.TimeoutException):
        return "timeout", f"timed out after {_seconds(settings.timeout)} s"
    if isinstance(exc, httpx.ConnectError):
        if _find_cause(exc, ConnectionRefusedError) is not None:
            return "network", f"connection refused by {where}"
        os_error = _find_cause(exc, OSError)
        detail = os_error.strerror if os_error is not None and os_error.strerror else str(exc)
        return "network", f"cannot connect to {where}: {detail}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "network", f"bad HTTP response from {where}: {exc}"
    return "network", f"network error talking to {where}: {exc or type(exc).__name__}"


def _find_cause(exc: BaseException, kind: type[_E]) -> _E | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None
