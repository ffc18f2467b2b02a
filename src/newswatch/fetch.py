"""TEMPORARY minimal fetcher (replaced by the full module from the fetch branch)."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from newswatch.config import FetchSettings
from newswatch.models import FetchResult

Resolver = Callable[[str, int], Awaitable[list[str]]]


@dataclass(frozen=True, slots=True)
class FetchRequest:
    url: str
    etag: str | None = None
    last_modified: str | None = None


def _now() -> datetime:
    return datetime.now(UTC)


async def fetch_stream(
    requests: Sequence[FetchRequest], settings: FetchSettings, *, allow_hosts: Sequence[str] = (),
    resolver: Resolver | None = None, clock: Callable[[], datetime] = _now,
) -> AsyncIterator[FetchResult]:
    sem = asyncio.Semaphore(settings.concurrency)
    async with httpx.AsyncClient(follow_redirects=True, timeout=settings.timeout) as client:
        async def one(req: FetchRequest) -> FetchResult:
            async with sem:
                started = clock()
                t0 = time.monotonic()
                headers = {"User-Agent": settings.user_agent}
                if req.etag:
                    headers["If-None-Match"] = req.etag
                try:
                    r = await client.get(req.url, headers=headers)
                except httpx.HTTPError as exc:
                    return FetchResult(req.url, "error", started, (time.monotonic() - t0) * 1000,
                                       error_kind="network", error=str(exc) or type(exc).__name__)
                ms = (time.monotonic() - t0) * 1000
                if r.status_code == 304:
                    return FetchResult(req.url, "not_modified", started, ms, 304, etag=req.etag)
                if r.status_code >= 400:
                    return FetchResult(req.url, "error", started, ms, r.status_code,
                                       error_kind="http_status", error=f"HTTP {r.status_code} {r.reason_phrase}")
                return FetchResult(req.url, "ok", started, ms, r.status_code, str(r.url), r.content,
                                   r.headers.get("content-type"), r.headers.get("etag"),
                                   r.headers.get("last-modified"), len(r.content),
                                   hashlib.sha256(r.content).hexdigest())
        for fut in asyncio.as_completed([one(r) for r in requests]):
            yield await fut
