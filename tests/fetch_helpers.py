"""A tiny raw HTTP/1.1 server on loopback for fetch tests that need odd servers.

It runs in the test's own event loop; each test gives a handler that receives the parsed
request and writes whatever bytes it likes (trickles, bombs, endless bodies, redirects).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from newswatch.fetch import client as fetch_module
from tests.feedserver import FeedServer


def loopback_only_connects(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every TCP connect the fetcher makes, by address; a non-loopback one fails.

    This is the proof that refused hosts are never contacted: the spy sits where packets
    would leave, and it refuses anything but loopback even if the code under test is wrong.
    """
    seen: list[str] = []
    original = fetch_module.open_stream

    async def spy(address: str, port: int, *args: Any) -> Any:
        seen.append(address)
        if not ipaddress.ip_address(address).is_loopback:
            raise AssertionError(f"test tried to connect to non-loopback {address}")
        return await original(address, port, *args)

    monkeypatch.setattr(fetch_module, "open_stream", spy)
    return seen


def resolver_for(table: dict[str, list[str]]) -> Callable[[str, int], Awaitable[list[str]]]:
    """A resolver answering from `table`; any other name fails as DNS would."""

    async def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]

    return resolve


@dataclass
class RawRequest:
    method: str
    path: str
    headers: dict[str, str]


# Returns True to keep the connection open for another request.
RawHandler = Callable[[RawRequest, asyncio.StreamWriter], Awaitable[bool]]


def http_response(status: int, headers: dict[str, str] | None = None, body: bytes = b"") -> bytes:
    head = [f"HTTP/1.1 {status} {_PHRASES.get(status, 'Status')}"]
    all_headers = {"Content-Length": str(len(body)), **(headers or {})}
    head += [f"{k}: {v}" for k, v in all_headers.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


_PHRASES = {
    200: "OK",
    301: "Moved Permanently",
    302: "Found",
    304: "Not Modified",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


async def _read_request(reader: asyncio.StreamReader) -> RawRequest:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _version = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return RawRequest(method, path, headers)


@asynccontextmanager
async def raw_server(
    handler: RawHandler, *, host: str = "127.0.0.1", ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[str]:
    """Serve `handler` on host:<free port>; yields the base URL (no trailing slash)."""

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await _read_request(reader)
                if not await handler(request, writer):
                    break
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        except ssl.SSLError:
            pass  # the client rejected our certificate, as some tests intend
        finally:
            writer.close()

    server = await asyncio.start_server(on_connection, host, 0, ssl=ssl_context)
    port = server.sockets[0].getsockname()[1]
    scheme = "https" if ssl_context else "http"
    try:
        yield f"{scheme}://{host}:{port}"
    finally:
        server.close()


class QuickFeedServer(FeedServer):
    """FeedServer that stops in 0.05 s instead of 0.5 s (serve_forever's poll interval)."""

    def start(self) -> QuickFeedServer:
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self
