"""Benchmark fetch_all against a loopback farm of feeds; prints wall time and CPU seconds.

    PYTHONPATH=src:. python bench/bench_fetch.py [--feeds 1000] [--hosts 100] [--size 55000]
                                                 [--delay 0.0] [--gzip] [--concurrency 100]

The farm is a raw asyncio HTTP/1.1 server with keep-alive, in its own process (so the CPU
figure is the fetcher's alone), listening on 127.0.0.1 .. 127.0.0.<hosts>. Only loopback is
contacted. Runs: a cold fetch (200s with bodies), then a re-fetch with the ETags (304s).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import multiprocessing
import time
from collections import Counter
from multiprocessing.connection import Connection

from newswatch.config import FetchSettings
from newswatch.fetch.stream import FetchRequest, fetch_all
from newswatch.models import FetchResult


def _body(size: int) -> bytes:
    item = (
        "<item><title>Item {n} about NATO and S-400 deliveries</title>"
        "<link>https://news.example/{n}</link><description>Lorem ipsum dolor sit amet, "
        "consectetur adipiscing elit, sed do eiusmod tempor incididunt.</description>"
        "<guid>https://news.example/{n}</guid></item>\n"
    )
    parts = ['<?xml version="1.0"?><rss version="2.0"><channel><title>farm</title>\n']
    n = 0
    while sum(map(len, parts)) < size:
        parts.append(item.format(n=n))
        n += 1
    parts.append("</channel></rss>\n")
    return "".join(parts).encode()


def serve(hosts: int, size: int, delay: float, use_gzip: bool, conn: Connection) -> None:
    body = _body(size)
    payload = gzip.compress(body, 6) if use_gzip else body
    encoding = b"Content-Encoding: gzip\r\n" if use_gzip else b""
    ok_head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n"
        + encoding
        + b'Content-Length: %d\r\nETag: "v1"\r\n\r\n' % len(payload)
    )
    not_modified = b'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\nContent-Length: 0\r\n\r\n'

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if delay:
                    await asyncio.sleep(delay)
                if b'if-none-match: "v1"' in head.lower():
                    writer.write(not_modified)
                else:
                    writer.write(ok_head)
                    writer.write(payload)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        servers = []
        addresses = []
        for i in range(1, hosts + 1):
            server = await asyncio.start_server(handle, f"127.0.0.{i}", 0, backlog=1024)
            servers.append(server)
            addresses.append((f"127.0.0.{i}", server.sockets[0].getsockname()[1]))
        conn.send(addresses)
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # wait for "stop"
        conn.send(time.process_time())

    asyncio.run(main())


async def timed(
    label: str, requests: list[FetchRequest], settings: FetchSettings
) -> list[FetchResult]:
    cpu0, wall0 = time.process_time(), time.perf_counter()
    results = await fetch_all(requests, settings, allow_hosts=["127.0.0.0/8"])
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    outcomes = Counter(r.error_kind or r.outcome for r in results)
    mib = sum(len(r.body or b"") for r in results) / 2**20
    print(
        f"{label:<22} {len(results):>5} feeds  wall {wall:6.2f} s  cpu {cpu:6.2f} s  "
        f"({cpu / len(results) * 1000:.2f} ms cpu/feed, {mib:.0f} MiB)  {dict(outcomes)}"
    )
    return results


async def bench(args: argparse.Namespace, addresses: list[tuple[str, int]]) -> None:
    settings = FetchSettings(
        concurrency=args.concurrency,
        per_host=args.per_host,
        connections_per_client=args.connections_per_client,
        timeout=60.0,
    )
    urls = [
        f"http://{host}:{port}/feed/{i}.xml"
        for i in range(args.feeds)
        for host, port in [addresses[i % len(addresses)]]
    ]
    cold = await timed("cold (200)", [FetchRequest(u) for u in urls], settings)
    await timed(
        "conditional (304)", [FetchRequest(r.feed_url, etag=r.etag) for r in cold], settings
    )
    await timed("cold again (200)", [FetchRequest(u) for u in urls], settings)


_DEFAULTS = FetchSettings()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--hosts", type=int, default=100, help="127.0.0.1 .. 127.0.0.N")
    parser.add_argument("--size", type=int, default=55_000, help="body bytes per feed")
    parser.add_argument("--delay", type=float, default=0.0, help="server delay per response, s")
    parser.add_argument("--gzip", action="store_true", help="serve gzip-encoded bodies")
    parser.add_argument("--concurrency", type=int, default=_DEFAULTS.concurrency)
    parser.add_argument("--per-host", type=int, default=_DEFAULTS.per_host)
    parser.add_argument(
        "--connections-per-client", type=int, default=_DEFAULTS.connections_per_client
    )
    args = parser.parse_args()

    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(
        target=serve, args=(args.hosts, args.size, args.delay, args.gzip, child), daemon=True
    )
    server.start()
    addresses = parent.recv()
    print(
        f"farm: {args.feeds} feeds on {args.hosts} loopback hosts, {args.size} B bodies"
        f"{' gzip' if args.gzip else ''}, delay {args.delay} s; concurrency {args.concurrency},"
        f" per_host {args.per_host}, {args.connections_per_client} connections/client"
    )
    try:
        asyncio.run(bench(args, addresses))
    finally:
        parent.send("stop")
        if parent.poll(5):
            print(f"farm server process used {parent.recv():.2f} s cpu in all")
        server.join(timeout=5)


if __name__ == "__main__":
    main()
