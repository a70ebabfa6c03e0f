"""The one posting service: every change of stock in the WMS goes through here.

Owns ``InventoryPosting``, ``InventoryLedgerEntry``, ``InventoryBalance`` and
``InventoryReservation``; nothing else writes on hand or reserved.

A posting, in one transaction: claim the posting key, lock the affected
balance rows, check the invariants, update the balances by deltas, append the
ledger entries, change the reservation, write the outbox event.

Invariants (checked here before every write, and again by the database's
check constraints):

- per balance: ``on_hand ≥ 0`` and ``0 ≤ reserved ≤ on_hand`` (available ≥ 0);
- every balance equals the sum of its ledger entries (``verify_inventory``);
- a balance's ``reserved`` is the open quantity of its open reservations;
- a reservation resolves once: a closed one refuses every further change;
- a posting key has one effect: the same key and content returns the first
  result (``replayed=True``), the same key with other content is refused
  (``posting_key_reused``).

Lock order (see ``inventory.locks``): posting key → missing balance rows
created → balance rows in primary-key order → reservation row. Postings cannot
deadlock each other; a deadlock or serialization failure caused by a caller's
own outer transaction is retried here when this service owns the transaction,
and propagates to the caller's transaction otherwise.

Quantities are ``Decimal`` in the item's base unit, at most three decimals.

The package: ``engine`` runs the one posting sequence (claim, plan, balances,
rows, event); ``stock`` and ``reservations`` say what each posting changes.
"""

from .adjustments import (
    APPROVE_PERMISSION,
    adjustment_approve,
    adjustment_reject,
    adjustment_request,
)
from .engine import MAX_ATTEMPTS, PostingResult
from .reservations import (
    EXPIRY_ACTOR,
    Consume,
    ReservationRequest,
    reservation_commit,
    reservation_consume,
    reservation_create,
    reservation_expire,
    reservation_expire_due,
    reservation_release,
    reservations_consume,
    reservations_take,
)
from .stock import stock_adjust, stock_issue, stock_move, stock_receive, stock_status_transfer

__all__ = [
    "APPROVE_PERMISSION",
    "EXPIRY_ACTOR",
    "MAX_ATTEMPTS",
    "Consume",
    "PostingResult",
    "ReservationRequest",
    "adjustment_approve",
    "adjustment_reject",
    "adjustment_request",
    "reservation_commit",
    "reservation_consume",
    "reservation_create",
    "reservation_expire",
    "reservation_expire_due",
    "reservation_release",
    "reservations_consume",
    "reservations_take",
    "stock_adjust",
    "stock_issue",
    "stock_move",
    "stock_receive",
    "stock_status_transfer",
]
