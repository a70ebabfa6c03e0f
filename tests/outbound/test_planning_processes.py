"""Planning under real concurrency and real crashes: separate processes on PostgreSQL."""

import random
import subprocess
import sys
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
from django.db.models import Sum

from integrations.services import external_system_ensure
from inventory.models import InventoryBalance, InventoryReservation, LocationType
from inventory.selectors import inventory_verify
from outbound.models import (
    FINAL_PLANNING_STATUSES,
    Allocation,
    OrderStatus,
    PlanningJob,
    PlanningJobStatus,
    ReplenishmentOrder,
    ReplenishmentOrderLine,
    Wave,
    WaveReleaseMode,
)
from outbound.services import planning_group_for, planning_job_run
from tasking.models import PickTask, PickTaskStatus

from .conftest import subprocess_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = str(Path(__file__).with_name("planner_process.py"))


@pytest.fixture
def no_nudges(monkeypatch):
    """Orders accepted here are planned only by the processes under test."""
    monkeypatch.setattr("outbound.services.planning.planning_nudge", lambda **kwargs: False)


def _run(*args, timeout=240, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, SCRIPT, *map(str, args)],
        cwd=ROOT,
        env=subprocess_env(CELERY_TASK_ALWAYS_EAGER="1", **env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_planning_consistent(warehouse):
    """Inventory and planning agree, whatever the interleaving was."""
    report = inventory_verify()
    assert report.problems == [], report.problems
    # Every balance: reserved = the open quantity of the allocations made from it.
    by_balance = defaultdict(lambda: Decimal("0"))
    for allocation in Allocation.objects.filter(status="ACTIVE").select_related("reservation"):
        reservation = allocation.reservation
        assert reservation.state == "COMMITTED"
        assert reservation.qty == allocation.qty
        by_balance[reservation.balance_id] += allocation.qty
    for balance in InventoryBalance.objects.filter(warehouse=warehouse):
        assert 0 <= balance.reserved <= balance.on_hand
        assert balance.reserved == by_balance.get(balance.pk, Decimal("0")), balance
    # No reservation without its allocation, none twice.
    assert InventoryReservation.objects.count() == Allocation.objects.count()
    # Lines: allocated = their active allocations, never above what was asked.
    sums = dict(
        Allocation.objects.filter(status="ACTIVE")
        .values_list("line_id")
        .annotate(total=Sum("qty"))
        .values_list("line_id", "total")
    )
    for line in ReplenishmentOrderLine.objects.filter(order__warehouse=warehouse):
        assert line.qty_allocated == sums.get(line.pk, Decimal("0"))
        assert line.qty_allocated <= line.qty_requested_base
    # Pick tasks: one live task per line x location, quantities from the allocations.
    task_sums = defaultdict(lambda: Decimal("0"))
    seen = set()
    for task in PickTask.objects.exclude(status=PickTaskStatus.CANCELLED):
        key = (task.order_line_id, task.from_location_id)
        assert key not in seen
        seen.add(key)
        task_sums[task.order_line_id] += task.qty_to_pick
    for order in ReplenishmentOrder.objects.filter(status=OrderStatus.RELEASED):
        assert order.wave_id is not None
        for line in order.lines.all():
            assert task_sums[line.pk] == line.qty_allocated
    # Every order sits in at most one wave whose counts add up.
    for wave in Wave.objects.all():
        assert wave.order_count == wave.orders.count()


def test_four_planners_on_hot_skus_never_over_allocate(
    warehouse, item, location, receive, wave_policy, no_nudges
):
    """4 planner processes, overlapping hot SKUs, demand > stock: nothing over-allocated,
    every order in a final planning state, ``verify_inventory`` clean."""
    from outbound.services import OrderLineInput, order_accept

    wave_policy(release_mode=WaveReleaseMode.AUTOMATIC, max_open_minutes=0, max_orders=10)
    stores = [f"S{100 + n}" for n in range(12)]
    for code in stores:
        external_system_ensure(system_type="store", code=code, warehouse_codes=[warehouse.code])
    assert len({planning_group_for(code) for code in stores}) >= 4
    hot = [item(f"HOT-{n}") for n in range(3)]
    stock = {}
    for n, sku in enumerate(hot):
        receive(sku, location(f"P-H{n}"), 30)
        receive(sku, location(f"R-H{n}", type=LocationType.RESERVE), 40)
        receive(sku, location(f"R-H{n}b", type=LocationType.RESERVE), 25)
        stock[sku.pk] = Decimal("95")
    rng = random.Random(7)
    demand = defaultdict(lambda: Decimal("0"))
    orders = 160
    for n in range(orders):
        chosen = rng.sample(hot, k=rng.randint(1, 3))
        lines = []
        for number, sku in enumerate(chosen, start=1):
            qty = Decimal(rng.randint(1, 6))
            demand[sku.pk] += qty
            lines.append(OrderLineInput(line_number=number, sku=sku.sku, qty=qty))
        order_accept(
            warehouse=warehouse,
            store_code=stores[n % len(stores)],
            external_order_id=f"HOT-{n}",
            priority=rng.randint(1, 9),
            lines=lines,
        )
    assert all(demand[pk] > stock[pk] for pk in stock)

    start_at = time.time() + 5
    processes = [
        subprocess.Popen(
            [sys.executable, SCRIPT, "drain", str(warehouse.pk), str(start_at), str(seed)],
            cwd=ROOT,
            env=subprocess_env(CELERY_TASK_ALWAYS_EAGER="1"),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for seed in range(4)
    ]
    outputs = []
    for process in processes:
        out, _ = process.communicate(timeout=300)
        outputs.append(out)
        assert process.returncode == 0, out
    assert all("jobs" in out for out in outputs)

    assert not ReplenishmentOrder.objects.filter(needs_planning=True).exists()
    statuses = set(ReplenishmentOrder.objects.values_list("status", flat=True))
    assert statuses <= set(FINAL_PLANNING_STATUSES), statuses
    assert OrderStatus.BACKORDERED in statuses and OrderStatus.RELEASED in statuses
    for sku_id, on_hand in stock.items():
        reserved = InventoryBalance.objects.filter(item_id=sku_id).aggregate(r=Sum("reserved"))["r"]
        # demand exceeds stock: all of it is allocated, and not one unit more
        assert reserved == on_hand
    assert not PlanningJob.objects.filter(status=PlanningJobStatus.FAILED).exists()
    for seed in range(4):
        assert PlanningJob.objects.filter(task_id__startswith=f"drain-{seed}-").exists()
    assert_planning_consistent(warehouse)


@pytest.mark.parametrize(("point", "nth"), [("reserve", 3), ("release", 2)])
def test_planning_job_killed_half_way_and_rerun_duplicates_nothing(
    warehouse, store, item, location, receive, wave_policy, no_nudges, point, nth
):
    """A planner killed mid-order (or mid-release) and run again: no second reservation,
    wave or pick task; the same job row records the second attempt."""
    from outbound.services import OrderLineInput, order_accept

    wave_policy(release_mode=WaveReleaseMode.AUTOMATIC, max_open_minutes=0, max_orders=2)
    skus = [item(f"SKU-{n}") for n in range(3)]
    for n, sku in enumerate(skus):
        receive(sku, location(f"P-{n}"), 100)
        receive(sku, location(f"R-{n}", type=LocationType.RESERVE), 100)
    for n in range(6):
        order_accept(
            warehouse=warehouse,
            store_code="S042",
            external_order_id=f"E{n}",
            lines=[
                OrderLineInput(line_number=k + 1, sku=sku.sku, qty=Decimal(10 + 25 * (n % 2)))
                for k, sku in enumerate(skus)
            ],
        )
    group = planning_group_for("S042")

    died = _run("die-after", warehouse.pk, group, "job-1", point, nth)
    assert died.returncode == 9, died.stdout + died.stderr
    assert f"dying at {point}" in died.stdout
    job = PlanningJob.objects.get(task_id="job-1")
    assert job.status == PlanningJobStatus.RUNNING  # its worker vanished
    planned_before = ReplenishmentOrder.objects.exclude(status=OrderStatus.ACCEPTED).count()
    if point == "reserve":
        # Two orders (three reservations each) committed; the third died with its
        # reservations written but not committed.
        assert planned_before == 2
        assert InventoryReservation.objects.count() == 6
    else:
        assert planned_before == 6
        assert Wave.objects.filter(status="RELEASED").count() == 1

    rerun = planning_job_run(warehouse_id=warehouse.pk, planning_group=group, task_id="job-1")
    assert rerun.pk == job.pk
    rerun.refresh_from_db()
    assert (rerun.status, rerun.attempts) == (PlanningJobStatus.DONE, 2)
    assert set(ReplenishmentOrder.objects.values_list("status", flat=True)) == {
        OrderStatus.RELEASED
    }
    assert InventoryReservation.objects.count() == 18  # 6 orders x 3 lines, one location each
    assert Allocation.objects.count() == 18
    assert Wave.objects.count() == 3
    assert PickTask.objects.count() == 18
    assert_planning_consistent(warehouse)
