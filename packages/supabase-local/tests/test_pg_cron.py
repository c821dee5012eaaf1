"""The pg_cron-compatible `cron` schema and its runner, against the real stack."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from psycopg.rows import dict_row

from supabase_local.cron_schedule import InvalidSchedule, Schedule
from supabase_local.testing import eventually


@pytest.fixture
def cron(admin_db: psycopg.Connection) -> Iterator[psycopg.Connection]:
    """The platform's superuser connection (these tests write cron.job directly, which postgres may not);
    every job made by the test is unscheduled afterwards."""
    yield admin_db
    admin_db.execute("reset role")
    admin_db.execute("delete from cron.job where jobname like 'test_%'")


def runs(db: psycopg.Connection, jobid: int) -> list[dict]:
    with db.cursor(row_factory=dict_row) as cur:
        return cur.execute("select * from cron.job_run_details where jobid = %s order by runid", (jobid,)).fetchall()


def finished_runs(db: psycopg.Connection, jobid: int, count: int = 1) -> list[dict]:
    """Wait until the job has at least ``count`` finished runs and return the first ``count``."""
    def probe() -> list[dict] | None:
        done = [r for r in runs(db, jobid) if r["status"] != "running"]
        return done[:count] if len(done) >= count else None
    return eventually(probe, timeout=20, what=f"{count} finished runs of job {jobid}")


def test_a_seconds_job_runs_and_is_recorded(cron):
    cron.execute("create table if not exists public.cron_probe (n int)")
    jobid = cron.execute("select cron.schedule('test_every_second', '1 seconds', "
                         "'insert into public.cron_probe values (1)')").fetchone()[0]
    first, second = finished_runs(cron, jobid, 2)
    assert first["status"] == "succeeded" and first["return_message"] == "INSERT 0 1"
    assert first["start_time"] <= first["end_time"] <= second["start_time"]
    assert first["username"] == "supabase_admin" and first["database"] == "postgres" and first["job_pid"]
    assert cron.execute("select count(*) >= 2 from public.cron_probe").fetchone()[0]
    cron.execute("drop table public.cron_probe")


def test_a_query_reports_its_row_count(cron):
    jobid = cron.execute("select cron.schedule('test_rows', '1 seconds', "
                         "'select 1; select generate_series(1, 3)')").fetchone()[0]
    (run,) = finished_runs(cron, jobid)
    assert (run["status"], run["return_message"]) == ("succeeded", "3 rows")


def test_schedule_upserts_by_name(cron):
    first = cron.execute("select cron.schedule('test_upsert', '0 4 * * *', 'select 1')").fetchone()[0]
    second = cron.execute("select cron.schedule('test_upsert', '*/5 * * * *', 'select 2')").fetchone()[0]
    assert first == second
    assert cron.execute("select schedule, command, active from cron.job where jobid = %s",
                        (first,)).fetchone() == ("*/5 * * * *", "select 2", True)


def test_unnamed_schedule_and_unschedule_by_id(cron):
    jobid = cron.execute("select cron.schedule('@hourly', 'select 1')").fetchone()[0]
    assert cron.execute("select jobname from cron.job where jobid = %s", (jobid,)).fetchone() == (None,)
    assert cron.execute("select cron.unschedule(%s)", (jobid,)).fetchone()[0] is True
    with pytest.raises(psycopg.errors.RaiseException, match=f"could not find valid entry for job {jobid}"):
        cron.execute("select cron.unschedule(%s)", (jobid,))


@pytest.mark.parametrize("schedule", ["61 * * * *", "* * * *", "0 seconds", "60 seconds", "every minute",
                                      "* * 32 * *", "1 2 3 4 5 6", "*/0 * * * *"])
def test_an_invalid_schedule_is_refused(cron, schedule):
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="invalid schedule: ") as raised:
        cron.execute("select cron.schedule('test_invalid', %s, 'select 1')", (schedule,))
    assert "[1-59] seconds" in raised.value.diag.message_hint
    with pytest.raises(InvalidSchedule):
        Schedule.parse(schedule)


@pytest.mark.parametrize("schedule", ["*/5 * * * *", "0 4 * jan-mar mon,fri", "30 23 1,15 * 0-6/2", "@daily",
                                      "59 seconds", " 2 second "])
def test_valid_schedules_are_accepted_by_sql_and_runner(cron, schedule):
    cron.execute("select cron.schedule('test_valid', %s, 'select 1')", (schedule,))
    assert Schedule.parse(schedule)


def test_unschedule_stops_the_job(cron):
    jobid = cron.execute("select cron.schedule('test_stop', '1 seconds', 'select pg_sleep(0.05)')").fetchone()[0]
    finished_runs(cron, jobid)
    assert cron.execute("select cron.unschedule('test_stop')").fetchone()[0] is True
    # A run started just before the unschedule may still finish; after it, nothing new may start.
    eventually(lambda: all(r["status"] != "running" for r in runs(cron, jobid)), what="last run finished")
    settled = len(runs(cron, jobid))
    marker = cron.execute("select cron.schedule('test_after_stop', '1 seconds', 'select 1')").fetchone()[0]
    finished_runs(cron, marker, 2)
    assert len(runs(cron, jobid)) == settled
    with pytest.raises(psycopg.errors.RaiseException, match="could not find valid entry for job 'test_stop'"):
        cron.execute("select cron.unschedule('test_stop')")


def test_a_failing_command_is_recorded_as_failed(cron):
    jobid = cron.execute("select cron.schedule('test_fail', '1 seconds', 'select 1/0')").fetchone()[0]
    (run,) = finished_runs(cron, jobid)
    assert run["status"] == "failed"
    assert "division by zero" in run["return_message"]
    assert run["end_time"] is not None


def test_the_command_runs_as_the_jobs_user(cron):
    check = ("do $$ begin if current_user <> 'service_role' then "
             "raise exception 'ran as %', current_user; end if; end $$")
    jobid = cron.execute("select cron.schedule('test_role', '1 seconds', %s)", (check,)).fetchone()[0]
    cron.execute("update cron.job set username = 'service_role' where jobid = %s", (jobid,))
    run = eventually(lambda: [r for r in runs(cron, jobid) if r["username"] == "service_role"
                              and r["status"] != "running"], timeout=20, what="a run as service_role")[0]
    assert (run["status"], run["return_message"]) == ("succeeded", "DO")


def test_an_inactive_job_does_not_run(cron):
    jobid = cron.execute("select cron.schedule('test_inactive', '1 seconds', 'select 1')").fetchone()[0]
    cron.execute("update cron.job set active = false where jobid = %s", (jobid,))
    cron.execute("delete from cron.job_run_details where jobid = %s", (jobid,))
    marker = cron.execute("select cron.schedule('test_active_marker', '1 seconds', 'select 1')").fetchone()[0]
    finished_runs(cron, marker, 2)
    assert runs(cron, jobid) == []


def test_a_schedule_written_around_the_check_fails_with_a_message(cron):
    cron.execute("insert into cron.job (schedule, command, jobname) values ('not a schedule', 'select 1', "
                 "'test_bypass')")
    jobid = cron.execute("select jobid from cron.job where jobname = 'test_bypass'").fetchone()[0]
    (run,) = finished_runs(cron, jobid)
    assert (run["status"], run["return_message"]) == ("failed", "invalid schedule: not a schedule")


def test_api_roles_cannot_schedule_jobs(cron):
    """As on Supabase, cron belongs to postgres until it grants more."""
    cron.execute("set role service_role")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        cron.execute("select cron.schedule('test_sneaky', '@daily', 'select 1')")
