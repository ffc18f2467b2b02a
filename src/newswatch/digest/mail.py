"""Deliver the digest by SMTP (stdlib smtplib and email only).

Settings come from the environment (or a Prefect Secret block) so that secrets stay out of
sources.yaml; `smtp_settings` is the one place every caller (CLI, serve, the digest flow)
resolves them:

    NEWSWATCH_SMTP_URL    smtp://user:password@host:587   STARTTLS (see below)
                          smtps://user:password@host:465  implicit TLS
    NEWSWATCH_MAIL_FROM   sender address, "Name <addr>" allowed (default: the user name
                          when it is an address)
    NEWSWATCH_MAIL_TO     recipients, comma-separated
    NEWSWATCH_SMTP_CAFILE optional extra CA bundle (PEM) trusted in addition to the system's
    NEWSWATCH_SMTP_BLOCK  instead of NEWSWATCH_SMTP_URL: the name of a Prefect Secret block
                          holding that URL (loaded from the Prefect API the process talks to)

User name and password are percent-decoded, so `@`, `:`, `/` and friends must be written
as %40, %3A, %2F (Gmail app passwords need no escaping; spaces become %20).

TLS policy of smtp:// (query parameter `starttls`):
    starttls=auto      (default) use STARTTLS when the server offers it; when credentials are
                       given, STARTTLS is required: a password is never sent in clear.
    starttls=required  refuse to send anything unless the session is encrypted.
    starttls=off       never encrypt; only for a local relay, and refused with credentials.
Certificates are always verified (system store plus NEWSWATCH_SMTP_CAFILE).
"""

from __future__ import annotations

import base64
import email.policy
import email.utils
import os
import re
import smtplib
import socket
import ssl
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from newswatch.errors import MailConfigError, MailError

URL_VAR = "NEWSWATCH_SMTP_URL"
FROM_VAR = "NEWSWATCH_MAIL_FROM"
TO_VAR = "NEWSWATCH_MAIL_TO"
CAFILE_VAR = "NEWSWATCH_SMTP_CAFILE"
BLOCK_VAR = "NEWSWATCH_SMTP_BLOCK"

DEFAULT_TIMEOUT = 30.0
MAILER = "newswatch"

# "starttls": STARTTLS required; "starttls-if-offered": used when the server offers it
# (unauthenticated sessions only); "tls": implicit TLS from the first byte; "none": clear text.
Security = Literal["starttls", "starttls-if-offered", "tls", "none"]

# RFC 5322 allows 998 characters per line; 78 is the recommended limit and what the email
# package folds at, so ASCII bodies with longer lines get quoted-printable.
_BODY_POLICY = email.policy.SMTP.clone(cte_type="7bit")


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str
    port: int
    sender: str  # header form, may carry a display name: "newswatch <news@example.org>"
    recipients: tuple[str, ...]  # header form, one address each
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    security: Security = "starttls"
    timeout: float = DEFAULT_TIMEOUT
    cafile: str | None = None

    @property
    def server(self) -> str:
        return f"{self.host}:{self.port}"

    def __str__(self) -> str:
        user = f"{self.username}@" if self.username else ""
        return f"SMTP {user}{self.server} ({self.security}) from {self.sender}"


# -- settings ------------------------------------------------------------------------


def smtp_settings_from_env(
    env: Mapping[str, str], *, recipients_override: Sequence[str] = ()
) -> SmtpSettings | None:
    """Read SMTP settings from environment variables; None when NEWSWATCH_SMTP_URL is unset.

    `recipients_override` (e.g. a command-line --to) replaces NEWSWATCH_MAIL_TO.
    """
    url = env.get(URL_VAR, "").strip()
    if not url:
        return None
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps"):
        shown = f"{scheme}://" if scheme else repr(_redact_url(url))
        raise MailConfigError(
            f"{URL_VAR}: unsupported scheme {shown}; use smtp://user:password@host:587 "
            "(STARTTLS) or smtps://user:password@host:465 (implicit TLS)"
        )
    host = parts.hostname
    if not host:
        raise MailConfigError(
            f"{URL_VAR}: no host in {_redact_url(url)!r}; write smtp://user:password@host:587"
        )
    try:
        port = parts.port or (465 if scheme == "smtps" else 587)
    except ValueError:
        raise MailConfigError(
            f"{URL_VAR}: the port must be a number from 1 to 65535 in {_redact_url(url)!r}"
        ) from None
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if username is not None and password is None:
        raise MailConfigError(
            f"{URL_VAR}: user {username!r} has no password; write smtp://user:password@host "
            "(percent-encode special characters, e.g. @ as %40)"
        )
    if username is None and password:
        raise MailConfigError(f"{URL_VAR}: a password without a user name; write user:password@")

    security, timeout = _query_options(parts.query, scheme, has_credentials=username is not None)

    cafile = env.get(CAFILE_VAR, "").strip() or None
    if cafile is not None and not os.path.isfile(cafile):
        raise MailConfigError(f"{CAFILE_VAR}: no such file {cafile!r}; point it at a PEM CA bundle")

    sender = env.get(FROM_VAR, "").strip()
    if not sender:
        if username and "@" in username:
            sender = username
        else:
            raise MailConfigError(
                f"{FROM_VAR} is not set; set it to the sender address, e.g. "
                f"{FROM_VAR}='newswatch <news@example.org>'"
            )
    sender = _parse_addresses(sender, FROM_VAR, single=True)[0]

    if recipients_override:
        recipients = recipients_option(recipients_override)
    else:
        to = env.get(TO_VAR, "").strip()
        if not to:
            raise MailConfigError(
                f"{TO_VAR} is not set; set it to one or more comma-separated recipient "
                f"addresses, e.g. {TO_VAR}='ana@example.org, desk@example.org'"
            )
        recipients = _parse_addresses(to, TO_VAR)

    return SmtpSettings(
        host=host,
        port=port,
        sender=sender,
        recipients=tuple(recipients),
        username=username,
        password=password,
        security=security,
        timeout=timeout,
        cafile=cafile,
    )


def _query_options(query: str, scheme: str, *, has_credentials: bool) -> tuple[Security, float]:
    security: Security = "tls" if scheme == "smtps" else "starttls-if-offered"
    timeout = DEFAULT_TIMEOUT
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key == "timeout":
            try:
                timeout = float(value)
            except ValueError:
                timeout = -1.0
            if not timeout > 0:
                raise MailConfigError(f"{URL_VAR}: timeout must be seconds > 0, got {value!r}")
        elif key == "starttls" and scheme == "smtp":
            modes: dict[str, Security] = {
                "auto": "starttls-if-offered",
                "required": "starttls",
                "off": "none",
            }
            if value not in modes:
                raise MailConfigError(
                    f"{URL_VAR}: starttls must be auto, required or off, got {value!r}"
                )
            security = modes[value]
        else:
            where = "smtp:// URLs" if scheme == "smtp" else "smtps:// URLs (always TLS)"
            allowed = "starttls, timeout" if scheme == "smtp" else "timeout"
            raise MailConfigError(
                f"{URL_VAR}: unknown option {key!r} for {where}; allowed: {allowed}"
            )
    if has_credentials:
        if security == "none":
            raise MailConfigError(
                f"{URL_VAR}: starttls=off with a user and password would send the password "
                "in clear; remove starttls=off, or drop the credentials for an open local relay"
            )
        if security == "starttls-if-offered":
            security = "starttls"
    return security, timeout


def _split_addresses(value: str) -> list[str]:
    """`value` cut at its commas, except those inside quotes or angle brackets ("Doe, Jane"
    <jane@example.org> is one entry)."""
    entries: list[str] = []
    current: list[str] = []
    quoted = angled = False
    for ch in value:
        if ch == '"' and not angled:
            quoted = not quoted
        elif ch == "<" and not quoted:
            angled = True
        elif ch == ">" and not quoted:
            angled = False
        elif ch == "," and not quoted and not angled:
            entries.append("".join(current))
            current = []
            continue
        current.append(ch)
    entries.append("".join(current))
    return entries


def _parse_addresses(value: str, source: str, *, single: bool = False) -> list[str]:
    out = []
    # Each entry on its own: getaddresses keeps only the first word of "not an address", and
    # the error must quote what was written, whole.
    for entry in _split_addresses(value):
        if not entry.strip():
            continue
        pairs = [(n, a) for n, a in email.utils.getaddresses([entry]) if n or a]
        name, addr = pairs[0] if len(pairs) == 1 else ("", "")
        local, at, domain = addr.rpartition("@")
        if not at or not local or not domain or " " in addr or (" " in entry.strip() and not name):
            raise MailConfigError(
                f"{source}: {entry.strip()!r} is not an e-mail address; write user@example.org "
                "or 'Name <user@example.org>', separate several with commas"
            )
        if not local.isascii():
            raise MailConfigError(
                f"{source}: {entry.strip()!r} has letters outside ASCII before the @, which "
                "most mail servers refuse (it needs SMTPUTF8); use the mailbox's ASCII address"
            )
        if not domain.isascii():
            # An international domain (örnek.com.tr) goes out in its ASCII form
            # (xn--rnek-zoa.com.tr), which every server accepts.
            try:
                domain = domain.encode("idna").decode("ascii")
            except UnicodeError:
                raise MailConfigError(
                    f"{source}: {entry.strip()!r}: {domain!r} is not a valid domain name"
                ) from None
            addr = f"{local}@{domain}"
        out.append(_display(name, addr))
    if not out:
        raise MailConfigError(f"{source}: no e-mail address found in {value!r}")
    if single and len(out) > 1:
        raise MailConfigError(f"{source}: give exactly one sender address, got {len(out)}")
    return out


def _display(name: str, addr: str) -> str:
    """'Name <addr>' as written (a name in any script stays readable in logs and the
    `digests` table; the message's headers encode it), quoted where RFC 5322 needs it."""
    if not name:
        return addr
    if name.isascii():
        return email.utils.formataddr((name, addr))
    if any(c in name for c in '()<>@,;:\\".[]'):
        name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{name} <{addr}>"


def _redact_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def smtp_settings(
    env: Mapping[str, str] | None = None, *, recipients_override: Sequence[str] = ()
) -> SmtpSettings | None:
    """SMTP settings from NEWSWATCH_SMTP_URL, else from the Prefect Secret block named by
    NEWSWATCH_SMTP_BLOCK; None when neither is set. Raises MailConfigError for bad values.

    The block is loaded from the Prefect API this process talks to (PREFECT_API_URL), so a
    scheduled digest run by `newswatch serve` or a worker finds it where it was saved.
    """
    env = os.environ if env is None else env
    if env.get(URL_VAR, "").strip():
        return smtp_settings_from_env(env, recipients_override=recipients_override)
    block = env.get(BLOCK_VAR, "").strip()
    if block:
        return load_settings_from_prefect_block(
            block, env=env, recipients_override=recipients_override
        )
    return None


def smtp_configured(env: Mapping[str, str]) -> bool:
    """Whether sending is set up at all (a URL or a block name is given)."""
    return bool(env.get(URL_VAR, "").strip() or env.get(BLOCK_VAR, "").strip())


# What sending needs, said the same way by every command that sends.
NEEDS_SETTINGS = (
    f"sending needs {URL_VAR} (e.g. smtp://user:password@smtp.example.org:587) or {BLOCK_VAR}, "
    f"plus {TO_VAR} (and {FROM_VAR} unless the SMTP user name is an address); see docs/mail.md"
)


def check_environment(env: Mapping[str, str]) -> None:
    """Validate the mail settings that can be checked without the Prefect API.

    With NEWSWATCH_SMTP_URL that is everything; with only NEWSWATCH_SMTP_BLOCK the recipients
    (and the sender, when given) are checked here and the block when a digest is sent.
    Raises MailConfigError naming the variable.
    """
    if env.get(URL_VAR, "").strip():
        smtp_settings_from_env(env)
        return
    if not env.get(BLOCK_VAR, "").strip():
        raise MailConfigError(NEEDS_SETTINGS)
    to = env.get(TO_VAR, "").strip()
    if not to:
        raise MailConfigError(
            f"{TO_VAR} is not set; set it to one or more comma-separated recipient "
            f"addresses, e.g. {TO_VAR}='ana@example.org, desk@example.org'"
        )
    _parse_addresses(to, TO_VAR)
    sender = env.get(FROM_VAR, "").strip()
    if sender:
        _parse_addresses(sender, FROM_VAR, single=True)


def recipients_option(values: Sequence[str]) -> list[str]:
    """The recipients of `--to` (each value one or more comma-separated addresses); a value
    that is not an address is a MailConfigError quoting it whole."""
    return _parse_addresses(", ".join(values), "--to")


def draft_addresses(
    env: Mapping[str, str], recipients_override: Sequence[str] = ()
) -> tuple[str, tuple[str, ...]]:
    """Sender and recipients for a draft .eml (no SMTP needed): --to / NEWSWATCH_MAIL_TO and
    NEWSWATCH_MAIL_FROM when they are set and valid, else a local placeholder."""
    placeholder = "newswatch@localhost"
    try:
        sender = _parse_addresses(env.get(FROM_VAR, ""), FROM_VAR, single=True)[0]
    except MailConfigError:
        sender = placeholder
    to = ", ".join(recipients_override) or env.get(TO_VAR, "")
    try:
        recipients = tuple(_parse_addresses(to, TO_VAR))
    except MailConfigError:
        recipients = (placeholder,)
    return sender, recipients


def load_settings_from_prefect_block(
    name: str,
    *,
    env: Mapping[str, str] | None = None,
    recipients_override: Sequence[str] = (),
) -> SmtpSettings:
    """Settings whose SMTP URL is kept in a Prefect Secret block named `name`.

    The block holds what NEWSWATCH_SMTP_URL would hold; sender and recipients still come from
    `env` (default: os.environ). Create it with
    `Secret(value="smtps://user:pw@host:465").save("newswatch-smtp")`.
    """
    from prefect.blocks.system import Secret  # lazy: keep prefect out of module import

    try:
        load: Any = Secret.load  # typed without the dispatcher's _sync keyword
        block = load(name, _sync=True)  # the block itself, also when called from async code
        url = block.get()
    except ValueError as exc:
        raise MailConfigError(f"Prefect Secret block {name!r} cannot be loaded: {exc}") from None
    if not isinstance(url, str):
        raise MailConfigError(f"Prefect Secret block {name!r} must hold the SMTP URL as a string")
    merged = {**(os.environ if env is None else env), URL_VAR: url}
    settings = smtp_settings_from_env(merged, recipients_override=recipients_override)
    assert settings is not None  # URL_VAR is set
    return settings


# -- message -------------------------------------------------------------------------


def list_headers(
    sender: str,
    list_name: str,
    *,
    unsubscribe_mailto: str | None = None,
    unsubscribe_url: str | None = None,
) -> dict[str, str]:
    """The mailing-list headers bulk senders need (RFC 2369, 2919, 8058).

    List-Unsubscribe always carries a mailto (`unsubscribe_mailto`, else the sender's own
    address, subject "unsubscribe"), plus the https URL when one is configured; then
    List-Unsubscribe-Post asks for one-click unsubscribing by a POST to it. List-Id names
    the list in the sender's domain."""
    address = _address(sender)
    domain = address.domain or "newswatch.invalid"
    mailto = unsubscribe_mailto or address.addr_spec
    targets = [f"<mailto:{mailto}?subject=unsubscribe>"]
    headers: dict[str, str] = {}
    if unsubscribe_url:
        targets.append(f"<{unsubscribe_url}>")
    headers["List-Unsubscribe"] = ", ".join(targets)
    if unsubscribe_url:
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    # "Haber Masası — Günlük Özet" -> haber-masasi-gunluk-ozet: letters without their marks.
    ascii_name = unicodedata.normalize("NFKD", list_name.replace("ı", "i").replace("İ", "I"))
    ascii_name = ascii_name.encode("ascii", "ignore").decode()
    label = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-") or "newswatch"
    phrase = list_name.replace('"', "'").replace("\\", "")
    headers["List-Id"] = f'"{phrase}" <{label}.{domain}>'
    return headers


def build_message(
    *,
    subject: str,
    html: str,
    text: str,
    sender: str,
    recipients: Sequence[str],
    date: datetime,
    message_id: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> EmailMessage:
    """A multipart/alternative digest mail (text/plain first, then text/html, both UTF-8).

    `date` must be timezone-aware. `msg.as_bytes()` is a complete .eml file (CRLF lines).
    """
    if date.tzinfo is None or date.utcoffset() is None:
        raise ValueError("build_message: date must be timezone-aware")
    if not recipients:
        raise ValueError("build_message: at least one recipient is needed")
    from_address = _address(sender)
    msg = EmailMessage(policy=_BODY_POLICY)
    msg["Subject"] = subject
    msg["From"] = from_address
    msg["To"] = [_address(r) for r in recipients]
    msg["Date"] = email.utils.format_datetime(date)
    msg["Message-ID"] = message_id or email.utils.make_msgid(
        "newswatch", domain=from_address.domain or "newswatch.invalid"
    )
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Mailer"] = MAILER
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(_normalise_newlines(text), subtype="plain", charset="utf-8")
    msg.add_alternative(_normalise_newlines(html), subtype="html", charset="utf-8")
    for part in msg.iter_parts():
        del part["MIME-Version"]  # add_alternative() copies it into the part; it belongs on top
    return msg


def html_part_bytes(html: str) -> int:
    """The size of `html` as build_message sends it: the HTML part's body once encoded
    (quoted-printable or base64, whichever the email package picks for it)."""
    part = EmailMessage(policy=_BODY_POLICY)
    part.set_content(_normalise_newlines(html), subtype="html", charset="utf-8")
    payload = str(part.get_payload())
    return len(payload) + payload.count("\n")  # sent with CRLF line ends


def _address(value: str) -> Address:
    name, addr = email.utils.parseaddr(value)
    if "@" not in addr:
        raise ValueError(f"not an e-mail address: {value!r}")
    return Address(display_name=name, addr_spec=addr)


def _normalise_newlines(body: str) -> str:
    body = body.replace("\r\n", "\n").replace("\r", "\n")
    return body if body.endswith("\n") else body + "\n"


# -- delivery ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Refusal:
    """The recipients a server refused while it took the message for the others."""

    recipients: tuple[str, ...]  # as settings.recipients writes them
    line: str  # one line naming each with the server's reply

    def __str__(self) -> str:
        return self.line


def send_message(message: EmailMessage, settings: SmtpSettings) -> Refusal | None:
    """Deliver `message` to settings.recipients (the envelope), or raise MailError.

    Partial delivery (the server took the message for some recipients and refused others)
    is a delivery: the accepted recipients have it, and sending again would give it to them
    twice. It returns the refused ones (None when every recipient was accepted).
    """
    envelope_from = email.utils.parseaddr(settings.sender)[1]
    envelope_to = [email.utils.parseaddr(r)[1] for r in settings.recipients]
    in_transaction = False
    try:
        with _session(settings) as client:
            in_transaction = True
            refused = client.send_message(message, from_addr=envelope_from, to_addrs=envelope_to)
    except MailError as exc:
        if in_transaction and exc.transient and not exc.answered:
            # The connection broke during the transaction without an answer: the server may
            # have kept the message, and a retry could deliver it twice (we send at most once).
            exc.transient = False
        raise
    if refused:
        detail = "; ".join(
            f"{rcpt}: {_reply(code, text)}" for rcpt, (code, text) in refused.items()
        )
        delivered = len(envelope_to) - len(refused)
        line = _scrub(
            f"SMTP server {settings.server} accepted {delivered} of {len(envelope_to)} "
            f"recipients; refused {detail}",
            settings.password,
        )
        pairs = zip(settings.recipients, envelope_to, strict=True)
        named = tuple(r for r, e in pairs if e in refused)
        return Refusal(named, line)
    return None


def check_server(settings: SmtpSettings) -> None:
    """Connect, say EHLO, STARTTLS and log in as a send would, then QUIT; or raise MailError.

    Run before anything is rendered or recorded, so an unreachable or misconfigured server
    is a configuration error with nothing written, not a failed digest.
    """
    with _session(settings):
        pass


@contextmanager
def _session(settings: SmtpSettings) -> Iterator[smtplib.SMTP]:
    """An SMTP connection past EHLO, STARTTLS and AUTH, closed with QUIT on exit.

    Any SMTP or network failure, in the set-up or in the block, leaves as one MailError
    that names the server and the cause (never the password).
    """
    try:
        with _connected(settings) as client:
            yield client
    except MailError:
        raise
    except (smtplib.SMTPException, OSError) as exc:
        raise MailError(
            _scrub(_describe(exc, settings), settings.password),
            transient=_transient(exc),
            answered=isinstance(exc, smtplib.SMTPResponseException | smtplib.SMTPRecipientsRefused),
        ) from None


def _transient(exc: BaseException) -> bool:
    """Whether the same send may work a little later: 4xx replies, dropped or refused
    connections, time-outs. Bad credentials, 5xx refusals and TLS trust errors are not."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return bool(exc.recipients) and all(400 <= c < 500 for c, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return True
    if isinstance(exc, ssl.SSLError | smtplib.SMTPException):
        return False
    return isinstance(exc, OSError)  # refused, reset, unreachable, timed out, DNS


@contextmanager
def _connected(settings: SmtpSettings) -> Iterator[smtplib.SMTP]:
    context = _ssl_context(settings.cafile) if settings.security != "none" else None
    client: smtplib.SMTP
    if settings.security == "tls":
        client = smtplib.SMTP_SSL(
            settings.host, settings.port, timeout=settings.timeout, context=context
        )
    else:
        client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    with client:
        client.ehlo()
        if settings.security in ("starttls", "starttls-if-offered"):
            if client.has_extn("starttls"):
                client.starttls(context=context)
                client.ehlo()
            elif settings.security == "starttls":
                why = (
                    "refusing to send the password in clear"
                    if settings.username
                    else "refusing to send unencrypted (starttls=required)"
                )
                raise MailError(
                    f"SMTP server {settings.server} does not offer STARTTLS; {why}; "
                    "use smtps:// if the server speaks implicit TLS on another port"
                )
        if settings.username:
            if not client.has_extn("auth"):
                raise MailError(
                    f"SMTP server {settings.server} does not offer AUTH; remove user:password "
                    f"from {URL_VAR} if it is an open relay"
                )
            _login(client, settings.server, settings.username, settings.password or "")
        yield client


def _login(client: smtplib.SMTP, server: str, username: str, password: str) -> None:
    if (username + password).isascii():
        client.login(username, password)  # also knows CRAM-MD5
        return
    # smtplib encodes credentials as ASCII; PLAIN (RFC 4616) and LOGIN carry UTF-8 fine.
    offered = client.esmtp_features.get("auth", "").upper().split()
    user, secret = username.encode(), password.encode()
    if "PLAIN" in offered:
        code, reply = client.docmd("AUTH", "PLAIN " + _b64(b"\0" + user + b"\0" + secret))
    elif "LOGIN" in offered:
        code, reply = client.docmd("AUTH", "LOGIN " + _b64(user))
        if code == 334:
            code, reply = client.docmd(_b64(secret))
    else:
        raise MailError(
            f"SMTP server {server}: a non-ASCII user name or password needs AUTH PLAIN or "
            f"LOGIN, but the server offers only {' '.join(offered) or 'nothing'}"
        )
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, reply)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _ssl_context(cafile: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context()  # verifies certificate and host name
    if cafile:
        context.load_verify_locations(cafile=cafile)
    return context


def _describe(exc: BaseException, settings: SmtpSettings) -> str:
    server = f"SMTP server {settings.server}"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return (
            f"{server} rejected the login for user {settings.username!r}: "
            f"{_reply(exc.smtp_code, exc.smtp_error)}; check the user name and password "
            f"(Gmail needs an app password) in {URL_VAR}"
        )
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        detail = "; ".join(
            f"{rcpt}: {_reply(code, text)}" for rcpt, (code, text) in exc.recipients.items()
        )
        return f"{server} refused every recipient: {detail}"
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return (
            f"{server} refused the sender {exc.sender}: {_reply(exc.smtp_code, exc.smtp_error)}; "
            f"check {FROM_VAR} (many providers only accept the account's own address)"
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{server} refused the message: {_reply(exc.smtp_code, exc.smtp_error)}"
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return f"{server}: {_one_line(str(exc))}"
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        if "timed out" in str(exc):
            # smtplib reports a server that stopped answering mid-session as a disconnect.
            return f"{server} stopped answering: no reply within {settings.timeout:g} s"
        return f"{server} closed the connection unexpectedly ({_one_line(str(exc)) or 'no reason'})"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"{server}: TLS certificate not trusted ({exc.verify_message or exc.reason}); "
            f"check the host name, or set {CAFILE_VAR} to the CA bundle that signed it"
        )
    if isinstance(exc, ssl.SSLError):
        hint = (
            "; is this a STARTTLS port? use smtp:// for 587/25 and smtps:// for 465"
            if settings.security == "tls"
            else ""
        )
        return f"{server}: TLS failed ({exc.reason or _one_line(str(exc))}){hint}"
    if isinstance(exc, socket.gaierror):
        return f"{server} unreachable: cannot resolve host {settings.host!r} ({exc.strerror})"
    if isinstance(exc, ConnectionRefusedError):
        return f"{server} unreachable: connection refused"
    if isinstance(exc, TimeoutError):
        return f"{server} unreachable: no answer within {settings.timeout:g} s"
    if isinstance(exc, OSError):
        return f"{server} unreachable: {(exc.strerror or _one_line(str(exc))).lower()}"
    return f"{server}: {_one_line(str(exc))}"


def _reply(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {_one_line(text)}".strip()


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _scrub(text: str, password: str | None) -> str:
    # Belt and braces: a server may echo what it got; never let the password out.
    if password:
        text = text.replace(password, "***")
    return text
