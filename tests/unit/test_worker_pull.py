"""The pull policy alone: when to pull (forced, owed after busy, webhooks quiet) and how long to pause."""

from __future__ import annotations

from tests.worker_fakes import make_config
from worker.pull import PullPolicy


def test_pull_starts_when_forced_or_after_webhooks_went_quiet():
    quiet = make_config(pull_idle_seconds=30)
    forced, policy = PullPolicy.of(quiet, forced=True), PullPolicy.of(quiet)
    assert forced.reason(forced.last_delivery, backlog_drained=False) == "forced"
    assert policy.reason(policy.last_delivery + 29, backlog_drained=True) is None
    assert policy.reason(policy.last_delivery + 30, backlog_drained=True) == "no webhook lately"
    never = PullPolicy.of(make_config(pull_idle_seconds=0))
    assert never.reason(never.last_delivery + 1e6, backlog_drained=True) is None


def test_a_pull_owed_after_busy_waits_for_the_backlog_to_drain_and_ends_once_caught_up():
    policy = PullPolicy.of(make_config(pull_idle_seconds=0, pull_interval_seconds=5))
    policy.refused_busy()
    assert policy.reason(policy.last_delivery, backlog_drained=False) is None
    assert policy.reason(policy.last_delivery, backlog_drained=True) == "catching up after busy"
    assert policy.pause_seconds() < 1
    policy.caught_up()
    assert policy.reason(policy.last_delivery, backlog_drained=True) is None
    assert policy.pause_seconds() == 5
