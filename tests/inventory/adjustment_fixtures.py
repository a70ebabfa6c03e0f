"""Fixtures of the adjustment, approval and audit tests (imported by those modules).

SKU-1001 (unit cost 2.50) has 10 AVAILABLE in bin A, 3 of them reserved;
MAD1's thresholds: 20 units or 100.00 EUR; a controller requests, two
supervisors may approve.
"""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group

from inventory import services
from inventory.models import AdjustmentThreshold, ReasonCode, ReasonCodeUse
from tests.factories import UserFactory

__all__ = [
    "controller_user",
    "reasons",
    "request_adjustment",
    "second_supervisor",
    "stocked",
    "supervisor_user",
    "threshold",
]


@pytest.fixture
def reasons(db):
    """DAMAGE and FOUND for adjustments (LOST needs approval whatever the size), one that is not."""
    make = ReasonCode.objects.create
    return {
        "DAMAGE": make(code="DAMAGE", description="Damaged", use=ReasonCodeUse.ADJUSTMENT),
        "FOUND": make(code="FOUND", description="Found", use=ReasonCodeUse.ADJUSTMENT),
        "LOST": make(
            code="LOST", description="Lost", use=ReasonCodeUse.ADJUSTMENT, requires_approval=True
        ),
        "SHORT_PICK": make(code="SHORT_PICK", description="Short", use=ReasonCodeUse.EXCEPTION),
    }


@pytest.fixture
def threshold(warehouse):
    return AdjustmentThreshold.objects.create(
        warehouse=warehouse, max_abs_qty=Decimal("20"), max_abs_value=Decimal("100")
    )


@pytest.fixture
def stocked(item, bin_a, available):
    """10 on hand in bin A, 3 reserved (7 available)."""
    services.stock_receive(
        item=item, location=bin_a, status=available, qty=10, posting_key="rcv", source_ref="R1"
    )
    services.reservation_create(
        item=item, location=bin_a, status=available, qty=3, demand_ref="order:1", posting_key="res"
    )
    return item


def _user(username, role, warehouse):
    user = UserFactory(username=username, warehouses=[warehouse])
    user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def controller_user(warehouse):
    return _user("ctrl", "inventory_controller", warehouse)


@pytest.fixture
def supervisor_user(warehouse):
    return _user("sup1", "supervisor", warehouse)


@pytest.fixture
def second_supervisor(warehouse):
    return _user("sup2", "supervisor", warehouse)


@pytest.fixture
def request_adjustment(warehouse, stocked, bin_a, available, reasons, threshold):
    """``request_adjustment(qty, reason="DAMAGE", actor=..., key=...)`` on SKU-1001 in bin A."""
    counter = iter(range(1, 10_000))

    def make(qty, reason="DAMAGE", *, actor, key=None, source="api"):
        return services.adjustment_request(
            warehouse=warehouse,
            item=stocked,
            location=bin_a,
            status=available,
            qty_delta=qty,
            reason_code=reason,
            note="test",
            actor=actor,
            source=source,
            request_key=key or f"test:{next(counter)}",
        )

    return make
