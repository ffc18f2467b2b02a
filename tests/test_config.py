"""sources.yaml validation: every error names the file, the line and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from newswatch import resources
from newswatch.config import load_config, parse_config, parse_duration
from newswatch.errors import ConfigError
from tests.feedserver import FeedServer

TOPICS = "topics:\n  - name: NATO\n    terms: [NATO]\n"
FEEDS = "feeds:\n  - url: https://example.org/feed.xml\n"


def error_of(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "my.yaml")
    return info.value


def test_the_shipped_sources_file_is_valid() -> None:
    config = load_config(resources.default_sources_path())
    assert 15 <= len(config.feeds) <= 40
    assert config.topic_names == ("Turkey", "S-400", "NATO")
    assert all(f.url.startswith("https://") for f in config.feeds)


def test_a_minimal_file_gets_defaults() -> None:
    config = parse_config("feeds:\n  - url: https://example.org/feed.xml\n" + TOPICS)
    feed = config.feeds[0]
    assert feed.name == "example.org"
    assert feed.interval_seconds is None
    assert config.schedule.poll == 900
    assert config.schedule.digest == "0 7 * * *"
    assert config.allow_hosts == ()


@pytest.mark.parametrize(
    ("text", "line", "field", "words"),
    [
        ("feeds:\n  - url: ftp://x.org/f\n" + TOPICS, 2, "feeds[0].url", "http"),
        ("feeds:\n  - name: no url\n" + TOPICS, 2, "feeds[0].url", "missing"),
        (
            "feeds:\n  - url: https://a.org/f\n  - url: https://a.org/f\n" + TOPICS,
            3,
            "feeds[1].url",
            "duplicate",
        ),
        (
            "feeds:\n  - url: https://a.org/f\n    intervall: 60\n" + TOPICS,
            3,
            "feeds[0].intervall",
            "unknown key",
        ),
        (
            "feeds:\n  - url: https://a.org/f\n    interval: soon\n" + TOPICS,
            3,
            "feeds[0].interval",
            "seconds",
        ),
        (
            "feeds:\n  - url: https://a.org/f\n" + TOPICS + "schedule:\n  timezone: Mars/Base\n",
            7,
            "schedule.timezone",
            "unknown time zone",
        ),
        (
            "feeds:\n  - url: https://a.org/f\n"
            + TOPICS
            + "schedule:\n  digest: 'every morning'\n",
            7,
            "schedule.digest",
            "cron",
        ),
        (
            "feeds:\n  - url: https://a.org/f\n" + TOPICS + "schedule:\n  poll: 7am\n",
            7,
            "schedule.poll",
            "a duration like '15m'",
        ),
        (
            "feeds:\n  - url: https://a.org/f\n" + TOPICS + "allow_hosts: [10.0.0.0/33]\n",
            6,
            "allow_hosts[0]",
            "CIDR",
        ),
        (
            "feeds:\n  - url: https://a.org/f\n" + TOPICS + "fetch:\n  timeout: -1\n",
            7,
            "fetch.timeout",
            ">=",
        ),
        ("feedz: []\n" + TOPICS, 1, "feedz", "unknown key"),
        ("feeds:\n  - url: https://a.org/f\n", None, "topics", "missing"),
        ("feeds:\n  - url: https://a.org/f\nfeeds: []\n" + TOPICS, 3, "feeds", "duplicate key"),
    ],
)
def test_errors_name_file_line_and_field(
    text: str, line: int | None, field: str, words: str
) -> None:
    error = error_of(text)
    assert error.file == "my.yaml"
    assert error.field == field
    if line is not None:
        assert error.line == line
        assert str(error).startswith(f"my.yaml:{line}: {field}: ")
    assert words.lower() in error.message.lower()
    assert "\n" not in str(error)


def test_invalid_yaml_reports_its_line() -> None:
    error = error_of("feeds:\n  - url: [unclosed\n" + TOPICS)
    assert error.line is not None and error.line >= 2
    assert "invalid YAML" in error.message


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        # An unclosed quote is noticed where the file ends; the mistake is on line 3.
        (FEEDS + "    name: 'BBC World\n" + TOPICS, 3, "quote that is never closed"),
        (
            "feeds:\n  - {url: https://a.org/f, name: x\n  - url: https://b.org/f\n" + TOPICS,
            2,
            "'{'",
        ),
        ("feeds:\n  - url: [unclosed\n" + TOPICS, 2, "'['"),
    ],
)
def test_an_unclosed_quote_or_bracket_is_named_where_it_starts(
    text: str, line: int, words: str
) -> None:
    error = error_of(text)
    assert error.line == line, str(error)
    assert "invalid YAML" in error.message and words in error.message


@pytest.mark.parametrize(
    "second",
    [
        "HTTP://EXAMPLE.org/feed.xml",
        "https://example.org:443/feed.xml",
        "http://example.org/feed.xml",
        "https://Example.Org/feed.xml/",
    ],
)
def test_one_feed_written_two_ways_is_a_duplicate(second: str) -> None:
    error = error_of(FEEDS + f"  - url: {second}\n" + TOPICS)
    assert error.line == 3 and "duplicate feed URL" in error.message
    # The path is the feed's own: another case there is another feed.
    config = parse_config(FEEDS + "  - url: https://example.org/Feed.xml\n" + TOPICS)
    assert len(config.feeds) == 2


def test_feeds_without_a_name_on_one_host_are_told_apart() -> None:
    config = parse_config(
        "feeds:\n  - url: https://feeds.bbci.co.uk/news/world/rss.xml\n"
        "  - url: https://feeds.bbci.co.uk/news/business/rss.xml\n"
        "  - url: https://feeds.bbci.co.uk/news/rss.xml\n    name: BBC\n"
        "  - url: https://www.aljazeera.com/xml/rss/all.xml\n" + TOPICS
    )
    assert [f.name for f in config.feeds] == [
        "feeds.bbci.co.uk/news/world/rss.xml",
        "feeds.bbci.co.uk/news/business/rss.xml",
        "BBC",
        "www.aljazeera.com",
    ]


def test_feed_tags_are_stripped_kept_as_written_and_once() -> None:
    config = parse_config(
        "feeds:\n"
        "  - url: https://a.org/f\n    tags: [GR, ' wire ', greek-press, GR]\n"
        "  - url: https://b.org/f\n    tags: GR\n"  # one tag as a plain string
        "  - url: https://c.org/f\n    tags: []\n"
        "  - url: https://d.org/f\n    tags:\n"
        "  - url: https://e.org/f\n    tags: [Agency, 'NO']\n" + TOPICS
    )
    assert [f.tags for f in config.feeds[:4]] == [("GR", "wire", "greek-press"), ("GR",), (), ()]
    assert config.feeds[4].tags == ("Agency", "NO")
    assert parse_config(FEEDS + TOPICS).feeds[0].tags == ()


@pytest.mark.parametrize(
    ("tags", "field", "words"),
    [
        (
            "GR, wire",
            "feeds[0].tags",
            "'GR, wire' is one tag with a comma in it; write a list: [GR, wire]",
        ),
        ("[GR, '']", "feeds[0].tags[1]", "a tag must be a non-empty string without commas"),
        ("['  ']", "feeds[0].tags[0]", "a tag must be a non-empty string without commas"),
        ("[GR, 'a,b']", "feeds[0].tags[1]", "without commas"),
        ("[GR, NO]", "feeds[0].tags[1]", "got False: YAML reads an unquoted yes, no, on, off"),
        ("[yes]", "feeds[0].tags[0]", "got True: YAML reads an unquoted yes, no, on, off"),
        ("NO", "feeds[0].tags", "got False: YAML reads an unquoted yes, no, on, off"),
        ("[1821]", "feeds[0].tags[0]", "must be a string, got 1821: put it in quotes ('1821')"),
        ("[2024-01-01]", "feeds[0].tags[0]", "must be a string, got 2024-01-01: put it in quotes"),
        ("{GR: 1}", "feeds[0].tags", "must be a list of tags like [GR, wire], got a mapping"),
        ("[GR, gr]", "feeds[0].tags[1]", "tag 'gr' is written 'GR' at feeds[0].tags[0]"),
    ],
)
def test_bad_feed_tags_name_file_line_and_field(tags: str, field: str, words: str) -> None:
    error = error_of(f"feeds:\n  - url: https://a.org/f\n    tags: {tags}\n" + TOPICS)
    assert (error.file, error.line, error.field) == ("my.yaml", 3, field)
    assert words in error.message
    assert "\n" not in str(error)


def test_one_tag_is_spelled_one_way_in_the_whole_file() -> None:
    # Tags are compared without regard to case, so `GR` and `gr` would be one tag stored two
    # ways, and `list_contains(feed_tags, 'GR')` would miss half of it.
    error = error_of(
        "feeds:\n  - url: https://a.org/f\n    tags: [GR]\n"
        "  - url: https://b.org/f\n    tags: [wire, gr]\n" + TOPICS
    )
    assert error.line == 5 and error.field == "feeds[1].tags[1]"
    assert "'gr' is written 'GR' at feeds[0].tags[0]" in error.message
    # Compared as DuckDB's lower() compares them (search --tag, the docs' SQL): the dotted
    # capital İ is i.
    error = error_of(
        "feeds:\n  - url: https://a.org/f\n    tags: [TÜRKİYE-watch]\n"
        "  - url: https://b.org/f\n    tags: [türkiye-watch]\n" + TOPICS
    )
    assert "'türkiye-watch' is written 'TÜRKİYE-watch' at feeds[0].tags[0]" in error.message


def test_an_invalid_topic_names_the_topic() -> None:
    error = error_of("feeds:\n  - url: https://a.org/f\ntopics:\n  - terms: [x]\n")
    assert error.field.startswith("topics[0]")
    assert error.line == 4


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (600, 600),
        ("600", 600),
        ("10m", 600),
        ("2h", 7200),
        ("1d", 86400),
        ("x", None),
        (True, None),
    ],
)
def test_parse_duration(value: object, seconds: int | None) -> None:
    assert parse_duration(value) == seconds


def test_user_agent_names_the_version_and_a_contact(feed_server: FeedServer) -> None:
    import asyncio
    from importlib.metadata import version

    from newswatch.config import default_user_agent
    from newswatch.fetch.stream import FetchRequest, fetch_stream

    ours = version("newswatch")
    assert parse_config(FEEDS + TOPICS).fetch.user_agent.startswith(f"newswatch/{ours} (")
    # Without a contact the project's URL is the contact; without either, the agent says so.
    assert (
        default_user_agent(None, "https://example.org/nw")
        == f"newswatch/{ours} (+https://example.org/nw)"
    )
    assert "no contact set" in default_user_agent(None, None)

    email = parse_config(FEEDS + "fetch:\n  contact: ops@example.org\n" + TOPICS)
    assert email.fetch.user_agent == f"newswatch/{ours} (+mailto:ops@example.org)"
    page = parse_config(FEEDS + "fetch:\n  contact: https://me.example/bot\n" + TOPICS)
    assert page.fetch.user_agent == f"newswatch/{ours} (+https://me.example/bot)"
    own = parse_config(
        FEEDS + "fetch:\n  user_agent: 'acme-monitor/2 (+https://acme.example)'\n" + TOPICS
    )
    assert own.fetch.user_agent == "acme-monitor/2 (+https://acme.example)"

    # And that is what a server sees.
    url = feed_server.route("/f.xml", body=b"<rss/>")

    async def fetch_once() -> None:
        async for _ in fetch_stream([FetchRequest(url)], email.fetch, allow_hosts=("127.0.0.0/8",)):
            pass

    asyncio.run(fetch_once())
    assert feed_server.requests_for("/f.xml")[0].headers["user-agent"] == email.fetch.user_agent
