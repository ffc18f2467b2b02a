"""One feed's fetch: a conditional GET (If-None-Match, If-Modified-Since), redirects
followed hop by hop (each target's URL and scheme checked, loops and too many hops refused),
the status and body made into a `FetchResult`.

One deadline (`timeout`) covers DNS, connect, redirects, headers and body, so a server that
trickles bytes is cut off at the deadline, not only when a read stalls. Every problem becomes
a result with `outcome="error"`, an `error_kind` and a one-line `error` a user can act on;
nothing is raised.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import httpx

from newswatch.config import FetchSettings
from newswatch.errors import FetchFailure
from newswatch.fetch.body import read_body
from newswatch.fetch.client import seconds
from newswatch.fetch.headers import may_be_page, media_type, parse_max_age, parse_retry_after
from newswatch.fetch.netsafety import scheme_error
from newswatch.models import FetchOutcome, FetchResult

if TYPE_CHECKING:
    from newswatch.fetch.stream import FetchRequest

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_E = TypeVar("_E", bound=BaseException)


@dataclass(slots=True)
class Progress:
    """What is known so far about one fetch, so a timeout can still report it."""

    url: str
    status: int | None = None
    bytes_received: int = 0
    hops: list[str] = field(default_factory=list)


async def fetch_one(
    request: FetchRequest,
    client: httpx.AsyncClient,
    settings: FetchSettings,
    clock: Callable[[], datetime],
) -> FetchResult:
    started_at = clock()
    start = time.perf_counter()
    progress = Progress(url=request.url)

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
            error=f"timed out after {seconds(settings.timeout)} s{where}",
        )
    except FetchFailure as exc:
        return result("error", error_kind=exc.kind, error=exc.message)
    except httpx.HTTPError as exc:
        kind, message = describe_http_error(exc, progress.url, settings)
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
    progress: Progress,
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
    progress: Progress,
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
    if settings.pages_only and not may_be_page(headers.get("content-type")):
        raise FetchFailure(
            "not_page",
            f"not a web page ({media_type(headers.get('content-type'))}); not downloaded",
        )
    body = await read_body(response, settings.max_bytes, progress)
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


def describe_http_error(exc: httpx.HTTPError, url: str, settings: FetchSettings) -> tuple[str, str]:
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
            f"connect to {where} timed out after {seconds(settings.connect_timeout)} s",
        )
    if isinstance(exc, httpx.TimeoutException):
        return "timeout", f"timed out after {seconds(settings.timeout)} s"
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
