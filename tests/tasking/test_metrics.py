"""Picking metrics (wms.metrics): a pick confirmation counts a line picked and its
service time after the commit, a replay counts nothing; offline sync entries count
by outcome."""

import pytest
from django.conf import settings
from prometheus_client import REGISTRY

from tasking.services import pick_confirm, pick_task_next_for_picker, pick_task_start

from .test_offline_sync import _claimed, _pick, _sync

pytestmark = pytest.mark.django_db


def sample(name: str, **labels) -> float:
    value = REGISTRY.get_sample_value(name, {"instance_id": settings.WMS_INSTANCE_ID, **labels})
    return value or 0.0


def test_pick_confirm_counts_line_picked_and_latency(
    release_order, picker, layout, client, django_capture_on_commit_callbacks
):
    """A full pick adds 1 to wms_pick_lines_total{status=DONE} and one observation of
    wms_pick_confirmation_seconds; its replay (same key) adds nothing."""
    release_order([("SKU-A", 10)])
    task = pick_task_next_for_picker(picker=picker, warehouse=layout.warehouse)
    pick_task_start(task_id=task.pk, picker=picker)
    lines = {"warehouse": "MAD1", "source": "MANUAL", "status": "DONE"}
    timing = {"warehouse": "MAD1", "source": "MANUAL"}
    before = sample("wms_pick_lines_total", **lines)
    observed = sample("wms_pick_confirmation_seconds_count", **timing)
    seconds = sample("wms_pick_confirmation_seconds_sum", **timing)
    with django_capture_on_commit_callbacks(execute=True):
        pick_confirm(task_id=task.pk, qty="10", request_key="m-1", actor=picker)
        assert sample("wms_pick_lines_total", **lines) == before  # after the commit only
    assert sample("wms_pick_lines_total", **lines) == before + 1
    assert sample("wms_pick_confirmation_seconds_count", **timing) == observed + 1
    assert sample("wms_pick_confirmation_seconds_sum", **timing) > seconds
    with django_capture_on_commit_callbacks(execute=True):
        replay = pick_confirm(task_id=task.pk, qty="10", request_key="m-1", actor=picker)
    assert replay.replayed
    assert sample("wms_pick_lines_total", **lines) == before + 1
    body = client.get("/metrics").content.decode()
    assert f'wms_pick_lines_total{{instance_id="{settings.WMS_INSTANCE_ID}"' in body


def test_handheld_sync_counts_entries_by_outcome(
    client, picker, release_order, layout, django_capture_on_commit_callbacks
):
    """A synced batch counts each entry: applied the first time, already_applied when
    the device sends it again; its picks count as lines picked."""
    client.force_login(picker)
    release_order([("SKU-A", 5)])
    (task,) = _claimed(picker, layout)
    entries = [_pick(picker, task, 1)]
    applied = {"warehouse": "MAD1", "kind": "pick.confirm", "outcome": "applied"}
    again = {**applied, "outcome": "already_applied"}
    counts = sample("wms_offline_sync_entries_total", **applied)
    repeats = sample("wms_offline_sync_entries_total", **again)
    picked = sample("wms_pick_lines_total", warehouse="MAD1", source="MANUAL", status="DONE")
    with django_capture_on_commit_callbacks(execute=True):
        assert _sync(client, entries).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        assert _sync(client, entries).status_code == 200
    assert sample("wms_offline_sync_entries_total", **applied) == counts + 1
    assert sample("wms_offline_sync_entries_total", **again) == repeats + 1
    assert (
        sample("wms_pick_lines_total", warehouse="MAD1", source="MANUAL", status="DONE")
        == picked + 1
    )
