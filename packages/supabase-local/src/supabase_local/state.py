"""Where a local stack keeps its state, and the record of what `start` started.

The state directory holds the data directory, logs, and ``state.json``: ports, keys, passwords and the
process ids that ``stop`` must stop. Nothing in it is committed.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path

STATE_DIR_ENV = "SUPABASE_LOCAL_DIR"
STATE_FILE = "state.json"


def state_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The stack's directory: an explicit path, else ``$SUPABASE_LOCAL_DIR``, else ``./.supabase_local``."""
    chosen = explicit or os.environ.get(STATE_DIR_ENV) or ".supabase_local"
    return Path(chosen).expanduser().resolve()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when nothing listens on ``host:port``; connections of a stopped server in TIME_WAIT don't count."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


@dataclass
class StackState:
    """Everything a running (or stopped) stack needs to be found, used and stopped again."""

    root: str
    host: str = "127.0.0.1"
    pg_port: int = 0
    gateway_port: int = 0
    db_password: str = ""
    admin_password: str = ""
    authenticator_password: str = ""
    jwt_secret: str = ""
    anon_key: str = ""
    service_role_key: str = ""
    services_pid: int | None = None
    pgmq_surface: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return Path(self.root)

    @property
    def pgdata(self) -> Path:
        return self.path / "pgdata"

    @property
    def log_dir(self) -> Path:
        return self.path / "logs"

    @property
    def socket_dir(self) -> Path:
        return self.path / "run"

    @property
    def supabase_url(self) -> str:
        return f"http://{self.host}:{self.gateway_port}"

    @property
    def db_url(self) -> str:
        """The project's URL, as ``postgres`` (not a superuser, as on hosted Supabase): ``SUPABASE_DB_URL``."""
        return f"postgresql://postgres:{self.db_password}@{self.host}:{self.pg_port}/postgres"

    @property
    def admin_url(self) -> str:
        """The stack's own superuser, ``supabase_admin``, which owns the platform; for its services only."""
        return f"postgresql://supabase_admin:{self.admin_password}@{self.host}:{self.pg_port}/postgres"

    @property
    def authenticator_url(self) -> str:
        """The URL the gateway connects with; it switches to each request's role."""
        return f"postgresql://authenticator:{self.authenticator_password}@{self.host}:{self.pg_port}/postgres"

    def env(self) -> dict[str, str]:
        """The variables a client needs, named as for a hosted Supabase project."""
        return {
            "SUPABASE_URL": self.supabase_url,
            "SUPABASE_ANON_KEY": self.anon_key,
            "SUPABASE_SERVICE_ROLE_KEY": self.service_role_key,
            "SUPABASE_DB_URL": self.db_url,
            "SUPABASE_JWT_SECRET": self.jwt_secret,
        }

    def save(self) -> None:
        """Write the state atomically, readable by the owner only (it holds secrets)."""
        self.path.mkdir(parents=True, exist_ok=True)
        target = self.path / STATE_FILE
        tmp = target.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.chmod(0o600)
        tmp.replace(target)


def load_state(directory: Path) -> StackState | None:
    """The saved state of the stack in ``directory``, or None when it was never started."""
    target = directory / STATE_FILE
    if not target.exists():
        return None
    return StackState(**json.loads(target.read_text()))
