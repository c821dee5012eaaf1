"""Worker settings: defaults, the environment over ``.env``, and a clear error for each bad value."""

from __future__ import annotations

import pytest

from worker.config import ConfigError, config_from_env, load_config

BASE = {"SUPABASE_URL": "http://127.0.0.1:54321/", "SUPABASE_SERVICE_ROLE_KEY": "key",
        "WEBHOOK_SECRET": "whsec_c2VjcmV0"}


def test_defaults_follow_the_contract():
    config = config_from_env(BASE)
    assert config.supabase_url == "http://127.0.0.1:54321"
    assert config.webhook_key == b"secret"
    assert (config.job_min_seconds, config.job_max_seconds, config.max_attempts) == (5.0, 10.0, 5)
    assert config.fail_pattern is None
    assert config.tolerance_seconds == 300


def test_values_are_parsed():
    config = config_from_env(BASE | {"JOB_MIN_SECONDS": "0", "JOB_MAX_SECONDS": "0.05", "MAX_ATTEMPTS": "3",
                                     "JOB_FAIL_PATTERN": "^fail"}, concurrency=4)
    assert (config.job_min_seconds, config.job_max_seconds, config.max_attempts) == (0.0, 0.05, 3)
    assert config.fail_pattern is not None and config.fail_pattern.search("fail-me")
    assert config.concurrency == 4


@pytest.mark.parametrize(("change", "message"), [
    ({"SUPABASE_URL": ""}, "SUPABASE_URL is not set"),
    ({"SUPABASE_URL": "localhost:1"}, "must start with http"),
    ({"SUPABASE_SERVICE_ROLE_KEY": " "}, "SUPABASE_SERVICE_ROLE_KEY is not set"),
    ({"WEBHOOK_SECRET": "whsec_%%%"}, "WEBHOOK_SECRET must be"),
    ({"JOB_MIN_SECONDS": "soon"}, "JOB_MIN_SECONDS must be a number"),
    ({"JOB_MIN_SECONDS": "-1"}, "at least 0"),
    ({"JOB_MIN_SECONDS": "3", "JOB_MAX_SECONDS": "1"}, "below JOB_MIN_SECONDS"),
    ({"MAX_ATTEMPTS": "0"}, "MAX_ATTEMPTS must be at least 1"),
    ({"JOB_FAIL_PATTERN": "("}, "JOB_FAIL_PATTERN is not a valid"),
])
def test_bad_values_are_named(change, message):
    with pytest.raises(ConfigError, match=message):
        config_from_env(BASE | change)


def test_environment_wins_over_dotenv(tmp_path, monkeypatch):
    dotenv = tmp_path / ".env"
    dotenv.write_text("SUPABASE_URL=http://from-file:1\nSUPABASE_SERVICE_ROLE_KEY=file\n"
                      "WEBHOOK_SECRET=whsec_c2VjcmV0\nMAX_ATTEMPTS=7\n")
    monkeypatch.setenv("SUPABASE_URL", "http://from-env:2")
    monkeypatch.delenv("MAX_ATTEMPTS", raising=False)
    config = load_config(dotenv_path=dotenv)
    assert config.supabase_url == "http://from-env:2"
    assert config.max_attempts == 7
