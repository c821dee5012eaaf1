"""test_queue's app package: settings, provisioning, the jobs API and what the notebooks show.

Notebooks import from here; the package talks to Supabase (hosted or the embedded stack) through
supabase-py and, for provisioning and inspection, psycopg. Importing it configures nothing: a notebook's first
cell calls ``configure_logging()``.
"""

from __future__ import annotations

from jobqueue.job import Job
from jobqueue.jobs import (
    JobRejected,
    JobTimeout,
    QueueFull,
    cancel_job,
    enqueue_job,
    get_job_status,
    job_stats,
    wait_for_job_completion,
)
from jobqueue.logs import configure_logging
from jobqueue.provision import ProvisionError, ProvisionReport, provision
from jobqueue.settings import Settings, SettingsError, load_settings
from jobqueue.stack import ensure_stack

__all__ = [
    "Job",
    "JobRejected",
    "JobTimeout",
    "ProvisionError",
    "ProvisionReport",
    "QueueFull",
    "Settings",
    "SettingsError",
    "cancel_job",
    "configure_logging",
    "enqueue_job",
    "ensure_stack",
    "get_job_status",
    "job_stats",
    "load_settings",
    "provision",
    "wait_for_job_completion",
]
