"""A response body read raw and decoded here (gzip, deflate) with a bounded zlib
decompressor, so the `max_bytes` cap applies to the decoded size while streaming and a gzip
bomb never inflates beyond the cap."""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

import httpx

from newswatch.errors import FetchFailure

if TYPE_CHECKING:
    from newswatch.fetch.get import Progress


async def read_body(response: httpx.Response, max_bytes: int, progress: Progress) -> bytes:
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


def format_size(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{round(n / size, 1):g} {unit}"
    return f"{n} bytes"
