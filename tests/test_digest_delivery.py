"""The digest through a real SMTP server: STARTTLS + AUTH, each story once, sent exactly once."""

from __future__ import annotations

import email
import email.policy
import email.utils
import io
import re
import ssl
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from html.parser import HTMLParser
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
    return write_sources(
        tmp_path / "sources.yaml",
        feeds,
        extra="digest:\n  max_stories_per_topic: 100\n  max_age_days: 0\n"
        "  unsubscribe_url: https://news.example.org/unsubscribe?list=desk",
    )


def statuses(db: Path) -> list[str]:
    return [r[0] for r in rows(db, "SELECT status FROM digests ORDER BY created_at")]


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


class StoryTitles(HTMLParser):
    """The titles of the stories a digest shows (the text of each div.story-title)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.titles: list[str] = []
        self.links: list[str] = []
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "div" and a.get("class") == "story-title":
            self._depth = 1
            self.titles.append("")
        elif tag == "td" and a.get("class") == "mentioned":
            self._mentioned = True  # "Also mentioned": each link is a story of its own
        elif tag == "a" and getattr(self, "_mentioned", False) and not self._depth:
            self._depth = 1
            self.titles.append("")
            self.links.append(a.get("href") or "")
        elif self._depth:
            self._depth += tag != "br"
            if tag == "a":
                self.links.append(a.get("href") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._mentioned = False
        if self._depth:
            self._depth -= 1

    def handle_data(self, data: str) -> None:
        if self._depth:
            self.titles[-1] += data


SUBJECT = re.compile(
    r"^newswatch — (\d{1,2} [A-Z][a-z]{2} \d{4}): (\d+) stor(?:y|ies) \(((?:[^,()]+ \d+)(?:, [^,()]+ \d+)*)\)$"
)


def check_headers(message: EmailMessage, recipients: list[str]) -> tuple[int, dict[str, int]]:
    """Headers as a mail client reads them; returns the subject's total and per-topic counts."""
    assert [a.addr_spec for a in message["To"].addresses] == recipients
    assert [a.addr_spec for a in message["From"].addresses] == ["news@example.org"]
    subject = SUBJECT.match(str(message["Subject"]))
    assert subject is not None, message["Subject"]
    counts = {
        name: int(n) for name, n in (part.rsplit(" ", 1) for part in subject.group(3).split(", "))
    }
    # Every watched topic with the stories carrying it (a story about two counts under both).
    assert list(counts) == ["Turkey", "S-400", "NATO"]
    assert max(counts.values()) <= int(subject.group(2)) <= sum(counts.values())
    sent = email.utils.parsedate_to_datetime(str(message["Date"]))
    assert sent.tzinfo is not None and abs(datetime.now(UTC) - sent) < timedelta(minutes=10)
    assert subject.group(1) == f"{sent.astimezone().day} {sent.astimezone():%b %Y}"
    assert re.fullmatch(r"<[^<>@\s]+@example\.org>", str(message["Message-ID"]))
    # Bulk-sender headers: one-click unsubscribe (RFC 8058) and the list's id.
    assert str(message["List-Unsubscribe"]) == (
        "<mailto:news@example.org?subject=unsubscribe>, "
        "<https://news.example.org/unsubscribe?list=desk>"
    )
    assert str(message["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
    assert str(message["List-Id"]) == '"newswatch" <newswatch.example.org>'
    return int(subject.group(2)), counts


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
    sent_out = io.StringIO()
    assert cli.main(["digest", "--send", *base], out=sent_out) == 0
    assert "  status: sent to desk@example.org, editor@example.net\n" in sent_out.getvalue()
    assert statuses(db) == ["failed", "sent"]
    [received] = server.handler.received
    assert received.tls_version is not None and received.authenticated
    assert sorted(received.rcpt_tos) == ["desk@example.org", "editor@example.net"]

    message = email.message_from_bytes(received.content, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert message.get_content_type() == "multipart/alternative"
    parts = [p.get_content_type() for p in message.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    total, counts = check_headers(message, ["desk@example.org", "editor@example.net"])
    assert "Turkey" in counts
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]

    # Each story once: as many story titles as the warehouse has stories (clusters) among
    # the matched articles, none shown twice, and the subject's count is that number.
    shown = StoryTitles()
    shown.feed(html)
    [(clusters,)] = rows(
        db,
        "SELECT count(DISTINCT coalesce(c.cluster_id, a.id)) FROM articles a "
        "LEFT JOIN article_clusters c ON c.article_id = a.id "
        "WHERE a.id IN (SELECT article_id FROM article_topics)",
    )
    assert isinstance(clusters, int) and clusters > 3
    assert len(shown.titles) == len(set(shown.titles)) == clusters == total
    assert len(shown.links) == len(set(shown.links)) == total
    for title in shown.titles:
        # Listed in full once; other topics it carries name it in a cross-reference line.
        assert text.count(title) - text.count(f'see "{title}"') == 1, title
    # The seed story and its syndicated copy are one story: shown once, the copy as "also".
    seed = [t for t in shown.titles if "Purchase to Top Agenda" in t]
    assert len(seed) == 1
    preheader = re.search(r'<(\w+)[^>]*class="preheader"[^>]*>.*?</\1>', html, re.S)
    assert preheader is not None  # the inbox preview line, hidden in the body
    body = html.replace(preheader.group(0), "")
    see_also = re.findall(r'class="see-also"[^>]*>.*?</td>', body, re.S)
    # (Highlights split the listed title's markup: count it in the text shown.)
    shown_text = re.sub(r"<[^>]+>", "", body)
    assert shown_text.count("Purchase to Top Agenda") - len(see_also) == 1
    assert all("Purchase to Top Agenda" in line for line in see_also)
    assert "Yahoo Finance" in html and "also reported by" in html.lower()
    assert "utm_source" not in html
    # The .eml written beside the HTML is the message that was sent.
    [eml] = out.glob("digest-*.eml")
    assert email.message_from_bytes(eml.read_bytes())["Message-ID"] == message["Message-ID"]
    [html_file] = out.glob("digest-*.html")
    sent_files = {p: p.read_bytes() for p in out.glob("digest-*")}

    # 3. Running it again the same day does not send twice, and neither a skipped send nor a
    #    plain render touches the files of the digest that went out; both report that digest.
    again = io.StringIO()
    assert cli.main(["digest", "--send", *base], out=again) == 0
    assert "already sent" in again.getvalue()
    assert str(message["Subject"]) in again.getvalue()
    assert len(server.handler.received) == 1
    rendered = io.StringIO()
    assert cli.main(["run", *base], out=rendered) == 0
    printed = rendered.getvalue()
    assert str(message["Subject"]) in printed
    assert "no matching stories" not in printed
    # What `run` prints after a sent digest says what happened: it was sent (when, in the
    # digest's zone with its offset), and this run sent nothing.
    assert "rendered (not sent" not in printed and "add --send" not in printed
    assert re.search(
        r"note: the digest for \d{4}-\d\d-\d\d was sent at \d{4}-\d\d-\d\d \d\d:\d\d "
        r"\([\w/]+, UTC[+-]\d\d:\d\d\) \(message <[^>]+>\)",
        printed,
    ), printed
    assert "  status: already sent (not sent again, no file written;" in printed
    (tmp_path / "run-after-sent.txt").write_text(printed, encoding="utf-8")
    assert {p: p.read_bytes() for p in out.glob("digest-*")} == sent_files
    assert html_file.read_text(encoding="utf-8").count("Purchase to Top Agenda") >= 1
    # Into another folder: nothing is written there (a render now would not be what was
    # sent); the files named are the sent ones, where they are.
    elsewhere = tmp_path / "digests2"
    again = io.StringIO()
    argv = ["digest", "--sources", str(sources), "--db", str(db), "--out", str(elsewhere)]
    assert cli.main(argv, out=again) == 0
    printed = again.getvalue()
    assert not elsewhere.exists() and str(elsewhere) not in printed, printed
    assert f"  html: {html_file} (as sent)\n" in printed
    assert f"  text: {html_file.with_suffix('.txt')} (as sent)\n" in printed
    assert f"  eml:  {eml} (as sent)\n" in printed
    assert "nothing was written: the files named here are the ones sent" in printed
    assert "  status: already sent (not sent again, no file written;" in printed
    assert {p: p.read_bytes() for p in out.glob("digest-*")} == sent_files

    # 4. --force sends the same day's digest again: same window, same stories.
    assert cli.main(["digest", "--send", "--force", *base], out=io.StringIO()) == 0
    assert len(server.handler.received) == 2
    forced = email.message_from_bytes(
        server.handler.received[1].content, policy=email.policy.default
    )
    assert isinstance(forced, EmailMessage)
    assert str(forced["Subject"]) == str(message["Subject"])
    assert forced["Message-ID"] != message["Message-ID"]
    forced_titles = StoryTitles()
    forced_titles.feed(forced.get_body(("html",)).get_content())  # type: ignore[union-attr]
    assert forced_titles.titles == shown.titles
    assert statuses(db) == ["failed", "sent", "sent"]
    windows = rows(
        db, "SELECT window_start, window_end FROM digests WHERE status = 'sent' ORDER BY created_at"
    )
    assert windows[0] == windows[1]


def test_quiet_day_mail_says_nothing_matched_and_names_the_failing_feed(
    feed_server: FeedServer,
    tmp_path: Path,
    start_server: StartServer,
    monkeypatch: pytest.MonkeyPatch,
    prefect_harness: None,
) -> None:
    quiet = rss("Oslo Weather", [{"title": "Rain again in Oslo", "link": "https://oslo.example/1",
                                  "guid": "o1", "description": "Umbrellas out.",
                                  "pubDate": datetime.now(UTC)}])  # fmt: skip
    feed_server.route("/oslo.xml", body=quiet)
    feed_server.route("/gone.xml", status=404, body=b"not here")
    sources = write_sources(
        tmp_path / "sources.yaml",
        [(feed_server.url("/oslo.xml"), "Oslo Weather"), (feed_server.url("/gone.xml"), "Gone Gazette")],
    )  # fmt: skip
    server = start_server()
    monkeypatch.setenv("NEWSWATCH_SMTP_URL", f"smtp://127.0.0.1:{server.port}")
    monkeypatch.setenv("NEWSWATCH_MAIL_FROM", "news@example.org")
    monkeypatch.setenv("NEWSWATCH_MAIL_TO", "desk@example.org")
    db = tmp_path / "quiet.duckdb"
    argv = ["run", "--send", "--sources", str(sources), "--db", str(db), "--out", str(tmp_path)]
    assert cli.main(argv, out=io.StringIO()) == 0
    [received] = server.handler.received
    message = email.message_from_bytes(received.content, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert re.fullmatch(
        r"newswatch — \d{1,2} [A-Z][a-z]{2} \d{4}: no matching stories, 1 feed failing",
        str(message["Subject"]),
    )
    for kind in ("plain", "html"):
        body = message.get_body((kind,)).get_content()  # type: ignore[union-attr]
        visible = " ".join(re.sub(r"<[^>]+>", " ", body).split())
        assert "Nothing matched your topics" in visible
        assert "1 of 2 feeds failed" in visible
        assert "Gone Gazette" in visible and "404" in visible
        assert "Oslo Weather" not in visible.split("Feed health")[0]  # healthy: not an alert
    assert statuses(db) == ["sent"]


def test_draft_eml_is_addressed_to_the_to_option_or_mail_to(
    sources: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_harness: None
) -> None:
    for name in ("NEWSWATCH_SMTP_URL", "NEWSWATCH_SMTP_BLOCK", "NEWSWATCH_MAIL_FROM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NEWSWATCH_MAIL_TO", "desk@example.org")
    db = tmp_path / "d.duckdb"
    assert cli.main(["poll", "--sources", str(sources), "--db", str(db)], out=io.StringIO()) == 0
    base = ["digest", "--sources", str(sources), "--db", str(db)]
    assert cli.main([*base, "--out", str(tmp_path / "a")], out=io.StringIO()) == 0
    [eml] = (tmp_path / "a").glob("*.eml")
    assert email.message_from_bytes(eml.read_bytes())["To"] == "desk@example.org"
    argv = [*base, "--out", str(tmp_path / "b"), "--to", "ana@example.net", "--to", "b@example.net"]
    assert cli.main(argv, out=io.StringIO()) == 0
    [eml] = (tmp_path / "b").glob("*.eml")
    assert email.message_from_bytes(eml.read_bytes())["To"] == "ana@example.net, b@example.net"
    assert statuses(db) == ["rendered", "rendered"]  # nothing was sent


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


def test_an_smtp_block_without_a_prefect_api_is_a_one_line_error(
    sources: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("NEWSWATCH_SMTP_URL", raising=False)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("NEWSWATCH_SMTP_BLOCK", "newswatch-smtp")
    monkeypatch.setenv("NEWSWATCH_MAIL_FROM", "news@example.org")
    monkeypatch.setenv("NEWSWATCH_MAIL_TO", "desk@example.org")
    # Prefect's own temporary API would not hold the block: say so at once, nothing written.
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect-home"))
    argv = ["digest", "--send", "--no-prefect", "--sources", str(sources)]
    assert cli.main([*argv, "--db", str(tmp_path / "x.duckdb")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "NEWSWATCH_SMTP_BLOCK names a Prefect Secret block" in err
    assert "NEWSWATCH_SMTP_URL" in err
    assert not (tmp_path / "x.duckdb").exists() and not (tmp_path / "prefect-home").exists()


def test_a_digest_needs_its_database_and_keeps_the_files_it_finds(
    sources: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], prefect_harness: None
) -> None:
    db = tmp_path / "d.duckdb"
    out = tmp_path / "digests"
    assert cli.main(["poll", "--sources", str(sources), "--db", str(db)], out=io.StringIO()) == 0
    argv = ["digest", "--sources", str(sources), "--out", str(out)]
    assert cli.main([*argv, "--db", str(db)], out=io.StringIO()) == 0
    files = {p: p.read_bytes() for p in out.iterdir()}
    assert files
    capsys.readouterr()
    # A mistyped --db (a missing file, a missing folder) is one line and exit 2: no empty
    # "nothing matched, every feed polled" digest replaces the day's files.
    for wrong in (tmp_path / "typo.duckdb", tmp_path / "nofolder" / "d.duckdb"):
        assert cli.main([*argv, "--db", str(wrong)], out=io.StringIO()) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and f"no database at {wrong}" in err, err
        assert not wrong.exists()
        assert {p: p.read_bytes() for p in out.iterdir()} == files


def test_a_past_days_digest_is_titled_with_that_day(
    sources: Path, tmp_path: Path, prefect_harness: None
) -> None:
    db = tmp_path / "d.duckdb"
    out = tmp_path / "digests"
    assert cli.main(["poll", "--sources", str(sources), "--db", str(db)], out=io.StringIO()) == 0
    printed = io.StringIO()
    argv = ["digest", "--sources", str(sources), "--db", str(db), "--out", str(out)]
    assert cli.main([*argv, "--date", "2026-02-17"], out=printed) == 0
    # The window is 17 February's; so are the files, the subject and the heading.
    assert "digest 2026-02-17: " in printed.getvalue()
    assert {p.name for p in out.iterdir()} >= {"digest-2026-02-17.html", "digest-2026-02-17.txt"}
    [eml] = out.glob("digest-2026-02-17.eml")
    subject = email.message_from_bytes(eml.read_bytes())["Subject"]
    assert "17 Feb 2026" in subject, subject
    text = (out / "digest-2026-02-17.txt").read_text(encoding="utf-8")
    html = (out / "digest-2026-02-17.html").read_text(encoding="utf-8")
    for body in (text, html):
        assert "Tuesday 17 February 2026" in body
        assert "18 February 2026" not in body


def test_a_refused_recipient_does_not_make_the_others_get_it_twice(
    sources: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    start_server: StartServer,
    prefect_harness: None,
) -> None:
    server = start_server(reject=frozenset({"gone@example.org"}))
    monkeypatch.setenv("NEWSWATCH_SMTP_URL", f"smtp://127.0.0.1:{server.port}")
    monkeypatch.setenv("NEWSWATCH_MAIL_FROM", "news@example.org")
    # Named recipients: which one was refused is the server's answer, not read from its text.
    monkeypatch.setenv("NEWSWATCH_MAIL_TO", "Desk <desk@example.org>, Gone Away <gone@example.org>")
    db = tmp_path / "d.duckdb"
    argv = ["run", "--send", "--sources", str(sources), "--db", str(db), "--out", str(tmp_path)]
    out = io.StringIO()
    # Sent: the desk has it; the refused address is named, with how to send it there.
    assert cli.main(argv, out=out) == 0, out.getvalue()
    assert "accepted 1 of 2 recipients; refused gone@example.org: 550" in out.getvalue()
    assert "  status: sent to Desk <desk@example.org> - " in out.getvalue()  # not the refused one
    assert "--send --force" in out.getvalue()
    assert [r.rcpt_tos for r in server.handler.received] == [["desk@example.org"]]
    assert rows(db, "SELECT status, error LIKE '%gone@example.org%' FROM digests") == [
        ("sent", True)
    ]
    [(first_id,)] = rows(db, "SELECT message_id FROM digests")
    # The next run does not send the day's digest again.
    assert cli.main(argv, out=io.StringIO()) == 0
    assert len(server.handler.received) == 1
    assert statuses(db) == ["sent"]
    [day_eml] = tmp_path.glob("digest-*.eml")
    sent_bytes = day_eml.read_bytes()
    # A forced resend to a colleague writes files of its own: the day's stay as they went out.
    digest = ["digest", "--send", "--sources", str(sources), "--db", str(db), "--out",
              str(tmp_path)]  # fmt: skip
    assert cli.main([*digest, "--force", "--to", "editor@example.org"], out=io.StringIO()) == 0
    assert len(server.handler.received) == 2
    assert day_eml.read_bytes() == sent_bytes
    [resent] = tmp_path.glob("digest-*-resent-*.eml")
    assert "editor@example.org" in str(email.message_from_bytes(resent.read_bytes())["To"])
    assert rows(db, "SELECT eml_path FROM digests ORDER BY created_at DESC LIMIT 1") == [
        (str(resent),)
    ]
    # ... that fails says the day stays sent, so only repeating the command sends it.
    failing = [*digest, "--force", "--to", "gone@example.org"]
    printed = io.StringIO()
    assert cli.main(failing, out=printed) == 1
    assert "SEND FAILED" in printed.getvalue() and "repeat this command" in printed.getvalue()
    assert "the next run will include" not in printed.getvalue()
    # The day's note names the day's own delivery, not the colleague's copy.
    again = io.StringIO()
    assert cli.main(digest, out=again) == 0
    assert f"was already sent (message {first_id})" in again.getvalue(), again.getvalue()


def test_a_past_days_digest_shows_its_feeds_as_they_were_then(
    feed_server: FeedServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    prefect_harness: None,
) -> None:
    """Today's failure did not happen on a past day; a future day is refused."""
    import duckdb

    from newswatch.config import load_config
    from newswatch.orchestrate.schedule import resolve_timezone

    feed_server.route("/oslo.xml", body=rss("Oslo", [{"title": "Rain", "link": "https://o.example/1",
                                                     "guid": "o1", "description": "Wet.",
                                                     "pubDate": datetime.now(UTC)}]))  # fmt: skip
    feed_server.route("/gone.xml", status=404, body=b"not here")
    feeds = [(feed_server.url("/oslo.xml"), "Oslo"), (feed_server.url("/gone.xml"), "Gone Gazette")]
    sources = write_sources(tmp_path / "sources.yaml", feeds)
    db = tmp_path / "d.duckdb"
    assert cli.main(["poll", "--sources", str(sources), "--db", str(db)], out=io.StringIO()) == 0
    zone = resolve_timezone(load_config(sources).schedule.timezone)
    today = datetime.now(UTC).astimezone(zone).date()
    yesterday = today - timedelta(days=1)
    # Yesterday both feeds were fetched, and both worked.
    noon = datetime.combine(yesterday, datetime.min.time(), zone).replace(hour=12)
    con = duckdb.connect(str(db))
    for url, _ in feeds:
        con.execute(
            "INSERT INTO fetch_log (poll_id, feed_url, started_at, duration_ms, outcome, "
            "http_status, bytes, entries, new_articles) VALUES ('past', ?, ?, 5, 'ok', 200, 10, 1, 0)",
            [url, noon],
        )
    con.close()
    out = tmp_path / "digests"
    argv = ["digest", "--sources", str(sources), "--db", str(db), "--out", str(out)]
    assert cli.main([*argv, "--date", str(yesterday)], out=io.StringIO()) == 0
    past = (out / f"digest-{yesterday}.txt").read_text(encoding="utf-8")
    assert "2 of 2 feeds OK" in past and "Gone Gazette" not in past, past
    assert cli.main(argv, out=io.StringIO()) == 0
    now = (out / f"digest-{today}.txt").read_text(encoding="utf-8")
    assert "1 of 2 feeds failed" in now and "Gone Gazette" in now, now
    # A day before any poll: nothing matched, and it says why (no feed polled yet), not
    # that every feed was polled.
    before = yesterday - timedelta(days=3)
    assert cli.main([*argv, "--date", str(before)], out=io.StringIO()) == 0
    empty = (out / f"digest-{before}.txt").read_text(encoding="utf-8")
    assert "No feed had been polled by then" in empty and "were polled" not in empty, empty
    html = (out / f"digest-{before}.html").read_text(encoding="utf-8")
    assert "No feed had been polled by then" in html and "were polled" not in html
    capsys.readouterr()
    tomorrow = today + timedelta(days=1)
    assert cli.main([*argv, "--date", str(tomorrow)], out=io.StringIO()) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"--date {tomorrow} is after today ({today}" in err, err
    assert not (out / f"digest-{tomorrow}.txt").exists()


def test_a_digest_beside_a_running_poll_says_it_waits_for_it(
    sources: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], prefect_harness: None
) -> None:
    from tests.helpers import poll_running

    db = tmp_path / "d.duckdb"
    assert cli.main(["poll", "--sources", str(sources), "--db", str(db)], out=io.StringIO()) == 0
    capsys.readouterr()
    argv = ["digest", "--sources", str(sources), "--db", str(db), "--out", str(tmp_path / "o")]
    with poll_running(db, 1.0):
        started = time.monotonic()
        assert cli.main(argv, out=io.StringIO()) == 0
    assert time.monotonic() - started >= 0.5  # it waited for the poll
    err = capsys.readouterr().err
    assert f"note: a poll of {db} is running: waiting for it to finish" in err, err
