"""Disconnected operations (issue 16) for receiving and put-away: receipts and
put-away confirmations queued on a handheld are applied once, through the same
services as the online pages, by the sync endpoint (``tasking.offline_sync``)."""

import json
import uuid
from decimal import Decimal

import pytest
from django.utils import timezone

from inbound.models import PutAwayTaskStatus, Receipt
from inbound.services import ReceiptLineSpec, receipt_post
from inventory.models import InventoryPosting
from tasking.models import SyncEntry

pytestmark = pytest.mark.django_db
D = Decimal
SYNC = "/handheld/offline/sync/"


@pytest.fixture
def rita(client, receiver):
    client.force_login(receiver)
    return client


def _entry(user, kind, seq, **data):
    return {
        "key": uuid.uuid4().hex,
        "kind": kind,
        "user": user.pk,
        "seq": seq,
        "happenedAt": timezone.now().isoformat(),
        "data": data,
    }


def _sync(client, entries):
    body = {"deviceId": "dock-1", "pending": len(entries), "entries": entries}
    response = client.post(SYNC, json.dumps(body), content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_offline_receipt_and_putaway_applied_once(
    rita, receiver, layout, inbound_settings, strategy, make_asn, assert_inventory_clean
):
    """A receipt against an ASN and a put-away kept offline arrive once; sent again
    they are "already applied"; the put-away moved the goods once."""
    asn = make_asn(lines=[(1, "SKU-A", "24", "EA")])
    [task] = receipt_post(
        shipment=asn, lines=[ReceiptLineSpec(line_number=1, qty=D("12"))], actor=None
    ).tasks
    entries = [
        _entry(
            receiver,
            "receipt.asn",
            1,
            shipmentId=str(asn.pk),
            item="8400000000011",
            uom="EA",
            qty="12",
            condition="AVAILABLE",
        ),
        _entry(
            receiver, "putaway.confirm", 2, taskId=f"PA{task.pk}", location=task.to_location.barcode
        ),
    ]
    results = _sync(rita, entries)
    assert [r["status"] for r in results] == ["applied", "applied"], results
    assert Receipt.objects.filter(shipment=asn).count() == 2
    task.refresh_from_db()
    assert task.status == PutAwayTaskStatus.DONE
    again = _sync(rita, entries)
    assert [r["status"] for r in again] == ["already_applied", "already_applied"]
    assert Receipt.objects.filter(shipment=asn).count() == 2
    assert InventoryPosting.objects.filter(posting_key=task.posting_key).count() == 1
    assert_inventory_clean()


def test_offline_putaway_done_elsewhere_is_a_conflict(
    rita, receiver, layout, inbound_settings, strategy, make_asn
):
    """A put-away another operator finished elsewhere meanwhile: refused, conflict."""
    from inbound.services import putaway_task_confirm

    asn = make_asn(lines=[(1, "SKU-A", "24", "EA")])
    [task] = receipt_post(
        shipment=asn, lines=[ReceiptLineSpec(line_number=1, qty=D("24"))], actor=None
    ).tasks
    override = layout.override
    putaway_task_confirm(task=task, location=layout.a2, reason_code=override, actor=None)
    [result] = _sync(
        rita,
        [
            _entry(
                receiver, "putaway.confirm", 1, taskId=str(task.pk), location=task.to_location.code
            )
        ],
    )
    assert (result["status"], result["code"], result["conflict"]) == (
        "refused",
        "task_not_open",
        True,
    )
    assert SyncEntry.objects.get().conflict_status == "OPEN"
