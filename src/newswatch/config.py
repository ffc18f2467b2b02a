"""Load and validate sources.yaml into typed settings.

Every error names the file, the line and the field (`sources.yaml:12: feeds[3].url: ...`),
because a user editing YAML by hand needs to know exactly where to look.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from newswatch.errors import ConfigError, TopicRuleError
from newswatch.match import compiled_cache
from newswatch.match.topics import TOPIC_KEYS, Matcher, compile_topics, did_you_mean
from newswatch.models import FeedSource
from newswatch.paths import resolve_sources_path

Path_ = tuple[str | int, ...]


def _package_metadata() -> tuple[str, str | None]:
    """(version, project URL) of the installed newswatch; the URL is pyproject's first
    `[project.urls]` entry, None while the project declares none."""
    from importlib import metadata

    try:
        meta = metadata.metadata("newswatch")
    except metadata.PackageNotFoundError:  # run from a source tree without installing
        return "0+unknown", None
    urls = [entry.split(",", 1)[-1].strip() for entry in meta.get_all("Project-URL") or []]
    return meta["Version"], next((u for u in urls if u), None)


VERSION, PROJECT_URL = _package_metadata()


def default_user_agent(contact: str | None = None, project_url: str | None = PROJECT_URL) -> str:
    """`newswatch/<version> (+<contact>)`: a feed's operator sees what polls them and whom to
    ask. The contact is sources.yaml `fetch.contact` (a URL or an email address), else the
    project's URL; without either, the agent says so rather than invent one."""
    if contact:
        link = contact if "://" in contact or contact.startswith("mailto:") else f"mailto:{contact}"
        return f"newswatch/{VERSION} (+{link})"
    if project_url:
        return f"newswatch/{VERSION} (+{project_url})"
    return f"newswatch/{VERSION} (self-hosted feed reader; no contact set)"


DEFAULT_USER_AGENT = default_user_agent()
_EMAIL = re.compile(r"^(mailto:)?[^@\s()<>,;]+@[^@\s()<>,;]+\.[^@\s()<>,;]+$")


@dataclass(frozen=True, slots=True)
class FetchSettings:
    # Feeds in flight at once, over all hosts (in clients of 25 connections). Every feed
    # host is also held to per_host; 1,000 feeds answering in 200 ms: 5 rounds at 200,
    # 2 at 500 (1,000-feed re-poll: 2.3 -> 1.7 s here).
    concurrency: int = 500
    per_host: int = 4  # feeds in flight at once on one host
    connections_per_client: int = 25  # httpx pools above ~70 connections burn CPU
    connect_timeout: float = 10.0
    timeout: float = 30.0  # total deadline for one feed, headers and body
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    user_agent: str = DEFAULT_USER_AGENT
    # Article pages: a response that cannot be a web page (a PDF, an image, a video) is
    # recorded as not_page without downloading its body.
    pages_only: bool = False


@dataclass(frozen=True, slots=True)
class ArticlePageSettings:
    """sources.yaml `article_pages:`: fetching the linked page of new entries (feeds with
    `fetch_article: true` or `teaser`, or every feed per `enabled`) and reading its article
    text.

    The pages go through the feeds' safety (fetch.py: address refusal, allow_hosts, the
    User-Agent, redirects checked hop by hop) with their own, smaller caps: a page is one
    article, and a publisher's host gets fewer of them at once than feeds.
    """

    enabled: str = "off"  # the default of feeds without `fetch_article`: off | all | teaser
    teaser_chars: int = 500  # `teaser`: entries whose summary + content is shorter than this
    concurrency: int = 16  # pages in flight at once, over all hosts
    per_host: int = 2  # pages in flight at once on one host
    timeout: float = 15.0  # deadline for one page, headers and body
    max_bytes: int = 3 * 1024 * 1024  # a larger page is recorded as too_large, not read
    max_per_poll: int = 300  # newest first; the rest wait for the next poll
    max_age_hours: int = 24  # entries first stored longer ago are never fetched
    budget_seconds: float = 120.0  # the whole page step of one poll


@dataclass(frozen=True, slots=True)
class ScheduleSettings:
    poll: str | int = 900  # cron string or interval in seconds
    digest: str | int = "0 7 * * *"
    timezone: str = ""  # IANA name; "" = the machine's


@dataclass(frozen=True, slots=True)
class DigestSettings:
    title: str = "newswatch"
    # Stories in full per topic (as many more one line each). ~2-3 KB of inlined HTML per
    # story: over Gmail's ~102 KB clipping, build.fit_for_mail shows fewer in full.
    max_stories_per_topic: int = 10
    snippet_chars: int = 280
    # Leave out articles published more than this many days before the digest's window
    # (a first poll stores each feed's whole backlog as new); 0 keeps everything.
    max_age_days: int = 7
    # Stories whose relevance to their section's topic is below this are listed compactly
    # under the section ("Also mentioned") instead of with a snippet; 0 lists all in full.
    also_mentioned_below: float = 0.25
    # One-click unsubscribe (RFC 8058; Gmail and Yahoo require it for bulk mail): an https
    # URL that unsubscribes on a POST, and the address that takes "unsubscribe" mails
    # (default: the sender's own address).
    unsubscribe_url: str | None = None
    unsubscribe_mailto: str | None = None
    # The HTML part as sent is kept under this many bytes (Gmail clips past ~102 KB and
    # hides the end); 0: no limit (for mail clients that do not clip).
    html_max_bytes: int = 100_000


@dataclass(frozen=True, slots=True)
class RunnerSettings:
    kind: str = "default"  # "default" or "dask"
    address: str | None = None  # an existing Dask scheduler; None = a local cluster
    workers: int = 2


@dataclass(frozen=True, slots=True)
class Config:
    path: Path
    feeds: tuple[FeedSource, ...]
    topics: tuple[Mapping[str, Any], ...]
    matcher: Matcher
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    fetch: FetchSettings = field(default_factory=FetchSettings)
    digest: DigestSettings = field(default_factory=DigestSettings)
    runner: RunnerSettings = field(default_factory=RunnerSettings)
    article_pages: ArticlePageSettings = field(default_factory=ArticlePageSettings)
    allow_hosts: tuple[str, ...] = ()
    retention_days: float | None = None  # days; fractions allowed (0.5 = 12 hours)

    @property
    def topic_names(self) -> tuple[str, ...]:
        return self.matcher.topic_names


# libyaml's composer (8x faster on a 1,000-feed file: 0.04 s instead of 0.32 s) where PyYAML
# was built with it; nodes carry the same line marks either way.
_COMPOSER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_config(path: str | Path | None = None) -> Config:
    """Read and validate a sources file; raise ConfigError on any problem.

    A file already loaded by this process, unchanged since, is not parsed again: a command
    and the flows it runs each ask for it, and 1,000 feeds take ~0.7 s to parse and compile.
    """
    path = Path(path) if path is not None else resolve_sources_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, None, "", "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, None, "", f"cannot read: {exc}") from None
    return _parse_cached(str(path.resolve()), text, path)


_loaded: dict[tuple[str, str], Config] = {}


def config_source(config: Config) -> tuple[str, str] | None:
    """(resolved path, text) of a config this process loaded with load_config, or None (a
    config built otherwise, or no longer the cached one)."""
    for key, cached in _loaded.items():
        if cached is config:
            return key
    return None


def config_from_source(path: str, text: str) -> Config:
    """The config of `text` as read from `path`: the cached one when this process (or the
    fork server it came from) already loaded exactly that, else parsed now."""
    return _parse_cached(path, text, Path(path))


def _parse_cached(resolved: str, text: str, shown: Path) -> Config:
    key = (resolved, text)
    cached = _loaded.get(key)
    if cached is None:
        cached = parse_config(text, shown)
        _loaded.clear()  # one file's config is all a process needs to keep
        _loaded[key] = cached
    return cached


# What an unfinished construct most often is, by PyYAML's context.
_YAML_HINTS = {
    "while scanning a quoted scalar": "a quote that is never closed?",
    "while parsing a flow mapping": "a '{' that is never closed, or a missing ','?",
    "while parsing a flow sequence": "a '[' that is never closed, or a missing ','?",
}


def _yaml_error(exc: yaml.MarkedYAMLError) -> tuple[int | None, str]:
    """The line to point at and the message. PyYAML notices an unclosed quote or bracket
    where the file ends or the next one starts; the mistake is where the construct began (its
    context mark), so that line is named, with where it was noticed."""
    problem = exc.problem or str(exc)
    found, began = exc.problem_mark, exc.context_mark
    if found is not None and began is not None and exc.context and began.line < found.line:
        hint = _YAML_HINTS.get(exc.context.strip())
        text = f"invalid YAML: {exc.context} that starts on this line, {problem} on line "
        text += f"{found.line + 1}" + (f" ({hint})" if hint else "")
        return began.line + 1, text
    mark = found or began
    text = f"invalid YAML: {problem}"
    if "alias" in problem or "alias" in (exc.context or ""):
        # `any: [*Greek]`: YAML reads a value starting with `*` as an alias (and `&` as an
        # anchor); a term with a leading wildcard is what was meant.
        text += "; a value starting with `*` or `&` is YAML syntax: quote it ('*Greek')"
    return (mark.line + 1 if mark else None), text


def parse_config(text: str, path: str | Path = "sources.yaml") -> Config:
    path = Path(path)
    try:
        node = yaml.compose(text, Loader=_COMPOSER)
    except yaml.MarkedYAMLError as exc:
        line, message = _yaml_error(exc)
        raise ConfigError(path, line, "", message) from None
    except yaml.YAMLError as exc:
        raise ConfigError(path, None, "", f"invalid YAML: {exc}") from None
    if node is None:
        raise ConfigError(
            path, 1, "", "the file is empty; it needs at least `feeds:` and `topics:`"
        )
    doc = _Doc(path)
    data = doc.value(node, ())
    return _Validator(doc).config(data)


class _Doc:
    """Turns a YAML node tree into Python values, remembering each value's line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines: dict[Path_, int] = {}
        # Unquoted strings with ", " given where a list of terms goes (`any: Greece, Athens`).
        self.comma_strings: list[Path_] = []
        self._loader = yaml.SafeLoader("")

    def value(self, node: yaml.Node, at: Path_) -> Any:
        self.lines[at] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = str(self._scalar(key_node, at))
                if key in out:
                    raise ConfigError(
                        self.path,
                        key_node.start_mark.line + 1,
                        _dotted((*at, key)),
                        "duplicate key",
                    )
                out[key] = self.value(value_node, (*at, key))
                self.lines.setdefault((*at, key), key_node.start_mark.line + 1)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.value(item, (*at, i)) for i, item in enumerate(node.value)]
        if (
            isinstance(node, yaml.ScalarNode)
            and not node.style  # plain: libyaml says "", PyYAML None
            and at[:1] == ("topics",)
            and _comma_list_key(at)
            and ", " in node.value
        ):
            self.comma_strings.append(at)
        return self._scalar(node, at)

    def _scalar(self, node: yaml.Node, at: Path_) -> Any:
        try:
            return self._loader.construct_object(node, deep=True)
        except yaml.MarkedYAMLError as exc:
            # Composes but cannot be built, e.g. a bare `=` (YAML's "value" tag).
            raise ConfigError(
                self.path,
                node.start_mark.line + 1,
                _dotted(at),
                f"cannot read this value ({exc.problem}); quote it",
            ) from None

    def line(self, at: Path_) -> int | None:
        while at and at not in self.lines:
            at = at[:-1]
        return self.lines.get(at)

    def error(self, at: Path_, message: str) -> ConfigError:
        return ConfigError(self.path, self.line(at), _dotted(at), message)


def _comma_list_key(at: Path_) -> bool:
    """Whether `at` is a term-list key given one string instead of a list: a topic's or a
    rule's `any`, `all`, `none`, ... or the `terms` of a `near`/`not_near`."""
    return bool(at) and isinstance(at[-1], str) and at[-1] in _TERM_LIST_KEYS


def _dotted(at: Path_) -> str:
    out = ""
    for part in at:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


# Keys of a topic (and of its rules): found at the top of the file, they were meant to be
# indented under a topic.
_TOPIC_ONLY_KEYS = set(TOPIC_KEYS) - {"fields"}


# Keys whose value is a list of terms: a plain (unquoted) string there is one term.
_TERM_LIST_KEYS = {"terms", "any", "all", "none", "exclude", "ignore", "related"}


_TOP_KEYS = {
    "feeds",
    "topics",
    "schedule",
    "fetch",
    "digest",
    "runner",
    "allow_hosts",
    "retention_days",
    "article_pages",
}


class _Validator:
    def __init__(self, doc: _Doc) -> None:
        self.doc = doc

    def config(self, data: Any) -> Config:
        self._mapping(data, (), _TOP_KEYS)
        if "feeds" not in data:
            raise self.doc.error(("feeds",), "missing: list the feeds to poll under `feeds:`")
        if "topics" not in data:
            raise self.doc.error(("topics",), "missing: list the watched topics under `topics:`")
        article_pages = self.article_pages(data.get("article_pages", {}))
        feeds = self.feeds(data["feeds"], article_pages.enabled)
        topics_raw = data["topics"]
        if not isinstance(topics_raw, list) or not topics_raw:
            raise self.doc.error(("topics",), "must be a non-empty list of topics")
        if self.doc.comma_strings:
            # `any: Greece, Athens` is one string to YAML, so one phrase "Greece, Athens"
            # that no article contains. Quoted ("Turkey, Texas") it is meant as one term.
            where = self.doc.comma_strings[0]
            value = _value_at(data, where)
            raise self.doc.error(
                where,
                f"{value!r} is one term with a comma in it; did you mean a list: "
                f"{_as_list(str(value))}? (quote it to mean one term)",
            )
        try:
            matcher = compiled_cache.cached_compile(topics_raw, compile_topics)
        except TopicRuleError as exc:
            at: Path_ = ("topics", exc.index, *exc.path) if exc.index is not None else ("topics",)
            raise self.doc.error(at, f"topic {exc.topic!r}: {exc.message}") from None
        return Config(
            path=self.doc.path,
            feeds=feeds,
            topics=tuple(topics_raw),
            matcher=matcher,
            schedule=self.schedule(data.get("schedule", {})),
            fetch=self.fetch(data.get("fetch", {})),
            digest=self.digest(data.get("digest", {})),
            runner=self.runner(data.get("runner", {})),
            article_pages=article_pages,
            allow_hosts=self.allow_hosts(data.get("allow_hosts", [])),
            retention_days=self._opt_positive(data, ("retention_days",)),
        )

    # -- helpers -------------------------------------------------------------------
    def _mapping(self, value: Any, at: Path_, allowed: set[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.doc.error(at, f"must be a mapping, got {_kind(value)}")
        for key in value:
            if key not in allowed:
                hint = ", ".join(sorted(allowed))
                message = f"unknown key{did_you_mean(key, allowed)}; expected one of: {hint}"
                if not at and key in _TOPIC_ONLY_KEYS:
                    message += (
                        f" (`{key}` is a key of a topic: indent it under the topic, as deep "
                        "as its `name:`)"
                    )
                raise self.doc.error((*at, key), message)
        return value

    def _get(self, data: Mapping[str, Any], at: Path_) -> Any:
        return data.get(str(at[-1]))

    def _opt_int(self, data: Mapping[str, Any], at: Path_, minimum: int = 0) -> int | None:
        value = self._get(data, at)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.doc.error(at, f"must be a whole number >= {minimum}, got {value!r}")
        return value

    def _opt_positive(self, data: Mapping[str, Any], at: Path_) -> float | None:
        value = self._get(data, at)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise self.doc.error(at, f"must be a number of days > 0, got {value!r}")
        return float(value)

    def _number(self, data: Mapping[str, Any], at: Path_, default: float, minimum: float) -> float:
        value = self._get(data, at)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
            raise self.doc.error(at, f"must be a number >= {minimum}, got {value!r}")
        return float(value)

    def _fraction(self, data: Mapping[str, Any], at: Path_, default: float) -> float:
        value = self._get(data, at)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise self.doc.error(at, f"must be a number from 0 to 1, got {value!r}")
        return float(value)

    def _str(self, data: Mapping[str, Any], at: Path_, default: str) -> str:
        value = self._get(data, at)
        if value is None:
            return default
        if not isinstance(value, str) or not value.strip():
            raise self.doc.error(at, f"must be a non-empty string, got {value!r}")
        return value.strip()

    # -- sections ------------------------------------------------------------------
    def _fetch_mode(self, data: Mapping[str, Any], at: Path_, default: str) -> str:
        """`fetch_article` / `article_pages.enabled`: true -> "all", false -> "off", "teaser"."""
        value = self._get(data, at)
        if value is None:
            return default
        if isinstance(value, bool):
            return "all" if value else "off"
        if value == "teaser":
            return "teaser"
        raise self.doc.error(at, f"must be true, false or teaser, got {value!r}")

    def feeds(self, value: Any, fetch_article: str = "off") -> tuple[FeedSource, ...]:
        if not isinstance(value, list) or not value:
            raise self.doc.error(
                ("feeds",), "must be a non-empty list of feeds (each with a `url`)"
            )
        seen: dict[str, int] = {}
        spellings: dict[str, tuple[str, Path_]] = {}  # a tag's tag_key -> its first spelling
        out = []
        for i, item in enumerate(value):
            at: Path_ = ("feeds", i)
            if isinstance(item, str):
                item = {"url": item}
            self._mapping(item, at, {"url", "name", "interval", "enabled", "fetch_article", "tags"})
            url = item.get("url")
            if not isinstance(url, str) or not url.strip():
                raise self.doc.error((*at, "url"), "missing or empty; every feed needs a `url`")
            url = url.strip()
            problem = url_problem(url)
            if problem:
                raise self.doc.error((*at, "url"), f"{problem}, got {url!r}")
            key = feed_url_key(url)
            if key in seen:
                raise self.doc.error(
                    (*at, "url"),
                    f"duplicate feed URL (already listed as feeds[{seen[key]}]): {url}",
                )
            seen[key] = i
            name = self._str(item, (*at, "name"), "")
            interval = _interval(self, item, (*at, "interval"))
            enabled = item.get("enabled", True)
            if not isinstance(enabled, bool):
                raise self.doc.error((*at, "enabled"), f"must be true or false, got {enabled!r}")
            out.append(
                FeedSource(
                    url=url,
                    name=name,
                    interval_seconds=interval,
                    enabled=enabled,
                    fetch_article=self._fetch_mode(item, (*at, "fetch_article"), fetch_article),
                    tags=self._tags(item.get("tags"), (*at, "tags"), spellings),
                )
            )
        return tuple(_default_names(out))

    def _tags(
        self, value: Any, at: Path_, spellings: dict[str, tuple[str, Path_]]
    ) -> tuple[str, ...]:
        """A feed's `tags`: a list of short labels, or one label written as a plain string
        (`tags: GR`). Each is stripped and kept as written; the same tag twice in a feed is
        kept once. Tags are one tag whatever their case, so a file must spell each one way
        (`GR` in one feed and `gr` in another is an error): the warehouse then compares them
        exactly, as analysts' SQL does."""
        if value is None:
            return ()
        if isinstance(value, str):
            if "," in value:
                raise self.doc.error(
                    at, f"{value!r} is one tag with a comma in it; write a list: {_as_list(value)}"
                )
            items_at: list[tuple[Any, Path_]] = [(value, at)]
        elif isinstance(value, list):
            items_at = [(item, (*at, i)) for i, item in enumerate(value)]
        elif isinstance(value, bool | int | float):
            items_at = [(value, at)]  # `tags: NO`: one tag, which `_tag` explains
        else:
            raise self.doc.error(at, f"must be a list of tags like [GR, wire], got {_kind(value)}")
        out: list[str] = []
        for item, where in items_at:
            tag = self._tag(item, where)
            key = tag_key(tag)
            first = spellings.setdefault(key, (tag, where))
            if first[0] != tag:
                raise self.doc.error(
                    where,
                    f"tag {tag!r} is written {first[0]!r} at {_dotted(first[1])}; tags are "
                    "compared without regard to case, so write each one way",
                )
            if tag not in out:
                out.append(tag)
        return tuple(out)

    def _tag(self, value: Any, at: Path_) -> str:
        if isinstance(value, bool):
            # `tags: [NO]` (Norway): YAML reads an unquoted yes/no/on/off as true or false.
            raise self.doc.error(
                at,
                f"must be a string, got {value!r}: YAML reads an unquoted yes, no, on, off, "
                f"true or false as {str(value).lower()}; put the tag in quotes ('NO', 'yes')",
            )
        if isinstance(value, int | float | datetime.date):  # 1821, 2024-01-01 unquoted
            raise self.doc.error(at, f"must be a string, got {value}: put it in quotes ('{value}')")
        text = value.strip() if isinstance(value, str) else ""
        if not text or "," in text or not text.isprintable():
            raise self.doc.error(
                at,
                f"a tag must be a non-empty string without commas or control characters, "
                f"got {value!r}",
            )
        return text

    def schedule(self, value: Any) -> ScheduleSettings:
        at: Path_ = ("schedule",)
        data = self._mapping(value, at, {"poll", "digest", "timezone"})
        defaults = ScheduleSettings()
        poll = _cron_or_interval(self, data, (*at, "poll"), defaults.poll)
        digest = _cron_or_interval(self, data, (*at, "digest"), defaults.digest)
        tz = data.get("timezone", "")
        if tz:
            if not isinstance(tz, str):
                raise self.doc.error((*at, "timezone"), f"must be an IANA name, got {tz!r}")
            try:
                zoneinfo.ZoneInfo(tz)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise self.doc.error(
                    (*at, "timezone"),
                    f"unknown time zone {tz!r}; use an IANA name like Europe/Istanbul",
                ) from None
        return ScheduleSettings(poll=poll, digest=digest, timezone=tz or "")

    def fetch(self, value: Any) -> FetchSettings:
        at: Path_ = ("fetch",)
        d = FetchSettings()
        data = self._mapping(
            value,
            at,
            {
                "concurrency",
                "per_host",
                "connections_per_client",
                "connect_timeout",
                "timeout",
                "max_bytes",
                "max_redirects",
                "user_agent",
                "contact",
            },
        )
        return FetchSettings(
            concurrency=self._opt_int(data, (*at, "concurrency"), 1) or d.concurrency,
            per_host=self._opt_int(data, (*at, "per_host"), 1) or d.per_host,
            connections_per_client=self._opt_int(data, (*at, "connections_per_client"), 1)
            or d.connections_per_client,
            connect_timeout=self._number(data, (*at, "connect_timeout"), d.connect_timeout, 0.1),
            timeout=self._number(data, (*at, "timeout"), d.timeout, 0.1),
            max_bytes=self._opt_int(data, (*at, "max_bytes"), 1024) or d.max_bytes,
            max_redirects=_default(self._opt_int(data, (*at, "max_redirects"), 0), d.max_redirects),
            user_agent=self._user_agent(data, at),
        )

    def _user_agent(self, data: Mapping[str, Any], at: Path_) -> str:
        contact = data.get("contact")
        if contact is None:
            return self._str(data, (*at, "user_agent"), DEFAULT_USER_AGENT)
        if "user_agent" in data:
            raise self.doc.error(
                (*at, "contact"),
                "not used when fetch.user_agent is set; put the contact into user_agent "
                "or remove user_agent",
            )
        text = contact.strip() if isinstance(contact, str) else ""
        is_url = text.startswith(("http://", "https://")) and url_problem(text) is None
        if not text.isascii() or "(" in text or ")" in text or not (is_url or _EMAIL.match(text)):
            raise self.doc.error(
                (*at, "contact"),
                "must be an http(s) URL or an email address where feed operators can reach "
                f"you, got {contact!r}",
            )
        return default_user_agent(text)

    def digest(self, value: Any) -> DigestSettings:
        at: Path_ = ("digest",)
        d = DigestSettings()
        data = self._mapping(
            value,
            at,
            {
                "title", "max_stories_per_topic", "snippet_chars", "max_age_days",
                "unsubscribe_url", "unsubscribe_mailto", "also_mentioned_below",
                "html_max_bytes",
            },
        )  # fmt: skip
        url = data.get("unsubscribe_url")
        if url is not None and not (
            isinstance(url, str) and url.startswith("https://") and url_problem(url) is None
        ):
            raise self.doc.error((*at, "unsubscribe_url"), f"must be an https:// URL, got {url!r}")
        mailto = data.get("unsubscribe_mailto")
        if mailto is not None and not (
            isinstance(mailto, str) and _EMAIL.match(mailto.removeprefix("mailto:"))
        ):
            raise self.doc.error(
                (*at, "unsubscribe_mailto"), f"must be an email address, got {mailto!r}"
            )
        return DigestSettings(
            unsubscribe_url=url,
            unsubscribe_mailto=mailto.removeprefix("mailto:") if mailto else None,
            title=self._str(data, (*at, "title"), d.title),
            max_stories_per_topic=self._opt_int(data, (*at, "max_stories_per_topic"), 1)
            or d.max_stories_per_topic,
            snippet_chars=self._opt_int(data, (*at, "snippet_chars"), 40) or d.snippet_chars,
            max_age_days=_default(self._opt_int(data, (*at, "max_age_days"), 0), d.max_age_days),
            also_mentioned_below=self._fraction(
                data, (*at, "also_mentioned_below"), d.also_mentioned_below
            ),
            html_max_bytes=_default(
                self._opt_int(data, (*at, "html_max_bytes"), 0), d.html_max_bytes
            ),
        )

    def runner(self, value: Any) -> RunnerSettings:
        at: Path_ = ("runner",)
        data = self._mapping(value, at, {"kind", "address", "workers"})
        kind = self._str(data, (*at, "kind"), "default")
        if kind not in ("default", "dask"):
            raise self.doc.error((*at, "kind"), f"must be 'default' or 'dask', got {kind!r}")
        address = data.get("address")
        if address is not None and not isinstance(address, str):
            raise self.doc.error(
                (*at, "address"), "must be a Dask scheduler address like tcp://host:8786"
            )
        return RunnerSettings(
            kind=kind, address=address, workers=self._opt_int(data, (*at, "workers"), 1) or 2
        )

    def article_pages(self, value: Any) -> ArticlePageSettings:
        at: Path_ = ("article_pages",)
        d = ArticlePageSettings()
        data = self._mapping(
            value,
            at,
            {
                "enabled",
                "concurrency",
                "per_host",
                "timeout",
                "max_bytes",
                "max_per_poll",
                "max_age_hours",
                "budget_seconds",
                "teaser_chars",
            },
        )
        return ArticlePageSettings(
            enabled=self._fetch_mode(data, (*at, "enabled"), d.enabled),
            teaser_chars=self._opt_int(data, (*at, "teaser_chars"), 1) or d.teaser_chars,
            concurrency=self._opt_int(data, (*at, "concurrency"), 1) or d.concurrency,
            per_host=self._opt_int(data, (*at, "per_host"), 1) or d.per_host,
            timeout=self._number(data, (*at, "timeout"), d.timeout, 0.1),
            max_bytes=self._opt_int(data, (*at, "max_bytes"), 1024) or d.max_bytes,
            max_per_poll=self._opt_int(data, (*at, "max_per_poll"), 1) or d.max_per_poll,
            max_age_hours=self._opt_int(data, (*at, "max_age_hours"), 1) or d.max_age_hours,
            budget_seconds=self._number(data, (*at, "budget_seconds"), d.budget_seconds, 1.0),
        )

    def allow_hosts(self, value: Any) -> tuple[str, ...]:
        at: Path_ = ("allow_hosts",)
        if not isinstance(value, list):
            raise self.doc.error(at, "must be a list of host names, addresses or CIDR ranges")
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                raise self.doc.error(
                    (*at, i), f"must be a host name, address or CIDR, got {item!r}"
                )
            item = item.strip()
            if "/" in item:
                try:
                    ipaddress.ip_network(item, strict=False)
                except ValueError:
                    raise self.doc.error((*at, i), f"not a valid CIDR range: {item!r}") from None
            out.append(item)
        return tuple(out)


_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")


def feed_url_key(url: str) -> str:
    """What makes two feed URLs one feed: scheme and host in any case, the default port
    written or not, http or https, a trailing slash."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    where = f"{host}:{port}" if port and port not in (80, 443) else host
    query = f"?{parts.query}" if parts.query else ""
    return f"{where}{parts.path.rstrip('/')}{query}"


def _default_names(feeds: list[FeedSource]) -> list[FeedSource]:
    """A feed without `name` is called by its host, or by its host and path when another
    feed has the same host (three feeds on feeds.bbci.co.uk are not three "feeds.bbci.co.uk")."""
    hosts: dict[str, int] = {}
    for feed in feeds:
        host = urlsplit(feed.url).hostname or feed.url
        hosts[host] = hosts.get(host, 0) + 1
    out = []
    for feed in feeds:
        if not feed.name:
            parts = urlsplit(feed.url)
            host = parts.hostname or feed.url
            name = host
            if hosts[host] > 1:
                name = host + parts.path.rstrip("/") + (f"?{parts.query}" if parts.query else "")
            feed = replace(feed, name=name)
        out.append(feed)
    return out


def url_problem(url: str) -> str | None:
    """Why `url` cannot be fetched as a feed (one phrase), or None when it can."""
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        return "must not contain spaces or control characters (write a space as %20)"
    generic = "must be an http:// or https:// URL with a host"
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        return f"not a valid URL ({exc})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return generic
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        return "the port must be a number from 1 to 65535"
    host = parts.hostname
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    if "[" in parts.netloc:
        return f"not a valid URL (bad IPv6 address {host!r})"
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return f"not a valid host name {host!r}"
    labels = ascii_host.rstrip(".").split(".")
    if len(ascii_host) > 253 or not all(_HOST_LABEL.match(label) for label in labels):
        return f"not a valid host name {host!r}"
    return None


def _default(value: int | None, default: int) -> int:
    return default if value is None else value


def _interval(v: _Validator, data: Mapping[str, Any], at: Path_) -> int | None:
    value = data.get(str(at[-1]))
    if value is None:
        return None
    seconds = parse_duration(value)
    if seconds is None or seconds < 1:
        raise v.doc.error(at, f"must be seconds (e.g. 600) or a duration like '30m', got {value!r}")
    return seconds


def parse_duration(value: Any) -> int | None:
    """600, "600", "10m", "2h", "1d" -> seconds; None when not a duration."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if text[-1:] in units and text[:-1].strip().isdigit():
        return int(text[:-1]) * units[text[-1]]
    return int(text) if text.isdigit() else None


def _cron_or_interval(
    v: _Validator, data: Mapping[str, Any], at: Path_, default: str | int
) -> str | int:
    value = data.get(str(at[-1]))
    if value is None:
        return default
    seconds = parse_duration(value)
    if seconds is not None:
        if seconds < 1:
            raise v.doc.error(at, "an interval must be at least 1 second")
        return seconds
    if isinstance(value, str) and _valid_cron(value):
        return value.strip()
    raise v.doc.error(
        at,
        "must be a 5-field cron string like '0 7 * * *', or an interval: seconds (900) or a "
        f"duration like '15m', '2h', got {value!r}",
    )


def _valid_cron(text: str) -> bool:
    from croniter import croniter

    return len(text.split()) == 5 and bool(croniter.is_valid(text))


def _as_list(value: str) -> str:
    """A comma-separated string written as the YAML list it was meant to be: "[GR, wire]"."""
    return "[" + ", ".join(part.strip() for part in value.split(",") if part.strip()) + "]"


def _value_at(data: Any, at: Path_) -> Any:
    for part in at:
        data = data[part]
    return data


def tag_key(tag: str) -> str:
    """How tags compare: without regard to case, as DuckDB's lower() (which `search --tag`
    and the docs' SQL use) folds them: "TÜRKİYE-watch" and "türkiye-watch" are one tag."""
    return tag.replace("İ", "i").lower()


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", type(None): "nothing"}.get(
        type(value), type(value).__name__
    )
