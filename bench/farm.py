"""A loopback farm of RSS feeds for benchmarks: each feed on its own address in 127.1.0.0/16.

Real feeds live on distinct hosts, so per-host limits and keep-alive pools behave here as in the
wild only if every feed has its own address. The farm is a raw asyncio HTTP/1.1 server (protocol
callbacks, no HTTP library) with keep-alive, ETag/Last-Modified conditional GET and a fixed
per-response delay, run in `processes` separate processes (so its CPU is not the poller's).
Bodies are generated once per feed, deterministically from the feed number. With `churn` > 0
a share of each feed's items is replaced every `churn_period` seconds (new guid, title and date
at the top, the oldest dropped), as a live news feed does; ETag and Last-Modified follow.

    with Farm(FarmSpec(feeds=1000, items=50, size=55_000, latency=0.2)) as farm:
        farm.urls          # one URL per feed
        farm.stats()       # requests, 200s, 304s and CPU seconds per farm process

Only loopback addresses are bound or contacted.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import random
import resource
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from multiprocessing.connection import Connection
from types import TracebackType
from xml.sax.saxutils import escape

LAST_MODIFIED = "Wed, 18 Feb 2026 12:00:00 GMT"

_TOPICAL = (
    "Turkey weighs new S-400 deliveries as NATO allies object",
    "NATO ministers meet in Brussels over Turkey's air defence plans",
    "Erdogan says Ankara will not give up the S-400",
    "S-400 row strains ties between Türkiye and NATO partners",
    "Turkish officials confirm second S-400 battery is operational",
    "NATO summit agenda: Ukraine, spending and the Turkey question",
)
_OTHER = (
    "City council approves budget for new tram line",
    "Heatwave expected to break records across the south",
    "Central bank holds interest rates steady",
    "Local team wins cup final after penalty shoot-out",
    "Study links sleep quality to memory in older adults",
    "Tech firm unveils foldable phone with longer battery life",
    "Museum reopens after two-year renovation",
    "Farmers warn of poor harvest after late frost",
)
_LOREM = (
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt "
    "ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation "
    "ullamco laboris nisi ut aliquip ex ea commodo consequat. "
)


@dataclass(frozen=True)
class FarmSpec:
    feeds: int = 1000
    items: int = 50
    size: int = 55_000  # approximate body bytes per feed
    latency: float = 0.2  # seconds before each response
    topical: float = 0.1  # share of items that mention a watched topic
    etag: bool = True  # answer conditional requests with 304
    processes: int = 2
    seed: int = 1
    # Bytes of full content (content:encoded, HTML paragraphs) per item; 0: none. Topical
    # items name their topic in the body too, and a few others name one only there.
    content: int = 0
    churn: float = 0.0  # share of the items replaced every churn_period seconds
    churn_period: float = 60.0


_BODY_MENTIONS = (
    "Officials at NATO headquarters in Brussels declined to comment on the report.",
    "The ministry in Ankara said the talks with Washington would continue next week.",
    "Analysts compared the system with the Russian S-400 batteries bought by Turkey.",
)


def _content(rng: random.Random, size: int, title: str, topical: bool) -> str:
    """About `size` bytes of article HTML: paragraphs of filler, and where the story is
    topical (or, for one item in twenty, only in passing) a sentence naming a topic."""
    words = _LOREM * (size // len(_LOREM) + 2)
    start = rng.randrange(0, len(_LOREM))
    filler = words[start : start + size]
    paragraphs = [filler[i : i + 600] for i in range(0, len(filler), 600)]
    if topical:
        paragraphs.insert(0, escape(title) + ". " + rng.choice(_BODY_MENTIONS))
    elif rng.random() < 0.05:
        paragraphs.insert(len(paragraphs) // 2, rng.choice(_BODY_MENTIONS))
    return "".join(f"<p>{p}</p>" for p in paragraphs)


def feed_address(index: int) -> str:
    """127.1.x.y, one address per feed (y in 1..250)."""
    return f"127.1.{index // 250}.{index % 250 + 1}"


def feed_body(spec: FarmSpec, index: int, now: datetime, epoch: int = 0) -> bytes:
    """A deterministic RSS 2.0 document for feed `index`, about `spec.size` bytes (plus
    `spec.content` bytes of content:encoded per item).

    `epoch` counts churn periods: each one adds round(churn * items) new items at the top
    (numbered on from the previous ones) and drops as many at the bottom."""
    if epoch:
        return _churned_body(spec, index, now, epoch)
    rng = random.Random(spec.seed * 1_000_003 + index)
    # The content's own generator: without content the bodies are byte for byte as before.
    body_rng = random.Random(spec.seed * 7_000_003 + index)
    namespace = ' xmlns:content="http://purl.org/rss/1.0/modules/content/"' if spec.content else ""
    head = (
        f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"{namespace}><channel>'
        f"<title>Farm feed {index}</title><link>https://farm{index}.example/</link>"
        f"<description>Benchmark feed {index}</description>\n"
    )
    tail = "</channel></rss>\n"
    items = max(0, spec.items)
    skeleton = 245  # bytes of one item without its padded description
    pad = max(40, (spec.size - len(head) - len(tail)) // max(1, items) - skeleton)
    parts = [head]
    for n in range(items):
        topical = rng.random() < spec.topical
        title = rng.choice(_TOPICAL if topical else _OTHER)
        words = _LOREM * (pad // len(_LOREM) + 1)
        start = rng.randrange(0, len(_LOREM))
        summary = (words + _LOREM)[start : start + pad]
        when = now - timedelta(minutes=17 * n + index % 60)
        parts.append(
            "<item>"
            f"<title>{escape(title)} ({index}-{n})</title>"
            f"<link>https://farm{index}.example/news/{n}.html</link>"
            f'<guid isPermaLink="false">farm-{index}-{n}</guid>'
            f"<pubDate>{format_datetime(when)}</pubDate>"
            f"<description>{escape(summary)}</description>"
            + (
                "<content:encoded>"
                + escape(_content(body_rng, spec.content, title, topical))
                + "</content:encoded>"
                if spec.content
                else ""
            )
            + "</item>\n"
        )
    parts.append(tail)
    return "".join(parts).encode()


def _churned_body(spec: FarmSpec, index: int, now: datetime, epoch: int) -> bytes:
    head = (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        f"<title>Farm feed {index}</title><link>https://farm{index}.example/</link>"
        f"<description>Benchmark feed {index}</description>\n"
    )
    tail = "</channel></rss>\n"
    items = max(0, spec.items)
    fresh = max(1, round(spec.churn * items))
    skeleton = 245
    pad = max(40, (spec.size - len(head) - len(tail)) // max(1, items) - skeleton)
    top = epoch * fresh + items  # serial number of the newest item, plus one
    parts = [head]
    for serial in range(top - 1, top - 1 - items, -1):
        rng = random.Random((spec.seed * 1_000_003 + index) * 7_919 + serial)
        topical = rng.random() < spec.topical
        title = rng.choice(_TOPICAL if topical else _OTHER)
        start = rng.randrange(0, len(_LOREM))
        words = _LOREM * (pad // len(_LOREM) + 2)
        summary = words[start : start + pad]
        # Items of one period share its start time, older periods further back.
        age = (top - 1 - serial) // fresh * spec.churn_period + index % 60
        when = now - timedelta(seconds=age)
        parts.append(
            "<item>"
            f"<title>{escape(title)} ({index}-{serial})</title>"
            f"<link>https://farm{index}.example/news/{serial}.html</link>"
            f'<guid isPermaLink="false">farm-{index}-{serial}</guid>'
            f"<pubDate>{format_datetime(when)}</pubDate>"
            f"<description>{escape(summary)}</description>"
            "</item>\n"
        )
    parts.append(tail)
    return "".join(parts).encode()


class _Counters:
    def __init__(self) -> None:
        self.requests = 0
        self.ok = 0
        self.not_modified = 0


class _FeedProtocol(asyncio.Protocol):
    """One keep-alive connection to one feed's address."""

    def __init__(
        self,
        ok: bytes | Callable[[], tuple[bytes, bytes]],
        etag: bytes | None,
        latency: float,
        counters: _Counters,
    ) -> None:
        # `ok` is the whole 200 response, or (churning feeds) a function returning the current
        # response and its ETag.
        self._ok = ok
        self._etag = etag
        self._latency = latency
        self._counters = counters
        self._buffer = b""
        self._transport: asyncio.Transport | None = None
        self._loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while True:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head, self._buffer = self._buffer[:end].lower(), self._buffer[end + 4 :]
            self._counters.requests += 1
            if callable(self._ok):
                ok, current = self._ok()
                etag = current if self._etag is not None else None
                fresh = etag is not None and b"if-none-match: " + etag.lower() in head
            else:
                ok, etag = self._ok, self._etag
                fresh = etag is not None and (
                    etag.lower() in head
                    or b"if-modified-since: " + LAST_MODIFIED.lower().encode() in head
                )
            if fresh:
                self._counters.not_modified += 1
                assert etag is not None
                reply = (
                    b"HTTP/1.1 304 Not Modified\r\nETag: " + etag + b"\r\nContent-Length: 0\r\n\r\n"
                )
            else:
                self._counters.ok += 1
                reply = ok
            if self._latency > 0:
                self._loop.call_later(self._latency, self._send, reply)
            else:
                self._send(reply)

    def _send(self, reply: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None


class _ChurningFeed:
    """One churning feed: its response for the current churn period, built when first asked."""

    def __init__(self, spec: FarmSpec, index: int, now: datetime, started: float) -> None:
        self.spec, self.index, self.now, self.started = spec, index, now, started
        self._epoch = -1
        self._reply = (b"", b"")

    def response(self) -> tuple[bytes, bytes]:
        epoch = 1 + int((time.time() - self.started) // self.spec.churn_period)
        if epoch != self._epoch:
            self._epoch = epoch
            when = self.now + timedelta(seconds=(epoch - 1) * self.spec.churn_period)
            body = feed_body(self.spec, self.index, when, epoch)
            etag = f'"farm-{self.index}-e{epoch}"'.encode()
            head = (
                b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml; charset=utf-8\r\n"
                b"Content-Length: %d\r\n" % len(body)
            )
            if self.spec.etag:
                head += b"ETag: " + etag + b"\r\n"
            self._reply = (head + b"\r\n" + body, etag)
        return self._reply


def _serve(spec: FarmSpec, indexes: list[int], conn: Connection) -> None:
    now = datetime.now(UTC).replace(microsecond=0)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        counters = _Counters()
        urls: dict[int, str] = {}
        servers = []
        started = time.time()
        for i in indexes:
            if spec.churn > 0:
                current = _ChurningFeed(spec, i, now, started)

                def churning(feed: _ChurningFeed = current) -> _FeedProtocol:
                    return _FeedProtocol(
                        feed.response, b"" if spec.etag else None, spec.latency, counters
                    )

                address = feed_address(i)
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((address, 0))
                servers.append(await loop.create_server(churning, sock=sock, backlog=256))
                urls[i] = f"http://{address}:{sock.getsockname()[1]}/feed.xml"
                continue
            body = feed_body(spec, i, now)
            etag = f'"farm-{i}-v1"'.encode()
            head = (
                b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml; charset=utf-8\r\n"
                b"Content-Length: %d\r\n" % len(body)
            )
            if spec.etag:
                head += b"ETag: " + etag + b"\r\nLast-Modified: " + LAST_MODIFIED.encode() + b"\r\n"
            ok = head + b"\r\n" + body

            def factory(ok: bytes = ok, etag: bytes = etag) -> _FeedProtocol:
                return _FeedProtocol(ok, etag if spec.etag else None, spec.latency, counters)

            address = feed_address(i)
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((address, 0))
            server = await loop.create_server(factory, sock=sock, backlog=256)
            servers.append(server)
            urls[i] = f"http://{address}:{sock.getsockname()[1]}/feed.xml"
        conn.send(urls)
        await loop.run_in_executor(None, conn.recv)  # any message: report and stop
        usage = resource.getrusage(resource.RUSAGE_SELF)
        conn.send(
            {
                "requests": counters.requests,
                "ok": counters.ok,
                "not_modified": counters.not_modified,
                "cpu_s": usage.ru_utime + usage.ru_stime,
            }
        )
        for server in servers:
            server.close()

    asyncio.run(main())


class Farm:
    """Starts the farm's processes; `urls` lists one URL per feed, in feed order."""

    def __init__(self, spec: FarmSpec) -> None:
        self.spec = spec
        self.urls: list[str] = []
        self._procs: list[tuple[multiprocessing.process.BaseProcess, Connection]] = []

    def start(self) -> Farm:
        ctx = multiprocessing.get_context("spawn")
        n = max(1, min(self.spec.processes, self.spec.feeds or 1))
        by_index: dict[int, str] = {}
        for k in range(n):
            parent, child = ctx.Pipe()
            indexes = list(range(k, self.spec.feeds, n))
            proc = ctx.Process(target=_serve, args=(self.spec, indexes, child), daemon=True)
            proc.start()
            self._procs.append((proc, parent))
        deadline = time.monotonic() + 120
        for proc, parent in self._procs:
            if not parent.poll(max(0.1, deadline - time.monotonic())):
                self.stop()
                raise RuntimeError(f"feed farm process {proc.pid} did not start")
            by_index.update(parent.recv())
        self.urls = [by_index[i] for i in range(self.spec.feeds)]
        return self

    def stats(self) -> dict[str, float]:
        """Totals over the farm's processes (requests, ok, not_modified, cpu_s); stops the farm."""
        total: dict[str, float] = {}
        for _proc, parent in self._procs:
            try:
                parent.send("stop")
                if parent.poll(10):
                    for key, value in parent.recv().items():
                        total[key] = total.get(key, 0) + value
            except (OSError, EOFError):
                pass
        self.stop()
        return total

    def stop(self) -> None:
        for proc, parent in self._procs:
            with contextlib.suppress(OSError, ValueError):
                parent.send("stop")
            proc.join(timeout=2)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=2)
            parent.close()
        self._procs = []

    def __enter__(self) -> Farm:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
