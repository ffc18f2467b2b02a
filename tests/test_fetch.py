"""fetch.py against real loopback servers (FeedServer and tiny asyncio servers)."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import socket
import ssl
import time
import tracemalloc
import zlib
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any, TypeVar

import pytest
import trustme

from newswatch.config import FetchSettings
from newswatch.errors import FetchFailure
from newswatch.fetch.body import BoundedInflater, format_size
from newswatch.fetch.headers import parse_max_age, parse_retry_after
from newswatch.fetch.stream import FetchRequest, fetch_all, fetch_stream, shard_hosts
from newswatch.models import FeedState, FetchResult
from tests.feedserver import FeedServer
from tests.fetch_helpers import (
    QuickFeedServer,
    RawRequest,
    http_response,
    loopback_only_connects,
    raw_server,
    resolver_for,
)

T = TypeVar("T")
LOOPBACK = ["127.0.0.0/8"]
FAST = FetchSettings(timeout=5.0, connect_timeout=2.0)
RSS = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def fetch_one(url: str, settings: FetchSettings = FAST, **kwargs: Any) -> FetchResult:
    kwargs.setdefault("allow_hosts", LOOPBACK)
    return run(fetch_all([FetchRequest(url)], settings, **kwargs))[0]


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """conftest's feed_server, but quicker to shut down (many tests use it)."""
    server = QuickFeedServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def connects(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every TCP connect the fetcher makes, by address; a non-loopback one is blocked."""
    return loopback_only_connects(monkeypatch)


# -- conditional GET, statuses ---------------------------------------------------------


def test_etag_then_304_sends_validators(feed_server: FeedServer) -> None:
    url = feed_server.route(
        "/a.xml", body=RSS, headers={"Last-Modified": "Tue, 01 Apr 2025 10:00:00 GMT"}
    )
    first = fetch_one(url)
    assert first.outcome == "ok"
    assert first.http_status == 200
    assert first.body == RSS
    assert first.body_sha256 == hashlib.sha256(RSS).hexdigest()
    assert first.bytes_received == len(RSS)
    assert first.etag and first.last_modified == "Tue, 01 Apr 2025 10:00:00 GMT"
    assert first.content_type == "application/rss+xml; charset=utf-8"

    again = FetchRequest.for_state(
        FeedState(url, etag=first.etag, last_modified=first.last_modified)
    )
    second = run(fetch_all([again], FAST, allow_hosts=LOOPBACK))[0]
    assert second.outcome == "not_modified"
    assert second.http_status == 304
    assert second.body is None and second.error is None
    assert second.etag == first.etag

    seen = feed_server.requests_for("/a.xml")
    assert "if-none-match" not in seen[0].headers
    assert seen[1].headers["if-none-match"] == first.etag
    assert seen[1].headers["if-modified-since"] == first.last_modified
    assert seen[0].headers["user-agent"] == FAST.user_agent
    assert "application/rss+xml" in seen[0].headers["accept"]
    assert "gzip" in seen[0].headers["accept-encoding"]


@pytest.mark.parametrize(
    ("status", "message"), [(404, "HTTP 404 Not Found"), (500, "HTTP 500 Internal Server Error")]
)
def test_http_error_status(feed_server: FeedServer, status: int, message: str) -> None:
    url = feed_server.route("/x.xml", body=b"nope", status=status)
    result = fetch_one(url)
    assert (result.outcome, result.error_kind, result.http_status) == (
        "error",
        "http_status",
        status,
    )
    assert result.error == message
    assert result.body is None


def test_429_retry_after_seconds_and_date(feed_server: FeedServer) -> None:
    now = datetime(2025, 4, 1, 12, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=90), usegmt=True)
    a = feed_server.route("/a", status=429, body=b"slow down", headers={"Retry-After": "120"})
    b = feed_server.route("/b", status=503, body=b"busy", headers={"Retry-After": later})
    results = run(
        fetch_all([FetchRequest(a), FetchRequest(b)], FAST, allow_hosts=LOOPBACK, clock=lambda: now)
    )
    assert results[0].error == "HTTP 429 Too Many Requests"
    assert results[0].retry_after_seconds == 120.0
    assert results[1].http_status == 503
    assert results[1].retry_after_seconds == 90.0


def test_cache_control_max_age(feed_server: FeedServer) -> None:
    url = feed_server.route("/a", body=RSS, headers={"Cache-Control": "public, max-age=600"})
    result = fetch_one(url)
    assert result.outcome == "ok"
    assert result.max_age_seconds == 600.0


def test_empty_200_is_an_error(feed_server: FeedServer) -> None:
    result = fetch_one(feed_server.route("/empty", body=b""))
    assert (result.outcome, result.error_kind, result.http_status) == ("error", "empty", 200)
    assert result.error == "empty response body (HTTP 200)"


def test_connection_refused_on_closed_port() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    result = fetch_one(f"http://127.0.0.1:{port}/feed")
    assert (result.outcome, result.error_kind) == ("error", "network")
    assert result.error == f"connection refused by 127.0.0.1:{port}"


def test_unsupported_scheme_and_bad_url() -> None:
    results = run(
        fetch_all([FetchRequest("file:///etc/passwd"), FetchRequest("feeds/rss.xml")], FAST)
    )
    assert results[0].error_kind == "scheme"
    assert "only http:// and https://" in (results[0].error or "")
    assert results[1].error_kind == "url"


def test_dns_failure_is_reported() -> None:
    result = fetch_one("http://no-such-host.test/feed", resolver=resolver_for({}))
    assert result.error_kind == "dns"
    assert result.error == "cannot resolve host no-such-host.test: Name or service not known"


# -- deadlines ---------------------------------------------------------------------------


def test_timeout_when_server_sleeps(feed_server: FeedServer) -> None:
    url = feed_server.route("/sleepy", body=RSS, delay=3.0)
    result = fetch_one(url, replace(FAST, timeout=0.5))
    assert (result.outcome, result.error_kind) == ("error", "timeout")
    assert result.error == "timed out after 0.5 s"
    assert result.duration_ms < 3000  # cut at the deadline, not when the server answered


def test_trickling_server_is_cut_at_the_total_deadline() -> None:
    # One byte every 0.2 s: no single read ever waits as long as the timeout, so only a
    # total deadline can stop this. Completing would take 100 bytes x 0.2 s = 20 s.
    async def trickle(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
        for _ in range(100):
            writer.write(b"x")
            await writer.drain()
            await asyncio.sleep(0.2)
        return False

    async def main() -> FetchResult:
        async with raw_server(trickle) as base:
            results = await fetch_all(
                [FetchRequest(base + "/feed")], replace(FAST, timeout=1.0), allow_hosts=LOOPBACK
            )
            return results[0]

    result = run(main())
    assert (result.outcome, result.error_kind) == ("error", "timeout")
    assert result.error == "timed out after 1 s while reading the body"
    assert result.http_status == 200
    assert 1 <= result.bytes_received < 100
    assert result.duration_ms < 5000


# -- redirects ---------------------------------------------------------------------------


def test_redirect_is_followed(feed_server: FeedServer) -> None:
    feed_server.route("/old", status=301, headers={"Location": "/new"}, etag=False)
    new = feed_server.route("/new", body=RSS)
    result = fetch_one(feed_server.url("/old"))
    assert result.outcome == "ok"
    assert result.feed_url == feed_server.url("/old")
    assert result.final_url == new
    assert result.body == RSS


def test_redirect_loop_is_detected(feed_server: FeedServer) -> None:
    feed_server.route("/a", status=302, headers={"Location": "/b"})
    feed_server.route("/b", status=302, headers={"Location": "/a"})
    result = fetch_one(feed_server.url("/a"))
    assert (result.outcome, result.error_kind) == ("error", "redirects")
    a, b = feed_server.url("/a"), feed_server.url("/b")
    assert result.error == f"redirect loop: {a} -> {b} -> {a}"
    assert len(feed_server.requests) == 2


def test_too_many_redirects(feed_server: FeedServer) -> None:
    for i in range(4):
        feed_server.route(f"/{i}", status=302, headers={"Location": f"/{i + 1}"})
    feed_server.route("/4", body=RSS)
    result = fetch_one(feed_server.url("/0"), replace(FAST, max_redirects=2))
    assert result.error_kind == "redirects"
    assert result.error is not None and result.error.startswith("too many redirects (more than 2)")
    assert [r.path for r in feed_server.requests] == ["/0", "/1", "/2"]
    # The same chain within the limit succeeds.
    assert fetch_one(feed_server.url("/0"), replace(FAST, max_redirects=4)).outcome == "ok"


def test_redirect_to_other_scheme_is_refused(feed_server: FeedServer) -> None:
    feed_server.route("/r", status=302, headers={"Location": "file:///etc/passwd"})
    result = fetch_one(feed_server.url("/r"))
    assert result.error_kind == "scheme"


# -- network safety --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("10.0.0.5", "private"),
        ("169.254.169.254", "cloud metadata"),
        ("169.254.10.1", "link-local"),
        ("fd00:ec2::254", "cloud metadata"),
        ("::ffff:192.168.1.1", "private"),
        ("127.0.0.2", "loopback"),
    ],
)
def test_redirect_to_internal_address_is_refused_without_connecting(
    feed_server: FeedServer, connects: list[str], address: str, reason: str
) -> None:
    feed_server.route("/r", status=302, headers={"Location": "http://internal.test/admin"})
    resolver = resolver_for({"internal.test": [address]})
    # Only the test server's exact address is allowed, so other loopback addresses are not.
    result = fetch_one(feed_server.url("/r"), allow_hosts=["127.0.0.1/32"], resolver=resolver)
    assert (result.outcome, result.error_kind) == ("error", "refused_address")
    assert result.error == (
        f"refused: internal.test resolves to {reason} address {address}"
        " (add it to allow_hosts to allow)"
    )
    assert result.final_url == "http://internal.test/admin"
    assert connects == ["127.0.0.1"]  # only the first hop, to the test server


def test_feed_host_resolving_to_private_address_is_refused(connects: list[str]) -> None:
    resolver = resolver_for({"feeds.example": ["10.0.0.5"]})
    result = fetch_one("http://feeds.example/rss", allow_hosts=(), resolver=resolver)
    assert result.error == (
        "refused: feeds.example resolves to private address 10.0.0.5 (add it to allow_hosts to allow)"
    )
    assert connects == []


def test_loopback_refused_by_default_and_allowed_by_allow_hosts(
    feed_server: FeedServer, connects: list[str]
) -> None:
    url = feed_server.route("/a", body=RSS)
    refused = fetch_one(url, allow_hosts=())
    assert (
        refused.error == "refused: 127.0.0.1 is a loopback address (add it to allow_hosts to allow)"
    )
    assert connects == []
    assert fetch_one(url, allow_hosts=["127.0.0.1"]).outcome == "ok"
    assert connects == ["127.0.0.1"]


def test_connects_to_the_vetted_address_not_a_second_lookup(feed_server: FeedServer) -> None:
    # A rebinding resolver answers a public address first, a private one after. The fetcher
    # must resolve once per connection and use exactly what it checked.
    calls: list[str] = []

    async def rebinding(host: str, port: int) -> list[str]:
        calls.append(host)
        return ["127.0.0.1"] if len(calls) == 1 else ["10.0.0.5"]

    url = feed_server.route("/a", body=RSS).replace("127.0.0.1", "rebind.test")
    result = fetch_one(url, allow_hosts=["rebind.test"], resolver=rebinding)
    assert result.outcome == "ok"
    assert calls == ["rebind.test"]
    assert feed_server.requests[0].headers["host"] == f"rebind.test:{feed_server.port}"


def test_mixed_answer_connects_only_to_the_allowed_address(
    feed_server: FeedServer, connects: list[str]
) -> None:
    # A name whose DNS answer holds a refused address (127.0.0.2: loopback, not in
    # allow_hosts) beside an allowed one (127.0.0.1/32). The refused one comes first and a
    # server really listens on it, on the feed's port: connecting there would succeed.
    url = feed_server.route("/a", body=RSS).replace("127.0.0.1", "mixed.test")
    decoy = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    decoy.bind(("127.0.0.2", feed_server.port))
    decoy.listen(8)
    decoy.settimeout(0)
    try:
        resolver = resolver_for({"mixed.test": ["127.0.0.2", "127.0.0.1"]})
        result = fetch_one(url, allow_hosts=["127.0.0.1/32"], resolver=resolver)
        assert result.outcome == "ok", result.error
        assert result.body == RSS
        assert connects == ["127.0.0.1"]
        with pytest.raises(BlockingIOError):
            decoy.accept()  # nobody knocked on the refused address
    finally:
        decoy.close()


# -- bodies ------------------------------------------------------------------------------


def test_body_over_cap_is_cut_while_streaming() -> None:
    cap = 1 << 20
    sent: list[int] = []

    async def endless(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        # Close-delimited, no Content-Length: the client must count as it reads.
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nConnection: close\r\n\r\n"
        )
        chunk = b"<item>" + b"x" * 65530
        total = 0
        for _ in range(800):  # 50 MiB if nobody stops us
            writer.write(chunk)
            total += len(chunk)
            sent.append(total)
            await writer.drain()
        return False

    async def main() -> FetchResult:
        async with raw_server(endless) as base:
            results = await fetch_all(
                [FetchRequest(base + "/big")], replace(FAST, max_bytes=cap), allow_hosts=LOOPBACK
            )
            return results[0]

    result = run(main())
    assert (result.outcome, result.error_kind) == ("error", "too_large")
    assert result.error == "body larger than 1 MiB cap"
    assert cap < result.bytes_received <= cap + 2 * 65536
    assert sent[-1] < 50 * cap  # the server was stopped early, not read to the end


def test_declared_length_over_cap_is_refused_before_reading(feed_server: FeedServer) -> None:
    url = feed_server.route("/big", body=b"x" * (3 << 20))
    result = fetch_one(url, replace(FAST, max_bytes=1 << 20))
    assert result.error_kind == "too_large"
    assert result.bytes_received == 0


def _gzip_bomb(decoded_size: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 20)
    parts = [compressor.compress(block) for _ in range(decoded_size >> 20)]
    return b"".join([*parts, compressor.flush()])


def test_gzip_bomb_is_stopped_with_bounded_memory() -> None:
    cap = 1 << 20
    bomb = _gzip_bomb(128 << 20)  # 128 MiB of zeros in ~130 KiB
    assert len(bomb) < cap

    async def serve(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        headers = {"Content-Type": "application/rss+xml", "Content-Encoding": "gzip"}
        writer.write(http_response(200, headers, bomb))
        return False

    async def main() -> tuple[FetchResult, int]:
        async with raw_server(serve) as base:
            tracemalloc.start()
            try:
                results = await fetch_all(
                    [FetchRequest(base + "/bomb")],
                    replace(FAST, max_bytes=cap),
                    allow_hosts=LOOPBACK,
                )
                return results[0], tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()

    result, peak = run(main())
    assert (result.outcome, result.error_kind) == ("error", "too_large")
    assert result.error == "body larger than 1 MiB cap"
    assert peak < 16 * cap  # vs 128 MiB if the bomb had been inflated


@pytest.mark.parametrize("encoding", ["gzip", "deflate-zlib", "deflate-raw"])
def test_compressed_body_is_decoded(encoding: str) -> None:
    body = RSS * 500
    if encoding == "gzip":
        wire, header = gzip.compress(body), "gzip"
    elif encoding == "deflate-zlib":
        wire, header = zlib.compress(body), "deflate"
    else:
        raw = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        wire, header = raw.compress(body) + raw.flush(), "deflate"

    async def serve(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        writer.write(http_response(200, {"Content-Encoding": header}, wire))
        return True

    async def main() -> FetchResult:
        async with raw_server(serve) as base:
            return (await fetch_all([FetchRequest(base + "/z")], FAST, allow_hosts=LOOPBACK))[0]

    result = run(main())
    assert result.outcome == "ok"
    assert result.body == body
    assert result.body_sha256 == hashlib.sha256(body).hexdigest()
    assert result.bytes_received == len(wire)


def test_corrupt_gzip_is_an_encoding_error() -> None:
    async def serve(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        writer.write(http_response(200, {"Content-Encoding": "gzip"}, b"this is not gzip"))
        return True

    async def main() -> FetchResult:
        async with raw_server(serve) as base:
            return (await fetch_all([FetchRequest(base + "/z")], FAST, allow_hosts=LOOPBACK))[0]

    result = run(main())
    assert result.error_kind == "encoding"
    assert result.error is not None and result.error.startswith("cannot decode gzip body")


# -- concurrency -------------------------------------------------------------------------


def test_slow_feed_does_not_delay_the_others(feed_server: FeedServer) -> None:
    slow = feed_server.route("/slow", body=RSS, delay=1.5)
    fast = [feed_server.route(f"/fast{i}", body=RSS) for i in range(6)]
    settings = replace(FAST, per_host=8)

    async def main() -> list[tuple[float, FetchResult]]:
        arrived = []
        requests = [FetchRequest(u) for u in [slow, *fast]]
        async for result in fetch_stream(requests, settings, allow_hosts=LOOPBACK):
            arrived.append((time.monotonic(), result))
        return arrived

    arrived = run(main())
    order = [r.feed_url for _, r in arrived]
    assert order[-1] == slow
    assert sorted(order[:-1]) == sorted(fast)
    slow_result = arrived[-1][1]
    slow_end = slow_result.started_at + timedelta(milliseconds=slow_result.duration_ms)
    for _, r in arrived[:-1]:
        assert r.outcome == "ok"
        assert r.started_at + timedelta(milliseconds=r.duration_ms) < slow_end
    # Each fast feed arrived at the consumer while the slow one was still being fetched.
    assert all(t < arrived[-1][0] for t, _ in arrived[:-1])


def test_per_host_limit_is_respected() -> None:
    active: dict[str, int] = {}
    peak: dict[str, int] = {}
    connections: dict[str, set[int]] = {}

    def make_handler(name: str) -> Callable[[RawRequest, asyncio.StreamWriter], Awaitable[bool]]:
        async def handler(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
            connections.setdefault(name, set()).add(id(writer))
            active[name] = active.get(name, 0) + 1
            peak[name] = max(peak.get(name, 0), active[name])
            await asyncio.sleep(0.1)
            active[name] -= 1
            writer.write(http_response(200, {"Content-Type": "application/rss+xml"}, RSS))
            return True

        return handler

    async def main() -> list[FetchResult]:
        async with (
            raw_server(make_handler("a"), host="127.0.0.1") as a,
            raw_server(make_handler("b"), host="127.0.0.2") as b,
        ):
            requests = [FetchRequest(f"{base}/{i}") for base in (a, b) for i in range(8)]
            settings = replace(FAST, per_host=2, concurrency=10, connections_per_client=5)
            return await fetch_all(requests, settings, allow_hosts=LOOPBACK)

    results = run(main())
    assert [r.outcome for r in results] == ["ok"] * 16
    assert peak == {"a": 2, "b": 2}
    assert len(connections["a"]) <= 2 and len(connections["b"]) <= 2  # keep-alive reused


def test_connection_closed_by_server_while_idle_is_not_reused() -> None:
    # The server says nothing about closing but hangs up after each response, as servers
    # with short keep-alive timeouts do; the next feed on that host must still succeed.
    connections = 0

    async def serve_once(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        nonlocal connections
        connections += 1
        writer.write(http_response(200, {"Content-Type": "application/rss+xml"}, RSS))
        return False

    async def main() -> list[FetchResult]:
        async with raw_server(serve_once) as base:
            out = []
            async for result in fetch_stream(
                [FetchRequest(f"{base}/{i}") for i in range(3)],
                replace(FAST, per_host=1),
                allow_hosts=LOOPBACK,
            ):
                out.append(result)
                await asyncio.sleep(0.05)  # let the server's hang-up arrive
            return out

    results = run(main())
    assert [r.outcome for r in results] == ["ok"] * 3
    assert connections == 3


def test_fetch_all_keeps_request_order_across_many_clients(feed_server: FeedServer) -> None:
    urls = [feed_server.route(f"/f{i}", body=RSS + str(i).encode()) for i in range(30)]
    # 127.0.0.1 and 127.0.0.2.. are distinct hosts; FeedServer listens on 127.0.0.1 only,
    # so mix in refused and unreachable ones to exercise several clients.
    requests = [FetchRequest(u) for u in urls] + [FetchRequest("http://10.1.2.3/x")]
    settings = replace(FAST, concurrency=6, connections_per_client=2)
    results = run(fetch_all(requests, settings, allow_hosts=["127.0.0.1"]))
    assert [r.feed_url for r in results] == [r.url for r in requests]
    assert [r.body for r in results[:30]] == [RSS + str(i).encode() for i in range(30)]
    assert results[30].error_kind == "refused_address"


def test_consumer_can_stop_early(feed_server: FeedServer) -> None:
    urls = [feed_server.route(f"/s{i}", body=RSS, delay=0.05 * i) for i in range(5)]

    async def main() -> FetchResult:
        stream = fetch_stream([FetchRequest(u) for u in urls], FAST, allow_hosts=LOOPBACK)
        async for result in stream:
            await stream.aclose()
            return result
        raise AssertionError("no result")

    assert run(main()).outcome == "ok"


# -- TLS ---------------------------------------------------------------------------------


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


def _tls_server_context(
    ca: trustme.CA, names: list[str], seen_sni: list[str | None]
) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)

    def record_sni(sock: Any, server_name: str | None, ctx: Any) -> None:
        seen_sni.append(server_name)

    context.sni_callback = record_sni
    return context


def test_tls_error_is_clear(ca: trustme.CA) -> None:
    sni: list[str | None] = []

    async def serve(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        writer.write(http_response(200, {}, RSS))
        return True

    async def main() -> FetchResult:
        context = _tls_server_context(ca, ["localhost"], sni)
        async with raw_server(serve, ssl_context=context) as base:
            url = base.replace("127.0.0.1", "localhost") + "/feed"
            resolver = resolver_for({"localhost": ["127.0.0.1"]})
            return (
                await fetch_all([FetchRequest(url)], FAST, allow_hosts=LOOPBACK, resolver=resolver)
            )[0]

    result = run(main())
    assert (result.outcome, result.error_kind) == ("error", "tls")
    assert result.error is not None
    assert result.error.startswith("TLS error: certificate verify failed: ")
    assert "localhost:" in result.error
    assert sni == ["localhost"]


def test_tls_to_vetted_address_keeps_sni_and_host(ca: trustme.CA) -> None:
    sni: list[str | None] = []
    hosts: list[str] = []

    async def serve(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        hosts.append(request.headers["host"])
        writer.write(http_response(200, {"Content-Type": "application/rss+xml"}, RSS))
        return True

    async def main() -> tuple[FetchResult, int]:
        context = _tls_server_context(ca, ["feeds.test"], sni)
        async with raw_server(serve, ssl_context=context) as base:
            port = int(base.rsplit(":", 1)[1])
            client_context = ssl.create_default_context()
            ca.configure_trust(client_context)
            results = await fetch_all(
                [FetchRequest(f"https://feeds.test:{port}/feed")],
                FAST,
                allow_hosts=["feeds.test"],  # a host-name entry
                resolver=resolver_for({"feeds.test": ["127.0.0.1"]}),
                ssl_context=client_context,
            )
            return results[0], port

    result, port = run(main())
    assert result.outcome == "ok", result.error
    assert result.body == RSS
    assert sni == ["feeds.test"]
    assert hosts == [f"feeds.test:{port}"]


# -- small pure helpers ------------------------------------------------------------------


def test_parse_retry_after() -> None:
    now = datetime(2025, 4, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("30", now) == 30.0
    assert parse_retry_after("Tue, 01 Apr 2025 12:05:00 GMT", now) == 300.0
    assert parse_retry_after("Tue, 01 Apr 2025 11:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


def test_parse_max_age() -> None:
    assert parse_max_age("public, max-age=300") == 300.0
    assert parse_max_age('MAX-AGE="60", must-revalidate') == 60.0
    assert parse_max_age("s-maxage=60") is None
    assert parse_max_age("max-age=abc") is None
    assert parse_max_age(None) is None


def test_format_size() -> None:
    assert format_size(10 * 1024 * 1024) == "10 MiB"
    assert format_size(1536) == "1.5 KiB"
    assert format_size(100) == "100 bytes"


def test_shard_hosts_balances_and_keeps_hosts_together() -> None:
    hosts = ["a"] * 6 + ["b"] * 3 + ["c"] * 3 + ["d"] * 2 + ["e"]
    shard = shard_hosts(hosts, 3)
    assert set(shard) == {"a", "b", "c", "d", "e"}
    load = [0, 0, 0]
    for h in hosts:
        load[shard[h]] += 1
    assert max(load) == 6  # "a" alone needs 6; nothing may be stacked on top of it
    assert min(load) >= 4


def test_bounded_inflater_limits_output_and_handles_members() -> None:
    inflater = BoundedInflater("gzip")
    two_members = gzip.compress(b"a" * 1000) + gzip.compress(b"b" * 1000)
    out = inflater.decode(two_members, 10_000)
    assert out == b"a" * 1000 + b"b" * 1000
    limited = BoundedInflater("gzip").decode(gzip.compress(bytes(100_000)), 501)
    assert len(limited) == 501
    with pytest.raises(FetchFailure):
        BoundedInflater("deflate").decode(b"\xff" * 20, 100)
