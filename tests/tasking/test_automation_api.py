"""Automation API (CONTRACT.md): pull, ack, pick confirmations with Idempotency-Key;
duplicates and concurrent retries post once; over_pick, task_not_open."""

import threading
import uuid
from decimal import Decimal

import pytest
from django.db import connection
from rest_framework.test import APIClient

from integrations.automation import automation_dispatch
from inventory.models import InventoryPosting
from outbound.services import order_cancel
from tasking.models import ExceptionCase, PickConfirmation, PickTask, PickTaskStatus
from wms.models import OutboxEvent

from .conftest import balance, order_of

D = Decimal
CONFIRM = "/api/v1/automation/pick-confirmations"


def confirm(client, task, qty, key=None, **extra):
    body = {
        "pickTaskId": str(task.pk),
        "correlationId": "robot-corr-1",
        "qtyPicked": str(qty),
        "fromLocation": "ROBO-01",
        "confirmedAt": "2026-11-21T10:15:00Z",
        **extra,
    }
    return client.post(
        CONFIRM, body, format="json", HTTP_IDEMPOTENCY_KEY=key or f"conf-{uuid.uuid4()}"
    )


def pick_postings() -> int:
    return InventoryPosting.objects.filter(posting_key__startswith="pick:").count()


@pytest.fixture
def dispatched(release_order, robot, layout):
    """An order of 4 SKU-R in the automated zone, dispatched to ROBO1 (pull)."""

    def make(qty=4):
        order, (task,) = release_order([("SKU-R", qty)])
        automation_dispatch()
        task.refresh_from_db()
        assert task.status == PickTaskStatus.DISPATCHED
        return order, task

    return make


@pytest.mark.django_db
def test_automation_pull_lists_dispatched_tasks_of_the_caller_only(
    dispatched, robot, system_client, warehouse, api_client
):
    """ROBO1 sees its task; another robot sees nothing; a store is 403, no token 401."""
    _order, task = dispatched()
    body = robot.get("/api/v1/automation/pick-tasks?status=DISPATCHED").json()
    assert [t["pickTaskId"] for t in body["results"]] == [str(task.pk)]
    row = body["results"][0]
    assert (row["sku"], row["fromLocation"], row["qtyToPick"], row["system"]) == (
        "SKU-R",
        "ROBO-01",
        "4.000",
        "ROBO1",
    )
    other = system_client("automation", "ROBO2", [warehouse])
    assert other.get("/api/v1/automation/pick-tasks?status=DISPATCHED").json()["results"] == []
    store = system_client("store", "S099", [warehouse])
    assert store.get("/api/v1/automation/pick-tasks").status_code == 403
    assert api_client.get("/api/v1/automation/pick-tasks").status_code == 401


@pytest.mark.django_db
def test_automation_ack_moves_task_in_progress_and_out_of_the_pull(dispatched, robot):
    """Ack → IN_PROGRESS, order PICKING; the DISPATCHED pull no longer lists it."""
    order, task = dispatched()
    url = f"/api/v1/automation/pick-tasks/{task.pk}/ack"
    response = robot.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="ack-1")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "IN_PROGRESS"
    assert response.json()["acknowledgedAt"]
    assert order_of(order).status == "PICKING"
    assert robot.get("/api/v1/automation/pick-tasks?status=DISPATCHED").json()["results"] == []
    again = robot.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="ack-2")
    assert again.status_code == 200 and again.json()["status"] == "IN_PROGRESS"
    missing = robot.post(url, {}, format="json")
    assert missing.status_code == 400
    assert missing.json()["code"] == "idempotency_key_missing"


@pytest.mark.django_db
def test_automation_confirm_full_pick(dispatched, robot, layout):
    """4 of 4 → 200 {confirmationId, pickTaskId, taskStatus DONE}; stock to staging."""
    order, task = dispatched()
    response = confirm(robot, task, "4", key="c-1")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["pickTaskId"], body["taskStatus"]) == (str(task.pk), "DONE")
    confirmation = PickConfirmation.objects.get(pk=body["confirmationId"])
    assert (confirmation.source, confirmation.external_correlation_id) == (
        "AUTOMATION",
        "robot-corr-1",
    )
    assert confirmation.actor_label == "ROBO1"
    assert balance(layout.sku_r, layout.auto1, layout.available) == (D("26"), D("0"))
    assert balance(layout.sku_r, layout.staging, layout.available) == (D("4"), D("0"))
    line = order_of(order).lines.get()
    assert line.qty_picked == D("4")
    assert order_of(order).status == "PICKING"
    event = OutboxEvent.objects.get(event_type="pick.confirmed")
    assert (event.data["source"], event.data["correlationId"]) == ("AUTOMATION", "robot-corr-1")
    assert body == {
        "confirmationId": str(confirmation.pk),
        "pickTaskId": str(task.pk),
        "taskStatus": "DONE",
        "qtyPicked": "4.000",
        "exceptionCaseId": None,
    }


@pytest.mark.django_db
def test_automation_confirm_writes_history_without_a_person(dispatched, robot):
    """The task, its order line and (first pick) its order get a history record each,
    with the reason and no user (an external system is not a person); pick.confirmed
    comes before the posting's reservation.consumed."""
    order, task = dispatched()
    assert confirm(robot, task, "4", key="c-h").status_code == 200
    records = [
        task.history.first(),
        order_of(order).lines.get().history.first(),
        order_of(order).history.first(),
    ]
    assert [(r.history_type, r.history_change_reason, r.history_user_id) for r in records] == [
        ("~", "confirmed 4.000 (AUTOMATION)", None),
        ("~", "picked", None),
        ("~", "picking", None),
    ]
    assert (records[0].status, records[1].qty_picked, records[2].status) == (
        "DONE",
        D("4"),
        "PICKING",
    )
    types = list(OutboxEvent.objects.order_by("id").values_list("event_type", flat=True))
    assert types[-2:] == ["pick.confirmed", "reservation.consumed"]


@pytest.mark.django_db
def test_automation_confirm_duplicate_key_replays_without_second_posting(dispatched, robot):
    """The same key and body again: same answer, Idempotent-Replayed, one posting."""
    _order, task = dispatched()
    first = confirm(robot, task, "4", key="dup-1")
    second = confirm(robot, task, "4", key="dup-1")
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert pick_postings() == 1
    assert OutboxEvent.objects.filter(event_type="pick.confirmed").count() == 1
    reused = confirm(robot, task, "3", key="dup-1")
    assert (reused.status_code, reused.json()["code"]) == (422, "idempotency_key_reused")


@pytest.mark.django_db
def test_automation_confirm_over_pick_is_422_and_key_stays_usable(dispatched, robot, layout):
    """5 of 4 → 422 over_pick, nothing posted; the same key with 4 then succeeds."""
    _order, task = dispatched()
    response = confirm(robot, task, "5", key="over-1")
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "over_pick"
    assert response.json()["errors"][0]["field"] == "qtyPicked"
    assert pick_postings() == 0
    assert balance(layout.sku_r, layout.auto1, layout.available) == (D("30"), D("4"))
    assert confirm(robot, task, "4", key="over-1").status_code == 200


@pytest.mark.django_db
def test_automation_confirm_below_open_is_short_with_exception(dispatched, robot, layout):
    """3 of 4 → SHORT, an exception case opened (id in the answer), 1 still reserved."""
    _order, task = dispatched()
    response = confirm(robot, task, "3")
    assert response.status_code == 200
    body = response.json()
    assert body["taskStatus"] == "SHORT"
    case = ExceptionCase.objects.get(pk=body["exceptionCaseId"])
    assert (case.type, case.qty_missing, case.reported_by_label) == ("SHORT_PICK", D("1"), "ROBO1")
    assert balance(layout.sku_r, layout.auto1, layout.available) == (D("27"), D("1"))
    assert OutboxEvent.objects.filter(event_type="exception.opened").count() == 1


@pytest.mark.django_db
def test_automation_confirm_done_or_cancelled_task_is_409_task_not_open(
    dispatched, robot, release_order, settings
):
    """A finished task and a cancelled one both answer 409 task_not_open."""
    _order, task = dispatched()
    assert confirm(robot, task, "4").status_code == 200
    again = confirm(robot, task, "4")
    assert (again.status_code, again.json()["code"]) == (409, "task_not_open")
    order, (cancelled,) = release_order([("SKU-R", 1)])  # not dispatched yet
    order_cancel(order_id=order.pk)
    cancelled.refresh_from_db()
    assert cancelled.status == PickTaskStatus.CANCELLED
    response = confirm(robot, cancelled, "1")
    assert (response.status_code, response.json()["code"]) == (409, "task_not_open")
    assert pick_postings() == 1


@pytest.mark.django_db
def test_automation_confirm_refused_for_task_not_dispatched_to_caller(
    dispatched, system_client, warehouse, robot, supervisor, picker
):
    """Another robot, or ROBO1 after a supervisor handed the task to a picker → 409."""
    from tasking.services import pick_task_reassign

    _order, task = dispatched()
    other = system_client("automation", "ROBO2", [warehouse])
    response = confirm(other, task, "4")
    assert (response.status_code, response.json()["code"]) == (409, "task_not_dispatched")
    pick_task_reassign(task_id=task.pk, picker=picker, actor=supervisor)
    response = confirm(robot, task, "4")
    assert (response.status_code, response.json()["code"]) == (409, "task_not_dispatched")
    assert pick_postings() == 0


@pytest.mark.django_db
def test_automation_confirm_bad_input_is_400_problem(dispatched, robot):
    """A negative quantity or a naive timestamp is a 400 problem, nothing stored."""
    _order, task = dispatched()
    negative = confirm(robot, task, "-1")
    assert negative.status_code == 400
    naive = confirm(robot, task, "4", confirmedAt="2026-11-21T10:15:00")
    assert naive.status_code == 400
    wrong_place = confirm(robot, task, "4", fromLocation="P-01")
    assert (wrong_place.status_code, wrong_place.json()["code"]) == (422, "wrong_scan")
    assert pick_postings() == 0


def _concurrently(n, fn):
    barrier = threading.Barrier(n)
    results = [None] * n

    def run(i):
        try:
            barrier.wait(timeout=30)
            results[i] = fn(i)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_automation_confirm_concurrent_same_key_posts_once(release_order, robot, layout):
    """Six connections send the same confirmation with one key at once: one posting;
    every answer is the confirmation (200) or "in use, retry" (409)."""
    order, (task,) = release_order([("SKU-R", 4)])
    task.refresh_from_db()
    assert task.status == PickTaskStatus.DISPATCHED  # kicked after the release
    token = robot._credentials["HTTP_AUTHORIZATION"]

    def send(_i):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=token)
        response = confirm(client, task, "4", key="same-key")
        return response.status_code, response.json()

    results = _concurrently(6, send)
    statuses = sorted(status for status, _body in results)
    assert set(statuses) <= {200, 409} and 200 in statuses, results
    assert {b["code"] for s, b in results if s == 409} <= {"idempotency_key_in_use"}
    assert len({b["confirmationId"] for s, b in results if s == 200}) == 1
    assert pick_postings() == 1
    assert PickConfirmation.objects.count() == 1
    assert balance(layout.sku_r, layout.staging, layout.available) == (D("4"), D("0"))
    assert order_of(order).lines.get().qty_picked == D("4")
    # A retry after the storm is answered from the store.
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=token)
    assert confirm(client, task, "4", key="same-key")["Idempotent-Replayed"] == "true"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_automation_confirm_concurrent_new_keys_for_one_task_post_once(
    release_order, robot, layout
):
    """Six confirmations of one task under six keys at once: one 200, five task_not_open."""
    _order, (task,) = release_order([("SKU-R", 4)])
    token = robot._credentials["HTTP_AUTHORIZATION"]

    def send(i):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=token)
        response = confirm(client, task, "4", key=f"key-{i}")
        return response.status_code, response.json().get("code")

    results = _concurrently(6, send)
    assert sorted(results) == [(200, None)] + [(409, "task_not_open")] * 5, results
    assert pick_postings() == 1
    assert PickTask.objects.get(pk=task.pk).qty_picked == D("4")
