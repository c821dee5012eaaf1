"""The live table's model, fed with records shaped as REST and Realtime deliver them."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from jobqueue.feed.model import ChangeKind, JobTableModel
from jobqueue.job import Job, parse_timestamp
from jobqueue.steps.timing import percentile, timing_chart, timing_summary
from jobqueue.widgets.form import InvalidJobName, validate_job_name
from jobqueue.widgets.render import row_html, text_table


def record(n: int, status: str = "pending", updated: str = "00", **extra: object) -> dict[str, object]:
    """A job_results row as REST returns it (Realtime's ``record`` has the same keys)."""
    return {"id": f"10000000-0000-0000-0000-{n:012d}", "job_id": f"00000000-0000-0000-0000-{n:012d}",
            "task_name": f"job-{n}", "status": status,
            "result": None, "error": None, "attempts": 0, "msg_id": n,
            "created_at": f"2026-11-23T10:00:{n:02d}.000000+00:00", "started_at": None, "completed_at": None,
            "updated_at": f"2026-11-23T10:01:{updated}.000000+00:00", **extra}


def test_rows_are_kept_newest_first():
    model = JobTableModel(max_rows=10)
    for n in (2, 5, 1, 4):
        model.upsert(record(n))
    assert [row.task_name for row in model] == ["job-5", "job-4", "job-2", "job-1"]


def test_newest_n_evicts_the_oldest_and_ignores_older_arrivals():
    model = JobTableModel(max_rows=3)
    for n in (1, 2, 3):
        model.upsert(record(n))
    change = model.upsert(record(4))
    assert change.kind is ChangeKind.ADDED and change.position == 0
    assert change.evicted is not None and change.evicted.task_name == "job-1"
    assert model.upsert(record(0)).kind is ChangeKind.IGNORED
    assert [row.task_name for row in model] == ["job-4", "job-3", "job-2"]


def test_a_late_rest_row_never_overwrites_a_newer_realtime_state():
    model = JobTableModel()
    model.upsert(record(1, "completed", updated="30", result="done"))
    stale = model.upsert(record(1, "pending", updated="10"))
    assert stale.kind is ChangeKind.IGNORED
    assert model.get(record(1)["job_id"]).status == "completed"


def test_an_update_changes_one_row_in_place():
    model = JobTableModel()
    model.upsert(record(1))
    model.upsert(record(2))
    change = model.upsert(record(1, "processing", updated="05", attempts=1))
    assert change.kind is ChangeKind.UPDATED and change.position == 1
    assert model.get(record(1)["job_id"]).attempts == 1


def test_delete_by_primary_key_only():
    model = JobTableModel()
    model.upsert(record(7))
    assert model.remove({"id": record(7)["id"]}).kind is ChangeKind.REMOVED
    assert len(model) == 0
    assert model.remove({"id": record(7)["id"]}).kind is ChangeKind.IGNORED


def test_a_record_without_job_id_is_refused():
    with pytest.raises(ValueError, match="job_id"):
        JobTableModel().upsert({"status": "pending"})


def test_timestamps_from_realtime_and_rest_parse_alike():
    assert parse_timestamp("2026-11-23T10:00:00Z") == parse_timestamp("2026-11-23 10:00:00+00:00")
    assert parse_timestamp("2026-11-23T10:00:00.5").tzinfo is not None


def test_rendering_escapes_and_shows_status():
    row = Job.from_row(record(1, "failed", task_name="<b>x</b>", error="boom"))
    html = row_html(row, datetime(2026, 11, 23, 10, 5, tzinfo=UTC))
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "jq-status-failed" in html and "Failed" in html
    assert "boom" in text_table([row], datetime(2026, 11, 23, 10, 5, tzinfo=UTC))


def test_timing_summary_splits_waiting_and_running():
    rows = [Job.from_row(record(n, "completed", started_at=f"2026-11-23T10:00:{n:02d}.500000+00:00",
                                      completed_at=f"2026-11-23T10:00:{n + 2:02d}.500000+00:00"))
            for n in range(1, 5)]
    rows.append(Job.from_row(record(9)))
    summary = timing_summary(rows)
    assert summary["waiting"].count == 4 and summary["waiting"].p50 == pytest.approx(0.5)
    assert summary["running"].max == pytest.approx(2.0)
    assert summary["total"].p95 == pytest.approx(2.5)
    assert math.isnan(percentile([], 0.5))


@pytest.mark.parametrize(("raw", "reason"), [("   ", "empty"), ("x" * 201, "201 characters"),
                                             ("bad\x07name", r"U\+0007")])
def test_invalid_names_are_explained(raw, reason):
    with pytest.raises(InvalidJobName, match=reason):
        validate_job_name(raw)


def test_valid_names_are_trimmed():
    assert validate_job_name("  resize é 42 ") == "resize é 42"


def test_a_running_row_shows_its_progress_bar_and_message():
    row = Job.from_row(record(1, "processing", job_type="generate_report", priority=7, progress=40,
                              progress_message="writing section 3 of 5",
                              started_at="2026-11-23T10:00:02.000000+00:00"))
    html = row_html(row, datetime(2026, 11, 23, 10, 0, 5, tzinfo=UTC))
    assert 'class="jq-progress" data-progress="40"' in html and "width:40%" in html
    assert "writing section 3 of 5" in html and "generate_report" in html


def test_a_delayed_row_counts_down_to_its_start_and_a_cancelled_one_says_so():
    delayed = Job.from_row(record(1, run_after="2026-11-23T10:00:09.000000+00:00"))
    assert "starts in 4 s" in row_html(delayed, datetime(2026, 11, 23, 10, 0, 5, tzinfo=UTC))
    cancelled = Job.from_row(record(2, "cancelled", progress=35))
    html = row_html(cancelled, datetime(2026, 11, 23, 10, 0, 5, tzinfo=UTC))
    assert "jq-status-cancelled" in html and "Cancelled" in html and "cancelled by the operator" in html


def test_the_timing_chart_legend_hides_no_bar():
    rows = [Job.from_row(record(n, "completed", task_name=f"a-rather-long-job-name-{n}",
                                started_at=f"2026-11-23T10:00:{n:02d}.500000+00:00",
                                completed_at=f"2026-11-23T10:00:{n + 3:02d}.500000+00:00")) for n in range(1, 12)]
    figure = timing_chart(rows)
    FigureCanvasAgg(figure).draw()
    renderer = figure.canvas.get_renderer()
    [legend] = [*figure.legends, *filter(None, [figure.axes[0].get_legend()])]
    legend_box = legend.get_window_extent(renderer)
    bars = [patch.get_window_extent(renderer) for patch in figure.axes[0].patches]
    assert len(bars) == 22 and not any(legend_box.overlaps(bar) for bar in bars)
    assert not legend_box.overlaps(figure.axes[0].get_window_extent(renderer))
