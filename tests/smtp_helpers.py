"""A real SMTP server (aiosmtpd) on 127.0.0.1 for tests: plain, STARTTLS, implicit TLS, AUTH."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

USER = "ana.yilmaz@example.org"  # '@' in the user name, as with Gmail and Microsoft 365
PASSWORD = "p@ss:w/rd%ü 42"  # every character that needs percent-encoding in a URL


# -- server ---------------------------------------------------------------------------


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    tls_version: str | None
    authenticated: bool
    login: bytes | None


@dataclass
class RecordingHandler:
    """Keeps every accepted message with how its session was secured."""

    reject: frozenset[str] = frozenset()
    received: list[Received] = field(default_factory=list)
    # Answer the first this-many DATA commands "451 try again later" (a transient failure).
    data_failures: int = 0
    data_attempts: int = 0

    async def handle_RCPT(
        self, server: SMTPServer, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address in self.reject:
            return f"550 5.1.1 <{address}>: Recipient address rejected: no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        self.data_attempts += 1
        if self.data_attempts <= self.data_failures:
            return "451 4.3.0 Temporary local problem, try again later"
        ssl_object = server.transport.get_extra_info("ssl_object") if server.transport else None
        self.received.append(
            Received(
                mail_from=str(envelope.mail_from),
                rcpt_tos=list(envelope.rcpt_tos),
                content=bytes(envelope.original_content or b""),
                tls_version=ssl_object.version() if ssl_object else None,
                authenticated=bool(session.authenticated),
                login=getattr(session.auth_data, "login", None),
            )
        )
        return "250 Message accepted for delivery"


@dataclass
class Authenticator:
    """Accepts exactly USER / `password` and records every attempt."""

    password: str = PASSWORD
    attempts: list[tuple[str, bytes]] = field(default_factory=list)

    def __call__(
        self, server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.attempts.append((mechanism, data.login))
        ok = data.login == USER.encode() and data.password == self.password.encode()
        return AuthResult(success=ok, handled=False, auth_data=data)


class LoopbackController(Controller):  # type: ignore[misc]
    """aiosmtpd Controller on an ephemeral port of 127.0.0.1 (bound before the port is read)."""

    def _create_server(self) -> Any:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        return self.loop.create_server(self._factory_invoker, sock=sock, ssl=self.ssl_context)


@dataclass
class Server:
    handler: RecordingHandler
    authenticator: Authenticator
    port: int


StartServer = Callable[..., Server]


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def cafile(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture(scope="session")
def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture
def start_server() -> Iterator[StartServer]:
    controllers: list[Controller] = []

    def start(
        reject: frozenset[str] = frozenset(),
        password: str = PASSWORD,
        data_failures: int = 0,
        **kwargs: Any,
    ) -> Server:
        handler = RecordingHandler(reject=reject, data_failures=data_failures)
        authenticator = Authenticator(password=password)
        if kwargs.pop("auth", False):
            kwargs["authenticator"] = authenticator
        controller = LoopbackController(handler, hostname="127.0.0.1", **kwargs)
        controller.start()
        controllers.append(controller)
        return Server(handler, authenticator, controller.port)

    yield start
    for controller in controllers:
        controller.stop()
