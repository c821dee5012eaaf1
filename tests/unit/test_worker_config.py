"""Worker settings: defaults, the environment over ``.env``, and one line naming the variable and the rule."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

from worker.config import ConfigError, WorkerConfig, load_config

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
BASE = {"SUPABASE_URL": "http://127.0.0.1:54321/", "SUPABASE_SERVICE_ROLE_KEY": "key", "WEBHOOK_SECRET": SECRET}
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Only the given variables are set; no ``.env`` is found unless a test writes one in ``tmp_path``."""
    for name in list(os.environ):
        if name.startswith(("SUPABASE_", "WORKER_", "JOB_", "WEBHOOK_")) or name == "MAX_ATTEMPTS":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)

    def setenv(values: dict[str, str]) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)
    return setenv


def test_defaults_follow_the_contract(env):
    env(BASE)
    config = load_config()
    assert config.supabase_url == "http://127.0.0.1:54321"
    assert config.webhook_key == b"k" * 32
    assert (config.job_min_seconds, config.job_max_seconds, config.max_attempts) == (5.0, 10.0, 5)
    assert (config.concurrency, config.max_backlog, config.lease_seconds, config.grace_seconds) == (10, 1000, 60, 30.0)
    assert config.fail_pattern is None
    assert config.tolerance_seconds == 300


def test_values_are_parsed_and_the_argument_wins(env):
    env(BASE | {"JOB_MIN_SECONDS": "0", "JOB_MAX_SECONDS": "0.05", "MAX_ATTEMPTS": "3", "JOB_FAIL_PATTERN": "^fail",
                "WORKER_CONCURRENCY": "7", "WORKER_LEASE_SECONDS": "9", "WORKER_CANCEL_POLL_SECONDS": ""})
    config = load_config(concurrency=4)
    assert (config.job_min_seconds, config.job_max_seconds, config.max_attempts) == (0.0, 0.05, 3)
    assert config.fail_pattern is not None and config.fail_pattern.search("fail-me")
    assert (config.concurrency, config.lease_seconds, config.cancel_poll_seconds) == (4, 9, 0.5)


@pytest.mark.parametrize(("change", "message"), [
    ({"SUPABASE_URL": ""}, "missing settings SUPABASE_URL: put them in the environment or in .env"),
    ({"SUPABASE_URL": "ftp://x"}, "SUPABASE_URL must be a URL starting with http:// or https://, got 'ftp://x'"),
    ({"SUPABASE_SERVICE_ROLE_KEY": " "}, "missing settings SUPABASE_SERVICE_ROLE_KEY"),
    ({"WEBHOOK_SECRET": "whsec_%%%"}, "WEBHOOK_SECRET must be 'whsec_' followed by the base64 of 24 to 64 key bytes; "
                                      "the part after whsec_ is not base64"),
    ({"WORKER_CONCURRENCY": "x"}, "WORKER_CONCURRENCY must be an integer >= 1, got 'x'"),
    ({"WORKER_CONCURRENCY": "0"}, "WORKER_CONCURRENCY must be an integer >= 1, got '0'"),
    ({"JOB_MIN_SECONDS": "soon"}, "JOB_MIN_SECONDS must be a number >= 0, got 'soon'"),
    ({"JOB_MIN_SECONDS": "-1"}, "JOB_MIN_SECONDS must be a number >= 0, got '-1'"),
    ({"JOB_MIN_SECONDS": "3", "JOB_MAX_SECONDS": "1"}, "JOB_MAX_SECONDS (1.0) is below JOB_MIN_SECONDS (3.0)"),
    ({"MAX_ATTEMPTS": "0"}, "MAX_ATTEMPTS must be an integer >= 1, got '0'"),
    ({"WORKER_PULL_INTERVAL_SECONDS": "0.01"}, "WORKER_PULL_INTERVAL_SECONDS must be a number >= 0.05, got '0.01'"),
    ({"JOB_FAIL_PATTERN": "("}, "JOB_FAIL_PATTERN must be a valid regular expression"),
])
def test_bad_values_are_named_with_their_rule(env, change, message):
    env(BASE | change)
    with pytest.raises(ConfigError) as raised:
        load_config()
    assert str(raised.value).startswith(message)


def test_the_secret_is_never_echoed(env):
    wrong = "whsec_" + base64.b64encode(b"short").decode()
    env(BASE | {"WEBHOOK_SECRET": wrong})
    with pytest.raises(ConfigError, match="it holds 5 bytes") as raised:
        load_config()
    assert wrong not in str(raised.value)


def test_only_the_documented_variables_count(env):
    """A field's own name is not a variable: CONCURRENCY is not WORKER_CONCURRENCY."""
    env(BASE | {"CONCURRENCY": "99", "LEASE_SECONDS": "7", "FAIL_PATTERN": "("})
    config = load_config()
    assert (config.concurrency, config.lease_seconds, config.fail_pattern) == (10, 60, None)


def test_environment_wins_over_dotenv(env, tmp_path: Path):
    (tmp_path / ".env").write_text(f"SUPABASE_URL=http://from-file:1\nSUPABASE_SERVICE_ROLE_KEY=file\n"
                                   f"WEBHOOK_SECRET={SECRET}\nMAX_ATTEMPTS=7\n")
    env({"SUPABASE_URL": "http://from-env:2"})
    config = load_config()
    assert config.supabase_url == "http://from-env:2"
    assert config.max_attempts == 7


def test_config_built_in_code_reads_no_environment(env):
    env(BASE | {"WORKER_CONCURRENCY": "3"})
    config = WorkerConfig(supabase_url="http://x", service_role_key="s", webhook_key=b"key")
    assert config.concurrency == 10 and config.webhook_key == b"key"
    loaded = load_config()
    assert isinstance(loaded, WorkerConfig) and loaded.concurrency == 3


def test_python_m_worker_prints_one_line_and_exits_non_zero(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPABASE_", "WORKER_", "JOB_", "WEBHOOK_"))}
    run = subprocess.run([sys.executable, "-m", "worker"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                         env={**env, **BASE, "WORKER_CONCURRENCY": "x", "PYTHONPATH": str(ROOT)}, check=False)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == ["worker: WORKER_CONCURRENCY must be an integer >= 1, got 'x'"]
