"""The digest flow as Prefect runs it on a schedule: SMTP settings from a Prefect Secret block,
a failed send that fails the run (recorded first, logged, with an artifact), transient SMTP
failures retried by the send task, and an artifact for every run."""

from __future__ import annotations

import asyncio
import email
import email.policy
import io
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from newswatch import cli
from newswatch.config import load_config
from newswatch.digest import delivery
from newswatch.orchestrate.flows.digest import ARTIFACT_KEY, digest_flow
from newswatch.orchestrate.serve import _check_smtp, _send_default
from tests.feedserver import FeedServer
from tests.helpers import rss, write_sources
from tests.smtp_helpers import StartServer

BLOCK = "newswatch-smtp-flow-test"


@pytest.fixture
def polled(feed_server: FeedServer, tmp_path: Path, prefect_harness: None) -> tuple[Path, Path]:
    items = [
        {
            "title": "Turkey and NATO agree on air defence talks",
            "link": "https://desk.example/talks",
            "guid": "talks",
            "description": "Ankara and NATO allies discussed the S-400.",
            "pubDate": datetime.now(UTC),
        }
    ]
    url = feed_server.route("/desk.xml", body=rss("Desk", items))
    sources = write_sources(tmp_path / "sources.yaml", [(url, "Desk")])
    db = tmp_path / "news.duckdb"
    assert cli.main(["poll", "--sources", str(sources), "--db", str(db)], out=io.StringIO()) == 0
    return sources, db


def statuses(db: Path) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT status, error FROM digests ORDER BY created_at").fetchall()
    finally:
        con.close()


def latest_artifact() -> str:
    from prefect.artifacts import Artifact

    artifact = Artifact.get(ARTIFACT_KEY)
    assert artifact is not None
    return str(artifact.data)


async def _run_logs(flow_run_id: Any) -> list[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogHandler

    await APILogHandler.aflush()  # logs go to the API in batches
    async with get_client() as client:
        logs = await client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
        )
    return [f"{log.level} {log.message}" for log in logs]


def test_scheduled_digest_sends_with_settings_from_a_prefect_secret_block(
    polled: tuple[Path, Path],
    tmp_path: Path,
    start_server: StartServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from prefect.blocks.system import Secret

    sources, db = polled
    server = start_server()
    Secret(value=f"smtp://127.0.0.1:{server.port}").save(BLOCK, overwrite=True)
    monkeypatch.delenv("NEWSWATCH_SMTP_URL", raising=False)
    monkeypatch.setenv("NEWSWATCH_SMTP_BLOCK", BLOCK)
    monkeypatch.setenv("NEWSWATCH_MAIL_FROM", "news@example.org")
    monkeypatch.setenv("NEWSWATCH_MAIL_TO", "desk@example.org")
    # `serve` starts with the block alone and sends by default.
    assert _send_default(type("Args", (), {"send": None})(), dict(os.environ))
    _check_smtp(dict(os.environ))

    # The flow exactly as the serve deployment calls it (its parameters, nothing else).
    summary = asyncio.run(
        digest_flow(sources=str(sources), db=str(db), out=str(tmp_path / "out"), send_mail=True)
    )
    assert summary.status == "sent"
    [received] = server.handler.received
    message = email.message_from_bytes(received.content, policy=email.policy.default)
    # One story about Turkey and NATO: it is listed once, under one of the two.
    assert re.search(r": 1 story \(Turkey [01], S-400 [01], NATO [01]\)$", str(message["Subject"]))
    assert str(message["Subject"]) == summary.subject
    assert received.rcpt_tos == ["desk@example.org"]
    assert [s for s, _ in statuses(db)] == ["sent"]
    assert "Status: **sent**" in latest_artifact()

    # The next scheduled run the same day is skipped, and says why in its artifact.
    skipped = asyncio.run(
        digest_flow(sources=str(sources), db=str(db), out=str(tmp_path / "out"), send_mail=True)
    )
    assert skipped.status == "skipped"
    markdown = latest_artifact()
    assert "Status: **skipped**" in markdown and "already sent" in markdown
    assert summary.subject in markdown
    assert len(server.handler.received) == 1


def test_serve_refuses_send_without_any_smtp_setting() -> None:
    from newswatch.errors import ServeError

    with pytest.raises(ServeError, match=r"NEWSWATCH_SMTP_URL .*or NEWSWATCH_SMTP_BLOCK"):
        _check_smtp({"NEWSWATCH_MAIL_TO": "desk@example.org"})
    with pytest.raises(ServeError, match="NEWSWATCH_MAIL_TO"):
        _check_smtp({"NEWSWATCH_SMTP_BLOCK": BLOCK})


def test_a_failed_send_is_recorded_then_fails_the_flow_run_with_a_logged_error(
    polled: tuple[Path, Path],
    tmp_path: Path,
    start_server: StartServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sources, db = polled
    refusing = start_server(reject=frozenset({"desk@example.org"}))
    monkeypatch.setenv("NEWSWATCH_SMTP_URL", f"smtp://127.0.0.1:{refusing.port}")
    monkeypatch.setenv("NEWSWATCH_MAIL_FROM", "news@example.org")
    monkeypatch.setenv("NEWSWATCH_MAIL_TO", "desk@example.org")
    state = asyncio.run(
        digest_flow(
            sources=str(sources),
            db=str(db),
            out=str(tmp_path / "out"),
            send_mail=True,
            return_state=True,
        )
    )
    assert state.is_failed()
    [(status, error)] = statuses(db)
    assert status == "failed" and "550" in str(error)
    assert refusing.handler.data_attempts == 0  # refused at RCPT: a 5xx is not retried
    assert state.state_details.flow_run_id is not None
    logs = asyncio.run(_run_logs(state.state_details.flow_run_id))
    assert any(line.startswith("40 sending the digest for") and "550" in line for line in logs)
    markdown = latest_artifact()
    assert "Status: **failed**" in markdown and "550" in markdown

    # The window is carried: the next run sends it.
    server = start_server()
    monkeypatch.setenv("NEWSWATCH_SMTP_URL", f"smtp://127.0.0.1:{server.port}")
    summary = asyncio.run(
        digest_flow(sources=str(sources), db=str(db), out=str(tmp_path / "out"), send_mail=True)
    )
    assert summary.status == "sent" and summary.stories == 1
    assert [s for s, _ in statuses(db)] == ["failed", "sent"]


def test_a_transient_smtp_failure_is_retried_by_the_send_task(
    polled: tuple[Path, Path],
    tmp_path: Path,
    start_server: StartServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sources, db = polled
    server = start_server(data_failures=1)  # "451 try again later" once
    monkeypatch.setenv("NEWSWATCH_SMTP_URL", f"smtp://127.0.0.1:{server.port}")
    monkeypatch.setenv("NEWSWATCH_MAIL_FROM", "news@example.org")
    monkeypatch.setenv("NEWSWATCH_MAIL_TO", "desk@example.org")
    summary = asyncio.run(
        digest_flow(sources=str(sources), db=str(db), out=str(tmp_path / "out"), send_mail=True)
    )
    assert summary.status == "sent"
    assert server.handler.data_attempts == 2 and len(server.handler.received) == 1
    assert statuses(db) == [("sent", None)]  # one digest, one row, across the retry


def test_an_unexpected_error_while_sending_is_failed_not_left_sending(
    polled: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from newswatch.digest.mail import SmtpSettings

    sources, db = polled
    config = load_config(str(sources))
    now = datetime.now(UTC)
    smtp = SmtpSettings("127.0.0.1", 9, "news@example.org", ("desk@example.org",), security="none")

    def broken(message: Any, settings: Any) -> None:  # a transport-level fake
        raise UnicodeEncodeError("ascii", "ü", 0, 1, "not ASCII")

    monkeypatch.setattr(delivery, "send_message", broken)
    plan = delivery.gather(db, config, now=now, on_date=None, for_sending=True)
    rendered = delivery.render(plan, config, now)
    message = delivery.compose(rendered, smtp, now)
    files = delivery.write_files(rendered, tmp_path / "out", plan.window.date, message)
    with pytest.raises(delivery.SendFailed) as failure:
        delivery.deliver(db, plan, rendered, files, message, smtp, now)
    assert not failure.value.transient
    [(status, error)] = statuses(db)
    assert status == "failed" and "UnicodeEncodeError" in str(error)
    # Not taken for delivered: the next plan covers the same articles again.
    again = delivery.gather(db, config, now=now, on_date=None, for_sending=True)
    assert again.already_delivered is None and again.warnings == []
    assert [i.article.id for i in again.items] == [i.article.id for i in plan.items]
