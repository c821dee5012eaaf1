"""Every SQL statement of the queues lab's helpers, with named parameters."""

from __future__ import annotations

LAB_QUEUES = ("like_events", "notifications", "analytics")

NEW_POST = "insert into public.posts (id, profile_id, caption) values (coalesce(%(id)s, gen_random_uuid()), " \
           "gen_random_uuid(), %(caption)s) on conflict (id) do nothing returning id"
FANOUT = """
select 'like_events' as queue, msg_id, message->>'event_type' as what, message->>'new_like_count' as likes
from pgmq.q_like_events where message->>'post_id' = %(post)s
union all
select 'notifications', msg_id, message->>'type', null from pgmq.q_notifications where message->>'post_id' = %(post)s
union all
select 'analytics', msg_id, message->>'event', message->>'new_count' from pgmq.q_analytics
where message->>'post_id' = %(post)s
order by 1, 2"""
# pgmq.metrics for the lab's queues only: metrics_all() would also count every other queue each second.
METRICS = """
select m.queue_name, m.queue_length, coalesce(m.oldest_msg_age_sec, 0) as oldest_age, m.total_messages
from unnest(%(queues)s::text[]) as q(name), lateral pgmq.metrics(q.name) m"""
CONSUMERS = "select queue_name, job_name, schedule, batch_size, visibility_seconds, max_reads, archive_days " \
            "from jobqueue_private.queue_consumers order by queue_name"
SET_CONSUMER = "update jobqueue_private.queue_consumers set schedule = %(schedule)s, " \
               "visibility_seconds = coalesce(%(visibility)s, visibility_seconds), " \
               "max_reads = coalesce(%(max_reads)s, max_reads) where queue_name = %(queue)s"
RESCHEDULE = "select jobqueue_private.schedule_queue_consumers()"
PURGE = "select pgmq.purge_queue(%(queue)s)"
SEND_NOOP = "select count(*), now() from pgmq.send_batch('lab_noop', array_fill('{}'::jsonb, array[%(count)s]))"
NOOP_LEFT = "select count(*) from pgmq.q_lab_noop"
NOOP_LATENCIES = "select extract(epoch from archived_at - enqueued_at) from pgmq.a_lab_noop " \
                 "where enqueued_at >= %(since)s order by 1"
JOB_LATENCIES = "select extract(epoch from completed_at - created_at) from public.job_results " \
                "where task_name like %(prefix)s and status = 'completed' order by 1"
JOBS_DONE = "select count(*) from public.job_results where task_name like %(prefix)s and status = 'completed'"
SUBMIT_NOOP = "select public.submit_job(%(name)s)"
SEND_ANALYTICS = "select * from pgmq.send('analytics', %(message)s)"
DEAD_LETTERS = "select msg_id, message->>'event_id' as event_id, message->'dead_letter'->>'reason' as reason, " \
               "message->'dead_letter'->>'read_ct' as reads from pgmq.q_analytics_dlq order by msg_id"
ANALYTICS_EVENT = "select count(*) from public.analytics_events where id = %(event_id)s"
REPLAY = "select public.replay_dead_letters('analytics')"
AGE_ARCHIVE = "update pgmq.a_analytics set archived_at = archived_at - make_interval(days => %(days)s) " \
              "where msg_id in (select msg_id from pgmq.a_analytics order by msg_id limit %(count)s)"
ARCHIVE_COUNTS = """
select 'like_events' as archive, count(*) as messages, min(archived_at) as oldest from pgmq.a_like_events
union all select 'notifications', count(*), min(archived_at) from pgmq.a_notifications
union all select 'analytics', count(*), min(archived_at) from pgmq.a_analytics"""
TRIM = "select * from public.trim_queue_archives() where queue_name = any(%(queues)s)"
