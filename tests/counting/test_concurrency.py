"""Counting while another connection posts: real threads, real transactions (no freeze)."""

import threading
import time
from decimal import Decimal

import pytest
from django.db import connection, transaction

from counting.models import CountType
from counting.services import count_close, count_open, count_result_record
from inventory import services as inventory_services
from inventory.models import InventoryBalance

D = Decimal


class _Floor(threading.Thread):
    """Receipts, moves and picks on the counted balances, each transaction held open a moment
    (so a count opening meets postings in flight), until told to stop."""

    def __init__(self, items, bins, staging, status, shelf: threading.Lock):
        super().__init__(daemon=True)
        self.items, self.bins, self.status, self.shelf = items, bins, status, shelf
        self.staging = staging
        self.stop = threading.Event()
        self.started_posting = threading.Event()
        self.posted = 0
        self.error = None

    def run(self):
        try:
            n = 0
            while not self.stop.is_set():
                n += 1
                # The shelf lock stands for the physical world: a counter counting a
                # shelf sees it between two postings, never half-way through one.
                with self.shelf, transaction.atomic():
                    self._post(n)
                    self.started_posting.set()
                    time.sleep(0.02)  # in flight: holding the balances' row locks
                self.posted += 1
        except Exception as exc:  # surfaced by the test
            self.error = exc
        finally:
            connection.close()

    def _post(self, n):
        sku1, sku2 = self.items[0], self.items[1]
        inventory_services.stock_receive(
            item=sku1,
            location=self.bins[0],
            status=self.status,
            qty=D("2"),
            posting_key=f"floor-receive:{n}",
            source_ref="floor",
        )
        inventory_services.stock_move(
            item=sku1,
            from_location=self.bins[0],
            to_location=self.bins[1],
            status=self.status,
            qty=D("1"),
            posting_key=f"floor-move:{n}",
            source_ref="floor",
        )
        # A pick: reserve at A-02, then consume to staging (the picking path's postings).
        reservation = inventory_services.reservation_create(
            item=sku1,
            location=self.bins[1],
            status=self.status,
            qty=D("1"),
            demand_ref=f"floor-order:{n}",
            posting_key=f"floor-reserve:{n}",
        )
        inventory_services.reservation_consume(
            reservation=reservation,
            qty=D("1"),
            to_location=self.staging,
            posting_key=f"floor-pick:{n}",
        )
        inventory_services.stock_receive(
            item=sku2,
            location=self.bins[1],
            status=self.status,
            qty=D("1"),
            posting_key=f"floor-receive2:{n}",
            source_ref="floor",
        )


def _books(item, location, status) -> Decimal:
    row = InventoryBalance.objects.filter(item=item, location=location, status=status).first()
    return row.on_hand if row else D("0")


@pytest.mark.django_db(transaction=True)
def test_count_close_exact_while_another_connection_posts(
    warehouse, stocked, staging, available, controller, counter_one, assert_consistent
):
    """A count opened and scanned while another connection keeps posting on the counted
    balances adjusts exactly the planted variances, and nothing drifts."""
    bins, items = stocked
    shelf = threading.Lock()
    floor = _Floor(items, bins, staging, available, shelf)
    floor.start()
    assert floor.started_posting.wait(5)
    # Opened while postings are in flight on these very balances.
    count = count_open(
        warehouse=warehouse, type=CountType.CYCLE, locations=["A-01", "A-02"], actor=controller
    )
    planted = {("A-01", "SKU-1"): D("-1"), ("A-02", "SKU-1"): D("0"), ("A-02", "SKU-2"): D("3")}
    for (location_code, sku), offset in planted.items():
        time.sleep(0.05)  # the floor goes on between the scans
        location = next(b for b in bins if b.code == location_code)
        item = next(i for i in items if i.sku == sku)
        with shelf:  # the counter looks at the shelf: books now + what really differs
            counted = _books(item, location, available) + offset
            count_result_record(
                count=count,
                lines=[{"location": location_code, "sku": sku, "qty_counted": counted}],
                actor=counter_one,
                request_key=f"scan:{location_code}:{sku}",
            )
    deadline = time.monotonic() + 20
    while floor.posted < 5 and time.monotonic() < deadline:  # a busy machine posts slowly
        time.sleep(0.02)
    closed = count_close(count=count, actor=controller)  # also while the floor posts
    floor.stop.set()
    floor.join(10)
    assert floor.error is None
    assert floor.posted >= 5
    made = {(a.location.code, a.item.sku): a.qty_delta for a in closed.adjustments}
    assert made == {key: qty for key, qty in planted.items() if qty}
    assert_consistent()
