"""Start, stop and inspect a local stack: the logic behind ``python -m supabase_local``.

``start`` is idempotent and repairs what it can: a dead services process is restarted, a stale server is
started again on its old port or, when that port is now taken, on a free one. It never hangs: every wait
has a deadline, and a failure names the log to read.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import httpx
import psutil
import structlog

from supabase_local import bootstrap, keys, pgmq_surface, postgres
from supabase_local.state import StackState, free_port, load_state, port_is_free, state_dir

log = structlog.get_logger(__name__)

HEALTH_DEADLINE_SECONDS = 30.0
STOP_GRACE_SECONDS = 10.0
SERVICES_MODULE = "supabase_local.services"


class StackError(RuntimeError):
    """The stack cannot be brought to the state asked for; the message says why and what to do."""


@dataclass
class Status:
    state: StackState | None
    postgres_running: bool
    services_running: bool
    health: dict[str, object] | None

    @property
    def running(self) -> bool:
        return self.postgres_running and self.services_running and bool(self.health) \
            and self.health.get("status") == "ok"


def _services_process(state: StackState) -> psutil.Process | None:
    """The live services process recorded in the state, checked by command line so a reused pid is ignored."""
    if not state.services_pid:
        return None
    try:
        proc = psutil.Process(state.services_pid)
        cmdline = proc.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None
    if SERVICES_MODULE in cmdline and state.root in cmdline:
        return proc
    return None


def _health(state: StackState, timeout: float = 2.0) -> dict[str, object] | None:
    try:
        response = httpx.get(f"{state.supabase_url}/health", timeout=timeout)
    except httpx.HTTPError:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def status(directory: str | None = None) -> Status:
    """What runs now for the stack in ``directory``."""
    state = load_state(state_dir(directory))
    if state is None:
        return Status(None, False, False, None)
    services = _services_process(state) is not None
    return Status(state, postgres.is_running(state), services, _health(state) if services else None)


def _new_state(directory: str | None) -> StackState:
    secret = keys.new_secret()
    return StackState(
        root=str(state_dir(directory)),
        db_password=secrets.token_urlsafe(24),
        admin_password=secrets.token_urlsafe(24),
        authenticator_password=secrets.token_urlsafe(24),
        jwt_secret=secret,
        anon_key=keys.sign_role_key(secret, "anon"),
        service_role_key=keys.sign_role_key(secret, "service_role"),
        pgmq_surface=_pgmq_surface(),
    )


def _pgmq_surface() -> str:
    try:
        return pgmq_surface.chosen()
    except pgmq_surface.SurfaceError as err:
        raise StackError(str(err)) from err


def _choose_port(previous: int, what: str) -> int:
    if previous and port_is_free(previous):
        return previous
    chosen = free_port()
    if previous:
        log.warning("port.moved", what=what, previous=previous, now=chosen,
                    reason="the previous port is taken by another program")
    return chosen


def _check_layout(state: StackState) -> None:
    """Refuse a data directory made before ``supabase_admin`` owned the platform: it cannot be converted."""
    if postgres.is_initialised(state) and not state.admin_password:
        raise StackError(f"the stack in {state.root} was created when postgres was its superuser; hosted Supabase "
                         "runs postgres without superuser, and so does this stack now. Stop it and remove "
                         f"{state.root} (its data is lost), then start again.")


def _ensure_postgres(state: StackState) -> None:
    if postgres.is_running(state):
        state.pg_port = postgres.running_port(state) or state.pg_port
        return
    if not postgres.is_initialised(state):
        postgres.initialise(state)
    state.pg_port = _choose_port(state.pg_port, "postgres")
    postgres.start(state)


def _spawn_services(state: StackState) -> int:
    state.log_dir.mkdir(parents=True, exist_ok=True)
    logfile = open(state.log_dir / "services.log", "ab")  # noqa: SIM115 - handed to the child process
    with logfile:
        proc = subprocess.Popen([sys.executable, "-m", SERVICES_MODULE, "--dir", state.root],
                                stdin=subprocess.DEVNULL, stdout=logfile, stderr=logfile,
                                start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    return proc.pid


def _wait_healthy(state: StackState) -> None:
    deadline = time.monotonic() + HEALTH_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if _services_process(state) is None:
            raise StackError("the services process exited during start-up; see "
                             f"{state.log_dir / 'services.log'}:\n{_tail(state, 'services.log')}")
        health = _health(state, timeout=1.0)
        if health and health.get("status") == "ok":
            return
        time.sleep(0.1)
    raise StackError(f"the stack was not healthy within {HEALTH_DEADLINE_SECONDS:.0f} s (last health: "
                     f"{_health(state)}); see {state.log_dir / 'services.log'}")


def _tail(state: StackState, name: str, lines: int = 20) -> str:
    path = state.log_dir / name
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def start(directory: str | None = None) -> StackState:
    """Bring the stack up (or leave a healthy one as it is) and return its state."""
    current = status(directory)
    if current.running and current.state is not None:
        return current.state
    state = current.state or _new_state(directory)
    stale = _services_process(state)
    if stale is not None:
        log.warning("services.unhealthy_restart", pid=stale.pid, health=current.health)
        _terminate(stale)
    _check_layout(state)
    _ensure_postgres(state)
    state.save()
    bootstrap.bootstrap(state)
    state.gateway_port = _choose_port(state.gateway_port, "gateway")
    state.services_pid = None
    state.save()
    state.services_pid = _spawn_services(state)
    state.save()
    try:
        _wait_healthy(state)
    except StackError:
        proc = _services_process(state)
        if proc is not None:
            _terminate(proc)
        raise
    log.info("stack.started", url=state.supabase_url, pg_port=state.pg_port)
    return state


def _terminate(proc: psutil.Process) -> None:
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(STOP_GRACE_SECONDS)
    except psutil.TimeoutExpired:
        proc.kill()
        proc.wait(STOP_GRACE_SECONDS)
    except psutil.NoSuchProcess:
        return


def stop(directory: str | None = None) -> bool:
    """Stop exactly what ``start`` started; False when nothing was running."""
    state = load_state(state_dir(directory))
    if state is None:
        return False
    was_running = False
    proc = _services_process(state)
    if proc is not None:
        _terminate(proc)
        was_running = True
    if postgres.is_running(state):
        postgres.stop(state)
        was_running = True
    state.services_pid = None
    state.save()
    return was_running
