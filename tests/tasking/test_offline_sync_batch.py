"""The handheld sync's batch path (issue 16): a batch of pick entries applied in one
transaction through ``pick_confirm_many`` (locks once per batch, writes in a few
round trips), still each entry exactly once, in order, answered on its own, and a
refused entry leaving nothing behind."""

import json
import threading
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from inventory.models import InventoryPosting, InventoryReservation
from tasking.models import PickConfirmation, PickTask, PickTaskStatus, SyncEntry
from tasking.offline_sync import pick_tasks_claim_ahead
from tasking.services import pick_task_reassign
from wms.models import OutboxEvent

from .conftest import balance

D = Decimal
SYNC = "/handheld/offline/sync/"

#: Round trips of one synced batch of picks from orders that stay open (the
#: session and user reads of the request, the device, the keys, the task and
#: order locks with their reads, the stock's locks and one write, the tasks'
#: and the lines' writes, the device's counters): the same for 4 entries as for
#: 7 (``test_handheld_sync_round_trips_do_not_grow_with_the_batch``); 27 as
#: measured, with the pipelined writes counted as one each.
SYNC_BATCH_ROUND_TRIPS = 27


def _pick(user, task, seq, *, kind="pick.confirm", qty=None):
    return {
        "key": uuid.uuid4().hex,
        "kind": kind,
        "user": user.pk,
        "device": "dev-b",
        "seq": seq,
        "happenedAt": timezone.now().isoformat(),
        "data": {
            "taskId": str(task.pk),
            "location": task.from_location.barcode,
            "item": task.item.gtin,
            "qty": str(task.qty_to_pick if qty is None else qty),
        },
    }


def _sync(client, entries, device="dev-b"):
    response = client.post(
        SYNC,
        json.dumps({"deviceId": device, "pending": len(entries), "entries": entries}),
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    return response.json()["results"]


def _claimed(picker, layout, n=40):
    pick_tasks_claim_ahead(picker=picker, warehouse=layout.warehouse, limit=n)
    return list(
        PickTask.objects.filter(assigned_to=picker)
        .select_related("item", "from_location")
        .order_by("pick_sequence", "id")
    )


def _verify_clean():
    from inventory.selectors import inventory_verify

    result = inventory_verify()
    assert result.ok, result


@pytest.fixture
def pablo(client, picker):
    client.force_login(picker)
    return client


@pytest.mark.django_db
def test_handheld_sync_batch_replayed_is_applied_once(pablo, picker, release_order, layout):
    """A batch of picks over several orders is applied in one go; the same batch sent
    again (the answer was lost) changes nothing: one confirmation, one posting and
    one sync entry per entry."""
    for _ in range(4):
        release_order([("SKU-A", 2), ("SKU-B", 1)])
    tasks = _claimed(picker, layout)
    entries = [_pick(picker, t, i) for i, t in enumerate(tasks, start=1)]
    first = _sync(pablo, entries)
    assert [r["status"] for r in first] == ["applied"] * len(tasks)
    assert first[0]["message"].startswith("Picked 2 EA of SKU-A")
    again = _sync(pablo, entries)
    assert [r["status"] for r in again] == ["already_applied"] * len(tasks)
    assert PickConfirmation.objects.count() == len(tasks)
    assert InventoryPosting.objects.filter(posting_key__startswith="pick:").count() == len(tasks)
    assert SyncEntry.objects.filter(outcome="APPLIED").count() == len(tasks)
    assert set(PickTask.objects.values_list("status", flat=True)) == {PickTaskStatus.DONE}
    assert balance(layout.sku_a, layout.staging, layout.available) == (D("8"), D("0"))
    assert balance(layout.sku_b, layout.staging, layout.available) == (D("4"), D("0"))
    # Every order fully picked: each has its pack task, once.
    from tasking.models import PackTask

    assert PackTask.objects.count() == 4
    assert OutboxEvent.objects.filter(event_type="pick.confirmed").count() == len(tasks)
    _verify_clean()


@pytest.mark.django_db
def test_handheld_sync_batch_refusals_in_the_middle_leave_nothing(
    pablo, picker, picker2, supervisor, release_order, layout
):
    """In one batch: a wrong scan, a task reassigned meanwhile (a conflict) and a pick
    whose reservation expired meanwhile (only the posting service sees it) are
    refused on their own; the entries around them are applied; the refused ones
    changed no task, no line and no stock."""
    for _ in range(5):
        release_order([("SKU-A", 1)])
    t1, t2, t3, t4, t5 = _claimed(picker, layout)
    pick_task_reassign(task_id=t3.pk, picker=picker2, actor=supervisor)
    expired = t4.reservations.get()
    InventoryReservation.objects.filter(pk=expired.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    wrong = _pick(picker, t2, 2)
    wrong["data"]["item"] = "SKU-B"
    entries = [_pick(picker, t1, 1), wrong, _pick(picker, t3, 3), _pick(picker, t4, 4)]
    entries.append(_pick(picker, t5, 5))
    results = _sync(pablo, entries)
    assert [(r["status"], r["code"], r["conflict"]) for r in results] == [
        ("applied", "", False),
        ("refused", "wrong_scan", False),
        ("refused", "task_not_assigned_to_you", True),
        ("refused", "reservation_expired", True),
        ("applied", "", False),
    ]
    statuses = dict(PickTask.objects.values_list("pk", "status"))
    assert statuses[t1.pk] == statuses[t5.pk] == PickTaskStatus.DONE
    assert statuses[t2.pk] == statuses[t4.pk] == PickTaskStatus.ASSIGNED
    assert set(PickConfirmation.objects.values_list("pick_task_id", flat=True)) == {t1.pk, t5.pk}
    assert balance(layout.sku_a, layout.staging, layout.available) == (D("2"), D("0"))
    assert InventoryReservation.objects.get(pk=expired.pk).qty_consumed == 0
    rows = {row.key: row for row in SyncEntry.objects.all()}
    assert [rows[e["key"]].outcome for e in entries] == [
        "APPLIED",
        "REFUSED",
        "REFUSED",
        "REFUSED",
        "APPLIED",
    ]
    assert rows[entries[2]["key"]].conflict_status == "OPEN"
    assert OutboxEvent.objects.filter(event_type="handheld.sync_conflict").count() == 2
    again = _sync(pablo, entries)
    assert [r["status"] for r in again] == [
        "already_applied",
        "refused",
        "refused",
        "refused",
        "already_applied",
    ]
    assert PickConfirmation.objects.count() == 2
    _verify_clean()


@pytest.mark.django_db
def test_handheld_sync_batch_in_order_second_entry_for_a_task_is_refused(
    pablo, picker, release_order, layout
):
    """Two entries for one task in one batch: the first (in the device's order, not
    the list's) is applied, the second finds the task closed."""
    release_order([("SKU-A", 3)])
    [task] = _claimed(picker, layout)
    short = _pick(picker, task, 1, kind="pick.short", qty="2")
    confirm = _pick(picker, task, 2)
    results = _sync(pablo, [confirm, short])
    by_key = {r["key"]: r for r in results}
    assert by_key[short["key"]]["status"] == "applied"
    assert (by_key[confirm["key"]]["status"], by_key[confirm["key"]]["code"]) == (
        "refused",
        "task_not_open",
    )
    task.refresh_from_db()
    assert (task.status, task.qty_picked) == (PickTaskStatus.SHORT, D("2"))
    _verify_clean()


def _round_trips(run) -> int:
    """Round trips to the database while ``run()`` runs: each statement on its own,
    a pipeline (``wms.sql.execute``) as one."""
    trips = []

    def count(execute, sql, params, many, context):
        pipeline = connection.connection._pipeline
        key = id(pipeline) if pipeline is not None else None
        if key is None or not trips or trips[-1] != key:
            trips.append(key if key is not None else object())
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        run()
    return len(trips)


@pytest.mark.django_db
def test_handheld_sync_round_trips_do_not_grow_with_the_batch(pablo, picker, release_order, layout):
    """A batch of 7 picks costs the same round trips as a batch of 4 (orders that
    stay open), and no more than ``SYNC_BATCH_ROUND_TRIPS``."""
    for _ in range(12):
        release_order([("SKU-A", 1), ("SKU-B", 1)])
    tasks = _claimed(picker, layout, n=24)
    firsts = [t for t in tasks if t.item_id == layout.sku_a.pk]
    _sync(pablo, [_pick(picker, firsts[0], 0)])  # the device's row exists from here
    small = [_pick(picker, t, i) for i, t in enumerate(firsts[1:5], start=1)]
    large = [_pick(picker, t, i) for i, t in enumerate(firsts[5:], start=5)]
    trips = []
    for entries in (small, large):
        results = []
        trips.append(_round_trips(lambda e=entries, r=results: r.extend(_sync(pablo, e))))
        assert {r["status"] for r in results} == {"applied"}
    assert trips[0] == trips[1], trips
    assert trips[1] <= SYNC_BATCH_ROUND_TRIPS, trips


@pytest.mark.django_db(transaction=True)
def test_handheld_sync_batch_sent_twice_at_once_applies_each_entry_once(
    picker, release_order, layout
):
    """The same batch from two connections at the same moment (a retry racing the
    first request): every entry applied once, each answered applied by one request
    and already applied by the other."""
    for _ in range(5):
        release_order([("SKU-A", 1), ("SKU-B", 1)])
    tasks = _claimed(picker, layout)
    entries = [_pick(picker, t, i) for i, t in enumerate(tasks, start=1)]
    answers = [None, None]
    start = threading.Barrier(2)

    def send(n):
        client = Client()
        client.force_login(picker)
        try:
            start.wait()
            answers[n] = _sync(client, entries)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for n, entry in enumerate(entries):
        pair = sorted(answer[n]["status"] for answer in answers)
        assert pair == ["already_applied", "applied"], (entry["key"], pair)
    assert PickConfirmation.objects.count() == len(tasks)
    assert SyncEntry.objects.count() == len(tasks)
    assert InventoryPosting.objects.filter(posting_key__startswith="pick:").count() == len(tasks)
    assert balance(layout.sku_a, layout.staging, layout.available) == (D("5"), D("0"))
    _verify_clean()
