"""Property: whatever arguments a caller sends to ``submit_job`` over REST, the answer is never a 5xx, and a refused
submit queues nothing (no row, no message); an accepted one has both. FUZZ_EXAMPLES raises the count (``make fuzz``)."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobqueue.settings import Settings
from tests.fuzz_strategies import FUZZ, json_values
from tests.users import signed_in

pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(600)]

_text = st.text(max_size=40) | st.sampled_from(["", " ", "x" * 201, "a\x00b", "\ud800", "fail-1", "échec ☕"])
_integers = st.integers(min_value=-(2**40), max_value=2**40) | st.sampled_from([0, -1, 100, 101, 86401, 2**31])
_arguments = st.fixed_dictionaries({"task_name": _text}, optional={
    "job_type": st.sampled_from(["echo", "flaky", "generate_report"]) | _text,
    "payload": json_values | st.dictionaries(st.sampled_from(["message", "sections", "title", "failure_rate", "x"]),
                                             json_values, max_size=3),
    "priority": _integers | json_values,
    "delay_seconds": _integers,
    "max_attempts": _integers,
    "timeout_seconds": _integers,
    "idempotency_key": _text,
})


def _counts(db: psycopg.Connection) -> tuple[int, int]:
    row = db.execute("select (select count(*) from public.job_results), (select count(*) from pgmq.q_work_queue)")
    return row.fetchone()


def _encodable(arguments: dict[str, Any]) -> bool:
    try:
        httpx.Request("POST", "http://x", json=arguments)
    except (UnicodeEncodeError, ValueError):
        return False
    return True


def test_no_submit_gets_a_5xx_and_a_refusal_queues_nothing(provisioned: Settings, db):
    session = signed_in(provisioned).auth.get_session()
    assert session is not None
    headers = {"apikey": provisioned.anon_key, "Authorization": f"Bearer {session.access_token}"}
    created: list[str] = []
    with httpx.Client(base_url=f"{provisioned.supabase_url}/rest/v1", headers=headers, timeout=30) as client:

        @FUZZ
        @given(_arguments)
        def check(arguments: dict[str, Any]) -> None:
            if not _encodable(arguments):
                return
            before = _counts(db)
            response = client.post("/rpc/submit_job", json=arguments)
            assert response.status_code < 500, response.text
            if response.status_code >= 400:
                body = response.json()
                assert set(body) == {"code", "message", "details", "hint"} and body["message"]
                jobs, messages = _counts(db)
                assert jobs == before[0] and messages <= before[1], f"refused yet queued: {arguments}"
                return
            job = response.json()
            created.append(job["job_id"])
            queued = db.execute("select count(*) from pgmq.q_work_queue where message->>'job_id' = %s",
                                (job["job_id"],)).fetchone()[0]
            assert queued == 1 or (job.get("idempotency_key") and job["status"] != "pending")

        try:
            check()
        finally:  # the accepted jobs would otherwise wait in the session's queue, ahead of other tests' jobs
            db.execute("select public.cancel_job(j) from unnest(%s::uuid[]) as j", (created,))
