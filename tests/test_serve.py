"""`newswatch serve` against a real `prefect server` subprocess on loopback, plus the pieces it
builds: Prefect schedules (checked against schedule.next_fire_times across DST), the lock,
the banner, and prefect.yaml."""

from __future__ import annotations

import asyncio
import importlib
import os
import re
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import duckdb
import httpx
import pytest
import yaml

from newswatch.config import load_config
from newswatch.orchestrate import serve
from newswatch.orchestrate.schedule import next_fire_times, parse_spec
from tests.feedserver import FeedServer
from tests.helpers import rss, write_sources
from tests.smtp_helpers import USER, StartServer

REPO = Path(__file__).resolve().parent.parent


# -- schedules ------------------------------------------------------------------------------


def _prefect_dates(spec: str | int, timezone: str, start: datetime, n: int) -> list[datetime]:
    """The dates Prefect's server scheduler would create for the schedule serve builds."""
    from prefect.server.schemas.schedules import CronSchedule, IntervalSchedule

    built = serve.prefect_schedule(spec, timezone)
    server_schedule: CronSchedule | IntervalSchedule
    if built.cron is not None:
        server_schedule = CronSchedule(
            cron=built.cron, timezone=built.timezone, day_or=built.day_or
        )
    else:
        assert built.interval is not None and built.anchor_date is not None
        server_schedule = IntervalSchedule(
            interval=built.interval, anchor_date=built.anchor_date, timezone=built.timezone
        )
    dates = asyncio.run(server_schedule.get_dates(n=n, start=start))
    return [datetime.fromtimestamp(d.timestamp(), UTC) for d in dates]


@pytest.mark.parametrize(
    ("zone", "start"),
    [
        # Spring forward (Sun 30 Mar 2025 02:00 -> 03:00) and fall back (Sun 26 Oct 2025).
        ("Europe/Berlin", datetime(2025, 3, 27, 12, 0, tzinfo=UTC)),
        ("Europe/Berlin", datetime(2025, 10, 23, 12, 0, tzinfo=UTC)),
        ("America/New_York", datetime(2025, 3, 6, 15, 0, tzinfo=UTC)),
        ("Europe/Istanbul", datetime(2025, 3, 27, 12, 0, tzinfo=UTC)),
    ],
)
def test_digest_schedule_fires_at_seven_local_across_dst(zone: str, start: datetime) -> None:
    ours = next_fire_times("0 7 * * *", zone, start, count=8)
    prefects = _prefect_dates("0 7 * * *", zone, start, 8)
    assert prefects == ours
    from zoneinfo import ZoneInfo

    local = [t.astimezone(ZoneInfo(zone)) for t in prefects]
    assert all((t.hour, t.minute) == (7, 0) for t in local)
    # The span really crosses a change of UTC offset (except in Istanbul, which has no DST).
    offsets = {t.utcoffset() for t in local}
    assert len(offsets) == (1 if zone == "Europe/Istanbul" else 2)


def test_poll_interval_schedule_is_anchored_to_the_epoch() -> None:
    start = datetime(2025, 3, 30, 0, 7, 13, tzinfo=UTC)
    for spec in (900, 5, 3600):
        assert _prefect_dates(spec, "Europe/Berlin", start, 6) == next_fire_times(
            spec, "Europe/Berlin", start - timedelta(microseconds=1), count=6
        )


# -- lock and banner ------------------------------------------------------------------------


def test_second_lock_holder_is_refused_with_the_first_ones_pid(tmp_path: Path) -> None:
    lock = tmp_path / "serve.lock"
    with serve.serve_lock(lock, "warehouse /x.duckdb"):
        code = (
            "import sys; from pathlib import Path; from newswatch.orchestrate import serve\n"
            "try:\n"
            f"    with serve.serve_lock(Path({str(lock)!r}), 'second'): print('got it')\n"
            "except serve.ServeError as e: print(e)\n"
        )
        second = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
        )
        assert "already running" in second.stdout
        assert f"pid {os.getpid()}" in second.stdout and "/x.duckdb" in second.stdout
    with serve.serve_lock(lock, "again"):  # released on exit
        pass


def test_banner_names_schedules_and_next_fire_times_in_the_zone(tmp_path: Path) -> None:
    plan = serve.ServePlan(
        sources="/s.yaml", db="/w/n.duckdb", out="/d", send=False, timezone="Europe/Berlin",
        poll=900, digest="0 7 * * *",
    )  # fmt: skip
    now = datetime(2025, 3, 29, 12, 1, tzinfo=UTC)
    text = serve.banner(plan, now, api_url="http://127.0.0.1:1/api", ui_url="http://127.0.0.1:1",
                        home=tmp_path)  # fmt: skip
    assert "every 15 minutes" in text
    assert "at 07:00 daily, Europe/Berlin time" in text
    assert "2025-03-29 13:15:00 CET" in text  # 12:15 UTC, before the switch
    assert "2025-03-30 07:00:00 CEST" in text  # the morning after spring-forward
    assert "not emailed" in text and str(tmp_path) in text


# -- prefect.yaml ---------------------------------------------------------------------------


def test_prefect_yaml_matches_the_flows_and_the_default_schedule() -> None:
    from prefect.cli.deploy._models import PrefectYamlModel

    text = (REPO / "prefect.yaml").read_text(encoding="utf-8")
    # Every file its comments point to exists.
    for ref in re.findall(r"[\w./-]+\.md\b", text):
        assert (REPO / ref).is_file(), ref
    data = yaml.safe_load(text)
    model = PrefectYamlModel.model_validate(data)
    by_name = {d.name: d for d in model.deployments}
    assert set(by_name) == {serve.POLL_DEPLOYMENT, serve.DIGEST_DEPLOYMENT}

    flows = {}
    for name, deployment in by_name.items():
        assert deployment.entrypoint is not None
        path, func = deployment.entrypoint.split(":")
        assert (REPO / path).is_file()
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        flows[name] = getattr(module, func)
        # Every parameter is one the flow accepts.
        import inspect

        accepted = inspect.signature(flows[name].fn).parameters
        assert set(deployment.parameters) <= set(accepted)
    assert flows["poll"].name == "newswatch-poll" and flows["digest"].name == "newswatch-digest"

    defaults = load_config(None).schedule  # the shipped sources.yaml
    poll = by_name["poll"]
    assert poll.parameters["due_only"] is True
    assert poll.schedules is not None and len(poll.schedules) == 1
    poll_schedule = poll.schedules[0]
    assert poll_schedule.interval is not None
    assert poll_schedule.interval.total_seconds() == parse_spec(defaults.poll)
    assert datetime.fromisoformat(str(poll_schedule.anchor_date)) == datetime(
        1970, 1, 1, tzinfo=UTC
    )
    limit = poll.concurrency_limit
    assert limit is not None and not isinstance(limit, int)
    assert (limit.limit, limit.collision_strategy) == (1, "CANCEL_NEW")

    digest = by_name["digest"]
    assert digest.schedules is not None and len(digest.schedules) == 1
    digest_schedule = digest.schedules[0]
    assert digest_schedule.cron == parse_spec(defaults.digest)
    from zoneinfo import ZoneInfo

    assert digest_schedule.timezone is not None
    ZoneInfo(digest_schedule.timezone)  # a real IANA zone
    from prefect.server.schemas.schedules import CronSchedule

    CronSchedule(cron=digest_schedule.cron, timezone=digest_schedule.timezone)


# -- the real thing ---------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    return serve._alive(pid)


def _read_counts(db: Path) -> tuple[int, int] | None:
    """(articles, polls), or None while the poll holds the file or it does not exist yet."""
    if not db.exists():
        return None
    try:
        con = duckdb.connect(str(db), read_only=True)
    except duckdb.Error:
        return None
    try:
        articles = con.execute("SELECT count(*) FROM articles").fetchone()
        polls = con.execute("SELECT count(*) FROM polls").fetchone()
    except duckdb.Error:
        return None
    finally:
        con.close()
    assert articles is not None and polls is not None
    return int(articles[0]), int(polls[0])


def _serve_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PYTHONPATH=os.pathsep.join([str(REPO / "src"), str(REPO)]),
        NEWSWATCH_HOME=str(tmp_path / "home"),
        PREFECT_HOME=str(tmp_path / "prefect-client"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        PREFECT_RUNNER_POLL_FREQUENCY="1",
    )
    env.pop("NEWSWATCH_SMTP_URL", None)
    return env


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve_once(
    tmp_path: Path, env: dict[str, str], command: str = "serve"
) -> subprocess.CompletedProcess[str]:
    sources = write_sources(tmp_path / "sources.yaml", [("http://127.0.0.1:9/f.xml", "F")])
    return subprocess.run(
        [sys.executable, "-m", "newswatch.cli", command, "--sources", str(sources),
         "--db", str(tmp_path / "wh" / "n.duckdb")],
        env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip


def test_unreachable_prefect_api_is_one_line_exit_2(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/api"
    env = _serve_env(tmp_path)
    env["PREFECT_API_URL"] = url
    done = _serve_once(tmp_path, env)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"newswatch: error: cannot reach the Prefect API at {url} ")
    assert "(set by PREFECT_API_URL)" in done.stderr and "unset PREFECT_API_URL" in done.stderr
    assert done.stdout == ""  # no banner for a server that is not there
    assert not (tmp_path / "home" / "prefect").exists()  # and no local one started


def test_api_url_of_the_active_prefect_profile_is_honoured(tmp_path: Path) -> None:
    """PREFECT_API_URL in a Prefect profile (not the environment) is the server to use, for
    serve and for one-off commands: here it is unreachable, so both say so and stop."""
    url = f"http://127.0.0.1:{_closed_port()}/api"
    profiles = tmp_path / "profiles.toml"
    profiles.write_text(
        f'active = "team"\n[profiles.ephemeral]\n[profiles.team]\nPREFECT_API_URL = "{url}"\n',
        encoding="utf-8",
    )
    env = _serve_env(tmp_path)
    env["PREFECT_PROFILES_PATH"] = str(profiles)
    for command in ("serve", "poll"):
        done = _serve_once(tmp_path, env, command)
        assert done.returncode == 2, (command, done.stdout + done.stderr)
        assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr
        assert f"cannot reach the Prefect API at {url} (set by PREFECT_API_URL in the Prefect " \
            "profile 'team')" in done.stderr, done.stderr  # fmt: skip
    assert not (tmp_path / "home" / "prefect").exists()  # serve started no server of its own
    assert not (tmp_path / "wh" / "n.duckdb").exists()  # and the poll did nothing


def _check_missed_runs_are_dropped_but_the_newest(api: str) -> None:
    """What serve does on start to the runs its deployments missed while it was stopped,
    against the real server. (A deployment the running runner does not serve, so that the
    runner cannot start the late runs before we look.)"""
    from prefect import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from prefect.states import Scheduled

    now = datetime.now(UTC)
    # Four long missed, one due seconds ago (it was missed too), one in the future.
    planned = [now - timedelta(minutes=m) for m in (180, 120, 60, 30)]
    planned += [now - timedelta(seconds=10), now + timedelta(hours=1)]
    with temporary_settings({PREFECT_API_URL: api}), get_client(sync_client=True) as client:
        flow_id = client.create_flow_from_name("newswatch-poll")
        dep_id = client.create_deployment(flow_id=flow_id, name="missed-check")
        for at in planned:
            client.create_flow_run_from_deployment(dep_id, state=Scheduled(scheduled_time=at))

        def scheduled() -> list[datetime]:
            runs = client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[dep_id])),
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(
                        type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])
                    )
                ),
            )
            return sorted(r.expected_start_time for r in runs if r.expected_start_time)

        # Registering the deployment again, as a restarted serve does, keeps the missed runs
        # (Prefect replaces only future ones): without a clean-up they would all start at once.
        assert client.create_deployment(flow_id=flow_id, name="missed-check") == dep_id
        assert len([t for t in scheduled() if t < now]) == 5

        assert serve.drop_missed_runs(["newswatch-poll/missed-check"], now) == 4
        assert serve.drop_missed_runs(["newswatch-poll/no-such-deployment"], now) == 0
        # One catch-up run (the newest missed one) and the future schedule are left.
        assert scheduled() == [planned[4], planned[5]]


def _check_scheduled_runs_get_the_deployments_new_parameters(api: str) -> None:
    """What serve does on start to runs scheduled under its previous settings (`serve --db
    b.duckdb` after `serve --db a.duckdb`): Prefect keeps them with the old parameters, and
    the next ticks would poll the old warehouse; serve gives them the new ones."""
    from prefect import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from prefect.states import Scheduled

    old = {"sources": "a.yaml", "db": "a.duckdb", "due_only": True}
    new = {"sources": "b.yaml", "db": "b.duckdb", "due_only": True}
    now = datetime.now(UTC)
    with temporary_settings({PREFECT_API_URL: api}), get_client(sync_client=True) as client:
        flow_id = client.create_flow_from_name("newswatch-poll")
        dep_id = client.create_deployment(flow_id=flow_id, name="params-check", parameters=old)
        ids = [
            client.create_flow_run_from_deployment(
                dep_id, parameters=old, state=Scheduled(scheduled_time=now + timedelta(hours=h))
            ).id
            for h in (1, 2, 3)
        ]
        # Registered again with the new settings, as a restarted serve does: the runs keep
        # the old parameters.
        client.create_deployment(flow_id=flow_id, name="params-check", parameters=new)
        assert all(client.read_flow_run(i).parameters == old for i in ids)
        assert serve.align_scheduled_runs({"newswatch-poll/params-check": new}) == 3
        assert all(client.read_flow_run(i).parameters == new for i in ids)
        assert serve.align_scheduled_runs({"newswatch-poll/params-check": new}) == 0


def _nato_wire(feed_server: FeedServer, tmp_path: Path, items: int, schedule: str) -> Path:
    """A sources file with one feed of `items` recent NATO stories and this `schedule:`."""
    now = datetime.now(UTC)
    entries = [
        {"title": f"NATO ministers meet, day {i}", "link": f"https://example.org/{i}",
         "guid": f"g{i}", "pubDate": now - timedelta(hours=i)}
        for i in range(items)
    ]  # fmt: skip
    feed_server.route("/nato.xml", body=rss("Wire", entries))
    return write_sources(
        tmp_path / "sources.yaml", [(feed_server.url("/nato.xml"), "Wire")],
        extra="schedule:\n" + schedule,
    )  # fmt: skip


def test_serve_runs_polls_on_schedule_and_leaves_no_process_behind(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    sources = _nato_wire(
        feed_server, tmp_path, 5, "  poll: 5\n  digest: '0 7 * * *'\n  timezone: Europe/Berlin\n"
    )
    db = tmp_path / "wh" / "news.duckdb"
    env = _serve_env(tmp_path)
    command = [sys.executable, "-m", "newswatch.cli", "serve", "--sources", str(sources),
               "--db", str(db), "--out", str(tmp_path / "digests")]  # fmt: skip
    log = (tmp_path / "serve.out").open("w+b")
    proc = subprocess.Popen(
        command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path,
        start_new_session=True,  # so this test can clean up after a failure
    )  # fmt: skip
    seen: set[int] = set()
    try:
        # Generous: on a loaded CI machine each flow-run subprocess takes several seconds
        # to start, and runs that collide with a running poll are cancelled (CANCEL_NEW).
        deadline = time.monotonic() + 180
        counts = None
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "serve.out").read_text()
            seen |= serve.descendants(proc.pid)
            counts = _read_counts(db)
            if counts is not None and counts[0] >= 5 and counts[1] >= 2:
                break
            time.sleep(0.5)
        output = (tmp_path / "serve.out").read_text()
        assert counts is not None and counts[0] >= 5 and counts[1] >= 2, output
        assert "every 5 seconds" in output and "Europe/Berlin time" in output
        assert str(tmp_path / "home" / "prefect") in output

        # Two polls ran, but the feed was fetched once: the scheduled poll is due_only and
        # the feed's own interval (at least a minute) had not passed.
        assert len(feed_server.requests_for("/nato.xml")) == 1

        # The deployments the server knows: exactly ours, the poll limited to one at a time.
        api = next(
            line.split()[-1] for line in output.splitlines() if line.startswith("Prefect API")
        )
        found = httpx.post(f"{api}/deployments/filter", json={}, timeout=10).json()
        assert sorted(d["name"] for d in found) == ["digest", "poll"]
        poll = next(d for d in found if d["name"] == "poll")
        assert poll["global_concurrency_limit"]["limit"] == 1
        assert poll["concurrency_options"]["collision_strategy"] == "CANCEL_NEW"
        assert poll["parameters"] == {"sources": str(sources), "db": str(db), "due_only": True}
        runs = httpx.post(f"{api}/artifacts/filter", json={}, timeout=10).json()
        assert any(a["key"] == "newswatch-poll" and a["type"] == "table" for a in runs)
        # The scheduled runs' own INFO lines reach the API (the terminal stays quiet).
        logs = httpx.post(
            f"{api}/logs/filter",
            json={"logs": {"level": {"ge_": 20}}, "sort": "TIMESTAMP_DESC", "limit": 200},
            timeout=10,
        ).json()
        assert any(
            entry["level"] == 20 and entry["message"].startswith("poll ") for entry in logs
        ), [entry["message"] for entry in logs]
        assert " INFO " not in (tmp_path / "serve.out").read_text()

        _check_missed_runs_are_dropped_but_the_newest(api)
        _check_scheduled_runs_get_the_deployments_new_parameters(api)

        # A one-off `newswatch poll` meanwhile uses serve's server (no temporary API): its
        # run is recorded there, outside the deployments.
        adhoc_db = tmp_path / "adhoc" / "adhoc.duckdb"
        adhoc = subprocess.run(
            [sys.executable, "-m", "newswatch.cli", "poll", "--sources", str(sources),
             "--db", str(adhoc_db)],
            env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path,
        )  # fmt: skip
        assert adhoc.returncode == 0, adhoc.stdout + adhoc.stderr
        flow_runs = httpx.post(f"{api}/flow_runs/filter", json={}, timeout=10).json()
        assert any(
            r["deployment_id"] is None and r["parameters"].get("db") == str(adhoc_db)
            for r in flow_runs
        ), [r["parameters"] for r in flow_runs]

        # A second serve on this machine refuses at once.
        second = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path
        )
        assert second.returncode == 2
        assert "already running" in second.stderr and f"pid {proc.pid}" in second.stderr

        seen |= serve.descendants(proc.pid)
        assert len(seen) >= 2  # at least the server and the runner
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
    time.sleep(0.5)
    left = sorted(pid for pid in seen if _alive(pid))
    assert left == [], (tmp_path / "serve.out").read_text()
    assert "stopped" in (tmp_path / "serve.out").read_text()
    # Stopping serve leaves its schedule in the server's database (Prefect's default would
    # pause both deployments and delete their scheduled runs): the runs that come due while
    # it is stopped are there when it starts again, and the newest of each runs then.
    [prefect_db] = (tmp_path / "home" / "prefect").rglob("*.db")
    con = sqlite3.connect(prefect_db)
    try:
        paused = con.execute(
            "SELECT name, paused FROM deployment WHERE name IN ('poll', 'digest') ORDER BY name"
        ).fetchall()
        waiting = dict(
            con.execute(
                "SELECT d.name, count(*) FROM flow_run r JOIN deployment d "
                "ON d.id = r.deployment_id WHERE r.state_type = 'SCHEDULED' GROUP BY d.name"
            ).fetchall()
        )
    finally:
        con.close()
    assert paused == [("digest", 0), ("poll", 0)]
    assert waiting.get("poll", 0) > 0 and waiting.get("digest", 0) > 0, waiting


def test_a_new_warehouse_is_polled_at_once_not_at_the_schedules_first_tick(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    """Polls at 03:00 on 1 January only: a new warehouse still gets its first poll now."""
    sources = _nato_wire(
        feed_server, tmp_path, 2, "  poll: '0 3 1 1 *'\n  digest: '0 7 1 1 *'\n  timezone: UTC\n"
    )
    db = tmp_path / "wh" / "news.duckdb"
    command = [sys.executable, "-m", "newswatch.cli", "serve", "--sources", str(sources),
               "--db", str(db), "--out", str(tmp_path / "digests")]  # fmt: skip
    out_path = tmp_path / "serve.out"
    with out_path.open("w+b") as log:
        proc = subprocess.Popen(
            command, env=_serve_env(tmp_path), stdout=log, stderr=subprocess.STDOUT,
            cwd=tmp_path, start_new_session=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 150
            counts = None
            while time.monotonic() < deadline:
                assert proc.poll() is None, out_path.read_text()
                counts = _read_counts(db)
                if counts is not None and counts[1] >= 1:
                    break
                time.sleep(0.5)
            assert counts is not None and counts == (2, 1), out_path.read_text()
            assert f"{db} is new: its first poll starts now" in out_path.read_text()
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=60) == 0
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)


def test_serve_refuses_to_start_when_the_smtp_server_refuses_the_login(
    tmp_path: Path, start_server: StartServer, server_tls: ssl.SSLContext, cafile: str
) -> None:
    """A refused login would refuse every scheduled digest: one line, exit 2, at start-up,
    before any Prefect server starts."""
    server = start_server(tls_context=server_tls, require_starttls=True, auth=True)
    sources = write_sources(tmp_path / "sources.yaml", [("https://example.org/f.xml", "F")])
    env = _serve_env(tmp_path)
    env.update(
        NEWSWATCH_SMTP_URL=f"smtp://{quote(USER, safe='')}:wrong@127.0.0.1:{server.port}",
        NEWSWATCH_SMTP_CAFILE=cafile,
        NEWSWATCH_MAIL_TO="desk@example.org",
    )
    done = subprocess.run(
        [sys.executable, "-m", "newswatch.cli", "serve", "--sources", str(sources),
         "--db", str(tmp_path / "wh" / "n.duckdb"), "--send"],
        env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert "rejected the login" in line and "start serve again" in line and ":wrong@" not in line
    assert not (tmp_path / "home" / "prefect").exists()  # no Prefect server was started


def test_failed_scheduled_digest_is_one_line_on_serves_terminal_and_whole_in_the_api(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    """SMTP is down: each scheduled digest says so in one line; the tracebacks Prefect writes
    for the failed task and flow (and for a run that stopping serve interrupts) stay in the
    run's log in the API and never reach the terminal."""
    sources = _nato_wire(feed_server, tmp_path, 3, "  poll: 5\n  digest: 5\n  timezone: UTC\n")
    # And a feed that is gone: serve's terminal names it (nothing else there would).
    feed_server.route("/gone.xml", status=404, body=b"not here")
    text = sources.read_text(encoding="utf-8")
    gone = f"  - url: {feed_server.url('/gone.xml')}\n    name: Gone Gazette\n"
    sources.write_text(text.replace("topics:", gone + "topics:", 1), encoding="utf-8")
    db = tmp_path / "wh" / "news.duckdb"
    env = _serve_env(tmp_path)
    env.update(
        NEWSWATCH_SMTP_URL=f"smtp://127.0.0.1:{_closed_port()}/?starttls=off",
        NEWSWATCH_MAIL_FROM="newswatch@example.org",
        NEWSWATCH_MAIL_TO="desk@example.org",
    )
    command = [sys.executable, "-m", "newswatch.cli", "serve", "--sources", str(sources),
               "--db", str(db), "--out", str(tmp_path / "digests"), "--send"]  # fmt: skip
    out_path = tmp_path / "serve.out"
    failed_line = re.compile(
        r"sending the digest for \d{4}-\d\d-\d\d failed \(recorded as failed; the next run "
        r"includes this window\): SMTP server 127\.0\.0\.1:\d+ unreachable: connection refused$",
        re.MULTILINE,
    )
    with out_path.open("w+b") as log:
        proc = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path,
            start_new_session=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline and not failed_line.search(out_path.read_text()):
                assert proc.poll() is None, out_path.read_text()
                time.sleep(0.5)
            output = out_path.read_text()
            assert failed_line.search(output), output
            # Said at start-up already: the server is away, the digests are tried anyway.
            assert re.search(
                r"^warning: SMTP server 127\.0\.0\.1:\d+ unreachable: connection refused; each "
                r"scheduled digest is still tried at its time",
                output,
                re.MULTILINE,
            ), output
            api = next(
                line.split()[-1] for line in output.splitlines() if line.startswith("Prefect API")
            )
            # The runs ship their log lines to the API in batches, every few seconds.
            messages: list[str] = []
            until = time.monotonic() + 30
            while time.monotonic() < until and not any("SendFailed" in m for m in messages):
                time.sleep(1)
                messages = [
                    entry["message"]
                    for entry in httpx.post(
                        f"{api}/logs/filter",
                        json={"logs": {"level": {"ge_": 40}}, "limit": 200},
                        timeout=10,
                    ).json()
                ]
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=60) == 0
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    output = out_path.read_text()
    assert "feed Gone Gazette failed: HTTP 404" in output, output
    assert "Traceback" not in output, output
    assert "DigestFailed" not in output and "SendFailed" not in output, output
    assert "Finished in state" not in output, output
    assert "stopped." in output
    # Nothing is lost: the run's log in the API still has the failure's traceback.
    assert any("Traceback" in m and "SendFailed" in m for m in messages), messages
    con = duckdb.connect(str(db), read_only=True)
    try:
        statuses = [r[0] for r in con.execute("SELECT status FROM digests").fetchall()]
    finally:
        con.close()
    assert "failed" in statuses, statuses
