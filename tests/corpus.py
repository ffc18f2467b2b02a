"""Loader for the feedparser test-fixture corpus (/work/shared/corpus/feedparser/tests).

Each fixture opens with a comment (or, for JSON, a "__TEST__" string) such as:

    Header:      Content-type: application/rss+xml;charset= "us-ascii"
    SkipUnless:  __import__('codecs').lookup('euc-kr')
    Description: application/rss+xml + charset overrides encoding
    Expect:      not bozo and encoding == 'us-ascii'
    -->

`Expect` is a Python expression over feedparser.parse()'s result; `Header` lines are HTTP
response headers the fixture is meant to be served with. Files in UTF-16/32 are decoded first
(the header comment is ASCII in every encoding the corpus uses).
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

_DESCRIPTION_EXPECT = re.compile(r"Description:\s*(.*?)\s*Expect:\s*(.*?)\s*-->")
_HEADER = re.compile(r"^Header:\s*([^:\r\n]+?)\s*:\s*(.*?)\s*$", re.MULTILINE)
_SKIP_UNLESS = re.compile(r"SkipUnless:\s*(.*?)\s*$", re.MULTILINE)
# Without a byte-order mark, XML in UTF-16/32 is recognised by how "<" is padded (XML spec F.1).
_PADDED_LT = (
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF16_BE, "utf-16"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<\x00", "utf-16-be"),
    (b"<\x00?\x00", "utf-16-le"),
    (b"<\x00!\x00", "utf-16-le"),
)
# How the fixtures were served by feedparser's own test harness; Expect expressions assume it.
FIXTURE_BASE_URL = "http://127.0.0.1:8097/"


@dataclass(frozen=True, slots=True)
class Fixture:
    path: Path
    relpath: str  # e.g. "wellformed/rss/item_title.xml"
    description: str
    expect: str  # a Python expression over feedparser.parse()'s result
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased names
    skip_unless: str | None = None  # a Python expression; fixture applies only when it holds
    is_wellformed: bool = False  # under wellformed/ (feedparser expects `not bozo` there)

    @property
    def url(self) -> str:
        """The URL the fixture was served from in feedparser's harness."""
        return FIXTURE_BASE_URL + "tests/" + self.relpath

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")

    def read_bytes(self) -> bytes:
        return self.path.read_bytes()


def fixture_text(data: bytes) -> str:
    """The fixture decoded well enough to read its ASCII header comment."""
    for marker, encoding in _PADDED_LT:
        if data.startswith(marker):
            return data.decode(encoding, errors="replace")
    return data.decode("latin-1")


def load_fixture(path: Path, root: Path) -> Fixture | None:
    """The fixture at `path`, or None when it has no Description/Expect header."""
    text = fixture_text(path.read_bytes())
    match = _DESCRIPTION_EXPECT.search(text)
    if match is None:
        return None
    head = text[: match.end()]
    skip = _SKIP_UNLESS.search(head)
    relpath = path.relative_to(root).as_posix()
    return Fixture(
        path=path,
        relpath=relpath,
        description=match.group(1),
        expect=match.group(2),
        headers={name.lower(): value for name, value in _HEADER.findall(head)},
        skip_unless=skip.group(1) if skip else None,
        is_wellformed=relpath.startswith("wellformed/"),
    )


def iter_fixtures(root: Path) -> Iterator[Fixture]:
    """Every fixture under `root` (the corpus `tests` folder), in path order."""
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix in {".xml", ".json"}:
            fixture = load_fixture(path, root)
            if fixture is not None:
                yield fixture
