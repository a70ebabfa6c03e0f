"""Business metrics of intake and planning (wms.metrics): counted by real flows, after
the commit, labelled by instance and warehouse, exposed on /metrics."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from prometheus_client import REGISTRY

from .conftest import order_body, post_order
from .test_intake_api import _fresh_cache  # noqa: F401  (autouse: intake caches cleared)

pytestmark = pytest.mark.django_db


def sample(name: str, **labels) -> float:
    """The current value of a series of this process (0 when it was never touched)."""
    value = REGISTRY.get_sample_value(name, {"instance_id": settings.WMS_INSTANCE_ID, **labels})
    return value or 0.0


def test_order_accept_counts_accepted_order_after_commit(
    store, item, client, django_capture_on_commit_callbacks
):
    """An order accepted through the API adds 1 to wms_orders_accepted_total of its
    warehouse once the transaction commits; /metrics shows it with the instance label."""
    item("SKU-1001")
    before = sample("wms_orders_accepted_total", warehouse="MAD1")
    with django_capture_on_commit_callbacks(execute=True):
        assert post_order(store, order_body()).status_code == 202
        assert sample("wms_orders_accepted_total", warehouse="MAD1") == before  # not yet
    assert sample("wms_orders_accepted_total", warehouse="MAD1") == before + 1
    body = client.get("/metrics").content.decode()
    assert (
        f'wms_orders_accepted_total{{instance_id="{settings.WMS_INSTANCE_ID}",warehouse="MAD1"}}'
        in body
    )


def test_order_accept_rolled_back_is_not_counted(store, item, django_capture_on_commit_callbacks):
    """An intake whose transaction never commits counts nothing."""
    item("SKU-1001")
    before = sample("wms_orders_accepted_total", warehouse="MAD1")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert post_order(store, order_body()).status_code == 202
    assert callbacks  # the count waits for a commit that this test never makes
    assert sample("wms_orders_accepted_total", warehouse="MAD1") == before


def test_order_intake_refusal_counts_rejected_with_its_code(store, item):
    """An order refused at intake (unknown SKU, 422) counts as rejected at stage intake
    with the problem's code; nothing counts as accepted."""
    item("SKU-1001")
    labels = {"warehouse": "", "stage": "intake", "reason": "validation_failed"}
    before = sample("wms_orders_rejected_total", **labels)
    accepted = sample("wms_orders_accepted_total", warehouse="MAD1")
    body = order_body(lines=[{"lineNumber": 1, "sku": "NOPE", "qty": 1}])
    response = post_order(store, body)
    assert response.status_code == 422
    assert response.json()["code"] == "validation_failed"
    assert sample("wms_orders_rejected_total", **labels) == before + 1
    assert sample("wms_orders_accepted_total", warehouse="MAD1") == accepted


def test_idempotent_retry_counts_replay(store, item, django_capture_on_commit_callbacks):
    """A retried intake (same key and body) is answered from its record and counted as
    a replay of the route; the order counts once."""
    item("SKU-1001")
    route = "api/v1/replenishment-orders"
    replays = sample("wms_idempotency_replays_total", route=route)
    accepted = sample("wms_orders_accepted_total", warehouse="MAD1")
    with django_capture_on_commit_callbacks(execute=True):
        assert post_order(store, order_body(), key="k-replay").status_code == 202
    with django_capture_on_commit_callbacks(execute=True):
        retry = post_order(store, order_body(), key="k-replay")
    assert retry["Idempotent-Replayed"] == "true"
    assert sample("wms_idempotency_replays_total", route=route) == replays + 1
    assert sample("wms_orders_accepted_total", warehouse="MAD1") == accepted + 1


def test_planning_observes_latency_and_counts_rejections(
    accept, plan_all, item, location, receive, django_capture_on_commit_callbacks
):
    """Planning's first decision on each order is observed (acceptance → commit) by
    outcome; a rejected order counts as rejected at stage planning with its reason."""
    receive(item("SKU-1001"), location("P-01"), 50)
    planned = sample("wms_planning_latency_seconds_count", warehouse="MAD1", outcome="PLANNED")
    rejected = sample("wms_planning_latency_seconds_count", warehouse="MAD1", outcome="REJECTED")
    late = {"warehouse": "MAD1", "stage": "planning", "reason": "ship_by_passed"}
    late_before = sample("wms_orders_rejected_total", **late)
    accept("E1", [("SKU-1001", 5)])
    accept("E2", [("SKU-1001", 5)], ship_by=timezone.now() - timedelta(days=3))
    with django_capture_on_commit_callbacks(execute=True):
        plan_all()
    assert (
        sample("wms_planning_latency_seconds_count", warehouse="MAD1", outcome="PLANNED")
        == planned + 1
    )
    assert (
        sample("wms_planning_latency_seconds_count", warehouse="MAD1", outcome="REJECTED")
        == rejected + 1
    )
    assert sample("wms_orders_rejected_total", **late) == late_before + 1
    with django_capture_on_commit_callbacks(execute=True):
        plan_all()  # nothing left to plan: nothing observed again
    assert (
        sample("wms_planning_latency_seconds_count", warehouse="MAD1", outcome="PLANNED")
        == planned + 1
    )
