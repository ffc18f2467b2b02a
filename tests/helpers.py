"""Small builders shared by tests: RSS documents and sources files."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

import yaml

from newswatch import resources


def default_topics_yaml() -> str:
    """The `topics:` section of the shipped sources.yaml (the default watch list)."""
    data = yaml.safe_load(resources.default_sources_path().read_text(encoding="utf-8"))
    return yaml.safe_dump({"topics": data["topics"]}, allow_unicode=True, sort_keys=False)


def rss(title: str, items: Sequence[dict[str, str | datetime]]) -> bytes:
    parts = []
    for item in items:
        fields = []
        for key, value in item.items():
            if isinstance(value, datetime):
                fields.append(f"<{key}>{format_datetime(value)}</{key}>")
            else:
                fields.append(f"<{key}>{escape(value)}</{key}>")
        parts.append("<item>" + "".join(fields) + "</item>")
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>http://example.org/</link>"
        f"<description>test</description>{''.join(parts)}</channel></rss>"
    ).encode()


def write_sources(
    path: Path,
    feeds: Sequence[tuple[str, str]],
    *,
    topics: str | None = None,
    extra: str = "",
    timeout: float = 3,
    tags: Mapping[str, Sequence[str]] | None = None,
) -> Path:
    """A sources file for `feeds` ((url, name) pairs); `tags` gives feeds, by name, their tags."""
    lines = [
        "allow_hosts: [127.0.0.0/8]",
        f"fetch:\n  timeout: {timeout}\n  connect_timeout: 2",
        "feeds:",
    ]
    for url, name in feeds:
        lines.append(f"  - url: {url!r}\n    name: {name!r}")
        if tags and name in tags:
            lines.append(f"    tags: [{', '.join(repr(t) for t in tags[name])}]")
    lines.append(topics or default_topics_yaml())
    lines.append(extra)
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@contextmanager
def poll_running(db: Path, seconds: float) -> Iterator[None]:
    """A poll of `db` runs (its lock held by another thread) for `seconds` from entry."""
    from newswatch.orchestrate.locks import poll_lock

    held = threading.Event()

    def poll() -> None:
        with poll_lock(db):
            held.set()
            time.sleep(seconds)

    thread = threading.Thread(target=poll)
    thread.start()
    held.wait(5)
    try:
        yield
    finally:
        thread.join()
