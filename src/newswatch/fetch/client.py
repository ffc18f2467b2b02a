"""The HTTP clients feeds are fetched with, and the only place newswatch opens a connection.

`make_client` builds an httpx client with at most `connections_per_client` connections, one
deadline covering DNS, connect, redirects, headers and body (`timeout`), no cookies, and
redirects left to `get` (followed hop by hop there). `open_files_allow` fits the number of
fetches in flight to the process's limit on open files. Fetching many feeds is `stream`'s
job, one feed `get`'s, and decoding a body `body`'s.

Network safety: httpx is given a network backend (`VettedBackend`) that resolves each host
itself, checks every address against `netsafety` and connects to a checked address. The
address checked is therefore the address used (no DNS-rebinding window), while the Host
header and TLS SNI/certificate check still use the host name from the URL. Each new
connection of a redirect goes through the same check. Proxies from the environment are
ignored (`trust_env=False`) because a proxy would bypass the check.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import resource
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpcore
import httpx

from newswatch.config import FetchSettings
from newswatch.errors import FetchFailure
from newswatch.fetch.netsafety import AllowList, parse_address

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


async def system_resolver(host: str, port: int) -> list[str]:
    """Resolve with the operating system (asyncio's getaddrinfo)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    out: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = str(sockaddr[0])
        if address not in out:
            out.append(address)
    return out


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
            raise httpcore.ReadTimeout(f"no data for {seconds(timeout or 0)} s") from exc
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
            raise httpcore.WriteTimeout(f"write stalled for {seconds(timeout or 0)} s") from exc
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


class VettedBackend(httpcore.AsyncNetworkBackend):
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
                "timeout", f"DNS lookup of {host} timed out after {seconds(timeout or 0)} s"
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
    """httpx's own transport, with its connection pool built on `VettedBackend`.

    httpx 0.28 has no public way to pass a network backend, so the pool it builds is
    replaced by an identical one that has ours (pyproject pins httpx < 0.29).
    """

    def __init__(
        self, backend: VettedBackend, context: ssl.SSLContext, limits: httpx.Limits
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


def make_client(
    settings: FetchSettings,
    backend: VettedBackend,
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


def seconds(value: float) -> str:
    return f"{value:g}"
