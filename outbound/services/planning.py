"""Planning: allocate accepted orders by reserving stock, then hand them to waves.

Work is partitioned by warehouse x planning group (a hash of the store code).
A planning job drains one partition order by order, each order in its own
transaction: claim it (``SKIP LOCKED``), run the deep checks, reserve stock for
its open lines (``allocation.order_lines_allocate``: the allocation rules, and
reservations through ``inventory.services`` only) and record the allocations,
then set the order PLANNED, BACKORDERED or REJECTED and write its event. A job
killed half-way loses only the order in flight (rolled back); running it
again continues where it stopped: posting keys are deterministic, so even a
replayed posting cannot reserve twice.

What cannot be allocated stays open and the order is BACKORDERED until stock
appears or is released.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db import OperationalError, connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from simple_history.utils import bulk_update_with_history

from inventory.models import InventoryBalance
from wms import metrics, sql
from wms.history import history_records
from wms.outbox import outbox_emit, outbox_insert

from .. import queries, selectors
from ..locks import order_claim_next_for_planning, order_lock
from ..models import (
    Allocation,
    AllocationStatus,
    LineStatus,
    OrderStatus,
    PlanningJob,
    PlanningJobStatus,
    PlanningTrigger,
    ReplenishmentOrder,
    ReplenishmentOrderLine,
)
from ..tasks import order_planning_task
from .allocation import order_lines_allocate
from .intake import ORDER_AGGREGATE
from .waves import waves_build, waves_release_due

logger = logging.getLogger(__name__)

ZERO = Decimal("0")
_NUDGE_TTL_SECONDS = 2
_HEARTBEAT_SECONDS = 2.0
_RETRYABLE_PGCODES = {"40P01", "40001"}  # deadlock detected, serialization failure
STALE_JOB_AFTER = timedelta(minutes=10)


def _nudge_key(warehouse_id: int, planning_group: int) -> str:
    return f"wms:outbound:plan-queued:{warehouse_id}:{planning_group}"


def planning_nudge(
    *, warehouse_id: int, planning_group: int, trigger: str = PlanningTrigger.ACCEPTED
) -> bool:
    """Make sure a planning job for this partition is queued (called after commit).

    Coalesced: while a job for the partition is queued and has not started,
    further nudges enqueue nothing (a cache key the job deletes when it starts).
    Never raises: the order is already stored, and the sweep plans anything a
    lost nudge missed. Returns whether a task was enqueued.
    """
    key = _nudge_key(warehouse_id, planning_group)
    try:
        if not cache.add(key, 1, timeout=_NUDGE_TTL_SECONDS):
            return False
    except Exception:  # a cache outage must not turn into a failed intake
        logger.warning("planning nudge: cache unavailable", exc_info=True)
    try:
        order_planning_task.apply_async(
            kwargs={
                "warehouse_id": warehouse_id,
                "planning_group": planning_group,
                "trigger": str(trigger),
            },
            retry=True,
            retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.2},
        )
    except Exception:
        logger.warning(
            "planning nudge for %s/%s not enqueued; the sweep will plan it",
            warehouse_id,
            planning_group,
            exc_info=True,
        )
        with contextlib.suppress(Exception):
            cache.delete(key)
        return False
    return True


def planning_nudge_consumed(*, warehouse_id: int, planning_group: int) -> None:
    """Called by a starting job: later commits must nudge again."""
    try:
        cache.delete(_nudge_key(warehouse_id, planning_group))
    except Exception:
        logger.warning("planning nudge: cache unavailable", exc_info=True)


# --- Jobs ---------------------------------------------------------------------------


@dataclass
class PlanOutcome:
    order_id: object
    status: str
    lines_allocated: int = 0


@dataclass
class _JobContext:
    """What one job run looks up once: stores, items, statuses and locations by id.

    Master data read at a job's start serves its whole run (at most
    ``WMS_PLANNING_BATCH_SIZE`` orders, seconds): a store, item or location
    deactivated meanwhile is seen by the next job. Stock is never cached.
    """

    now: object
    stores: dict = field(default_factory=dict)
    items: dict = field(default_factory=dict)
    statuses: dict = field(default_factory=dict)
    locations: dict = field(default_factory=dict)


def _job_start(*, warehouse_id, planning_group, trigger, task_id, worker) -> PlanningJob:
    now = timezone.now()
    job = None
    if task_id:
        job = PlanningJob.objects.filter(task_id=task_id).first()
    if job is None:
        job = PlanningJob.objects.create(
            warehouse_id=warehouse_id,
            planning_group=planning_group,
            trigger=trigger,
            task_id=task_id,
            status=PlanningJobStatus.RUNNING,
            worker=worker[:200],
            attempts=1,
            started_at=now,
            heartbeat_at=now,
        )
        return job
    # A redelivered task (its worker was lost): resume the same job.
    job.status = PlanningJobStatus.RUNNING
    job.attempts += 1
    job.worker = worker[:200]
    job.heartbeat_at = now
    job.started_at = job.started_at or now
    job.finished_at = None
    job.save(
        update_fields=["status", "attempts", "worker", "heartbeat_at", "started_at", "finished_at"]
    )
    return job


def planning_job_run(
    *,
    warehouse_id: int,
    planning_group: int,
    trigger: str = PlanningTrigger.MANUAL,
    task_id: str | None = None,
    worker: str = "",
    max_orders: int | None = None,
) -> PlanningJob:
    """Plan the orders of one partition until none awaits planning (or ``max_orders``).

    Then builds waves and releases the due ones for the warehouse. The job row
    records counts and its end status; ``job.more`` tells the caller that the
    partition still has work (the batch limit was reached).
    """
    planning_nudge_consumed(warehouse_id=warehouse_id, planning_group=planning_group)
    job = _job_start(
        warehouse_id=warehouse_id,
        planning_group=planning_group,
        trigger=trigger,
        task_id=task_id,
        worker=worker,
    )
    tally = _JobTally()
    job.more = False
    try:
        job.more = _job_drain(
            job,
            warehouse_id=warehouse_id,
            planning_group=planning_group,
            limit=max_orders or settings.WMS_PLANNING_BATCH_SIZE,
            tally=tally,
        )
        if tally.planned:
            while waves_build(warehouse_id=warehouse_id):
                pass
        waves_release_due(warehouse_id=warehouse_id)
    except BaseException as exc:
        PlanningJob.objects.filter(pk=job.pk).update(
            status=PlanningJobStatus.FAILED,
            finished_at=timezone.now(),
            last_error=f"{type(exc).__name__}: {exc}"[:2000],
            **tally.figures(job),
        )
        raise
    job.status = PlanningJobStatus.DONE
    job.finished_at = job.heartbeat_at = timezone.now()
    figures = tally.figures(job)
    for name, value in figures.items():
        setattr(job, name, value)
    job.save(update_fields=["status", "finished_at", "heartbeat_at", *figures])
    return job


@dataclass
class _JobTally:
    """What a job run has done so far, not yet on its row."""

    planned: int = 0
    backordered: int = 0
    rejected: int = 0
    lines_allocated: int = 0

    def add(self, outcome: PlanOutcome) -> None:
        if outcome.status == OrderStatus.PLANNED:
            self.planned += 1
        elif outcome.status == OrderStatus.BACKORDERED:
            self.backordered += 1
        elif outcome.status == OrderStatus.REJECTED:
            self.rejected += 1
        self.lines_allocated += outcome.lines_allocated

    def figures(self, job: PlanningJob) -> dict:
        """The job row's figures with this run's added."""
        return {
            "orders_planned": job.orders_planned + self.planned,
            "orders_backordered": job.orders_backordered + self.backordered,
            "orders_rejected": job.orders_rejected + self.rejected,
            "lines_allocated": job.lines_allocated + self.lines_allocated,
        }


def _job_drain(job, *, warehouse_id, planning_group, limit, tally: _JobTally) -> bool:
    """Plan the partition's orders one at a time until none waits (False) or ``limit``
    were planned (True: more may wait), beating the job's heartbeat meanwhile."""
    context = _JobContext(now=timezone.now())
    last_beat = time.monotonic()
    for _ in range(limit):
        outcome = order_plan_next(
            warehouse_id=warehouse_id, planning_group=planning_group, context=context
        )
        if outcome is None:
            return False
        tally.add(outcome)
        if time.monotonic() - last_beat > _HEARTBEAT_SECONDS:
            last_beat = time.monotonic()
            context.now = timezone.now()
            PlanningJob.objects.filter(pk=job.pk).update(
                heartbeat_at=context.now, **tally.figures(job)
            )
    return True


def order_plan_next(*, warehouse_id: int, planning_group: int, context=None) -> PlanOutcome | None:
    """Claim and plan the next order of the partition; None when none is waiting.

    A deadlock between planners (possible only on the rare second pass after a
    lost race, which can take balances out of primary-key order) rolls back
    the order and is retried.
    """
    context = context or _JobContext(now=timezone.now())
    for attempt in range(5):
        try:
            return _order_plan_next_atomic(
                warehouse_id=warehouse_id, planning_group=planning_group, context=context
            )
        except OperationalError as exc:
            code = getattr(getattr(exc, "__cause__", None), "sqlstate", None)
            if code not in _RETRYABLE_PGCODES or attempt == 4:
                raise
            time.sleep(0.01 * (attempt + 1))
    return None  # pragma: no cover


@transaction.atomic
def _order_plan_next_atomic(*, warehouse_id, planning_group, context) -> PlanOutcome | None:
    order = order_claim_next_for_planning(warehouse_id=warehouse_id, planning_group=planning_group)
    if order is None:
        return None
    return _order_plan_counted(order=order, context=context)


@transaction.atomic
def order_plan(*, order_id) -> PlanOutcome | None:
    """Plan one order now (admin "plan now", tests); None if it is not plannable."""
    order = order_lock(order_id=order_id)
    if order is None or not order.needs_planning:
        return None
    return _order_plan_counted(order=order, context=_JobContext(now=timezone.now()))


# --- One order ------------------------------------------------------------------------


def _order_plan_counted(*, order: ReplenishmentOrder, context: _JobContext) -> PlanOutcome:
    """``_order_plan``; its first decision on an order is measured after the commit."""
    first = order.status == OrderStatus.ACCEPTED
    outcome = _order_plan(order=order, context=context)
    if first:
        metrics.order_planned(
            warehouse_id=order.warehouse_id,
            accepted_at=order.accepted_at,
            outcome=str(outcome.status),
            reasons=order.rejection_reasons,
        )
    return outcome


def _order_plan(*, order: ReplenishmentOrder, context: _JobContext) -> PlanOutcome:
    if order.status not in (OrderStatus.ACCEPTED, OrderStatus.BACKORDERED):
        # Cancelled (or otherwise moved on) since it was marked: nothing to plan.
        ReplenishmentOrder.objects.filter(pk=order.pk).update(needs_planning=False)
        return PlanOutcome(order.pk, order.status)

    lines = _with_items(selectors.order_lines_to_plan(order_id=order.pk), context)
    if order.status == OrderStatus.ACCEPTED:
        reasons = _deep_check(order=order, lines=lines, context=context)
        if reasons:
            _order_reject(order=order, lines=lines, reasons=reasons)
            return PlanOutcome(order.pk, OrderStatus.REJECTED)

    allocated_before = any(line.qty_allocated > 0 for line in lines)
    allocated, allocations = order_lines_allocate(
        order_id=order.pk,
        warehouse_id=order.warehouse_id,
        wanted=[(line, line.qty_open) for line in lines if line.qty_open > 0],
        locations=context.locations,
        statuses=context.statuses,
    )
    changed_lines = []
    for line in lines:
        got = allocated.get(line.pk, ZERO)
        new_status = LineStatus.ALLOCATED if line.qty_open - got <= 0 else LineStatus.BACKORDERED
        if got > 0:
            line.qty_allocated += got
            line.plan_round += 1
        if got > 0 or new_status != line.status:
            line.status = new_status
            changed_lines.append(line)

    fully = all(line.qty_open <= 0 for line in lines)
    previous = order.status
    order.status = OrderStatus.PLANNED if fully else OrderStatus.BACKORDERED
    order.needs_planning = False
    if not (changed_lines or order.status != previous):
        # Nothing moved (a backorder still without stock): no history, no event.
        sql.execute([sql.update(order, ["needs_planning"])])
        return PlanOutcome(order.pk, order.status)
    changed = ["status", "needs_planning", "updated_at"]
    if fully:
        order.planned_at = context.now
        order.zone_id = (
            _dominant_zone(order)  # earlier rounds' allocations count too
            if allocated_before
            else _dominant_zone_of(allocations, context.locations)
        )
        changed += ["planned_at", "zone"]
    order.updated_at = timezone.now()
    _order_record(
        order=order,
        changed=changed,
        lines=changed_lines,
        allocations=allocations,
        event=_planning_event(order=order, lines=lines, allocated=allocated),
    )
    return PlanOutcome(order.pk, order.status, sum(1 for v in allocated.values() if v > 0))


def _with_items(lines, context: _JobContext) -> list[ReplenishmentOrderLine]:
    """Give each line its item (with its warehouse: the posting service's events
    read it), from the job's cache."""
    items = context.items
    missing = {line.item_id for line in lines} - items.keys()
    if missing:
        items.update(selectors.items_by_id(item_ids=missing))
    for line in lines:
        ReplenishmentOrderLine.item.field.set_cached_value(line, items[line.item_id])
    return lines


def _order_record(*, order, changed, lines, allocations, event) -> None:
    """What planning decided, in one round trip (``wms.sql.execute``): the allocation
    rows, the lines' figures and their history, the order and its history, and
    the event. The ORM would take seven round trips and compile each statement."""
    history = {"history_type": "~", "change_reason": "planning"}
    statements = []
    if allocations:
        statements.append(_allocations_insert(allocations))
    if lines:
        statements += _lines_update(lines)
        statements.append(
            history_records(ReplenishmentOrderLine, [line.pk for line in lines], **history)
        )
    statements += [
        sql.update(order, changed),
        history_records(ReplenishmentOrder, [order.pk], **history),
        outbox_insert(**event),
    ]
    sql.execute(statements)


def _lines_update(lines) -> list[tuple[str, list]]:
    """The lines' planning figures: one UPDATE from arrays, whatever the number of
    lines (``queries.LINES_PLAN_UPDATE``)."""
    return [
        (
            queries.LINES_PLAN_UPDATE,
            [
                [line.pk for line in lines],
                [line.qty_allocated for line in lines],
                [str(line.status) for line in lines],
                [line.plan_round for line in lines],
            ],
        )
    ]


def _allocations_insert(allocations: list[Allocation]) -> tuple[str, list]:
    """One multi-row INSERT (``queries.allocations_insert``)."""
    return (
        queries.allocations_insert(len(allocations)),
        [
            f.get_db_prep_save(getattr(allocation, f.attname), connection)
            for allocation in allocations
            for f in queries.ALLOCATION_INSERT_FIELDS
        ],
    )


def _deep_check(*, order, lines, context) -> list[dict]:
    """Checks too costly or too late for intake; any reason rejects the order."""
    reasons: list[dict] = []
    store = context.stores.get(order.store_code, False)
    if store is False:
        store = selectors.store_for_code(order.store_code)
        granted = selectors.store_warehouse_ids(store) if store is not None else frozenset()
        context.stores[order.store_code] = store = (store, granted)
    system, granted = store
    if system is None:
        reasons.append(
            {"code": "store_inactive", "message": f"Store '{order.store_code}' is not active."}
        )
    elif order.warehouse_id not in granted:
        reasons.append(
            {
                "code": "store_not_granted",
                "message": f"Store '{order.store_code}' is no longer served by this warehouse.",
            }
        )
    grace = timedelta(hours=settings.WMS_ORDER_SHIP_BY_GRACE_HOURS)
    if order.requested_ship_by and order.requested_ship_by < context.now - grace:
        reasons.append(
            {
                "code": "ship_by_passed",
                "message": f"The requested ship-by {order.requested_ship_by.isoformat()} "
                "has passed.",
            }
        )
    for line in lines:
        if not line.item.is_active:
            reasons.append(
                {
                    "code": "item_inactive",
                    "message": f"SKU '{line.item.sku}' is no longer active.",
                    "lineNumber": line.line_number,
                }
            )
    return reasons


def _order_reject(*, order, lines, reasons) -> None:
    for line in lines:
        line.status = LineStatus.REJECTED
    bulk_update_with_history(
        lines, ReplenishmentOrderLine, ["status"], default_change_reason="rejected by planning"
    )
    order.status = OrderStatus.REJECTED
    order.needs_planning = False
    order.rejection_reasons = reasons
    order._change_reason = "rejected by planning"
    order.save(update_fields=["status", "needs_planning", "rejection_reasons", "updated_at"])
    outbox_emit(
        event_type="order.rejected",
        aggregate_type=ORDER_AGGREGATE,
        aggregate_id=order.id,
        data={
            "orderId": str(order.id),
            "externalOrderId": order.external_order_id,
            "storeCode": order.store_code,
            "rejectionReasons": reasons,
        },
    )


def _dominant_zone(order) -> int | None:
    """The zone most of the order's units are picked from (ties: the first on the path)."""
    return _zone_with_most_units(
        order.allocations.filter(status=AllocationStatus.ACTIVE).values_list(
            "location__zone_id", "qty", "location__pick_sequence"
        )
    )


def _dominant_zone_of(allocations: list[Allocation], locations: dict) -> int | None:
    """``_dominant_zone`` of an order whose allocations are all in ``allocations`` (its
    first planning round), from the job's locations instead of the database."""
    return _zone_with_most_units(
        (
            locations[allocation.location_id].zone_id,
            allocation.qty,
            locations[allocation.location_id].pick_sequence,
        )
        for allocation in allocations
    )


def _zone_with_most_units(rows) -> int | None:
    """Of ``(zone id, units, pick sequence)`` rows: the zone with the most units (ties:
    the one whose first location comes first on the pick path)."""
    units: dict = defaultdict(lambda: ZERO)
    first_seq: dict = {}
    for zone_id, qty, seq in rows:
        units[zone_id] += qty
        first_seq[zone_id] = min(first_seq.get(zone_id, seq), seq)
    if not units:
        return None
    return min(units, key=lambda z: (-units[z], first_seq[z], z or 0))


def _planning_event(*, order, lines, allocated) -> dict:
    """``order.planned`` or ``order.backordered`` (``outbox_emit``'s arguments)."""
    planned = order.status == OrderStatus.PLANNED
    return dict(
        event_type="order.planned" if planned else "order.backordered",
        aggregate_type=ORDER_AGGREGATE,
        aggregate_id=order.id,
        data={
            "orderId": str(order.id),
            "externalOrderId": order.external_order_id,
            "storeCode": order.store_code,
            # The warehouse's code: the outbox admin shows an event to staff of it only.
            "warehouse": metrics.warehouse_code(order.warehouse_id),
            "status": order.status,
            "lines": [
                {
                    "lineNumber": line.line_number,
                    "sku": line.item.sku,
                    "qtyRequested": str(line.qty_requested_base),
                    "qtyAllocated": str(line.qty_allocated),
                    "qtyAllocatedNow": str(allocated.get(line.pk, ZERO)),
                    "qtyBackordered": str(line.qty_open),
                }
                for line in lines
            ],
        },
    )


# --- Backorders -------------------------------------------------------------------------


def backorders_reopen_for_items(*, warehouse_id: int, item_ids) -> int:
    """Mark backordered orders of these items for planning again (stock was freed).

    Runs in the caller's transaction; the nudges go out after its commit.
    """
    qs = ReplenishmentOrder.objects.filter(
        warehouse_id=warehouse_id,
        status=OrderStatus.BACKORDERED,
        needs_planning=False,
        lines__status=LineStatus.BACKORDERED,
        lines__item_id__in=list(item_ids),
    )
    return _reopen(qs)


def backorders_reopen_with_stock(*, warehouse_id: int | None = None) -> int:
    """Mark backordered orders for planning when stock for any of their open lines is
    available now (the sweep: receipts, moves, releases of other orders)."""
    stock = InventoryBalance.objects.filter(
        warehouse_id=OuterRef("order__warehouse_id"),
        item_id=OuterRef("item_id"),
        available__gt=0,
        status__allocatable=True,
        location__type__in=selectors.PICKABLE_LOCATION_TYPES,
        location__is_active=True,
    )
    lines = ReplenishmentOrderLine.objects.filter(
        order_id=OuterRef("pk"), status=LineStatus.BACKORDERED
    ).filter(Exists(stock))
    qs = ReplenishmentOrder.objects.filter(
        status=OrderStatus.BACKORDERED, needs_planning=False
    ).filter(Exists(lines))
    if warehouse_id is not None:
        qs = qs.filter(warehouse_id=warehouse_id)
    return _reopen(qs)


def _reopen(qs) -> int:
    partitions = set(qs.values_list("warehouse_id", "planning_group").distinct())
    if not partitions:
        return 0
    count = ReplenishmentOrder.objects.filter(pk__in=qs.values("pk")).update(needs_planning=True)
    for warehouse_id, group in partitions:
        transaction.on_commit(
            lambda w=warehouse_id, g=group: planning_nudge(
                warehouse_id=w, planning_group=g, trigger=PlanningTrigger.STOCK
            )
        )
    return count


# --- Sweep ---------------------------------------------------------------------------------


def planning_sweep() -> dict:
    """What the beat runs: lost jobs, backorders with stock, missed nudges, due waves."""
    now = timezone.now()
    abandoned = selectors.planning_jobs_stale(older_than=now - STALE_JOB_AFTER).update(
        status=PlanningJobStatus.ABANDONED, finished_at=now
    )
    with transaction.atomic():
        reopened = backorders_reopen_with_stock()
    nudged = 0
    for warehouse_id, group in selectors.partitions_awaiting_planning():
        nudged += planning_nudge(
            warehouse_id=warehouse_id, planning_group=group, trigger=PlanningTrigger.SWEEP
        )
    released = 0
    for warehouse_id in selectors.warehouses_with_wave_work():
        while waves_build(warehouse_id=warehouse_id):
            pass
        released += len(waves_release_due(warehouse_id=warehouse_id))
    return {
        "abandoned_jobs": abandoned,
        "backorders_reopened": reopened,
        "partitions_nudged": nudged,
        "waves_released": released,
    }
