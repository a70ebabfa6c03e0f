"""A warehouse with a bit of everything, for the RBAC matrix (tests/wms/test_rbac_matrix.py).

``world_build(warehouse)`` runs after ``seed_demo`` and fills the demo warehouse,
through the services, with a row for (nearly) every admin page: orders at every
stage, a wave, pick tasks, a short pick and its exception, an ASN received over
its tolerance with its exception and put-away task, a dock appointment, a count,
an adjustment waiting for approval, a webhook subscription and delivery, alert
rules and an alert, a handheld's sync entry. Users of another warehouse must
not see, select, act on or export any of it.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.utils import timezone

from counting.models import CountSettings
from counting.services import count_open
from inbound.services import (
    AsnLineSpec,
    ReceiptLineSpec,
    dock_assignment_create,
    inbound_shipment_create,
    inbound_shipment_mark_arrived,
    receipt_post,
)
from integrations.models import DeliveryKind, ExternalSystem, IntegrationMessage
from integrations.webhooks import delivery_enqueue, webhook_subscription_create
from inventory.models import AdjustmentThreshold, DockDoor, InventoryBalance, InventoryStatus, Zone
from inventory.services import adjustment_request
from outbound.services import OrderLineInput, order_accept, order_plan, wave_release, waves_build
from tasking.models import (
    AutomationZone,
    CountRequest,
    ExceptionCase,
    HandheldDevice,
    PickTask,
    SyncEntry,
)
from tasking.services import pick_confirm, pick_task_next_for_picker, pick_task_start
from wms.models import Alert, AlertKind, AlertRule, StockMinimum


def _stocked(warehouse, n: int) -> list[InventoryBalance]:
    """``n`` balances of distinct items with at least 10 available, pick faces first."""
    seen, rows = set(), []
    balances = (
        InventoryBalance.objects.filter(
            location__warehouse=warehouse, status__code="AVAILABLE", on_hand__gte=10
        )
        .select_related("item", "location", "status")
        .order_by("location__type", "location__code")
    )
    for balance in balances:
        if balance.item_id in seen:
            continue
        seen.add(balance.item_id)
        rows.append(balance)
        if len(rows) == n:
            break
    return rows


def world_build(warehouse) -> dict:
    """Fill ``warehouse`` (the demo warehouse after ``seed_demo``); what was made, by name."""
    User = get_user_model()
    picker = User.objects.get(username="picker")
    receiver = User.objects.get(username="receiver")
    controller = User.objects.get(username="controller")
    stocked = _stocked(warehouse, 4)
    now = timezone.now()

    # --- outbound: one order left accepted, two planned and released into a wave ---
    def order(n, balance, qty):
        return order_accept(
            warehouse=warehouse,
            store_code="S042",
            external_order_id=f"S042-RBAC-{n}-{uuid.uuid4().hex[:6]}",
            requested_ship_by=now + timedelta(days=2),
            lines=[OrderLineInput(line_number=1, sku=balance.item.sku, qty=Decimal(qty))],
        )

    accepted = order(1, stocked[0], "1")
    released = [order(2, stocked[1], "2"), order(3, stocked[2], "1")]
    for planned in released:
        order_plan(order_id=planned.pk)
    while waves_build(warehouse_id=warehouse.pk):
        pass
    waves = {o.wave_id for o in type(accepted).objects.filter(pk__in=[o.pk for o in released])}
    for wave_id in waves - {None}:
        wave_release(wave_id=wave_id)

    # A short pick: one task confirmed with less than asked opens an exception case.
    task = pick_task_next_for_picker(picker=picker, warehouse=warehouse)
    pick_task_start(task_id=task.pk, picker=picker)
    pick_confirm(
        task_id=task.pk,
        qty=str(task.qty_to_pick - 1),
        request_key=f"rbac-short-{task.pk}",
        actor=picker,
    )
    case = ExceptionCase.objects.get(pick_task=task)
    CountRequest.objects.create(  # a supervisor's spot count of the location
        warehouse=warehouse,
        location_id=case.location_id,
        exception_case=case,
        reason="RBAC short pick",
        requested_by=picker,
    )

    # --- inbound: an ASN received 50 % over (exception, put-away task), a dock slot ---
    asn = inbound_shipment_create(
        warehouse=warehouse,
        external_ref="ASN-RBAC-1",
        supplier="RBAC supplier",
        expected_arrival_at=now + timedelta(hours=1),
        lines=[
            AsnLineSpec(
                line_number=1, sku=stocked[3].item.sku, qty_expected=Decimal("10"), uom="EA"
            )
        ],
        actor=receiver,
    )
    door = DockDoor.objects.filter(warehouse=warehouse).order_by("code").first()
    dock_assignment_create(
        dock_door=door,
        starts_at=now + timedelta(hours=3),
        ends_at=now + timedelta(hours=4),
        inbound_shipment=asn,
        actor=receiver,
    )
    inbound_shipment_mark_arrived(shipment=asn, actor=receiver)
    receipt_post(
        shipment=asn,
        lines=[ReceiptLineSpec(qty=Decimal("15"), line_number=1)],
        complete=True,
        client_key="rbac-receipt-1",
        actor=receiver,
    )

    # --- counting and an adjustment above the approval threshold ---------------------
    count_open(
        warehouse=warehouse,
        type="CYCLE",
        blind=True,
        locations=[stocked[0].location.code],
        actor=controller,
    )
    adjustment_request(
        warehouse=warehouse,
        item=stocked[2].item,
        location=stocked[2].location,
        status=InventoryStatus.objects.get(code="AVAILABLE"),
        qty_delta=Decimal("-1"),
        reason_code="LOST",
        actor=controller,
        source="admin",
        request_key="rbac-adjustment-1",
    )

    # --- integrations: a store's webhook subscription and a delivery -----------------
    store = ExternalSystem.objects.get(code="S042")
    webhook_subscription_create(
        system=store, url="https://store.example/hooks", event_types=["shipment.confirmed"]
    )
    delivery_enqueue(
        system=store,
        body={"rbac": True},
        idempotency_key="rbac-delivery-1",
        kind=DeliveryKind.OTHER,
        url="https://store.example/hooks",
    )

    IntegrationMessage.objects.create(
        system=store, direction="INBOUND", message_type="rbac.test", status="PROCESSED"
    )
    automation = ExternalSystem.objects.get(code="AUTO1")
    zone = Zone.objects.filter(warehouse=warehouse).order_by("code").last()
    AutomationZone.objects.get_or_create(zone=zone, defaults={"system": automation})

    # --- per-warehouse settings --------------------------------------------------------
    AdjustmentThreshold.objects.get_or_create(warehouse=warehouse)
    CountSettings.objects.get_or_create(warehouse=warehouse)

    # --- alerts ----------------------------------------------------------------------
    rule = AlertRule.objects.create(
        warehouse=warehouse, name="RBAC minimum", kind=AlertKind.LOW_STOCK, threshold=0
    )
    StockMinimum.objects.create(
        rule=rule, item=stocked[0].item, location=stocked[0].location, min_qty=Decimal("999")
    )
    Alert.objects.create(
        rule=rule, warehouse=warehouse, subject="rbac:min", message="RBAC stock below minimum"
    )

    # --- a handheld whose picking entry in this warehouse was refused: a conflict ---
    device = HandheldDevice.objects.create(device_key="rbac-device-1", last_user=picker)
    SyncEntry.objects.create(
        device=device,
        user=picker,
        warehouse=warehouse,
        key="rbac-entry-1",
        fingerprint="0" * 64,
        kind="pick.confirm",
        subject=str(PickTask.objects.filter(warehouse=warehouse).values_list("pk", flat=True)[0]),
        payload={"qty": "1"},
        happened_at=now,
        outcome="REFUSED",
        conflict_status="OPEN",
    )
    return {"asn": asn, "accepted": accepted, "released": released}
