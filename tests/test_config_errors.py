"""Configuration and environment errors: one line naming cause and fix, exit 2, nothing written.

The one exception is a digest whose SMTP server cannot be reached: the configuration is fine,
the digest is rendered and recorded as `failed` (the next run carries its window), and the
command exits 1 - a run-time failure, distinct from the usage errors of status 2.
"""

from __future__ import annotations

import io
import os
import socket
import ssl
from pathlib import Path
from urllib.parse import quote

import pytest

from newswatch import cli
from tests.feedserver import FeedServer
from tests.helpers import default_topics_yaml, rss, write_sources
from tests.smtp_helpers import USER, StartServer

GOOD_FEEDS = "feeds:\n  - url: https://feeds.example.org/world.xml\n    name: World\n"


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def run_poll_expecting_error(
    tmp_path: Path, sources_text: str, capsys: pytest.CaptureFixture[str], db: Path | None = None
) -> str:
    sources = tmp_path / "sources.yaml"
    sources.write_text(sources_text, encoding="utf-8")
    before = files_under(tmp_path)
    db = db or tmp_path / "wh" / "news.duckdb"
    assert cli.main(["poll", "--sources", str(sources), "--db", str(db)], out=io.StringIO()) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err
    assert err.endswith("\n") and err.count("\n") == 1, err  # exactly one line
    assert err.startswith("newswatch: error: ")
    assert files_under(tmp_path) == before  # nothing written: no database, spool or lock
    return err.strip()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "feeds:\n\t- url: https://a.example/feed.xml\n" + default_topics_yaml(),
            ":2: invalid YAML: ",
            id="malformed-yaml",
        ),
        pytest.param(
            GOOD_FEEDS + "fetch:\n  timout: 10\n" + default_topics_yaml(),
            ":5: fetch.timout: unknown key (did you mean timeout?); expected one of: ",
            id="unknown-key",
        ),
        pytest.param(
            "feeds:\n  - https://a.example/feed.xml\n  - https://a.example/feed.xml/\n"
            + default_topics_yaml(),
            ":3: feeds[1].url: duplicate feed URL (already listed as feeds[0])",
            id="duplicate-feed",
        ),
        pytest.param(
            GOOD_FEEDS + "topics:\n  - name: NATO\n    query: '(NATO AND'\n",
            ":6: topics[0].query: topic 'NATO': the query ends too early",
            id="invalid-rule",
        ),
        pytest.param(
            GOOD_FEEDS + "topics:\n  - name: S-400\n    any: ['S-400*x']\n",
            "topics[0].any",
            id="invalid-term",
        ),
        pytest.param(
            "feeds:\n  - url: file:///etc/passwd\n" + default_topics_yaml(),
            ":2: feeds[0].url: must be an http:// or https:// URL with a host",
            id="bad-scheme",
        ),
        *[
            pytest.param(
                GOOD_FEEDS + f"  - url: {url!r}\n" + default_topics_yaml(),
                f":4: feeds[1].url: {problem}, got {url!r}",
                id=f"bad-url-{label}",
            )
            for label, url, problem in [
                ("ipv6-bracket", "http://[::1/f", "not a valid URL (Invalid IPv6 URL)"),
                (
                    "port-range",
                    "https://a.org:99999/f",
                    "the port must be a number from 1 to 65535",
                ),
                ("port-text", "https://a.org:abc/f", "the port must be a number from 1 to 65535"),
                (
                    "space-host",
                    "https://exa mple.org/f",
                    "must not contain spaces or control characters (write a space as %20)",
                ),
                (
                    "space-path",
                    "https://a.org/f g",
                    "must not contain spaces or control characters (write a space as %20)",
                ),
                ("dash-host", "https://-/f", "not a valid host name '-'"),
                ("empty-label", "https://a..org/f", "not a valid host name 'a..org'"),
            ]
        ],
        pytest.param(
            GOOD_FEEDS + "topics:\n  - name: NATO\n    terms: [NATO, =]\n",
            ":6: topics[0].terms[1]: cannot read this value (could not determine a constructor "
            "for the tag 'tag:yaml.org,2002:value'); quote it",
            id="unconstructable-yaml-node",
        ),
        pytest.param(
            GOOD_FEEDS
            + "    tags: [GR, wire]\n  - url: https://b.example/f\n    tags: [Wire, '']\n"
            + default_topics_yaml(),
            ":6: feeds[1].tags[0]: tag 'Wire' is written 'wire' at feeds[0].tags[1]",
            id="tag-spelled-two-ways",
        ),
        pytest.param(
            GOOD_FEEDS + "    tags: GR, wire\n" + default_topics_yaml(),
            ":4: feeds[0].tags: 'GR, wire' is one tag with a comma in it; write a list: [GR, wire]",
            id="tags-as-one-string-with-commas",
        ),
        pytest.param(
            GOOD_FEEDS + "    tags: [GR, NO]\n" + default_topics_yaml(),
            ":4: feeds[0].tags[1]: must be a string, got False: YAML reads an unquoted yes, "
            "no, on, off, true or false as false; put the tag in quotes ('NO', 'yes')",
            id="tag-read-as-false",
        ),
        pytest.param(
            GOOD_FEEDS + "fetch:\n  contact: nobody\n" + default_topics_yaml(),
            ":5: fetch.contact: must be an http(s) URL or an email address",
            id="bad-contact",
        ),
        pytest.param(
            GOOD_FEEDS + "fetch:\n  user_agent: x/1\n  contact: a@b.org\n" + default_topics_yaml(),
            ":6: fetch.contact: not used when fetch.user_agent is set",
            id="contact-and-user-agent",
        ),
    ],
)
def test_bad_sources_file_is_one_line_exit_2_and_nothing_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    err = run_poll_expecting_error(tmp_path, text, capsys)
    assert f"{tmp_path / 'sources.yaml'}:" in err  # names the file...
    assert expected in err  # ...the line and the field, and what is wrong


def test_missing_sources_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.yaml"
    assert cli.main(["poll", "--sources", str(missing), "--db", str(tmp_path / "x.duckdb")]) == 2
    assert capsys.readouterr().err == f"newswatch: error: {missing}: file not found\n"
    assert files_under(tmp_path) == set()


def test_unwritable_warehouse_folder_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A warehouse path that cannot be written. Tests run as root in CI, where a chmod 0o500
    folder IS writable, so the test uses a path whose parent is a regular file (no one can
    create a folder there); run as another user it also checks a read-only folder."""
    good = GOOD_FEEDS + default_topics_yaml()
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the warehouse folder should be")
    err = run_poll_expecting_error(tmp_path, good, capsys, db=blocker / "news.duckdb")
    assert f"the warehouse folder {blocker} is a file, not a folder" in err
    assert err.endswith("; pass --db with a writable path")
    deeper = blocker / "wh" / "news.duckdb"
    err = run_poll_expecting_error(tmp_path, good, capsys, db=deeper)
    assert f"cannot create the warehouse folder {deeper.parent}: Not a directory" in err
    assert err.endswith("; pass --db with a writable path")

    readonly = tmp_path / "readonly"
    readonly.mkdir()
    readonly.chmod(0o500)
    try:
        if os.access(readonly, os.W_OK):  # root: permissions do not apply
            assert os.geteuid() == 0
        else:
            err = run_poll_expecting_error(tmp_path, good, capsys, db=readonly / "news.duckdb")
            assert f"the warehouse {readonly / 'news.duckdb'} is not writable" in err
            assert "fix the permissions or pass --db with a writable path" in err
    finally:
        readonly.chmod(0o700)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _digest_statuses(db: Path) -> list[str]:
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        return [
            r[0] for r in con.execute("SELECT status FROM digests ORDER BY created_at").fetchall()
        ]


def test_an_unreachable_smtp_server_is_a_recorded_failure_and_run_still_polls(
    feed_server: FeedServer,
    tmp_path: Path,
    prefect_harness: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A mail server that is away (connection refused) may be back by the next run: the
    digest is rendered, the send tried and recorded as failed (exit 1, as scheduled runs
    do), and `run` polls first whatever the mail server says."""
    from newswatch.orchestrate import pipeline

    monkeypatch.setattr(pipeline, "SEND_RETRY_DELAYS", [0.01, 0.01])
    url = feed_server.route(
        "/f.xml", body=rss("f", [{"title": "NATO summit opens", "link": "https://n.example/1"}])
    )
    sources = write_sources(tmp_path / "sources.yaml", [(url, "F")])
    db = tmp_path / "news.duckdb"
    assert cli.main(["poll", "--sources", str(sources), "--db", str(db)], out=io.StringIO()) == 0
    port = closed_port()
    monkeypatch.setenv("NEWSWATCH_SMTP_URL", f"smtp://127.0.0.1:{port}")
    monkeypatch.setenv("NEWSWATCH_MAIL_FROM", "news@example.org")
    monkeypatch.setenv("NEWSWATCH_MAIL_TO", "desk@example.org")
    out_dir = tmp_path / "d"
    for polls, command in enumerate(("digest", "run"), start=1):
        capsys.readouterr()
        argv = [command, "--send", "--sources", str(sources), "--db", str(db)]
        out = io.StringIO()
        assert cli.main([*argv, "--out", str(out_dir)], out=out) == 1
        assert "Traceback" not in capsys.readouterr().err
        printed = out.getvalue()
        assert "SEND FAILED" in printed
        assert f"127.0.0.1:{port} unreachable: connection refused" in printed  # the cause
        assert list(out_dir.glob("digest-*.html"))  # the digest, to read or send later
        assert len(feed_server.requests_for("/f.xml")) == polls  # `run` polled
    assert _digest_statuses(db) == ["failed", "failed"]


def test_an_smtp_server_that_refuses_the_login_is_one_line_exit_2_and_no_digest(
    feed_server: FeedServer,
    tmp_path: Path,
    prefect_harness: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    start_server: StartServer,
    server_tls: ssl.SSLContext,
    cafile: str,
) -> None:
    """A refused login will be refused again: a configuration error, one line, exit 2, no
    digest written or recorded; `run` still polls (the articles are not lost)."""
    url = feed_server.route(
        "/f.xml", body=rss("f", [{"title": "NATO summit opens", "link": "https://n.example/1"}])
    )
    sources = write_sources(tmp_path / "sources.yaml", [(url, "F")])
    db = tmp_path / "news.duckdb"
    assert cli.main(["poll", "--sources", str(sources), "--db", str(db)], out=io.StringIO()) == 0
    server = start_server(tls_context=server_tls, require_starttls=True, auth=True)
    credentials = f"{quote(USER, safe='')}:{quote('wrong-password', safe='')}"
    monkeypatch.setenv("NEWSWATCH_SMTP_URL", f"smtp://{credentials}@127.0.0.1:{server.port}")
    monkeypatch.setenv("NEWSWATCH_SMTP_CAFILE", cafile)
    monkeypatch.setenv("NEWSWATCH_MAIL_FROM", "news@example.org")
    monkeypatch.setenv("NEWSWATCH_MAIL_TO", "desk@example.org")
    out_dir = tmp_path / "d"
    for polls, command in enumerate(("digest", "run"), start=1):
        capsys.readouterr()
        argv = [command, "--send", "--sources", str(sources), "--db", str(db)]
        out = io.StringIO()
        assert cli.main([*argv, "--out", str(out_dir)], out=out) == 2
        err = capsys.readouterr().err.strip()
        errors = [line for line in err.splitlines() if line.startswith("newswatch: error:")]
        assert len(errors) == 1 and err.endswith(errors[0]) and "Traceback" not in err
        err = errors[0]
        assert "rejected the login" in err and "wrong-password" not in err  # the cause
        assert "fix NEWSWATCH_SMTP_URL" in err  # the fix
        assert not out_dir.exists()  # no digest files
        assert len(feed_server.requests_for("/f.xml")) == polls  # `run` polled
    assert "the poll above ran" in err  # run's line says the poll ran
    assert _digest_statuses(db) == []
    assert server.handler.received == []


def test_unsubscribe_settings_must_be_an_https_url_and_an_address(tmp_path: Path) -> None:
    import pytest

    from newswatch.config import load_config
    from newswatch.errors import ConfigError

    base = "feeds:\n  - url: https://example.org/feed\ntopics:\n  - name: Turkey\n    terms: [Turkey]\n"
    path = tmp_path / "s.yaml"
    path.write_text(base + "digest:\n  unsubscribe_url: http://example.org/u\n")
    with pytest.raises(ConfigError, match=r"unsubscribe_url.*https://"):
        load_config(path)
    path.write_text(base + "digest:\n  unsubscribe_mailto: not-an-address\n")
    with pytest.raises(ConfigError, match=r"unsubscribe_mailto.*email address"):
        load_config(path)
    path.write_text(
        base + "digest:\n  unsubscribe_url: https://example.org/u\n"
        "  unsubscribe_mailto: mailto:leave@example.org\n"
    )
    settings = load_config(path).digest
    assert (settings.unsubscribe_url, settings.unsubscribe_mailto) == (
        "https://example.org/u",
        "leave@example.org",
    )


def test_html_max_bytes_is_a_whole_number_and_zero_means_no_limit(tmp_path: Path) -> None:
    import pytest

    from newswatch.config import load_config
    from newswatch.errors import ConfigError

    base = "feeds:\n  - url: https://example.org/feed\ntopics:\n  - name: Turkey\n    terms: [Turkey]\n"
    path = tmp_path / "s.yaml"
    path.write_text(base)
    assert load_config(path).digest.html_max_bytes == 100_000
    path.write_text(base + "digest:\n  html_max_bytes: 0\n")
    assert load_config(path).digest.html_max_bytes == 0
    path.write_text(base + "digest:\n  html_max_bytes: -5\n")
    with pytest.raises(ConfigError, match=r"html_max_bytes.*whole number"):
        load_config(path)
