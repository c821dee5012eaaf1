"""Where settings come from: environment over .env over the local stack; bad values are named."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from jobqueue.settings import DEFAULT_WORKER_URL, SettingsError, derive_webhook_secret, load_settings, webhook_key
from supabase_local.state import STATE_DIR_ENV, StackState
from worker.config import WorkerConfig

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
HOSTED = {
    "SUPABASE_URL": "https://project.supabase.co",
    "SUPABASE_ANON_KEY": "anon-key",
    "SUPABASE_SERVICE_ROLE_KEY": "service-key",
    "SUPABASE_DB_URL": "postgresql://postgres:pw@db.project.supabase.co:5432/postgres",
    "WEBHOOK_SECRET": SECRET,
    "WORKER_URL": "https://worker.example.org/hooks/work-queue",
}


def saved_stack(directory: Path) -> StackState:
    state = StackState(root=str(directory), pg_port=5999, gateway_port=6001, db_password="pw",
                       jwt_secret="stack-jwt-secret", anon_key="stack-anon", service_role_key="stack-service")
    state.save()
    return state


def test_environment_wins_over_dotenv(tmp_path: Path):
    (tmp_path / ".env").write_text("\n".join(f"{k}={v}" for k, v in HOSTED.items()) + "\nMAX_ATTEMPTS=7\n")
    settings = load_settings({"SUPABASE_ANON_KEY": "from-env"}, root=tmp_path)
    assert settings.anon_key == "from-env"
    assert settings.supabase_url == HOSTED["SUPABASE_URL"]
    assert settings.max_attempts == 7
    assert settings.worker_url == HOSTED["WORKER_URL"]
    assert not settings.embedded


def test_local_stack_fills_in_when_no_url_is_configured(tmp_path: Path):
    stack = saved_stack(tmp_path / "stack")
    settings = load_settings({STATE_DIR_ENV: stack.root, "WORKER_URL": "http://127.0.0.1:1/hook"}, root=tmp_path)
    assert settings.supabase_url == stack.supabase_url
    assert settings.db_url == stack.db_url
    assert settings.webhook_secret == derive_webhook_secret("stack-jwt-secret")
    assert settings.worker_url == "http://127.0.0.1:1/hook"
    assert settings.local_stack_dir == Path(stack.root)


def test_hosted_settings_never_mix_with_the_local_stack(tmp_path: Path):
    saved_stack(tmp_path / ".supabase_local")
    with pytest.raises(SettingsError, match="SUPABASE_DB_URL"):
        load_settings({k: v for k, v in HOSTED.items() if k != "SUPABASE_DB_URL"}, root=tmp_path)


def test_nothing_configured_says_how_to_start(tmp_path: Path):
    with pytest.raises(SettingsError, match="python -m supabase_local start"):
        load_settings({}, root=tmp_path)


def test_derived_secret_is_stable_and_well_formed():
    secret = derive_webhook_secret("abc")
    assert secret == derive_webhook_secret("abc") != derive_webhook_secret("abd")
    assert len(webhook_key(secret)) == 32


@pytest.mark.parametrize(("name", "value", "message"), [
    ("WEBHOOK_SECRET", "not-a-secret", "WEBHOOK_SECRET must be 'whsec_' followed by the base64 of 24 to 64 key "
                                       "bytes; it does not start with whsec_"),
    ("WEBHOOK_SECRET", "whsec_***", "WEBHOOK_SECRET must be .*; the part after whsec_ is not base64"),
    ("WEBHOOK_SECRET", "whsec_" + base64.b64encode(b"k" * 23).decode(), "WEBHOOK_SECRET must be .*; it holds 23 bytes"),
    ("WEBHOOK_SECRET", "whsec_" + base64.b64encode(b"k" * 65).decode(), "WEBHOOK_SECRET must be .*; it holds 65 bytes"),
    ("MAX_ATTEMPTS", "many", "MAX_ATTEMPTS must be an integer >= 1, got 'many'"),
    ("MAX_ATTEMPTS", "0", "MAX_ATTEMPTS must be an integer >= 1, got '0'"),
    ("JOB_MIN_SECONDS", "-1", "JOB_MIN_SECONDS must be a number >= 0, got '-1'"),
    ("JOB_MAX_SECONDS", "1", r"JOB_MAX_SECONDS \(1.0\) is below JOB_MIN_SECONDS \(5.0\)"),
    ("JOB_FAIL_PATTERN", "(", "JOB_FAIL_PATTERN must be a valid regular expression"),
    ("WORKER_URL", "worker:8787", "WORKER_URL must be a URL starting with http:// or https://, got 'worker:8787'"),
])
def test_bad_values_are_named_with_their_rule(tmp_path: Path, name: str, value: str, message: str):
    with pytest.raises(SettingsError, match=f"^{message}") as raised:
        load_settings({**HOSTED, name: value}, root=tmp_path)
    if name == "WEBHOOK_SECRET":
        assert value not in str(raised.value)


def test_both_sides_accept_the_same_secrets(tmp_path: Path):
    """The worker and the notebooks check WEBHOOK_SECRET by one rule: 24 and 64 key bytes pass on both."""
    for size in (24, 64):
        secret = "whsec_" + base64.b64encode(b"k" * size).decode()
        assert load_settings({**HOSTED, "WEBHOOK_SECRET": secret}, root=tmp_path).webhook_secret == secret
        worker = WorkerConfig(supabase_url="http://x", service_role_key="s", webhook_key=secret)
        assert worker.webhook_key == b"k" * size


@pytest.mark.parametrize("worker_url", ["http://127.0.0.1:8787/hooks/work-queue", "http://localhost:9/h",
                                        "http://[::1]:9/h", "http://0.0.0.0:9/h"])
def test_a_hosted_project_refuses_a_loopback_worker_url(tmp_path: Path, worker_url: str):
    with pytest.raises(SettingsError, match=r"WORKER_URL.*loopback.*public or tunnelled"):
        load_settings({**HOSTED, "WORKER_URL": worker_url}, root=tmp_path)


@pytest.mark.parametrize("worker_url", [None, "", " "])
def test_a_hosted_project_without_worker_url_is_pull_only(tmp_path: Path, worker_url: str | None):
    values = {k: v for k, v in HOSTED.items() if k != "WORKER_URL"}
    if worker_url is not None:
        values["WORKER_URL"] = worker_url
    settings = load_settings(values, root=tmp_path)
    assert settings.worker_url is None and settings.delivery == "pull"
    assert load_settings(HOSTED, root=tmp_path).delivery == "webhook"


def test_the_embedded_stack_keeps_the_loopback_default(tmp_path: Path):
    stack = saved_stack(tmp_path / "stack")
    settings = load_settings({STATE_DIR_ENV: stack.root}, root=tmp_path)
    assert settings.worker_url == DEFAULT_WORKER_URL == "http://127.0.0.1:8787/hooks/work-queue"
    assert settings.delivery == "webhook"


def test_values_exported_from_the_stack_are_recognised_as_the_stack(tmp_path: Path):
    """`eval $(python -m supabase_local status -o env)` exports SUPABASE_URL and keys but no WEBHOOK_SECRET."""
    stack = saved_stack(tmp_path / "stack")
    exported = {**stack.env(), STATE_DIR_ENV: stack.root}
    settings = load_settings({**exported, "SUPABASE_URL": stack.supabase_url + "/"}, root=tmp_path)
    assert settings.embedded and settings.local_stack_dir == Path(stack.root)
    assert settings.webhook_secret == derive_webhook_secret(stack.jwt_secret)
    assert settings.worker_url == DEFAULT_WORKER_URL
