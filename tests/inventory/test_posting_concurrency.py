"""Eight processes, each with its own PostgreSQL connection, fight over three hot SKUs.

They reserve, pick to staging, release, move stock back and forth between two
bins (opposite directions, so a lock taken out of order would deadlock), post
the same posting keys at the same time, and expire reservations while others
pick them. Afterwards nothing is oversold, no posting is lost or doubled, and
``verify_inventory`` finds no drift.
"""

import logging
import multiprocessing
import random
import traceback
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connections
from django.utils import timezone

from inventory import services
from inventory.models import (
    InventoryBalance,
    InventoryPosting,
    InventoryReservation,
    InventoryStatus,
    Item,
    Location,
    LocationType,
)
from inventory.selectors import inventory_verify
from tests.factories import InventoryStatusFactory, ItemFactory, LocationFactory
from wms.exceptions import DomainError

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

WORKERS = 8
ROUNDS = 40
STOCK_PER_SKU = Decimal("60")
EXPECTED_REFUSALS = {
    "insufficient_available",
    "reservation_expired",
    "reservation_not_open",
    "reservation_over_consume",
}


class _RetryCounter(logging.Handler):
    def __init__(self):
        super().__init__()
        self.retries = 0

    def emit(self, record):
        if "retrying after" in record.getMessage():
            self.retries += 1


def _worker(number: int, ids: dict, results) -> None:
    """One process: ROUNDS rounds of postings on the hot SKUs; reports what it did."""
    counter = _RetryCounter()
    logging.getLogger("inventory.services").addHandler(counter)
    rng = random.Random(number)
    stats: Counter = Counter()
    picked: Counter = Counter()  # sku → qty this worker moved to staging
    keys_posted: dict[str, bool] = {}  # posting key → replayed?
    try:
        items = list(Item.objects.filter(pk__in=ids["items"]).select_related("warehouse"))
        bin_a, bin_b, staging = (Location.objects.get(pk=pk) for pk in ids["locations"])
        status = InventoryStatus.objects.get(pk=ids["status"])

        def attempt(key, call, **kwargs):
            try:
                result = call(posting_key=key, **kwargs)
            except DomainError as exc:
                if exc.code not in EXPECTED_REFUSALS:
                    raise
                stats[exc.code] += 1
                return None
            keys_posted[key] = result.replayed
            return result

        for round_no in range(ROUNDS):
            item = items[rng.randrange(len(items))]
            qty = Decimal(rng.randint(1, 5))
            # Every worker posts these shared keys with identical content, at about
            # the same time: exactly one of them must take effect.
            if round_no % 8 == 0:
                shared = f"shared-move-{round_no}"
                attempt(
                    shared,
                    services.stock_move,
                    item=items[0],
                    from_location=bin_a,
                    to_location=bin_b,
                    status=status,
                    qty=Decimal("1"),
                    source_ref="shared",
                )
            # Opposite-direction moves between two bins: deadlock bait.
            src, dst = (bin_a, bin_b) if rng.random() < 0.5 else (bin_b, bin_a)
            attempt(
                f"w{number}-mv-{round_no}",
                services.stock_move,
                item=item,
                from_location=src,
                to_location=dst,
                status=status,
                qty=Decimal("1"),
                source_ref="",
            )
            expires = timezone.now() + timedelta(
                milliseconds=rng.choice([30, 60_000, 60_000, 60_000])
            )
            key = f"w{number}-res-{round_no}"
            try:
                reservation = services.reservation_create(
                    item=item,
                    location=bin_a,
                    status=status,
                    qty=qty,
                    demand_ref=f"Demand:{number}:{round_no}",
                    posting_key=key,
                    expires_at=expires,
                )
            except DomainError as exc:
                if exc.code != "insufficient_available":
                    raise
                stats[exc.code] += 1
                continue
            keys_posted[key] = reservation.replayed
            stats["reserved"] += 1
            first_pick = Decimal(rng.randint(1, int(qty)))
            if attempt(
                f"w{number}-pick-{round_no}",
                services.reservation_consume,
                reservation=reservation,
                qty=first_pick,
                to_location=staging,
            ):
                picked[item.sku] += first_pick
            # A retry of the same pick (same key) must not pick twice.
            again = attempt(
                f"w{number}-pick-{round_no}",
                services.reservation_consume,
                reservation=reservation,
                qty=first_pick,
                to_location=staging,
            )
            if again is not None:
                assert again.replayed
            if rng.random() < 0.5:
                attempt(
                    f"w{number}-rel-{round_no}",
                    services.reservation_release,
                    reservation=reservation,
                )
            if round_no % 5 == 0:
                stats["expired"] += services.reservation_expire_due()
        stats["retries"] = counter.retries
        results.put(
            {
                "worker": number,
                "stats": dict(stats),
                "picked": dict(picked),
                "keys": keys_posted,
                "error": None,
            }
        )
    except Exception:  # reported to the parent, which fails the test
        results.put({"worker": number, "error": traceback.format_exc()})
    finally:
        connections.close_all()


@pytest.fixture
def hot_stock(warehouse):
    status = InventoryStatusFactory(code="AVAILABLE", allocatable=True)
    bin_a = LocationFactory(warehouse=warehouse, code="HOT-A", type=LocationType.PICK_FACE)
    bin_b = LocationFactory(warehouse=warehouse, code="HOT-B", type=LocationType.RESERVE)
    staging = LocationFactory(warehouse=warehouse, code="HOT-STG", type=LocationType.STAGING)
    items = [ItemFactory(warehouse=warehouse, sku=f"HOT-{n}") for n in range(3)]
    for item in items:
        services.stock_receive(
            item=item,
            location=bin_a,
            status=status,
            qty=STOCK_PER_SKU,
            posting_key=f"hot-receive-{item.sku}",
            source_ref="setup",
        )
    return {
        "items": [item.pk for item in items],
        "locations": [bin_a.pk, bin_b.pk, staging.pk],
        "status": status.pk,
    }


def test_postings_from_eight_processes_never_oversell(hot_stock):
    """8 processes on 3 hot SKUs: no oversell, no lost or doubled posting, verify is clean."""
    connections.close_all()  # children must not share the parent's connection
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    workers = [
        context.Process(target=_worker, args=(n, hot_stock, results)) for n in range(WORKERS)
    ]
    for process in workers:
        process.start()
    reports = [results.get(timeout=120) for _ in workers]
    for process in workers:
        process.join(timeout=30)
        assert process.exitcode == 0

    errors = [r["error"] for r in reports if r["error"]]
    assert errors == [], errors[0] if errors else ""

    totals: Counter = Counter()
    picked: Counter = Counter()
    keys: dict[str, list[bool]] = {}
    for report in reports:
        totals.update(report["stats"])
        picked.update(report["picked"])
        for key, replayed in report["keys"].items():
            keys.setdefault(key, []).append(replayed)

    print(f"\nconcurrency totals: {dict(totals)}; picked {dict(picked)}")  # shown with -s
    # The fight really happened: stock ran out and reservations were refused.
    assert totals["reserved"] > 50
    assert totals["insufficient_available"] > 0

    # Lock order makes deadlocks impossible: the service never had to retry.
    assert totals["retries"] == 0

    # Shared keys: every worker got a result, exactly one of them was the first.
    shared = {key: flags for key, flags in keys.items() if key.startswith("shared-")}
    assert shared
    for key, flags in shared.items():
        assert flags.count(False) == 1, (key, flags)

    # No posting lost or doubled: one posting row per key that took effect.
    assert InventoryPosting.objects.filter(posting_key__in=list(keys)).count() == len(keys)

    bin_a, _bin_b, staging = hot_stock["locations"]
    for item in Item.objects.filter(pk__in=hot_stock["items"]):
        rows = {
            b.location_id: b
            for b in InventoryBalance.objects.filter(item=item, status_id=hot_stock["status"])
        }
        # Conservation: nothing was issued, so all stock is still somewhere.
        assert sum(b.on_hand for b in rows.values()) == STOCK_PER_SKU
        # Every unit the workers say they picked is in staging, and no more.
        assert rows[staging].on_hand == picked[item.sku]
        # Nothing oversold: reserved never exceeds what is on hand, held = open reservations.
        source = rows[bin_a]
        assert 0 <= source.reserved <= source.on_hand
        held = sum(
            r.qty_open
            for r in InventoryReservation.objects.filter(
                balance=source, state__in=["PENDING", "COMMITTED"]
            )
        )
        assert source.reserved == held

    report = inventory_verify()
    assert report.problems == []


def _race_worker(kind: str, number: int, ids: dict, start, results) -> None:
    """Wait at the barrier, then post once; report the outcome code."""
    try:
        item = Item.objects.get(pk=ids["item"])
        location = Location.objects.get(pk=ids["location"])
        status = InventoryStatus.objects.get(pk=ids["status"])
        start.wait(timeout=30)
        try:
            if kind == "reserve":
                services.reservation_create(
                    item=item,
                    location=location,
                    status=status,
                    qty=Decimal("5"),
                    demand_ref=f"Race:{number}",
                    posting_key=f"race-reserve-{number}",
                )
            else:
                services.stock_receive(
                    item=item,
                    location=location,
                    status=status,
                    qty=Decimal("1"),
                    posting_key=f"race-receive-{number}",
                    source_ref="race",
                )
            results.put("ok")
        except DomainError as exc:
            results.put(exc.code)
    except Exception:
        results.put(traceback.format_exc())
    finally:
        connections.close_all()


def _race(kind: str, ids: dict) -> Counter:
    connections.close_all()
    context = multiprocessing.get_context("fork")
    start, results = context.Barrier(WORKERS), context.Queue()
    workers = [
        context.Process(target=_race_worker, args=(kind, n, ids, start, results))
        for n in range(WORKERS)
    ]
    for process in workers:
        process.start()
    outcomes = Counter(results.get(timeout=60) for _ in workers)
    for process in workers:
        process.join(timeout=30)
    return outcomes


def test_reservation_create_last_five_units_go_to_one_of_eight(warehouse):
    """8 processes reserve all 5 units of a 5-unit item at once: exactly one gets them."""
    status = InventoryStatusFactory(code="AVAILABLE", allocatable=True)
    location = LocationFactory(warehouse=warehouse, code="RACE-A")
    item = ItemFactory(warehouse=warehouse, sku="RACE-5")
    services.stock_receive(
        item=item, location=location, status=status, qty=5, posting_key="race-5", source_ref=""
    )
    ids = {"item": item.pk, "location": location.pk, "status": status.pk}
    outcomes = _race("reserve", ids)
    assert outcomes == Counter({"ok": 1, "insufficient_available": WORKERS - 1}), outcomes
    balance = InventoryBalance.objects.get(item=item, location=location, status=status)
    assert (balance.on_hand, balance.reserved) == (5, 5)
    assert InventoryReservation.objects.filter(item=item).count() == 1
    assert inventory_verify().problems == []


def test_stock_receive_into_new_balance_from_eight_processes_makes_one_row(warehouse):
    """8 first receipts into the same new balance at once: one row, all 8 units on it."""
    status = InventoryStatusFactory(code="AVAILABLE", allocatable=True)
    location = LocationFactory(warehouse=warehouse, code="RACE-NEW")
    item = ItemFactory(warehouse=warehouse, sku="RACE-NEW")
    outcomes = _race("receive", {"item": item.pk, "location": location.pk, "status": status.pk})
    assert outcomes == Counter({"ok": WORKERS}), outcomes
    [balance] = InventoryBalance.objects.filter(item=item, location=location, status=status)
    assert balance.on_hand == WORKERS
    assert inventory_verify().problems == []
