"""supabase/schema.sql is what the migrations make: regenerated here and compared with the committed file."""

from __future__ import annotations

from jobqueue.schema_snapshot import SNAPSHOT_FILE, render
from jobqueue.settings import Settings


def test_the_committed_snapshot_equals_what_the_migrations_make(stack, provisioned: Settings):
    fresh = render(stack, provisioned)
    committed = SNAPSHOT_FILE.read_text(encoding="utf-8") if SNAPSHOT_FILE.exists() else ""
    assert committed == fresh, "supabase/schema.sql differs from what supabase/migrations/ make: run `make schema`"


def test_the_snapshot_shows_each_table_whole_and_the_platform_set_up(stack, provisioned: Settings):
    text = SNAPSHOT_FILE.read_text(encoding="utf-8")
    for expected in ("CREATE TABLE public.job_results (", "CREATE TABLE public.job_types (",
                     "CREATE FUNCTION public.submit_job(", "CREATE TRIGGER work_queue_webhook AFTER INSERT ON "
                     "pgmq.q_work_queue", "publication supabase_realtime includes public.job_results",
                     "cron job work_queue_sweeper: schedule '10 seconds'"):
        assert expected in text
    assert "\\restrict" not in text and "Dumped by" not in text
