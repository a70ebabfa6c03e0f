"""What outbound needs from the app that does the picking, and nothing more.

Outbound owns orders and waves; ``tasking`` owns pick tasks and sits above
outbound (its tasks point at waves, orders and order lines, and a pick
confirmation moves an order line on). Releasing or cancelling a wave, or
cancelling an order, still has to create or cancel pick tasks in the same
transaction. Importing ``tasking`` from here would close a cycle, so outbound
states what it needs as a port, and tasking plugs its services in when Django
starts (``TaskingConfig.ready``):

    outbound.services.waves ──calls──▶ ports.pick_work() ◀──registers── tasking

A port rather than a signal: the call is synchronous, inside the caller's
transaction, returns a value and may refuse (``PickingStarted``), and a missing
implementation is an error at the first call rather than work silently lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from django.core.exceptions import ImproperlyConfigured

from wms.exceptions import DomainError


class PickingStarted(DomainError):
    """A pick task of the wave or order is already in a picker's (or a robot's) hands."""

    status = 409
    code = "picking_started"
    title = "Picking has started"


@dataclass(frozen=True)
class PickTaskSpec:
    """What the planner wants picked: ``qty`` of the line's item from one location."""

    order_id: object
    order_line_id: object
    item_id: int
    from_location_id: int
    pick_sequence: int
    qty: Decimal
    reservation_ids: tuple[int, ...]


class PickWork(Protocol):
    """The pick task services outbound calls, all inside the caller's transaction."""

    def tasks_create_for_wave(self, *, wave, specs: list[PickTaskSpec], actor=None) -> list:
        """Create the wave's tasks in the order of ``specs`` (the pick path); idempotent."""

    def tasks_cancel_for_wave(self, *, wave, actor=None) -> int:
        """Cancel the wave's tasks, or raise ``PickingStarted`` and cancel nothing."""

    def tasks_cancel_for_order(self, *, order, actor=None) -> int:
        """Cancel the order's tasks, or raise ``PickingStarted`` and cancel nothing."""


_pick_work: PickWork | None = None


def pick_work_register(implementation: PickWork) -> None:
    """Called once by the app that owns pick tasks, from its ``AppConfig.ready``."""
    global _pick_work
    _pick_work = implementation


def pick_work() -> PickWork:
    if _pick_work is None:
        raise ImproperlyConfigured(
            "No pick task service is registered: add 'tasking' to INSTALLED_APPS."
        )
    return _pick_work
