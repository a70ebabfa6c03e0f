"""A Hypothesis state machine over every posting operation.

After every step: the balances equal a plain Python model of the books, the
ledger sums to the balances, 0 ≤ reserved ≤ on hand, and every reservation's
state and quantities agree with the model (``verify_inventory`` finds nothing).
Each example runs in a savepoint that is rolled back at its end.
"""

from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from inventory import services
from inventory.models import InventoryBalance, InventoryReservation, LocationType
from inventory.selectors import inventory_verify
from tests.factories import (
    InventoryStatusFactory,
    ItemFactory,
    LocationFactory,
    WarehouseFactory,
)
from wms.exceptions import DomainError

ZERO = Decimal("0")
OPEN = ("PENDING", "COMMITTED")

quantities = st.decimals(
    min_value=Decimal("0.001"), max_value=Decimal("15"), places=3, allow_nan=False
)
# A share of what is there: mostly feasible, sometimes (> 1) more than there is.
shares = st.sampled_from([Decimal(x) for x in ("0.1", "0.25", "0.5", "0.999", "1", "1.2")])
indexes = st.integers(min_value=0, max_value=10)
MILLI = Decimal("0.001")


def _share(amount: Decimal, share: Decimal) -> Decimal:
    """``share`` of ``amount`` (at least one thousandth), so rules hit both outcomes."""
    return max(MILLI, (amount * share).quantize(MILLI))


class PostingMachine(RuleBasedStateMachine):
    reservations = Bundle("reservations")
    stock = Bundle("stock")  # (item, location, status) indexes that received stock

    def __init__(self):
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        warehouse = WarehouseFactory(code="SM1")
        self.items = [ItemFactory(warehouse=warehouse) for _ in range(2)]
        self.locations = [
            LocationFactory(warehouse=warehouse, code="SM-A", type=LocationType.PICK_FACE),
            LocationFactory(warehouse=warehouse, code="SM-B", type=LocationType.RESERVE),
            LocationFactory(warehouse=warehouse, code="SM-STG", type=LocationType.STAGING),
        ]
        self.statuses = [
            InventoryStatusFactory(code="AVAILABLE", allocatable=True),
            InventoryStatusFactory(code="QUARANTINED", allocatable=False),
        ]
        self.books: dict[tuple, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
        self.model_reservations: dict[int, dict] = {}
        self.done: list[tuple] = []  # (call, kwargs, entry ids) of successful postings
        self.counter = 0

    def teardown(self):
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    # --- helpers ---------------------------------------------------------------

    def _pick(self, seq, index):
        return seq[index % len(seq)]

    def _key(self):
        self.counter += 1
        return f"sm-{self.counter}"

    def _bkey(self, item, location, status):
        return (item.pk, location.pk, status.pk)

    def _available(self, key):
        on_hand, reserved = self.books[key]
        return on_hand - reserved

    def _expect_error(self, code, call, **kwargs):
        with pytest.raises(DomainError) as err:
            call(**kwargs)
        assert err.value.code == code, (err.value.code, err.value.detail)

    def _post(self, call, **kwargs):
        result = call(**kwargs)
        entry_ids = (
            result.posting_result.entry_ids
            if isinstance(result, InventoryReservation)
            else result.entry_ids
        )
        assert not (result.replayed if hasattr(result, "replayed") else False)
        self.done.append((call, kwargs, entry_ids))
        return result

    # --- stock postings ----------------------------------------------------------

    @initialize(target=stock, qty=quantities)
    def opening_stock(self, qty):
        """Every run starts with stock on a few balances, so every rule has material."""
        opened = []
        for i, loc, s in ((0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1)):
            self.receive(i, loc, s, qty + 10)
            opened.append((i, loc, s))
        return multiple(*opened)

    @rule(target=stock, i=indexes, loc=indexes, s=indexes, qty=quantities)
    def receive(self, i, loc, s, qty):
        item, location, status = (
            self._pick(self.items, i),
            self._pick(self.locations, loc),
            self._pick(self.statuses, s),
        )
        self._post(
            services.stock_receive,
            item=item,
            location=location,
            status=status,
            qty=qty,
            posting_key=self._key(),
            source_ref="sm",
        )
        self.books[self._bkey(item, location, status)][0] += qty
        return (i, loc, s)

    @rule(src_stock=stock, b=indexes, share=shares)
    def move(self, src_stock, b, share):
        i, a, s = src_stock
        item, status = self._pick(self.items, i), self._pick(self.statuses, s)
        src, dst = self._pick(self.locations, a), self._pick(self.locations, b)
        qty = _share(self._available(self._bkey(item, src, status)), share)
        kwargs = dict(
            item=item,
            from_location=src,
            to_location=dst,
            status=status,
            qty=qty,
            posting_key=self._key(),
            source_ref="sm",
        )
        src_key, dst_key = self._bkey(item, src, status), self._bkey(item, dst, status)
        if src.pk == dst.pk:
            self._expect_error("same_location", services.stock_move, **kwargs)
        elif self._available(src_key) < qty:
            self._expect_error("insufficient_available", services.stock_move, **kwargs)
        else:
            self._post(services.stock_move, **kwargs)
            self.books[src_key][0] -= qty
            self.books[dst_key][0] += qty

    @rule(src_stock=stock, b=indexes, share=shares)
    def status_transfer(self, src_stock, b, share):
        i, loc, a = src_stock
        item, location = self._pick(self.items, i), self._pick(self.locations, loc)
        from_status, to_status = self._pick(self.statuses, a), self._pick(self.statuses, b)
        qty = _share(self._available(self._bkey(item, location, from_status)), share)
        kwargs = dict(
            item=item,
            location=location,
            from_status=from_status,
            to_status=to_status,
            qty=qty,
            posting_key=self._key(),
            source_ref="sm",
        )
        src_key, dst_key = (
            self._bkey(item, location, from_status),
            self._bkey(item, location, to_status),
        )
        if from_status.pk == to_status.pk:
            self._expect_error("same_status", services.stock_status_transfer, **kwargs)
        elif self._available(src_key) < qty:
            self._expect_error("insufficient_available", services.stock_status_transfer, **kwargs)
        else:
            self._post(services.stock_status_transfer, **kwargs)
            self.books[src_key][0] -= qty
            self.books[dst_key][0] += qty

    @rule(src_stock=stock, share=shares)
    def issue(self, src_stock, share):
        i, loc, s = src_stock
        item, location, status = (
            self._pick(self.items, i),
            self._pick(self.locations, loc),
            self._pick(self.statuses, s),
        )
        qty = _share(self._available(self._bkey(item, location, status)), share)
        kwargs = dict(
            item=item,
            location=location,
            status=status,
            qty=qty,
            posting_key=self._key(),
            source_ref="sm",
        )
        key = self._bkey(item, location, status)
        if self._available(key) < qty:
            self._expect_error("insufficient_available", services.stock_issue, **kwargs)
        else:
            self._post(services.stock_issue, **kwargs)
            self.books[key][0] -= qty

    @rule(src_stock=stock, share=shares, negative=st.booleans())
    def adjust(self, src_stock, share, negative):
        i, loc, s = src_stock
        item, location, status = (
            self._pick(self.items, i),
            self._pick(self.locations, loc),
            self._pick(self.statuses, s),
        )
        qty = _share(self._available(self._bkey(item, location, status)), share)
        delta = -qty if negative else qty
        kwargs = dict(
            item=item,
            location=location,
            status=status,
            qty_delta=delta,
            reason_code="COUNT",
            posting_key=self._key(),
            source_ref="sm",
        )
        key = self._bkey(item, location, status)
        if self._available(key) + delta < 0:
            self._expect_error("insufficient_available", services.stock_adjust, **kwargs)
        else:
            self._post(services.stock_adjust, **kwargs)
            self.books[key][0] += delta

    # --- reservations ----------------------------------------------------------------

    @rule(target=reservations, src_stock=stock, share=shares, pending=st.booleans())
    def reserve(self, src_stock, share, pending):
        i, loc, s = src_stock
        item, location, status = (
            self._pick(self.items, i),
            self._pick(self.locations, loc),
            self._pick(self.statuses, s),
        )
        qty = _share(self._available(self._bkey(item, location, status)), share)
        kwargs = dict(
            item=item,
            location=location,
            status=status,
            qty=qty,
            demand_ref="Demand:sm",
            posting_key=self._key(),
            pending=pending,
        )
        key = self._bkey(item, location, status)
        if not status.allocatable:
            self._expect_error("status_not_allocatable", services.reservation_create, **kwargs)
            return None
        if self._available(key) < qty:
            self._expect_error("insufficient_available", services.reservation_create, **kwargs)
            return None
        reservation = self._post(services.reservation_create, **kwargs)
        self.books[key][1] += qty
        self.model_reservations[reservation.pk] = {
            "key": key,
            "qty": qty,
            "consumed": ZERO,
            "released": ZERO,
            "state": "PENDING" if pending else "COMMITTED",
            "overdue": False,
        }
        return reservation

    @rule(target=reservations, src_stock=stock, share=shares)
    def reserve_committed(self, src_stock, share):
        """Committed reservations are the common case: a second rule makes them frequent."""
        return self.reserve(src_stock, share, False)

    @rule(reservation=reservations, loc=indexes)
    def pick_everything(self, reservation, loc):
        """Consume exactly what is still held (closes the reservation)."""
        if reservation is None:
            return
        self.consume(reservation, Decimal("1"), loc)

    @rule(reservation=reservations)
    def commit(self, reservation):
        if reservation is None:
            return
        model = self.model_reservations[reservation.pk]
        if (model["state"] == "PENDING" and model["overdue"]) or model["state"] == "EXPIRED":
            self._expect_error(
                "reservation_expired", services.reservation_commit, reservation=reservation
            )
        elif model["state"] not in OPEN:
            self._expect_error(
                "reservation_not_open", services.reservation_commit, reservation=reservation
            )
        else:
            services.reservation_commit(reservation=reservation)
            model["state"] = "COMMITTED"

    @rule(reservation=reservations, share=st.none() | shares)
    def release(self, reservation, share):
        if reservation is None:
            return
        model = self.model_reservations[reservation.pk]
        held = model["qty"] - model["consumed"] - model["released"]
        qty = None if share is None else _share(held, share)
        kwargs = dict(reservation=reservation, qty=qty, posting_key=self._key())
        if model["state"] == "EXPIRED":
            self._expect_error("reservation_expired", services.reservation_release, **kwargs)
        elif model["state"] not in OPEN:
            self._expect_error("reservation_not_open", services.reservation_release, **kwargs)
        elif qty is not None and qty > held:
            self._expect_error("reservation_over_release", services.reservation_release, **kwargs)
        else:
            amount = held if qty is None else qty
            self._post(services.reservation_release, **kwargs)
            model["released"] += amount
            self.books[model["key"]][1] -= amount
            if amount == held:
                model["state"] = "RELEASED"

    @rule(reservation=reservations, share=shares, loc=indexes)
    def consume(self, reservation, share, loc):
        if reservation is None:
            return
        model = self.model_reservations[reservation.pk]
        held = model["qty"] - model["consumed"] - model["released"]
        qty = _share(held, share)
        to_location = self._pick(self.locations, loc)
        kwargs = dict(
            reservation=reservation, qty=qty, to_location=to_location, posting_key=self._key()
        )
        if model["state"] == "EXPIRED" or (model["state"] in OPEN and model["overdue"]):
            self._expect_error("reservation_expired", services.reservation_consume, **kwargs)
        elif model["state"] not in OPEN:
            self._expect_error("reservation_not_open", services.reservation_consume, **kwargs)
        elif model["state"] == "PENDING":
            self._expect_error("reservation_pending", services.reservation_consume, **kwargs)
        elif qty > held:
            self._expect_error("reservation_over_consume", services.reservation_consume, **kwargs)
        else:
            self._post(services.reservation_consume, **kwargs)
            item_id, _location_id, status_id = model["key"]
            self.books[model["key"]][0] -= qty
            self.books[model["key"]][1] -= qty
            self.books[(item_id, to_location.pk, status_id)][0] += qty
            model["consumed"] += qty
            if qty == held:
                model["state"] = "CONSUMED"

    @rule(reservation=reservations)
    def make_overdue(self, reservation):
        """Its expiry passes on the database clock (the expiry task has not run yet)."""
        if reservation is None:
            return
        InventoryReservation.objects.filter(pk=reservation.pk).update(
            expires_at=timezone.now() - timedelta(days=1)
        )
        self.model_reservations[reservation.pk]["overdue"] = True

    @rule()
    def expire_due(self):
        due = [m for m in self.model_reservations.values() if m["state"] in OPEN and m["overdue"]]
        assert services.reservation_expire_due() == len(due)
        for model in due:
            held = model["qty"] - model["consumed"] - model["released"]
            model["released"] += held
            self.books[model["key"]][1] -= held
            model["state"] = "EXPIRED"

    # --- idempotency ---------------------------------------------------------------------

    @rule(data=st.data())
    def replay_earlier_posting(self, data):
        """Posting an earlier key again with the same content changes nothing."""
        if not self.done:
            return
        call, kwargs, entry_ids = data.draw(st.sampled_from(self.done))
        result = call(**kwargs)
        assert result.replayed is True
        replayed_ids = (
            result.posting_result.entry_ids
            if isinstance(result, InventoryReservation)
            else result.entry_ids
        )
        assert replayed_ids == entry_ids

    @rule(data=st.data())
    def reuse_earlier_key(self, data):
        """An earlier key with other content is refused and changes nothing."""
        if not self.done:
            return
        _call, kwargs, _ids = data.draw(st.sampled_from(self.done))
        self._expect_error(
            "posting_key_reused",
            services.stock_receive,
            item=self.items[0],
            location=self.locations[0],
            status=self.statuses[0],
            qty=Decimal("1"),
            posting_key=kwargs["posting_key"],
            source_ref="reuse",
        )

    # --- invariants -----------------------------------------------------------------------

    @invariant()
    def balances_match_the_books(self):
        actual = {
            (b.item_id, b.location_id, b.status_id): (b.on_hand, b.reserved, b.available)
            for b in InventoryBalance.objects.filter(item__in=self.items)
        }
        for key, (on_hand, reserved) in self.books.items():
            got = actual.get(key, (ZERO, ZERO, ZERO))
            assert got == (on_hand, reserved, on_hand - reserved), (key, got)
            assert ZERO <= reserved <= on_hand
        for key, got in actual.items():
            if key not in self.books:
                assert got == (ZERO, ZERO, ZERO)

    @invariant()
    def reservations_match_the_model(self):
        rows = InventoryReservation.objects.filter(pk__in=self.model_reservations)
        for row in rows:
            model = self.model_reservations[row.pk]
            assert row.state == model["state"]
            assert (row.qty_consumed, row.qty_released) == (model["consumed"], model["released"])

    @invariant()
    def ledger_and_invariants_verify(self):
        report = inventory_verify()
        assert report.problems == []


@pytest.mark.django_db
def test_posting_state_machine_keeps_every_invariant():
    """Random sequences of all postings keep ledger = balances and 0 ≤ reserved ≤ on hand."""
    run_state_machine_as_test(
        PostingMachine,
        settings=settings(
            max_examples=30,
            stateful_step_count=35,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            database=None,
        ),
    )
