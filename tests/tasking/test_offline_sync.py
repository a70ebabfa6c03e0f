"""Disconnected operations (issue 16), server side: work downloaded ahead, the sync
endpoint (each entry once, through the online services), conflicts, bad batches,
and a sync whose answers keep getting lost."""

import json
import threading
import uuid
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from tasking.models import (
    HandheldDevice,
    PickConfirmation,
    PickTask,
    PickTaskStatus,
    SyncEntry,
)
from tasking.offline_sync import MAX_BATCH, pick_tasks_claim_ahead
from tasking.services import pick_task_reassign
from wms.models import OutboxEvent

from .conftest import balance, order_of

D = Decimal
SYNC = "/handheld/offline/sync/"


@pytest.fixture
def pablo(client, picker):
    client.force_login(picker)
    return client


def _entry(user, kind, seq, **data):
    return {
        "key": uuid.uuid4().hex,
        "kind": kind,
        "user": user.pk,
        "device": "dev-1",
        "seq": seq,
        "happenedAt": timezone.now().isoformat(),
        "data": data,
    }


def _pick(user, task, seq, qty=None, kind="pick.confirm"):
    qty = task.qty_to_pick if qty is None else qty
    return _entry(
        user,
        kind,
        seq,
        taskId=str(task.pk),
        location=task.from_location.barcode,
        item=task.item.gtin,
        qty=str(qty),
    )


def _sync(client, entries, device="dev-1"):
    return client.post(
        SYNC,
        json.dumps({"deviceId": device, "pending": len(entries), "entries": entries}),
        content_type="application/json",
    )


def _claimed(picker, layout, n=20):
    pick_tasks_claim_ahead(picker=picker, warehouse=layout.warehouse, limit=n)
    return list(PickTask.objects.filter(assigned_to=picker).order_by("pick_sequence", "id"))


def _verify_clean():
    from inventory.selectors import inventory_verify

    result = inventory_verify()
    assert result.ok, result


@pytest.mark.django_db
def test_handheld_work_download_claims_the_next_tasks(pablo, picker, release_order, layout):
    """POST work.json claims the picker's next tasks (the setting's number) and returns
    what the device checks scans with; GET returns them without claiming more."""
    release_order([("SKU-A", 5), ("SKU-B", 4)])
    release_order([("SKU-A", 2)])
    with pytest.MonkeyPatch.context() as mp:
        from django.conf import settings

        mp.setattr(settings, "WMS_HANDHELD_DOWNLOAD_TASKS", 2, raising=False)
        data = pablo.post("/handheld/offline/work.json", {"warehouse": "MAD1"}).json()
    assert len(data["picks"]) == 2
    first = data["picks"][0]
    assert first["locationCodes"] == ["P-01", "LP01"]
    assert first["itemCodes"] == ["SKU-A", "8400000000011"]
    assert PickTask.objects.filter(assigned_to__isnull=False).count() == 2
    again = pablo.get("/handheld/offline/work.json").json()
    assert [p["id"] for p in again["picks"]] == [p["id"] for p in data["picks"]]


@pytest.mark.django_db
def test_handheld_sync_applies_each_entry_once_in_order(pablo, picker, release_order, layout):
    """Confirm, short pick and problem report from one batch: applied through the
    online services; the same batch again → already applied, nothing twice."""
    order, _ = release_order([("SKU-A", 5), ("SKU-B", 4)])
    release_order([("SKU-A", 3)])
    t1, t2, t3 = _claimed(picker, layout)
    entries = [
        _pick(picker, t1, 1),
        _pick(picker, t2, 2, qty=D("1"), kind="pick.short"),
        _entry(picker, "pick.problem", 3, taskId=str(t3.pk), type="DAMAGED", qty="0"),
    ]
    response = _sync(pablo, entries)
    assert response.status_code == 200, response.content
    statuses = [r["status"] for r in response.json()["results"]]
    assert statuses == ["applied", "applied", "applied"]
    assert PickConfirmation.objects.count() == 3
    statuses = {t.pk: t.status for t in PickTask.objects.all()}
    assert statuses[t1.pk] == PickTaskStatus.DONE
    assert statuses[t2.pk] == PickTaskStatus.SHORT
    assert statuses[t3.pk] == PickTaskStatus.EXCEPTION
    assert order_of(order).status == "PICKING"

    again = _sync(pablo, entries).json()["results"]
    assert [r["status"] for r in again] == ["already_applied"] * 3
    assert PickConfirmation.objects.count() == 3
    device = HandheldDevice.objects.get(device_key="dev-1")
    assert (device.entries_received, device.entries_applied, device.entries_refused) == (6, 3, 0)
    row = SyncEntry.objects.get(key=entries[0]["key"])
    assert row.received_at >= row.happened_at
    _verify_clean()


@pytest.mark.django_db
def test_handheld_sync_entry_after_online_confirm_is_already_applied(
    pablo, picker, release_order, layout
):
    """A confirmation the online page sent (its answer lost) and then queued under the
    same client key is answered "already applied"; stock moved once."""
    release_order([("SKU-A", 5)])
    [task] = _claimed(picker, layout)
    url = f"/handheld/picking/task/{task.pk}/"
    pablo.post(url, {"action": "location", "code": "LP01"})
    key = uuid.uuid4().hex
    form = {"action": "confirm", "location": "LP01", "item": "8400000000011", "qty": "5"}
    assert pablo.post(url, {**form, "client_key": key}).status_code == 302
    entry = _pick(picker, task, 1)
    entry.update(key=key, data={**entry["data"], "location": "LP01"})
    [result] = _sync(pablo, [entry]).json()["results"]
    assert result["status"] == "already_applied"
    assert PickConfirmation.objects.count() == 1
    assert balance(layout.sku_a, layout.staging, layout.available) == (D("5"), D("0"))


@pytest.mark.django_db
def test_handheld_sync_reassigned_task_is_a_conflict(
    pablo, picker, picker2, supervisor, release_order, layout
):
    """A task reassigned while the device was offline: its entry is refused with a
    reason, a conflict case opens (with the entry) and nothing is posted."""
    release_order([("SKU-A", 5)])
    [task] = _claimed(picker, layout)
    pick_task_reassign(task_id=task.pk, picker=picker2, actor=supervisor)
    [result] = _sync(pablo, [_pick(picker, task, 1)]).json()["results"]
    assert result["status"] == "refused"
    assert result["conflict"] is True
    assert result["code"] == "task_not_assigned_to_you"
    assert not PickConfirmation.objects.exists()
    row = SyncEntry.objects.get()
    assert (row.outcome, row.conflict_status) == ("REFUSED", "OPEN")
    assert row.payload["data"]["taskId"] == str(task.pk)
    event = OutboxEvent.objects.get(event_type="handheld.sync_conflict")
    assert event.data["entry"]["key"] == row.key
    assert HandheldDevice.objects.get().conflicts == 1
    assert balance(layout.sku_a, layout.p1, layout.available) == (D("50"), D("5"))


@pytest.mark.django_db
def test_handheld_sync_wrong_scan_is_refused_without_conflict(pablo, picker, release_order, layout):
    """An entry whose scans do not match is refused (no conflict case); the next
    entry of the batch is still applied."""
    release_order([("SKU-A", 5), ("SKU-B", 4)])
    t1, t2 = _claimed(picker, layout)
    bad = _pick(picker, t1, 1)
    bad["data"]["location"] = "LP02"
    results = _sync(pablo, [bad, _pick(picker, t2, 2)]).json()["results"]
    assert [(r["status"], r["code"], r["conflict"]) for r in results] == [
        ("refused", "wrong_scan", False),
        ("applied", "", False),
    ]
    assert "Wrong location" in results[0]["message"]


@pytest.mark.django_db
def test_handheld_sync_key_reused_with_other_content(pablo, picker, release_order, layout):
    """The same key with other content → refused as an idempotency conflict."""
    release_order([("SKU-A", 5)])
    [task] = _claimed(picker, layout)
    entry = _pick(picker, task, 1)
    assert _sync(pablo, [entry]).json()["results"][0]["status"] == "applied"
    changed = {**entry, "data": {**entry["data"], "qty": "4"}}
    [result] = _sync(pablo, [changed]).json()["results"]
    assert (result["status"], result["code"]) == ("refused", "idempotency_key_reused")
    assert PickConfirmation.objects.count() == 1


@pytest.mark.django_db
def test_handheld_sync_bad_batches_are_refused_whole(
    pablo, picker, picker2, release_order, layout, other_warehouse
):
    """Not JSON, malformed, too large, another user's entries, another warehouse's
    task → 400/403 problem details; nothing applied."""
    release_order([("SKU-A", 5)])
    [task] = _claimed(picker, layout)
    good = _pick(picker, task, 1)
    not_json = pablo.post(SYNC, "{", content_type="application/json")
    assert not_json.status_code == 400
    assert not_json["Content-Type"] == "application/problem+json"
    assert not_json.json()["code"] == "malformed_request"
    malformed = _sync(pablo, [good, {**good, "key": "k2", "happenedAt": "yesterday"}])
    assert (malformed.status_code, malformed.json()["code"]) == (400, "sync_batch_invalid")
    assert malformed.json()["errors"][0]["field"] == "entries[1].happenedAt"
    too_many = _sync(pablo, [dict(good, key=f"k{i}") for i in range(MAX_BATCH + 1)])
    assert (too_many.status_code, too_many.json()["code"]) == (400, "sync_batch_too_large")
    theirs = _sync(pablo, [good, dict(_pick(picker2, task, 2))])
    assert (theirs.status_code, theirs.json()["code"]) == (403, "sync_batch_forbidden")
    foreign = PickTask.objects.filter(pk=task.pk)
    foreign.update(warehouse=other_warehouse)
    elsewhere = _sync(pablo, [good])
    assert (elsewhere.status_code, elsewhere.json()["code"]) == (403, "sync_batch_forbidden")
    foreign.update(warehouse=layout.warehouse)
    assert not SyncEntry.objects.exists()
    assert not PickConfirmation.objects.exists()
    anonymous = Client().post(SYNC, "{}", content_type="application/json")
    assert anonymous.status_code in (401, 403)


@pytest.mark.django_db
def test_handheld_sync_device_clock_far_off_is_kept_beside_server_time(
    pablo, picker, release_order, layout
):
    """A device clock a year ahead: the entry is applied, the device's time kept on
    the entry beside the server's; the confirmation is not dated in the future."""
    release_order([("SKU-A", 5)])
    [task] = _claimed(picker, layout)
    entry = _pick(picker, task, 1)
    ahead = timezone.now() + timezone.timedelta(days=365)
    entry["happenedAt"] = ahead.isoformat()
    assert _sync(pablo, [entry]).json()["results"][0]["status"] == "applied"
    row = SyncEntry.objects.get()
    assert row.happened_at == ahead and row.received_at < ahead
    assert PickConfirmation.objects.get().confirmed_at <= timezone.now()


@pytest.mark.django_db(transaction=True)
def test_handheld_sync_chaos_answers_lost_and_retried_concurrently(picker, release_order, layout):
    """The network drops 20 times during a sync: every batch is sent again (and the
    lost ones overlap, from two connections at once); each entry applies once."""
    for _ in range(4):
        release_order([("SKU-A", 2), ("SKU-B", 2)])
    tasks = _claimed(picker, layout)
    entries = [_pick(picker, t, i) for i, t in enumerate(tasks, start=1)]

    def send(batch):
        client = Client()
        client.force_login(picker)
        try:
            # The answer is "lost": the caller never looks at it.
            _sync(client, batch)
        finally:
            connection.close()

    for attempt in range(20):
        # Each drop cuts the batch at another place; the device sends its prefix again
        # while the previous (unanswered) request is still running.
        cut = 1 + attempt % len(entries)
        threads = [
            threading.Thread(target=send, args=(entries[:cut],)),
            threading.Thread(target=send, args=(entries[cut - 1 :],)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    client = Client()
    client.force_login(picker)
    final = _sync(client, entries).json()["results"]
    assert {r["status"] for r in final} == {"already_applied"}
    assert PickConfirmation.objects.count() == len(tasks)
    assert SyncEntry.objects.count() == len(tasks)
    assert set(PickTask.objects.values_list("status", flat=True)) == {PickTaskStatus.DONE}
    assert balance(layout.sku_a, layout.staging, layout.available) == (D("8"), D("0"))
    _verify_clean()


@pytest.mark.django_db
def test_handheld_shell_worker_manifest_and_words(pablo):
    """The worker is served with a scope over /handheld/, the manifest makes the
    shell installable, and the device's words come in the session's language."""
    worker = pablo.get("/handheld/offline/sw.js")
    assert worker["Service-Worker-Allowed"] == "/handheld/"
    assert worker["Content-Type"].startswith("application/javascript")
    assert "/static/tasking/handheld/offline.js" in worker.content.decode()
    manifest = pablo.get("/handheld/offline/manifest.webmanifest").json()
    assert (manifest["scope"], manifest["display"]) == ("/handheld/", "standalone")
    pablo.cookies["django_language"] = "es"
    words = pablo.get("/handheld/offline/i18n.js").content.decode()
    assert "acciones guardadas en este dispositivo" in words
    page = pablo.get("/handheld/offline/").content.decode()
    assert "Trabajo en este dispositivo" in page


@pytest.mark.django_db
def test_handheld_sync_admin_shows_devices_and_resolves_conflicts(
    client, pablo, picker, picker2, supervisor, release_order, layout
):
    """The operator view lists each device's last sync, refusals and open conflicts;
    a supervisor marks a conflict resolved."""
    release_order([("SKU-A", 5)])
    [task] = _claimed(picker, layout)
    pick_task_reassign(task_id=task.pk, picker=picker2, actor=supervisor)
    _sync(pablo, [_pick(picker, task, 1)])
    client.force_login(supervisor)
    devices = client.get("/admin/tasking/handhelddevice/").content.decode()
    assert "dev-1" in devices and "pablo" in devices
    entry = SyncEntry.objects.get()
    response = client.post(
        "/admin/tasking/syncentry/",
        {"action": "resolve_conflicts", "_selected_action": [entry.pk]},
    )
    assert response.status_code == 302
    entry.refresh_from_db()
    assert (entry.conflict_status, entry.resolved_by) == ("RESOLVED", supervisor)
    detail = client.get(f"/admin/tasking/syncentry/{entry.pk}/change/").content.decode()
    assert str(task.pk) in detail


@pytest.mark.django_db
def test_handheld_sync_confirm_of_less_than_open_is_refused(pablo, picker, release_order, layout):
    """As online: "confirm" with less than is open is refused (use short pick) and
    nothing stays of it; "short" with everything is refused too."""
    release_order([("SKU-A", 5)])
    [task] = _claimed(picker, layout)
    less = _pick(picker, task, 1, qty=D("3"))
    everything = _pick(picker, task, 2, kind="pick.short")
    results = _sync(pablo, [less, everything]).json()["results"]
    assert [(r["status"], r["code"]) for r in results] == [
        ("refused", "short_needs_short_pick"),
        ("refused", "nothing_missing"),
    ]
    assert "You picked less than 5" in results[0]["message"]
    assert not PickConfirmation.objects.exists()
    task.refresh_from_db()
    assert (task.status, task.qty_picked) == (PickTaskStatus.ASSIGNED, D("0"))
    assert SyncEntry.objects.filter(outcome="REFUSED").count() == 2


@pytest.mark.django_db
def test_handheld_sync_pack_scans_once(pablo, picker, picked_order, carton):
    """Pack scans kept offline go through pack_scan_item once; sent again, already applied."""
    from tasking.models import PackTask

    entries = [
        _entry(
            picker,
            "pack.scan",
            1,
            orderId=str(picked_order.pk),
            package_type="CARTON-M",
            code="8400000000011",
            qty="10",
        ),
        _entry(
            picker,
            "pack.scan",
            2,
            orderId=str(picked_order.pk),
            package_type="CARTON-M",
            code="SKU-B",
            qty="5",
        ),
    ]
    results = _sync(pablo, entries).json()["results"]
    assert [r["status"] for r in results] == ["applied", "applied"], results
    assert results[0]["message"].startswith("Packed 10 EA of SKU-A into package")
    again = _sync(pablo, entries).json()["results"]
    assert [r["status"] for r in again] == ["already_applied", "already_applied"]
    assert PackTask.objects.filter(order=picked_order).exists()
    lines = [line for p in picked_order.packages.all() for line in p.lines.all()]
    assert sorted(line.qty for line in lines) == [D("5"), D("10")]
    # Stored with the order's warehouse: the admin shows entries by warehouse grant.
    stored = SyncEntry.objects.filter(kind="pack.scan").values_list("warehouse_id", flat=True)
    assert list(stored) == [picked_order.warehouse_id] * 2


def test_handheld_sync_entries_carry_the_warehouse_of_what_they_name(
    pablo, picker, release_order, layout
):
    """Every kind is stored with its subject's warehouse; a subject that does not exist, or
    an id that cannot be one, is stored without one and refused (never a server error),
    the other entries unharmed."""
    release_order([("SKU-A", 2)])
    [task] = _claimed(picker, layout)
    entries = [
        _pick(picker, task, 1),
        _entry(picker, "count.result", 2, countId="999999", location="LP01"),
        _entry(picker, "receipt.blind", 3, warehouse=layout.warehouse.code, item="SKU-A", qty="1"),
        _entry(picker, "count.result", 4, countId="not-a-count", location="LP01"),
    ]
    results = _sync(pablo, entries).json()["results"]
    assert results[0]["status"] == "applied", results
    assert results[1]["status"] == "refused", results  # no such count
    assert results[2]["status"] == "refused", results  # a picker may not receive
    assert (results[3]["status"], results[3]["code"]) == ("refused", "invalid_subject"), results
    stored = sorted(SyncEntry.objects.values_list("sequence", "warehouse_id"))
    assert stored == [
        (1, layout.warehouse.pk),
        (2, None),
        (3, layout.warehouse.pk),
        (4, None),
    ]
