"""The webhook endpoint in-process: 401/413/400 refusals, 202 intake, replay refusal, /healthz and /runs."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from tests.worker_fakes import KEY, FakeRpc, make_config, new_job_id
from worker.app import HOOK_PATH, create_app
from worker.config import WorkerConfig
from worker.signature import sign


def signed(body: bytes, webhook_id: str = "wh-1", timestamp: int | None = None, key: bytes = KEY) -> dict[str, str]:
    stamp = int(time.time()) if timestamp is None else timestamp
    return {"webhook-id": webhook_id, "webhook-timestamp": str(stamp),
            "webhook-signature": sign(key, webhook_id, stamp, body), "content-type": "application/json"}


def job_body(job_id: str | None = None) -> bytes:
    return json.dumps({"msg_id": 1, "job_id": job_id or new_job_id(), "task_name": "report"}).encode()


@pytest.fixture
def rpc() -> FakeRpc:
    return FakeRpc()


@pytest.fixture
def client(rpc: FakeRpc) -> Iterator[TestClient]:
    async def connect(_config: WorkerConfig) -> FakeRpc:
        return rpc

    with TestClient(create_app(make_config(), connect)) as test_client:
        yield test_client
    assert rpc.closed


def test_signed_delivery_is_accepted_and_run(client, rpc):
    job_id = new_job_id()
    body = job_body(job_id)
    response = client.post(HOOK_PATH, content=body, headers=signed(body))
    assert response.status_code == 202
    assert response.json() == {"outcome": "accepted", "job_id": job_id}
    deadline = time.monotonic() + 10
    while not rpc.names("mark_job_completed") and time.monotonic() < deadline:
        client.get("/healthz")  # each request lets the app's event loop run the background job
    [run] = client.get("/runs").json()["runs"]
    assert (run["job_id"], run["outcome"]) == (job_id, "completed")


@pytest.mark.parametrize("tamper", ["unsigned", "wrong key", "tampered body", "stale", "future", "bad signature"])
def test_inauthentic_deliveries_get_401(client, rpc, tamper):
    body = job_body()
    headers = {
        "unsigned": {"content-type": "application/json"},
        "wrong key": signed(body, key=b"not the key"),
        "tampered body": signed(body.replace(b"report", b"r3port")),
        "stale": signed(body, timestamp=int(time.time()) - 301),
        "future": signed(body, timestamp=int(time.time()) + 301),
        "bad signature": signed(body) | {"webhook-signature": "v1,AAAA"},
    }[tamper]
    response = client.post(HOOK_PATH, content=body, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]
    assert rpc.calls == []


def test_replayed_webhook_id_gets_401(client):
    body = job_body()
    headers = signed(body, webhook_id="wh-replayed")
    assert client.post(HOOK_PATH, content=body, headers=headers).status_code == 202
    replay = client.post(HOOK_PATH, content=body, headers=headers)
    assert replay.status_code == 401 and "replay" in replay.json()["error"]


def test_oversized_body_gets_413(client, rpc):
    body = b'{"pad": "' + b"x" * (64 * 1024) + b'"}'
    assert client.post(HOOK_PATH, content=body, headers=signed(body)).status_code == 413
    assert rpc.calls == []


@pytest.mark.parametrize(("body", "message"), [
    (b"{oops", "not valid JSON"),
    (json.dumps({"msg_id": 1, "task_name": "x"}).encode(), "missing field 'job_id'"),
])
def test_malformed_signed_body_gets_400_with_a_reason(client, rpc, body, message):
    response = client.post(HOOK_PATH, content=body, headers=signed(body))
    assert response.status_code == 400 and message in response.json()["error"]
    assert rpc.calls == []


def test_healthz_and_runs(client):
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["concurrency"] == 10
    assert health["task_types"] == ["echo", "flaky", "generate_report"]
    assert health["settings"] == {
        "concurrency": 10, "max_backlog": 1000, "lease_seconds": 60, "job_min_seconds": 0.0, "job_max_seconds": 0.0,
        "max_attempts": 5, "retry_base_seconds": 2.0, "retry_max_seconds": 300.0, "pull": False}
    assert client.get("/runs?limit=x").status_code == 400
    assert client.get("/runs?limit=5").json()["runs"] == []


def test_healthz_shows_the_settings_in_force_and_pull_mode():
    async def connect(_config: WorkerConfig) -> FakeRpc:
        return FakeRpc()

    config = make_config(concurrency=3, max_backlog=7, lease_seconds=9, job_min_seconds=0.5, job_max_seconds=1.5,
                         max_attempts=2, retry_base_seconds=0.25, retry_max_seconds=8.0)
    with TestClient(create_app(config, connect, forced_pull=True)) as pulling:
        settings = pulling.get("/healthz").json()["settings"]
    assert settings == {"concurrency": 3, "max_backlog": 7, "lease_seconds": 9, "job_min_seconds": 0.5,
                        "job_max_seconds": 1.5, "max_attempts": 2, "retry_base_seconds": 0.25,
                        "retry_max_seconds": 8.0, "pull": True}
