"""`newswatch serve`: run the poll and digest flows on their schedules with Prefect.

With PREFECT_API_URL unset it starts a private Prefect server on 127.0.0.1 (its own process
group, data under $NEWSWATCH_HOME/prefect, default ~/.newswatch/prefect) and stops the whole
group on exit, Ctrl-C or SIGTERM. With PREFECT_API_URL set it uses that server.

Deployments are upserted by name (`newswatch-poll/poll`, `newswatch-digest/digest`, the same
names prefect.yaml uses), so serving again replaces them instead of scheduling twice; a lock
file refuses a second `newswatch serve` of the same user on the same machine outright.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from newswatch.config import Config, ScheduleSettings
from newswatch.errors import ScheduleError, ServeError
from newswatch.orchestrate.run_console import SERVED_RUN_ENV
from newswatch.orchestrate.schedule import (
    EPOCH,
    describe_spec,
    local_timezone_name,
    next_fire_times,
    parse_spec,
    resolve_timezone,
)

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment
    from prefect.schedules import Schedule

POLL_DEPLOYMENT = "poll"
DIGEST_DEPLOYMENT = "digest"
# How long the private Prefect server keeps finished flow runs (and their logs).
PREFECT_RUN_RETENTION_S = 7 * 24 * 3600
# What a process group gets between SIGTERM and SIGKILL.
STOP_GRACE_SECONDS = 10.0


# -- where things live ---------------------------------------------------------------------


def newswatch_home(environ: Mapping[str, str] | None = None) -> Path:
    """$NEWSWATCH_HOME, else ~/.newswatch: the serve lock and the local Prefect server's data."""
    env = os.environ if environ is None else environ
    value = env.get("NEWSWATCH_HOME", "").strip()
    return Path(value).expanduser() if value else Path.home() / ".newswatch"


@contextlib.contextmanager
def serve_lock(path: Path, description: str) -> Iterator[None]:
    """Hold an exclusive lock on `path` while serving; a second holder gets a ServeError."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="utf-8") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise ServeError(
                f"another `newswatch serve` is already running ({holder}); stop it first "
                f"(lock file {path})"
            ) from None
        try:
            fh.seek(0)
            fh.truncate()
            fh.write(f"pid {os.getpid()}, {description}")
            fh.flush()
            yield
        finally:
            fh.seek(0)
            fh.truncate()
            fcntl.flock(fh, fcntl.LOCK_UN)


# -- a local Prefect server ----------------------------------------------------------------

API_FILE = "serve.api"


@contextlib.contextmanager
def _advertised(home: Path, api_url: str) -> Iterator[None]:
    """Publish the local server's API URL while serving, for `newswatch poll` and friends."""
    path = home / API_FILE
    path.write_text(api_url + "\n", encoding="utf-8")
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def api_healthy(api_url: str, timeout: float) -> bool:
    """Whether a Prefect API answers its health check at `api_url` within `timeout` seconds.

    Plain http.client: a one-off command asks this before it knows whether it needs Prefect
    (or httpx) at all. Nothing listening on a loopback port is refused at once.
    """
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(api_url)
    host, port = parts.hostname or "", parts.port
    conn_type = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    conn = conn_type(host, port, timeout=timeout)
    try:
        conn.request("GET", parts.path.rstrip("/") + "/health")
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def running_serve_api(environ: Mapping[str, str] | None = None) -> str | None:
    """The API URL of the Prefect server a running `newswatch serve` started, if it answers.

    One-off commands run their flows there, so their runs appear in the same Prefect UI.
    With no serve running this costs a file lookup (no network).
    """
    home = newswatch_home(environ)
    try:
        api_url = (home / API_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    if not api_url.startswith("http://127.0.0.1:"):
        return None  # only the loopback server serve itself starts
    lock = home / "serve.lock"
    try:
        with open(lock, "a+", encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(fh, fcntl.LOCK_UN)
            return None  # nobody holds the lock: a stale file from a killed serve
    except BlockingIOError:
        pass
    except OSError:
        return None
    return api_url if api_healthy(api_url, timeout=2.0) else None


@dataclass(frozen=True)
class LocalServer:
    process: subprocess.Popen[bytes]
    api_url: str
    home: Path
    log_path: Path

    @property
    def ui_url(self) -> str:
        return self.api_url.removesuffix("/api")


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def quiet_prefect_env(environ: Mapping[str, str]) -> dict[str, str]:
    """Offline, quiet defaults for Prefect processes; anything already set wins.

    Quiet means the terminal: only the console handler is held at WARNING. The loggers keep
    Prefect's INFO level, so a run's own log lines (the poll summary, "digest skipped") still
    reach the API and the run's page in the UI.
    """
    env = dict(environ)
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    env.setdefault("DO_NOT_TRACK", "1")
    env.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
    env.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")
    return env


def _profile_api_url(env: Mapping[str, str]) -> tuple[str, str] | None:
    """PREFECT_API_URL of the active Prefect profile, read from its file (without importing
    Prefect): $PREFECT_PROFILES_PATH, else $PREFECT_HOME/profiles.toml (~/.prefect)."""
    import tomllib

    home = Path(env.get("PREFECT_HOME", "").strip() or "~/.prefect").expanduser()
    path = Path(env.get("PREFECT_PROFILES_PATH", "").strip() or home / "profiles.toml")
    try:
        doc = tomllib.loads(path.expanduser().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    name = env.get("PREFECT_PROFILE", "").strip() or str(doc.get("active") or "")
    profile = doc.get("profiles", {}).get(name) if name else None
    url = str(profile.get("PREFECT_API_URL") or "").strip() if isinstance(profile, dict) else ""
    return (url.rstrip("/"), f"PREFECT_API_URL in the Prefect profile {name!r}") if url else None


def configured_api_url(environ: Mapping[str, str] | None = None) -> tuple[str, str] | None:
    """The Prefect API the user chose, and where it was set: $PREFECT_API_URL, else the
    active Prefect profile. None when nothing is set.

    Prefect is not imported for this (a one-off command may not need it); in a process that
    has imported it already, its current settings are asked (they may have been changed in
    the process, as Prefect's test harness does).
    """
    env = os.environ if environ is None else environ
    value = env.get("PREFECT_API_URL", "").strip()
    if value:
        return value.rstrip("/"), "PREFECT_API_URL"
    if environ is None and "prefect.settings" in sys.modules:
        from prefect.settings import PREFECT_API_URL

        url = PREFECT_API_URL.value()
        return (str(url).rstrip("/"), "the Prefect settings") if url else None
    return _profile_api_url(env)


def check_api_reachable(url: str, source: str, timeout: float = 5.0) -> None:
    """Raise ServeError (one line) when nothing answers at the configured Prefect API."""
    if not api_healthy(url, timeout):
        raise ServeError(
            f"cannot reach the Prefect API at {url} (set by {source}); start that server, or "
            f"fix or unset {source}"
        )


def find_prefect_api(environ: Mapping[str, str] | None = None) -> tuple[str, str] | None:
    """Where a one-off command runs its flows: the configured Prefect API (which must answer),
    else a running `newswatch serve`'s local server; None: run in-process."""
    configured = configured_api_url(environ)
    if configured:
        check_api_reachable(*configured)
        return configured
    served = running_serve_api(environ)
    return (served, "a running `newswatch serve`") if served else None


def _server_env(home: Path, environ: Mapping[str, str]) -> dict[str, str]:
    env = quiet_prefect_env(environ)
    env["PREFECT_HOME"] = str(home)
    # The server's own database lives in PREFECT_HOME unless the user chose another.
    env.pop("PREFECT_API_URL", None)
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    env["PREFECT_UI_ENABLED"] = env.get("PREFECT_UI_ENABLED", "true")
    # Runs of a months-long serve must not pile up forever (Prefect keeps flow runs, their task
    # runs and logs indefinitely by default): its vacuum service deletes finished runs and
    # events older than a week, hourly. The warehouse keeps newswatch's own record (polls).
    env.setdefault("PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED", "events,flow_runs")
    env.setdefault(
        "PREFECT_SERVER_SERVICES_DB_VACUUM_RETENTION_PERIOD", str(PREFECT_RUN_RETENTION_S)
    )
    return env


def _log_tail(path: Path, lines: int = 8) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text.splitlines()[-lines:] if line.strip())


def wait_healthy(process: subprocess.Popen[bytes], api_url: str, timeout: float, log: Path) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise ServeError(
                f"the local Prefect server exited with status {process.returncode} while "
                f"starting; see {log}: {_log_tail(log)}"
            )
        try:
            if httpx.get(f"{api_url}/health", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() >= deadline:
            raise ServeError(
                f"the local Prefect server did not become healthy within {timeout:g} s; "
                f"see {log}: {_log_tail(log)}"
            )
        time.sleep(0.25)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_process_group(process: subprocess.Popen[bytes], grace: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM the process's whole group, wait up to `grace`, then SIGKILL what is left."""
    pgid = process.pid  # started with start_new_session=True: the leader's pid is the group id
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace)
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _group_alive(pgid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


@contextlib.contextmanager
def local_prefect_server(
    home: Path, *, startup_timeout: float = 90.0, environ: Mapping[str, str] | None = None
) -> Iterator[LocalServer]:
    """Run `prefect server start` on a free loopback port until the block ends."""
    home.mkdir(parents=True, exist_ok=True)
    port = free_loopback_port()
    api_url = f"http://127.0.0.1:{port}/api"
    log_path = home / "server.log"
    command = [
        sys.executable, "-m", "prefect", "server", "start",
        "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    env = _server_env(home, os.environ if environ is None else environ)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so stopping it stops all of it
        )
        try:
            wait_healthy(process, api_url, startup_timeout, log_path)
            yield LocalServer(process, api_url, home, log_path)
        finally:
            stop_process_group(process)


# -- schedules and deployments -------------------------------------------------------------


def schedule_zone(settings: ScheduleSettings) -> str:
    """The IANA zone schedules run in: the configured one, else this machine's."""
    name = settings.timezone.strip() or local_timezone_name()
    resolve_timezone(name)  # raises ScheduleError for an unknown name
    return name


def prefect_schedule(spec: str | int, timezone: str) -> Schedule:
    """A Prefect schedule firing when schedule.next_fire_times says: intervals anchored to the
    Unix epoch (so a restart never shifts the grid), cron on the wall clock of `timezone`."""
    from prefect.schedules import Cron, Interval

    parsed = parse_spec(spec)
    if isinstance(parsed, int):
        return Interval(timedelta(seconds=parsed), anchor_date=EPOCH, timezone="UTC")
    return Cron(parsed, timezone=timezone)


@dataclass(frozen=True)
class ServePlan:
    """What `serve` registers: parameters are plain JSON values (no secrets: SMTP settings are
    read from the environment of the process that runs the digest)."""

    sources: str
    db: str
    out: str
    send: bool
    timezone: str
    poll: str | int
    digest: str | int

    @property
    def poll_parameters(self) -> dict[str, Any]:
        return {"sources": self.sources, "db": self.db, "due_only": True}

    @property
    def digest_parameters(self) -> dict[str, Any]:
        return {"sources": self.sources, "db": self.db, "out": self.out, "send_mail": self.send}


def make_plan(config: Config, db: Path, out: Path, send: bool) -> ServePlan:
    return ServePlan(
        sources=str(config.path.resolve()),
        db=str(db.resolve()),
        out=str(out.resolve()),
        send=send,
        timezone=schedule_zone(config.schedule),
        poll=parse_spec(config.schedule.poll),
        digest=parse_spec(config.schedule.digest),
    )


def build_deployments(plan: ServePlan) -> list[RunnerDeployment]:
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
    from prefect.deployments.runner import RunnerDeployment

    from newswatch.orchestrate.flows.digest import digest_flow
    from newswatch.orchestrate.flows.poll import poll_flow

    # One poll at a time: a run that comes due while the previous one still works is cancelled
    # rather than queued (the next tick polls anyway); locks.poll_lock guards other callers.
    one_at_a_time = ConcurrencyLimitConfig(
        limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
    )
    poll = poll_flow.to_deployment(
        name=POLL_DEPLOYMENT,
        schedule=prefect_schedule(plan.poll, plan.timezone),
        parameters=plan.poll_parameters,
        concurrency_limit=one_at_a_time,
        description="Poll the feeds that are due (per-feed interval and backoff apply).",
        tags=["newswatch"],
    )
    digest = digest_flow.to_deployment(
        name=DIGEST_DEPLOYMENT,
        schedule=prefect_schedule(plan.digest, plan.timezone),
        parameters=plan.digest_parameters,
        concurrency_limit=1,
        description="Render the digest" + (" and email it." if plan.send else "."),
        tags=["newswatch"],
    )
    # to_deployment is sync-or-async in Prefect's typing; called synchronously it returns these.
    assert isinstance(poll, RunnerDeployment) and isinstance(digest, RunnerDeployment)
    return [poll, digest]


# -- banner --------------------------------------------------------------------------------


def banner(
    plan: ServePlan, now: datetime, *, api_url: str, ui_url: str | None, home: Path | None
) -> str:
    zone = resolve_timezone(plan.timezone)
    lines = []
    if home is not None:
        lines.append(f"Prefect server: local, data in {home}")
    lines.append(f"Prefect API:    {api_url}")
    if ui_url:
        lines.append(f"Prefect UI:     {ui_url}  (runs, logs, artifacts)")
    lines.append(f"Sources:        {plan.sources}")
    lines.append(f"Warehouse:      {plan.db}")
    sending = "emailed" if plan.send else f"rendered into {plan.out} (not emailed)"
    lines.append(f"Digests:        {sending}")
    for label, spec in (("poll", plan.poll), ("digest", plan.digest)):
        fires = next_fire_times(spec, plan.timezone, now, count=3)
        when = ", ".join(f"{t.astimezone(zone):%Y-%m-%d %H:%M:%S %Z}" for t in fires)
        lines.append(f"{label:<6} {describe_spec(spec, plan.timezone)}; next: {when}")
    lines.append("Stop with Ctrl-C.")
    return "\n".join(lines) + "\n"


# -- the runner process --------------------------------------------------------------------
#
# `serve` is a supervisor that never imports Prefect: it starts the server (if needed) and a
# runner child (`python -m newswatch.orchestrate.serve runner PLAN`) in process groups of their own, and on
# Ctrl-C / SIGTERM stops the runner (gracefully, then by force), every flow-run process it
# started, and the server. Prefect's runner stopping inside this process could hang on its
# threads; a child can always be killed.


# A scheduled run past its time when serve starts was missed while serve was down (also one
# due a few seconds ago: keeping it beside the newest older one started two catch-ups, the
# second cancelled by the poll's concurrency limit).
MISSED_AFTER = timedelta(0)


def drop_missed_runs(deployment_names: list[str], now: datetime) -> int:
    """Delete scheduled runs of these deployments ("flow/deployment") that were missed while
    nothing served them, keeping the newest missed run of each; returns how many went.

    Prefect keeps such runs (re-registering a deployment only replaces future ones), and a
    runner starting after a day away would start all of them at once. The newest one still
    runs, like anacron: one catch-up poll, one late digest (which covers everything since the
    last delivered one anyway).
    """
    from prefect import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterExpectedStartTime,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort
    from prefect.exceptions import ObjectNotFound

    dropped = 0
    with get_client(sync_client=True) as client:
        for name in deployment_names:
            try:
                deployment = client.read_deployment_by_name(name)
            except ObjectNotFound:
                continue  # never registered here: nothing was missed
            missed = client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(
                        type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])
                    ),
                    # (validated: Prefect types the field as its own DateTime)
                    expected_start_time=FlowRunFilterExpectedStartTime.model_validate(
                        {"before_": now - MISSED_AFTER}
                    ),
                ),
                sort=FlowRunSort.EXPECTED_START_TIME_DESC,
            )
            for run in missed[1:]:
                with contextlib.suppress(ObjectNotFound):  # started or removed meanwhile
                    client.delete_flow_run(run.id)
                    dropped += 1
    return dropped


def align_scheduled_runs(parameters: Mapping[str, Mapping[str, Any]]) -> int:
    """Give every scheduled run of these deployments ("flow/deployment" -> the parameters it
    is registered with now) those parameters; returns how many runs changed.

    Prefect copies a deployment's parameters into each run when it schedules the run, and
    registering the deployment again keeps the runs already scheduled: after `serve --db
    other.duckdb`, the next ticks (and the catch-up run) would still poll the old warehouse.
    """
    from prefect import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.exceptions import ObjectNotFound

    changed = 0
    with get_client(sync_client=True) as client:
        for name, wanted in parameters.items():
            try:
                deployment = client.read_deployment_by_name(name)
            except ObjectNotFound:
                continue
            runs = client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(
                        type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])
                    )
                ),
            )
            for run in runs:
                if run.parameters != dict(wanted):
                    with contextlib.suppress(ObjectNotFound):  # started or removed meanwhile
                        client.update_flow_run(run.id, parameters=dict(wanted))
                        changed += 1
    return changed


def poll_now(deployment_name: str, now: datetime) -> None:
    """Schedule a run of this deployment ("flow/deployment") for `now`: a new warehouse's
    first poll, which should not wait for the schedule's first tick (up to a whole interval,
    or a day for a cron)."""
    from prefect import get_client
    from prefect.states import Scheduled

    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(deployment_name)
        client.create_flow_run_from_deployment(
            deployment.id, state=Scheduled(scheduled_time=now), tags=["first-poll"]
        )


def deployment_names() -> list[str]:
    return [f"newswatch-poll/{POLL_DEPLOYMENT}", f"newswatch-digest/{DIGEST_DEPLOYMENT}"]


def runner_main(plan_json: str) -> int:
    """Body of the runner child: register the deployments and serve them until SIGTERM."""
    from prefect import serve

    plan = ServePlan(**json.loads(plan_json))
    deployments = build_deployments(plan)
    try:
        dropped = drop_missed_runs(deployment_names(), datetime.now(UTC))
    except Exception as exc:  # best effort: serving matters more than tidying
        print(f"warning: could not look for missed scheduled runs: {exc}", flush=True)
        dropped = 0
    try:
        # Registered first, so that runs scheduled from now on carry the new parameters too.
        for deployment in deployments:
            deployment.apply()
        align_scheduled_runs(
            dict(
                zip(
                    deployment_names(),
                    (plan.poll_parameters, plan.digest_parameters),
                    strict=True,
                )
            )
        )
    except Exception as exc:  # serve() registers them again below; say what was not done
        print(
            f"warning: could not give the scheduled runs this start's settings: {exc}",
            flush=True,
        )
    if not Path(plan.db).exists():
        try:
            poll_now(deployment_names()[0], datetime.now(UTC))
            print(f"{plan.db} is new: its first poll starts now", flush=True)
        except Exception as exc:  # the schedule polls anyway, at its first tick
            print(f"warning: could not start the first poll now: {exc}", flush=True)
    if dropped:
        print(
            f"dropped {dropped} scheduled run(s) missed while serve was stopped "
            "(the newest missed poll and digest still run now)",
            flush=True,
        )
    with contextlib.suppress(KeyboardInterrupt):
        # pause_on_shutdown=False: stopping serve must leave the scheduled runs where they
        # are (Prefect would pause the deployments and delete them), so the next start finds
        # the ones missed meanwhile and runs the newest (drop_missed_runs).
        serve(*deployments, pause_on_shutdown=False, print_starting_message=False)
    sys.stdout.flush()
    sys.stderr.flush()
    # Prefect's background threads can keep the interpreter alive after serve() returns.
    os._exit(0)


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may contain spaces and parentheses: fields follow the last ')'.
        fields = stat[stat.rfind(")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def descendants(pid: int) -> set[int]:
    """All live descendants of `pid` (Linux /proc; empty elsewhere)."""
    tree = _children_map()
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _kill_groups(pids: set[int], sig: signal.Signals) -> None:
    own = os.getpgrp()
    groups = set()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            groups.add(os.getpgid(pid))
    for pgid in groups - {own}:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)


def stop_runner(process: subprocess.Popen[bytes], grace: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM the runner (Prefect stops its flow runs), then SIGKILL whatever is left."""
    seen = descendants(process.pid)
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while process.poll() is None and time.monotonic() < deadline:
        seen |= descendants(process.pid)
        time.sleep(0.1)
    seen |= descendants(process.pid)
    seen.add(process.pid)
    _kill_groups(seen, signal.SIGTERM)
    end = time.monotonic() + 2.0
    while any(_alive(p) for p in seen) and time.monotonic() < end:
        time.sleep(0.1)
    _kill_groups(seen, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def start_runner(plan: ServePlan, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "newswatch.orchestrate.serve",
        "runner",
        json.dumps(asdict(plan)),
    ]
    return subprocess.Popen(
        command, env=dict(env), stdin=subprocess.DEVNULL, start_new_session=True
    )


# -- the command ---------------------------------------------------------------------------


class _Stop(Exception):
    pass


def _raise_stop(signum: int, frame: Any) -> None:
    # Later signals must not interrupt the cleanup this one starts.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise _Stop


def _send_default(args: argparse.Namespace, environ: Mapping[str, str]) -> bool:
    if args.send is not None:
        return bool(args.send)
    from newswatch.digest.mail import smtp_configured

    return smtp_configured(environ)


def _check_smtp(environ: Mapping[str, str]) -> str | None:
    """Check the mail settings before serving; returns a warning for a server that is away.

    NEWSWATCH_SMTP_URL is checked in full, against the server too: one that refuses the
    login or the TLS would refuse every digest (exit 2, as the one-off commands); one that
    cannot be reached now may be back by the digest's time (a warning; the digest is tried
    then, and recorded as failed if it is still away). A NEWSWATCH_SMTP_BLOCK is loaded by
    each digest run from the Prefect API it runs against (a failure there fails that run,
    logged)."""
    from newswatch.digest.mail import check_environment, check_server, smtp_settings_from_env
    from newswatch.errors import MailConfigError, MailError

    try:
        check_environment(environ)
        settings = smtp_settings_from_env(environ)
    except MailConfigError as exc:
        raise ServeError(f"--send: {exc}") from None
    if settings is None:
        return None
    try:
        check_server(settings)
    except MailError as exc:
        if not exc.transient:
            raise ServeError(
                f"--send: {exc}; fix NEWSWATCH_SMTP_URL and start serve again"
            ) from None
        return (
            f"warning: {exc}; each scheduled digest is still tried at its time, and recorded "
            "as failed while the server stays away\n"
        )
    return None


def _supervise(plan: ServePlan, env: Mapping[str, str], stdout: TextIO) -> int:
    runner = start_runner(plan, env)
    try:
        while runner.poll() is None:
            time.sleep(0.2)
    except _Stop:
        stdout.write("stopping...\n")
        stdout.flush()
        return 0
    finally:
        stop_runner(runner)
    raise ServeError(
        f"the Prefect runner exited unexpectedly with status {runner.returncode}; "
        "see the messages above"
    )


def run_serve(config: Config, db: Path, out: Path, send: bool, stdout: TextIO) -> int:
    """Serve until Ctrl-C / SIGTERM; returns the exit status."""
    warning = _check_smtp(os.environ) if send else None
    plan = make_plan(config, db, out, send)
    home = newswatch_home()
    env = quiet_prefect_env(os.environ)
    # The runner and the run processes it starts keep expected failures to one line each.
    env[SERVED_RUN_ENV] = "1"
    previous = {s: signal.signal(s, _raise_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with serve_lock(home / "serve.lock", f"warehouse {plan.db}"):
            configured = configured_api_url(env)
            if configured:
                external, source = configured
                check_api_reachable(external, source)
                env["PREFECT_API_URL"] = external
                _announce(plan, stdout, api_url=external, ui_url=None, home=None, warning=warning)
                status = _supervise(plan, env, stdout)
            else:
                with (
                    local_prefect_server(home / "prefect") as server,
                    _advertised(home, server.api_url),
                ):
                    env["PREFECT_API_URL"] = server.api_url
                    _announce(
                        plan, stdout, api_url=server.api_url, ui_url=server.ui_url,
                        home=server.home, warning=warning,
                    )  # fmt: skip
                    status = _supervise(plan, env, stdout)
        stdout.write("stopped.\n")
        return status
    except _Stop:
        stdout.write("stopped.\n")
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _announce(
    plan: ServePlan,
    stdout: TextIO,
    *,
    api_url: str,
    ui_url: str | None,
    home: Path | None,
    warning: str | None = None,
) -> None:
    stdout.write(banner(plan, datetime.now(UTC), api_url=api_url, ui_url=ui_url, home=home))
    if warning:
        stdout.write(warning)
    stdout.flush()


def cmd_serve(args: argparse.Namespace, out: TextIO) -> int:
    from newswatch.config import load_config
    from newswatch.errors import WarehouseError
    from newswatch.paths import resolve_db_path, resolve_out_dir
    from newswatch.store.warehouse import check_usable

    config = load_config(args.sources)
    db = resolve_db_path(args.db)
    out_dir = resolve_out_dir(args.out)
    send = _send_default(args, os.environ)
    try:
        check_usable(db)  # not at the first scheduled run, minutes from now
        return run_serve(config, db, out_dir, send, out)
    except (ServeError, ScheduleError, WarehouseError) as exc:
        print(f"newswatch: error: {exc}", file=sys.stderr)
        return 2


def add_serve_command(sub: Any, sources_opt: Any, db_opt: Any) -> None:
    """Register `newswatch serve` on the CLI's subparsers."""
    help_text = "Run the poll and digest on their schedules with Prefect (until Ctrl-C)."
    p = sub.add_parser("serve", help=help_text, description=help_text)
    p.set_defaults(func=cmd_serve)
    sources_opt(p)
    db_opt(p)
    p.add_argument(
        "--out", metavar="DIR",
        help="folder for rendered digests (default: $NEWSWATCH_OUT, else ./digests)",
    )  # fmt: skip
    send = p.add_mutually_exclusive_group()
    send.add_argument(
        "--send", dest="send", action="store_true", default=None,
        help="email each digest (default when NEWSWATCH_SMTP_URL or NEWSWATCH_SMTP_BLOCK is set)",
    )  # fmt: skip
    send.add_argument(
        "--no-send", dest="send", action="store_false",
        help="only render digests, never email them",
    )  # fmt: skip


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "runner":
        raise SystemExit(runner_main(sys.argv[2]))
    raise SystemExit(
        "usage: python -m newswatch.orchestrate.serve runner PLAN_JSON (started by newswatch serve)"
    )
