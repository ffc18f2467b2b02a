"""SMTP delivery against a real aiosmtpd server on 127.0.0.1 (plain, STARTTLS, implicit TLS)."""

from __future__ import annotations

import email.parser
import email.policy
import email.utils
import socket
import ssl
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from newswatch.digest.mail import SmtpSettings, build_message, send_message, smtp_settings_from_env
from newswatch.errors import MailConfigError, MailError
from tests.smtp_helpers import PASSWORD, USER, StartServer

SENDER = "newswatch <news@example.org>"
DATE = datetime(2026, 5, 11, 7, 30, tzinfo=timezone(timedelta(hours=3)))
SUBJECT = "newswatch — Turkey, S-400, NATO: 12 stories (İstanbul, Ankara)"
TEXT = "Turkey\n\n1. Ankara confirms S-400 delivery — Reuters\n   https://example.org/a\n"
HTML = (
    "<!doctype html><html><body><h1>Turkey</h1><p>"
    + "Ankara confirms S-400 delivery — Reuters. " * 40
    + "</p></body></html>"
)


def settings_for(url: str, *, cafile: str | None = None, to: str | None = None) -> SmtpSettings:
    env = {
        "NEWSWATCH_SMTP_URL": url,
        "NEWSWATCH_MAIL_FROM": SENDER,
        "NEWSWATCH_MAIL_TO": to or "desk@example.org",
    }
    if cafile:
        env["NEWSWATCH_SMTP_CAFILE"] = cafile
    settings = smtp_settings_from_env(env)
    assert settings is not None
    return settings


def credentials(password: str = PASSWORD) -> str:
    return f"{quote(USER, safe='')}:{quote(password, safe='')}@"


def digest(settings: SmtpSettings, message_id: str | None = None) -> Any:
    return build_message(
        subject=SUBJECT,
        html=HTML,
        text=TEXT,
        sender=settings.sender,
        recipients=settings.recipients,
        date=DATE,
        message_id=message_id,
    )


def parse(raw: bytes) -> Any:
    return email.parser.BytesParser(policy=email.policy.default).parsebytes(raw)


def body(part: Any) -> str:
    """Decoded text of a part; the wire form has CRLF line ends, the input had LF."""
    return str(part.get_content()).replace("\r\n", "\n")


# -- delivery ---------------------------------------------------------------------------


def test_delivers_multipart_digest_to_every_recipient(start_server: StartServer) -> None:
    server = start_server()
    to = 'ana@example.org, "Desk, Night" <night@example.org>, editor@example.net'
    settings = settings_for(f"smtp://127.0.0.1:{server.port}?timeout=5", to=to)
    send_message(digest(settings, message_id="<digest-2026-05-11@example.org>"), settings)

    [got] = server.handler.received
    assert got.mail_from == "news@example.org"
    assert got.rcpt_tos == ["ana@example.org", "night@example.org", "editor@example.net"]
    assert got.tls_version is None  # the server offers no STARTTLS and no password is involved
    msg = parse(got.content)
    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert [p.get_content_charset() for p in parts] == ["utf-8", "utf-8"]
    assert body(parts[0]) == TEXT
    assert body(parts[1]) == HTML + "\n"
    assert msg["Subject"] == SUBJECT
    assert msg["From"] == SENDER
    assert [a.addr_spec for a in msg["To"].addresses] == got.rcpt_tos
    assert msg["To"].addresses[1].display_name == "Desk, Night"
    assert email.utils.parsedate_to_datetime(msg["Date"]) == DATE
    assert msg["Message-ID"] == "<digest-2026-05-11@example.org>"
    assert msg["MIME-Version"] == "1.0"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert max(len(line) for line in got.content.splitlines()) <= 998


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
@pytest.mark.parametrize("password", [PASSWORD, "ascii+only/p@ss:word"])
def test_starttls_then_auth_with_percent_encoded_credentials(
    start_server: StartServer,
    server_tls: ssl.SSLContext,
    cafile: str,
    mechanism: str,
    password: str,
) -> None:
    other = {"PLAIN": "LOGIN", "LOGIN": "PLAIN"}[mechanism]
    server = start_server(
        tls_context=server_tls,
        require_starttls=True,
        auth_require_tls=True,
        auth_required=True,
        auth=True,
        auth_exclude_mechanism=[other],
        password=password,
    )
    url = f"smtp://{credentials(password)}127.0.0.1:{server.port}"
    settings = settings_for(url, cafile=cafile)
    assert settings.username == USER and settings.password == password
    send_message(digest(settings), settings)

    [got] = server.handler.received
    assert got.tls_version is not None and got.tls_version.startswith("TLSv1.")
    assert got.authenticated and got.login == USER.encode()
    assert server.authenticator.attempts == [(mechanism, USER.encode())]
    assert parse(got.content)["Subject"] == SUBJECT


def test_starttls_used_when_offered_even_without_credentials(
    start_server: StartServer, server_tls: ssl.SSLContext, cafile: str
) -> None:
    server = start_server(tls_context=server_tls, require_starttls=True)
    settings = settings_for(f"smtp://127.0.0.1:{server.port}", cafile=cafile)
    assert settings.security == "starttls-if-offered"
    send_message(digest(settings), settings)
    [got] = server.handler.received
    assert got.tls_version is not None and not got.authenticated


def test_implicit_tls_smtps(
    start_server: StartServer, server_tls: ssl.SSLContext, cafile: str
) -> None:
    # aiosmtpd only counts STARTTLS as TLS for AUTH; the socket itself is TLS here.
    server = start_server(ssl_context=server_tls, auth=True, auth_require_tls=False)
    settings = settings_for(f"smtps://{credentials()}127.0.0.1:{server.port}", cafile=cafile)
    assert settings.security == "tls"
    send_message(digest(settings), settings)
    [got] = server.handler.received
    assert got.tls_version is not None and got.tls_version.startswith("TLSv1.")
    assert got.authenticated and got.login == USER.encode()


# -- failures ---------------------------------------------------------------------------


@pytest.mark.parametrize("wrong", ["Wr0ng-s3cret!", "Yanlış-şifre"])
def test_wrong_password_is_a_clear_error_without_the_password(
    start_server: StartServer, server_tls: ssl.SSLContext, cafile: str, wrong: str
) -> None:
    server = start_server(tls_context=server_tls, require_starttls=True, auth=True)
    url = f"smtp://{credentials(wrong)}127.0.0.1:{server.port}"
    settings = settings_for(url, cafile=cafile)
    with pytest.raises(MailError) as err:
        send_message(digest(settings), settings)
    message = str(err.value)
    assert "rejected the login" in message and USER in message and "535" in message
    assert f"127.0.0.1:{server.port}" in message
    assert wrong not in message and "\n" not in message
    assert wrong not in repr(settings) and wrong not in str(settings)
    assert server.authenticator.attempts and not server.handler.received


def test_unreachable_server(start_server: StartServer) -> None:
    with socket.socket() as sock:  # a port that was just free: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = settings_for(f"smtp://127.0.0.1:{port}?timeout=5")
    with pytest.raises(MailError) as err:
        send_message(digest(settings), settings)
    assert str(err.value) == f"SMTP server 127.0.0.1:{port} unreachable: connection refused"


def test_every_recipient_refused(start_server: StartServer) -> None:
    server = start_server(reject=frozenset({"nobody@example.org"}))
    settings = settings_for(f"smtp://127.0.0.1:{server.port}", to="nobody@example.org")
    with pytest.raises(MailError) as err:
        send_message(digest(settings), settings)
    assert "refused every recipient" in str(err.value)
    assert "nobody@example.org: 550 5.1.1" in str(err.value)
    assert not server.handler.received


def test_some_recipients_refused_still_delivers_to_the_rest(start_server: StartServer) -> None:
    server = start_server(reject=frozenset({"nobody@example.org"}))
    to = "desk@example.org, nobody@example.org"
    settings = settings_for(f"smtp://127.0.0.1:{server.port}", to=to)
    refused = send_message(digest(settings), settings)
    assert refused is not None and "accepted 1 of 2 recipients" in refused.line
    assert "nobody@example.org: 550" in refused.line
    assert refused.recipients == ("nobody@example.org",)
    assert [r.rcpt_tos for r in server.handler.received] == [["desk@example.org"]]
    # Every recipient accepted: nothing to report.
    settings = settings_for(f"smtp://127.0.0.1:{server.port}", to="desk@example.org")
    assert send_message(digest(settings), settings) is None


def test_credentials_never_sent_without_starttls(start_server: StartServer) -> None:
    server = start_server(auth=True, auth_require_tls=False)  # offers AUTH in clear, no TLS
    settings = settings_for(f"smtp://{credentials()}127.0.0.1:{server.port}")
    with pytest.raises(MailError) as err:
        send_message(digest(settings), settings)
    assert "does not offer STARTTLS" in str(err.value)
    assert "refusing to send the password in clear" in str(err.value)
    assert server.authenticator.attempts == [] and server.handler.received == []


def test_starttls_required_refuses_plain_server(start_server: StartServer) -> None:
    server = start_server()
    settings = settings_for(f"smtp://127.0.0.1:{server.port}?starttls=required")
    with pytest.raises(MailError, match="does not offer STARTTLS"):
        send_message(digest(settings), settings)
    assert server.handler.received == []


def test_untrusted_certificate(start_server: StartServer, server_tls: ssl.SSLContext) -> None:
    server = start_server(tls_context=server_tls, require_starttls=True)
    settings = settings_for(f"smtp://127.0.0.1:{server.port}")  # no CA file: trustme CA unknown
    with pytest.raises(MailError) as err:
        send_message(digest(settings), settings)
    assert "TLS certificate not trusted" in str(err.value)
    assert "NEWSWATCH_SMTP_CAFILE" in str(err.value)
    assert server.handler.received == []


def test_smtps_against_a_starttls_port(start_server: StartServer, cafile: str) -> None:
    server = start_server()
    settings = settings_for(f"smtps://127.0.0.1:{server.port}?timeout=5", cafile=cafile)
    with pytest.raises(MailError) as err:
        send_message(digest(settings), settings)
    assert "TLS failed" in str(err.value) and "smtp://" in str(err.value)


def test_off_mode_sends_in_clear_to_a_local_relay(
    start_server: StartServer, server_tls: ssl.SSLContext
) -> None:
    # A relay that offers STARTTLS with a certificate we cannot verify: off skips it.
    server = start_server(tls_context=server_tls)
    settings = settings_for(f"smtp://127.0.0.1:{server.port}?starttls=off")
    send_message(digest(settings), settings)
    [got] = server.handler.received
    assert got.tls_version is None


# -- settings from the environment ---------------------------------------------------------


BASE_ENV = {"NEWSWATCH_MAIL_FROM": SENDER, "NEWSWATCH_MAIL_TO": "desk@example.org"}


def env_settings(url: str, **extra: str) -> SmtpSettings:
    settings = smtp_settings_from_env({**BASE_ENV, "NEWSWATCH_SMTP_URL": url, **extra})
    assert settings is not None
    return settings


def test_no_url_means_no_mail() -> None:
    assert smtp_settings_from_env(BASE_ENV) is None
    assert smtp_settings_from_env({**BASE_ENV, "NEWSWATCH_SMTP_URL": "  "}) is None


def test_percent_encoded_credentials_and_default_ports() -> None:
    gmail = env_settings("smtp://ana.yilmaz%40gmail.com:abcd%20efgh%20ijkl%20mnop@smtp.gmail.com")
    assert (gmail.host, gmail.port, gmail.security) == ("smtp.gmail.com", 587, "starttls")
    assert gmail.username == "ana.yilmaz@gmail.com"
    assert gmail.password == "abcd efgh ijkl mnop"
    fastmail = env_settings("smtps://me%40fastmail.com:p%25%3A%2F%40x@smtp.fastmail.com")
    assert (fastmail.port, fastmail.security, fastmail.password) == (465, "tls", "p%:/@x")
    relay = env_settings("smtp://localhost:25?starttls=off&timeout=7.5")
    assert (relay.port, relay.security, relay.timeout, relay.username) == (25, "none", 7.5, None)
    assert env_settings("smtp://relay.internal").security == "starttls-if-offered"


def test_password_hidden_from_repr_and_str() -> None:
    settings = env_settings("smtps://me%40example.org:hunter2-secret@mail.example.org")
    assert "hunter2-secret" not in repr(settings)
    assert "hunter2-secret" not in str(settings)
    assert "me@example.org" in str(settings)


def test_recipients_parsing_and_override() -> None:
    settings = env_settings(
        "smtp://relay.internal", NEWSWATCH_MAIL_TO=' a@example.org ,"Doe, J" <j@example.org>,'
    )
    assert settings.recipients == ("a@example.org", '"Doe, J" <j@example.org>')
    override = smtp_settings_from_env(
        {"NEWSWATCH_SMTP_URL": "smtp://relay.internal", "NEWSWATCH_MAIL_FROM": SENDER},
        recipients_override=["x@example.org", "y@example.org"],
    )
    assert override is not None and override.recipients == ("x@example.org", "y@example.org")


def test_addresses_in_other_scripts_stay_readable_and_go_out_as_ascii() -> None:
    """A display name in any script is kept as written (the headers encode it); an
    international domain goes out in its ASCII (IDNA) form; a mailbox name outside ASCII is
    one clear error naming the variable, not a traceback at send time."""
    settings = env_settings(
        "smtp://relay.internal",
        NEWSWATCH_MAIL_FROM="Haber Masası <bulten@örnek.com.tr>",
        NEWSWATCH_MAIL_TO='Şule Öztürk <sule@example.org>, "Öz, Ali" <ali@örnek.com.tr>',
    )
    assert settings.sender == "Haber Masası <bulten@xn--rnek-4qa.com.tr>"
    assert settings.recipients == (
        "Şule Öztürk <sule@example.org>",
        '"Öz, Ali" <ali@xn--rnek-4qa.com.tr>',
    )
    raw = digest(settings).as_bytes()
    raw.split(b"\r\n\r\n", 1)[0].decode("ascii")  # 7-bit headers
    parsed = parse(raw)
    assert [a.display_name for a in parsed["To"].addresses] == ["Şule Öztürk", "Öz, Ali"]
    assert parsed["To"].addresses[1].addr_spec == "ali@xn--rnek-4qa.com.tr"
    assert parsed["From"].addresses[0].display_name == "Haber Masası"
    assert parsed["Message-ID"].endswith("@xn--rnek-4qa.com.tr>")
    for var, value in [
        ("NEWSWATCH_MAIL_TO", "şule@örnek.com.tr"),
        ("NEWSWATCH_MAIL_FROM", "Haber Masası <bülten@example.org>"),
    ]:
        with pytest.raises(MailConfigError) as err:
            env_settings("smtp://relay.internal", **{var: value})
        assert var in str(err.value) and "ASCII" in str(err.value)
        assert "\n" not in str(err.value)


def test_the_list_id_spells_a_title_in_other_letters_without_their_marks() -> None:
    from newswatch.digest.mail import list_headers

    headers = list_headers("news@example.org", "Haber Masası — Günlük Özet")
    assert headers["List-Id"].endswith("<haber-masasi-gunluk-ozet.example.org>")


def test_sender_defaults_to_the_user_name_when_it_is_an_address() -> None:
    env = {
        "NEWSWATCH_SMTP_URL": "smtp://ana%40example.org:pw@mail.example.org",
        "NEWSWATCH_MAIL_TO": "desk@example.org",
    }
    settings = smtp_settings_from_env(env)
    assert settings is not None and settings.sender == "ana@example.org"


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"NEWSWATCH_MAIL_TO": ""}, ["NEWSWATCH_MAIL_TO", "comma-separated"]),
        ({"NEWSWATCH_MAIL_FROM": ""}, ["NEWSWATCH_MAIL_FROM", "sender"]),
        ({"NEWSWATCH_MAIL_TO": "desk at example"}, ["NEWSWATCH_MAIL_TO", "not an e-mail"]),
        ({"NEWSWATCH_SMTP_URL": "http://user:pw@mail.example.org"}, ["http://", "smtps://"]),
        ({"NEWSWATCH_SMTP_URL": "mail.example.org:587"}, ["NEWSWATCH_SMTP_URL", "scheme"]),
        ({"NEWSWATCH_SMTP_URL": "smtp://:587"}, ["NEWSWATCH_SMTP_URL", "no host"]),
        ({"NEWSWATCH_SMTP_URL": "smtp://h:99999"}, ["NEWSWATCH_SMTP_URL", "port"]),
        ({"NEWSWATCH_SMTP_URL": "smtp://u@h"}, ["NEWSWATCH_SMTP_URL", "no password"]),
        ({"NEWSWATCH_SMTP_URL": "smtp://u:pw@h?starttls=off"}, ["starttls=off", "in clear"]),
        ({"NEWSWATCH_SMTP_URL": "smtp://h?starttls=maybe"}, ["auto, required or off"]),
        ({"NEWSWATCH_SMTP_URL": "smtps://h?starttls=off"}, ["unknown option 'starttls'"]),
        ({"NEWSWATCH_SMTP_URL": "smtp://h?timeout=0"}, ["timeout"]),
        ({"NEWSWATCH_SMTP_CAFILE": "/nonexistent/ca.pem"}, ["NEWSWATCH_SMTP_CAFILE"]),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], names: list[str]) -> None:
    full = {**BASE_ENV, "NEWSWATCH_SMTP_URL": "smtp://relay.internal", **env}
    with pytest.raises(MailConfigError) as err:
        smtp_settings_from_env(full)
    for name in names:
        assert name in str(err.value)
    assert "\n" not in str(err.value)


def test_bad_scheme_error_hides_the_password() -> None:
    with pytest.raises(MailConfigError) as err:
        smtp_settings_from_env({**BASE_ENV, "NEWSWATCH_SMTP_URL": "mail.example.org:topsecret@x"})
    assert "topsecret" not in str(err.value)


# -- message -------------------------------------------------------------------------------


def test_non_ascii_subject_is_encoded_and_round_trips() -> None:
    msg = build_message(
        subject=SUBJECT,
        html=HTML,
        text=TEXT,
        sender="Haber Masası <news@example.org>",
        recipients=["ana@example.org"],
        date=DATE,
    )
    raw = msg.as_bytes()
    head = raw.split(b"\r\n\r\n", 1)[0]
    head.decode("ascii")  # every header is 7-bit: non-ASCII only as RFC 2047 encoded-words
    assert b"=?utf-8?" in head
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    parsed = parse(raw)
    assert parsed["Subject"] == SUBJECT
    assert parsed["From"].addresses[0].display_name == "Haber Masası"
    assert [body(p) for p in parsed.iter_parts()] == [TEXT, HTML + "\n"]
    assert parsed["Message-ID"].endswith("@example.org>")
    assert parsed["Date"] == "Mon, 11 May 2026 07:30:00 +0300"


def test_long_non_ascii_lines_are_transfer_encoded() -> None:
    long_line = "Türkiye'nin S-400 alımı ve NATO ilişkileri üzerine uzun bir paragraf. " * 60
    msg = build_message(
        subject="x",
        html=f"<p>{long_line}</p>",
        text=long_line,
        sender=SENDER,
        recipients=["a@example.org"],
        date=datetime(2026, 5, 11, tzinfo=UTC),
    )
    raw = msg.as_bytes()
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78
    raw.decode("ascii")
    for part in msg.iter_parts():
        assert part["Content-Transfer-Encoding"] in ("quoted-printable", "base64")
        assert "MIME-Version" not in part
    assert [body(p) for p in parse(raw).iter_parts()] == [
        long_line + "\n",
        f"<p>{long_line}</p>\n",
    ]


def test_eml_file_round_trip(tmp_path: Path) -> None:
    msg = build_message(
        subject=SUBJECT,
        html=HTML,
        text=TEXT,
        sender=SENDER,
        recipients=["a@example.org", "b@example.org"],
        date=DATE,
        message_id="<fixed@example.org>",
    )
    path = tmp_path / "digest.eml"
    path.write_bytes(msg.as_bytes())
    parsed = parse(path.read_bytes())
    assert parsed["Message-ID"] == "<fixed@example.org>"
    assert parsed["To"] == "a@example.org, b@example.org"
    assert body(parsed.get_body(preferencelist=("html",))) == HTML + "\n"
    assert body(parsed.get_body(preferencelist=("plain",))) == TEXT


def test_naive_date_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        build_message(
            subject="x",
            html="<p>x</p>",
            text="x",
            sender=SENDER,
            recipients=["a@example.org"],
            date=datetime(2026, 5, 11, 7, 30),
        )


def test_list_headers_carry_a_mailto_and_the_one_click_https_form_when_configured() -> None:
    from newswatch.digest.mail import list_headers

    plain = list_headers("Desk <news@example.org>", "Ankara desk")
    assert plain == {
        "List-Unsubscribe": "<mailto:news@example.org?subject=unsubscribe>",
        "List-Id": '"Ankara desk" <ankara-desk.example.org>',
    }  # no https URL: no one-click POST header (it needs one)
    full = list_headers(
        "news@example.org",
        "newswatch",
        unsubscribe_mailto="leave@example.org",
        unsubscribe_url="https://example.org/u?l=1",
    )
    assert full["List-Unsubscribe"] == (
        "<mailto:leave@example.org?subject=unsubscribe>, <https://example.org/u?l=1>"
    )
    assert full["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


@pytest.mark.parametrize(
    ("env", "to", "quoted"),
    [
        ({}, ["not an address"], "'not an address'"),
        ({}, ["desk@example.org, not an address"], "'not an address'"),
        ({}, ["a@example.org b@example.org"], "'a@example.org b@example.org'"),
        ({"NEWSWATCH_MAIL_TO": "desk at example"}, [], "'desk at example'"),
    ],
)
def test_an_address_that_is_not_one_is_quoted_whole(
    env: dict[str, str], to: list[str], quoted: str
) -> None:
    """Was `'not' is not an e-mail address` (the parser keeps the first word only)."""
    full = {**BASE_ENV, "NEWSWATCH_SMTP_URL": "smtp://relay.internal", **env}
    with pytest.raises(MailConfigError) as err:
        smtp_settings_from_env(full, recipients_override=to)
    assert f"{quoted} is not an e-mail address" in str(err.value)
    assert ("--to: " if to else "NEWSWATCH_MAIL_TO: ") in str(err.value)


def test_a_name_with_a_comma_is_one_recipient() -> None:
    to = ['"Doe, Jane" <jane@example.org>, bob@example.org']
    settings = env_settings("smtp://relay.internal")
    override = smtp_settings_from_env(
        {**BASE_ENV, "NEWSWATCH_SMTP_URL": "smtp://relay.internal"}, recipients_override=to
    )
    assert settings.recipients == ("desk@example.org",)
    assert override is not None
    assert override.recipients == ('"Doe, Jane" <jane@example.org>', "bob@example.org")


def test_html_part_bytes_is_the_size_the_part_is_sent_at() -> None:
    """The digest's size budget counts the HTML part as it goes out: encoded, CRLF ends."""
    from email.message import EmailMessage

    from newswatch.digest.mail import html_part_bytes

    html = "<p>" + "Türkiye ve NATO. " * 400 + "</p>\n" * 50
    msg = EmailMessage(policy=email.policy.SMTP)
    msg.set_content("text", subtype="plain", charset="utf-8")
    msg.add_alternative(html, subtype="html", charset="utf-8")
    sent = msg.get_payload()[1].as_bytes(policy=email.policy.SMTP).split(b"\r\n\r\n", 1)[1]
    assert abs(html_part_bytes(html) - len(sent)) <= 2
