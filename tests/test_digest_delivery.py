"""The digest through a real SMTP server: STARTTLS + AUTH, each story once, sent exactly once."""

from __future__ import annotations

import email
import email.policy
import io
import re
import ssl
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import duckdb
import pytest

from newswatch import cli
from tests.conftest import CORPUS, SEED_ARTICLE
from tests.feedserver import FeedServer
from tests.helpers import rss, write_sources
from tests.smtp_helpers import PASSWORD, USER, StartServer

TITLE = "Turkey's S-400 Purchase to Top Agenda When Erdogan Meets Trump"


def seed_item(link: str, guid: str) -> dict[str, str | datetime]:
    paragraphs = SEED_ARTICLE.read_text(encoding="utf-8").split("\n")
    return {
        "title": TITLE,
        "link": link,
        "guid": guid,
        "description": "<p>" + "</p><p>".join(paragraphs[:3]) + "</p>",
        "pubDate": datetime.now(UTC),
    }


@pytest.fixture
def sources(feed_server: FeedServer, tmp_path: Path) -> Path:
    s = feed_server
    s.route(
        "/bloomberg.xml",
        body=rss(
            "Bloomberg",
            [seed_item("https://www.bloomberg.com/news/articles/erdogan-trump-s400", "bbg-1")],
        ),
    )
    # A syndicated copy: same story, another outlet, a tracking parameter on the link.
    s.route(
        "/yahoo.xml",
        body=rss(
            "Yahoo Finance",
            [
                seed_item(
                    "https://finance.yahoo.com/news/erdogan-trump-s400.html?utm_source=rss&guccounter=1",
                    "yahoo-77",
                )
            ],
        ),
    )
    s.route("/dawn.xml", body=(CORPUS / "realnews" / "dawn-world.rss.xml").read_bytes())
    feeds = [
        (s.url("/bloomberg.xml"), "Bloomberg"),
        (s.url("/yahoo.xml"), "Yahoo Finance"),
        (s.url("/dawn.xml"), "Dawn"),
    ]
    return write_sources(tmp_path / "sources.yaml", feeds)


def statuses(db: Path) -> list[str]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return [
            r[0] for r in con.execute("SELECT status FROM digests ORDER BY created_at").fetchall()
        ]
    finally:
        con.close()


def test_digest_is_sent_once_over_starttls_with_auth_and_retried_after_a_failure(
    sources: Path,
    tmp_path: Path,
    start_server: StartServer,
    server_tls: ssl.SSLContext,
    cafile: str,
    monkeypatch: pytest.MonkeyPatch,
    prefect_harness: None,
) -> None:
    db = tmp_path / "news.duckdb"
    out = tmp_path / "digests"
    base = ["--sources", str(sources), "--db", str(db), "--out", str(out)]
    credentials = f"{quote(USER, safe='')}:{quote(PASSWORD, safe='')}"
    monkeypatch.setenv("NEWSWATCH_SMTP_CAFILE", cafile)
    monkeypatch.setenv("NEWSWATCH_MAIL_FROM", "newswatch <news@example.org>")
    monkeypatch.setenv("NEWSWATCH_MAIL_TO", "desk@example.org, editor@example.net")

    # 1. The server takes the login but refuses every recipient (a mailbox outage): the run
    #    completes, the digest is recorded as failed.
    refusing = start_server(
        tls_context=server_tls, require_starttls=True, auth=True,
        reject=frozenset({"desk@example.org", "editor@example.net"}),
    )  # fmt: skip
    monkeypatch.setenv("NEWSWATCH_SMTP_URL", f"smtp://{credentials}@127.0.0.1:{refusing.port}")
    printed = io.StringIO()
    assert cli.main(["run", "--send", *base], out=printed) == 1
    assert "SEND FAILED" in printed.getvalue() and "refused every recipient" in printed.getvalue()
    assert statuses(db) == ["failed"]
    assert refusing.handler.received == []

    # 2. The mailboxes are back (STARTTLS required before AUTH): the next run sends the window.
    server = start_server(tls_context=server_tls, require_starttls=True, auth=True)
    monkeypatch.setenv("NEWSWATCH_SMTP_URL", f"smtp://{credentials}@127.0.0.1:{server.port}")
    assert cli.main(["digest", "--send", *base], out=io.StringIO()) == 0
    assert statuses(db) == ["failed", "sent"]
    [received] = server.handler.received
    assert received.tls_version is not None and received.authenticated
    assert sorted(received.rcpt_tos) == ["desk@example.org", "editor@example.net"]

    message = email.message_from_bytes(received.content, policy=email.policy.default)
    assert message.get_content_type() == "multipart/alternative"
    parts = [p.get_content_type() for p in message.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    subject = str(message["Subject"])
    assert subject.startswith("newswatch — ") and "stor" in subject and "Turkey" in subject
    assert message["Message-ID"] and message["Date"] and "news@example.org" in str(message["From"])
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    # The seed story and its syndicated copy are one story: shown once, the copy as "also".
    preheader = re.search(r'<(\w+)[^>]*class="preheader"[^>]*>.*?</\1>', html, re.S)
    assert preheader is not None  # the inbox preview line, hidden in the body
    body = html.replace(preheader.group(0), "")
    assert body.count("Purchase to Top Agenda") == 1
    assert text.count("Purchase to Top Agenda") == 1
    assert "Yahoo Finance" in html and "also reported by" in html.lower()
    assert "utm_source" not in html
    # The .eml written beside the HTML is the message that was sent.
    [eml] = out.glob("digest-*.eml")
    assert email.message_from_bytes(eml.read_bytes())["Message-ID"] == message["Message-ID"]

    # 3. Running it again the same day does not send twice; --force does.
    again = io.StringIO()
    assert cli.main(["digest", "--send", *base], out=again) == 0
    assert "already sent" in again.getvalue()
    assert len(server.handler.received) == 1
    assert cli.main(["digest", "--send", "--force", *base], out=io.StringIO()) == 0
    assert len(server.handler.received) == 2
    assert statuses(db) == ["failed", "sent", "sent"]


def test_send_without_smtp_settings_is_a_one_line_error(
    sources: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in ("NEWSWATCH_SMTP_URL", "NEWSWATCH_SMTP_BLOCK"):
        monkeypatch.delenv(name, raising=False)
    code = cli.main(
        ["digest", "--send", "--sources", str(sources), "--db", str(tmp_path / "x.duckdb")]
    )
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert "NEWSWATCH_SMTP_URL" in err and "\n" not in err
    assert not (tmp_path / "x.duckdb").exists()
