"""The automation connector (seed 002, sequences 2 and 9; C-06): pick tasks out to
automation systems, acknowledgements and pick confirmations back in.

**Dispatch (store and forward).** Zones worked by an automation system are
listed in ``tasking.AutomationZone``; their released tasks are claimed in
batches (``tasking.services.pick_tasks_claim_for_dispatch``, ``SKIP LOCKED``,
so several dispatchers never take the same task) and marked DISPATCHED to
the system. In the same transaction the batch is stored for delivery
(``integrations.webhooks.delivery_enqueue``, kind ``pick_task_batch``) with
its own ``Idempotency-Key`` (``pick-tasks:<system>:<uuid>``): the claim and the
stored batch commit together, so a task is in exactly one batch and no batch
is lost if the process dies. The generic delivery loop then POSTs the batch,
signed, retrying with exponential backoff and jitter until the retry budget
is spent (dead letter; the admin replays it, ``automation_batch_replay``).
Every retry carries the same key and body, so a receiver that processed a
batch whose answer was lost recognises the retry. When a batch lands, the
tasks record ``delivered_at`` and ``pick_tasks.dispatched`` is written (in the
transaction that marks the delivery). A system without ``endpoint_url``
pulls instead: its tasks are DISPATCHED, ``pick_tasks.dispatched`` is written
at once, and ``GET /api/v1/automation/pick-tasks?status=DISPATCHED`` lists
them until it acknowledges each (``POST …/{id}/ack`` → IN_PROGRESS).

**Connectivity loss** never blocks the warehouse: undelivered batches wait in
the database, pull stays available, and a supervisor can hand tasks of a
system that stays down to pickers (pick task admin); the system's later
confirmations for those tasks are refused (409 ``task_not_dispatched``).

**Confirmations** (``POST /api/v1/automation/pick-confirmations``) go through
``tasking.services.pick_confirm`` under the caller's ``Idempotency-Key``
(``automation_api``): one posting per confirmation, whatever is retried.

Dispatch runs from the beat (``automation_dispatch_task``) and right after a
commit that released automation work (``tasking.signals.pick_tasks_released``).
"""

from __future__ import annotations

import logging
from collections import defaultdict

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from tasking import services as tasking_services
from tasking.models import AutomationZone, PickTask
from wms.ids import uuid7
from wms.outbox import outbox_emit

from .models import DeliveryKind, ExternalSystem, WebhookDelivery
from .webhooks import deliveries_replay, delivery_delivered, delivery_enqueue

logger = logging.getLogger(__name__)

BATCH_AGGREGATE = "PickTaskBatch"
DISPATCHED_EVENT = "pick_tasks.dispatched"


def _setting(name: str, default):
    return getattr(settings, name, default)


def pick_task_payload(task: PickTask) -> dict:
    """One task as automation sees it (batch body and pull API)."""
    return {
        "pickTaskId": str(task.pk),
        "warehouse": task.warehouse.code,
        "waveId": str(task.wave_id),
        "orderId": str(task.order_id),
        "orderLineId": str(task.order_line_id),
        "sku": task.item.sku,
        "gtin": task.item.gtin,
        "description": task.item.description,
        "uom": task.item.base_uom.code,
        "fromLocation": task.from_location.code,
        "qtyToPick": format(task.qty_to_pick, "f"),
        "qtyPicked": format(task.qty_picked, "f"),
        "priority": task.priority,
        "pickSequence": task.pick_sequence,
        "status": task.status,
    }


def _batch_body(*, system, warehouse_code: str, batch_key: str, tasks) -> dict:
    return {
        "batchId": batch_key,
        "instanceId": settings.WMS_INSTANCE_ID,
        "system": system.code,
        "warehouse": warehouse_code,
        "dispatchedAt": timezone.now().isoformat(),
        "ackUrl": "/api/v1/automation/pick-tasks/{pickTaskId}/ack",
        "confirmationUrl": "/api/v1/automation/pick-confirmations",
        "pickTasks": [pick_task_payload(task) for task in tasks],
    }


def _routes() -> dict[tuple[int, int], list[int]]:
    """(system id, warehouse id) → zone ids the system works there."""
    routes: dict[tuple[int, int], list[int]] = defaultdict(list)
    for zone_id, warehouse_id, system_id in AutomationZone.objects.filter(
        is_active=True, system__is_active=True, system__type="automation"
    ).values_list("zone_id", "zone__warehouse_id", "system_id"):
        routes[(system_id, warehouse_id)].append(zone_id)
    return routes


@transaction.atomic
def automation_batch_dispatch(*, system: ExternalSystem, zone_ids, limit: int) -> list[PickTask]:
    """Claim one batch of released tasks of ``zone_ids`` for ``system`` and store it
    for delivery (push) or announce it (pull), in one transaction."""
    batch_key = f"pick-tasks:{system.code}:{uuid7()}"
    claimed = tasking_services.pick_tasks_claim_for_dispatch(
        zone_ids=zone_ids, target=system.code, batch_key=batch_key, limit=limit
    )
    if not claimed:
        return []
    tasks = list(
        PickTask.objects.filter(pk__in=[t.pk for t in claimed])
        .select_related("warehouse", "item__base_uom", "from_location")
        .order_by("priority", "pick_sequence", "id")
    )
    warehouse_code = tasks[0].warehouse.code
    if system.endpoint_url:
        delivery_enqueue(
            system=system,
            body=_batch_body(
                system=system, warehouse_code=warehouse_code, batch_key=batch_key, tasks=tasks
            ),
            idempotency_key=batch_key,
            kind=DeliveryKind.PICK_TASK_BATCH,
            event_type=DISPATCHED_EVENT,
            max_attempts=_setting("WMS_AUTOMATION_MAX_ATTEMPTS", None),
        )
    else:
        _emit_dispatched(system_code=system.code, batch_key=batch_key, tasks=tasks, mode="pull")
    logger.info("dispatched %d pick task(s) to %s in batch %s", len(tasks), system.code, batch_key)
    return tasks


def automation_dispatch(*, batch_size: int | None = None, max_batches: int = 50) -> int:
    """Dispatch every released automation task (batch by batch); returns how many."""
    limit = batch_size or _setting("WMS_AUTOMATION_BATCH_SIZE", 100)
    routes = _routes()
    systems = ExternalSystem.objects.in_bulk([system_id for system_id, _wh in routes])
    dispatched = 0
    for (system_id, _warehouse_id), zone_ids in routes.items():
        system = systems.get(system_id)
        if system is None:
            continue
        for _ in range(max_batches):
            tasks = automation_batch_dispatch(system=system, zone_ids=zone_ids, limit=limit)
            dispatched += len(tasks)
            if len(tasks) < limit:
                break
    return dispatched


def _emit_dispatched(*, system_code: str, batch_key: str, tasks, mode: str, attempts=None):
    outbox_emit(
        event_type=DISPATCHED_EVENT,
        aggregate_type=BATCH_AGGREGATE,
        aggregate_id=batch_key,
        data={
            "batchId": batch_key,
            "system": system_code,
            "warehouse": tasks[0].warehouse.code,
            "delivery": mode,
            "attempts": attempts,
            "pickTaskIds": [str(task.pk) for task in tasks],
        },
    )


def on_delivery_delivered(sender, *, delivery: WebhookDelivery, **kwargs) -> None:
    """A pick-task batch landed: record it on the tasks and write ``pick_tasks.dispatched``
    (once: a replayed, already delivered batch finds the tasks marked)."""
    if delivery.kind != DeliveryKind.PICK_TASK_BATCH:
        return
    tasks = tasking_services.pick_tasks_mark_delivered(batch_key=delivery.idempotency_key)
    if tasks:
        tasks = list(
            PickTask.objects.filter(pk__in=[t.pk for t in tasks])
            .select_related("warehouse")
            .order_by("priority", "pick_sequence", "id")
        )
        _emit_dispatched(
            system_code=delivery.system.code,
            batch_key=delivery.idempotency_key,
            tasks=tasks,
            mode="push",
            attempts=delivery.attempts,
        )


def automation_batch_replay(*, batch_key: str) -> int:
    """Send a dead (or failing) batch again with a fresh retry budget, same key and body."""
    ids = WebhookDelivery.objects.filter(
        kind=DeliveryKind.PICK_TASK_BATCH, idempotency_key=batch_key
    ).values_list("pk", flat=True)
    return deliveries_replay(delivery_ids=list(ids))


def connect_receivers() -> None:
    delivery_delivered.connect(on_delivery_delivered, dispatch_uid="integrations.automation")
