"""Reservation postings: create, commit, release, consume (a pick) and expire."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import connection
from django.utils import timezone

from wms.exceptions import DomainError
from wms.outbox import outbox_emit

from .. import locks, queries
from ..exceptions import (
    InvalidPosting,
    PostingKeyReused,
    ReservationExpired,
    ReservationNotOpen,
    ReservationOverConsume,
    ReservationOverRelease,
    ReservationPending,
    StatusNotAllocatable,
)
from ..models import (
    InventoryReservation,
    InventoryStatus,
    Item,
    LedgerEntryType,
    Location,
    PostingKind,
    ReservationState,
)
from .engine import (
    ZERO,
    BatchPosting,
    BatchReservation,
    Line,
    Plan,
    PostingResult,
    ReservationChange,
    _created_balances,
    _plan_withdraw_balances,
    accepting,
    aware,
    lock_balances,
    post,
    post_planned,
    post_reservations,
    posting_transaction,
    qty_checked,
    same_warehouse,
)

EXPIRY_ACTOR = "system:reservation-expiry"


def _lock_reservation(reservation: InventoryReservation, extra_lines: list[Line] = ()):
    """Lock the reservation's balance (and ``extra_lines``' balances), then the reservation."""
    own_key = (reservation.item_id, reservation.location_id, reservation.status_id)
    balances = lock_balances(list(extra_lines)) if extra_lines else {}
    if own_key not in balances:
        # Only reached when there are no extra lines, or they do not touch the
        # reservation's own balance: lock everything again in one pk-ordered query.
        keys = {own_key, *balances.keys()}
        balances = locks.balances_lock(keys=keys)
    locked = locks.reservation_lock(reservation_id=reservation.pk)
    if locked is None:
        raise InvalidPosting(f"Reservation {reservation.pk} does not exist.", code="not_found")
    # Item, location and status never change on a reservation: reuse the caller's.
    locked.item, locked.location, locked.status = (
        reservation.item,
        reservation.location,
        reservation.status,
    )
    return balances, locked


def _refuse_unless_open(reservation: InventoryReservation) -> None:
    if reservation.state == ReservationState.EXPIRED:
        raise ReservationExpired(
            f"Reservation {reservation.pk} expired.", extra={"reservationId": reservation.pk}
        )
    if not reservation.is_open:
        raise ReservationNotOpen(
            f"Reservation {reservation.pk} is already {reservation.state.lower()}.",
            extra={"reservationId": reservation.pk, "state": reservation.state},
        )


def _sync(target: InventoryReservation, source: InventoryReservation) -> None:
    """Let the caller's instance see the reservation as committed."""
    for name in ("state", "qty", "qty_consumed", "qty_released", "expires_at", "resolved_at"):
        setattr(target, name, getattr(source, name))


def _resolve(locked: InventoryReservation, change: ReservationChange) -> None:
    """Show ``change`` on the locked instance (the engine writes it to the row)."""
    locked.qty_consumed += change.consumed
    locked.qty_released += change.released
    if change.closes_as:
        locked.state = change.closes_as
        locked.resolved_at = timezone.now()


@posting_transaction
def reservation_create(
    *,
    item: Item,
    location: Location,
    status: InventoryStatus,
    qty,
    demand_ref: str,
    posting_key: str,
    expires_at: datetime | None = None,
    actor=None,
    pending: bool = False,
) -> InventoryReservation:
    """Reserve available stock of one balance for ``demand_ref``.

    Committed by default (sequence 5); ``pending=True`` holds the stock as a
    tentative reservation that ``reservation_commit`` confirms. Either way it
    expires at ``expires_at`` (database clock) unless resolved before. The
    returned reservation carries ``replayed`` and ``posting_result``.
    ``expires_at`` is not part of the posting content: a retry that computes a
    slightly different expiry is still the same posting.
    """
    qty, content, plan = _reserve_plan(
        item=item,
        location=location,
        status=status,
        qty=qty,
        demand_ref=demand_ref,
        expires_at=expires_at,
        pending=pending,
    )
    result = post(
        kind=PostingKind.RESERVE,
        posting_key=posting_key,
        content=content,
        source_ref=demand_ref,
        actor=actor,
        plan=plan,
    )
    return _returned(result, item, location, status)


def _returned(result: PostingResult, item, location, status) -> InventoryReservation:
    """The posting's reservation as the caller gets it: with ``replayed`` and
    ``posting_result``, and (a new one) the objects the caller passed in, as the
    ORM would give them."""
    reservation = result.reservation
    if not result.replayed:
        reservation.item, reservation.location, reservation.status = item, location, status
    reservation.replayed, reservation.posting_result = result.replayed, result
    return reservation


def _reserve_plan(*, item, location, status, qty, demand_ref, expires_at, pending):
    """The checked quantity, the posting content and the plan of a new reservation."""
    qty = qty_checked(qty)
    same_warehouse(item, location)
    aware(expires_at, "expires_at")
    if not demand_ref:
        raise InvalidPosting("A reservation needs a demand reference.", code="demand_required")
    if not status.allocatable:
        raise StatusNotAllocatable(f"Stock in status {status.code} may not be reserved.")
    state = ReservationState.PENDING if pending else ReservationState.COMMITTED
    content = {
        "item": item,
        "location": location,
        "status": status,
        "qty": qty,
        "demand_ref": demand_ref,
    }
    plan = Plan(
        lines=[Line(LedgerEntryType.RESERVE, item, location, status, reserved_delta=qty)],
        event_type="reservation.pending" if pending else "reservation.committed",
        item=item,
        qty=qty,
        new_reservation={
            "warehouse_id": location.warehouse_id,
            "item_id": item.pk,
            "location_id": location.pk,
            "status_id": status.pk,
            "state": state,
            "qty": qty,
            "demand_ref": demand_ref,
            "expires_at": expires_at,
        },
        event={
            "location": location.code,
            "status": status.code,
            "expiresAt": expires_at.isoformat() if expires_at else None,
        },
    )
    return qty, content, plan


@dataclass
class ReservationRequest:
    """One demand of ``reservations_take``: up to ``qty`` of one balance."""

    item: Item
    location: Location
    status: InventoryStatus
    qty: Decimal
    demand_ref: str
    posting_key: str
    expires_at: datetime | None = None


@posting_transaction
def reservations_take(
    *, requests: list[ReservationRequest], actor=None
) -> list[InventoryReservation | None]:
    """Reserve for each request as much of its ``qty`` as its balance has available.

    For a caller that plans from an unlocked read (the planner): the balances
    are locked at once in primary-key order, each request takes what is left
    of its balance after the requests before it, and the reservations are
    written as one batch (the same rows as ``reservation_create``, which posts
    them one by one if a key was posted meanwhile). Returns, per request, the
    committed reservation (its ``qty`` is what it took) or ``None`` where
    nothing was left. A request whose key was posted before takes nothing and returns that
    posting's reservation (``replayed``), whatever quantity it took then.
    """
    wanted_qty = []
    for request in requests:
        wanted_qty.append(qty_checked(request.qty))  # bad input refused before any lock
        same_warehouse(request.item, request.location)
    keys = [(r.item.pk, r.location.pk, r.status.pk) for r in requests]
    balances = locks.balances_lock(keys=keys)
    posted = _reservations_posted([r.posting_key for r in requests])
    left = {key: balance.on_hand - balance.reserved for key, balance in balances.items()}
    outcomes: list = []  # per request: None, a replayed reservation, or (request, qty)
    for request, key, asked in zip(requests, keys, wanted_qty, strict=True):
        if request.posting_key in posted:
            outcomes.append(_replayed(request, posted[request.posting_key]))
            continue
        qty = min(asked, left.get(key, ZERO))
        if qty <= 0:
            outcomes.append(None)
            continue
        left[key] -= qty
        outcomes.append((request, qty))
    wanted = [entry for entry in outcomes if isinstance(entry, tuple)]
    if not wanted:
        return outcomes
    batch = post_reservations(
        [_batch_reservation(request, qty, balances) for request, qty in wanted], actor=actor
    )
    if batch is None:  # a key posted meanwhile: one posting each (replayed or refused)
        batch = [
            reservation_create(
                item=request.item,
                location=request.location,
                status=request.status,
                qty=qty,
                demand_ref=request.demand_ref,
                posting_key=request.posting_key,
                expires_at=request.expires_at,
                actor=actor,
            ).posting_result
            for request, qty in wanted
        ]
    results = iter(batch)
    reservations: list[InventoryReservation | None] = []
    for entry in outcomes:
        if not isinstance(entry, tuple):
            reservations.append(entry)
            continue
        request, _qty = entry
        reservations.append(
            _returned(next(results), request.item, request.location, request.status)
        )
    return reservations


def _batch_reservation(request: ReservationRequest, qty, balances) -> BatchReservation:
    """``request`` as one posting of ``post_reservations``, for ``qty`` of its locked balance."""
    qty, content, plan = _reserve_plan(
        item=request.item,
        location=request.location,
        status=request.status,
        qty=qty,
        demand_ref=request.demand_ref,
        expires_at=request.expires_at,
        pending=False,
    )
    balance = balances[(request.item.pk, request.location.pk, request.status.pk)]
    return BatchReservation(request.posting_key, content, request.demand_ref, plan, balance.pk)


def _reservations_posted(posting_keys: list[str]) -> dict[str, tuple[str, int | None]]:
    """posting key → (kind, reservation id) of the keys among these already posted."""
    with connection.cursor() as cursor:
        cursor.execute(queries.POSTED_KEYS, [posting_keys])
        return {key: (kind, reservation_id) for key, kind, reservation_id in cursor.fetchall()}


def _replayed(request: ReservationRequest, posted: tuple[str, int | None]) -> InventoryReservation:
    """The reservation an earlier call made under ``request``'s key. Its quantity is not
    compared (each call takes what is there); what it reserves for must match."""
    kind, reservation_id = posted
    reservation = (
        InventoryReservation.objects.filter(pk=reservation_id).first()
        if kind == PostingKind.RESERVE and reservation_id is not None
        else None
    )
    if reservation is None or (
        reservation.item_id,
        reservation.location_id,
        reservation.status_id,
        reservation.demand_ref,
    ) != (request.item.pk, request.location.pk, request.status.pk, request.demand_ref):
        raise PostingKeyReused(
            f"Posting key '{request.posting_key}' was already used for a different posting.",
            extra={"postingKey": request.posting_key},
        )
    reservation.item, reservation.location, reservation.status = (
        request.item,
        request.location,
        request.status,
    )
    reservation.replayed = True
    return reservation


@posting_transaction
def reservation_commit(
    *, reservation: InventoryReservation, expires_at: datetime | None = None, actor=None
) -> InventoryReservation:
    """Pending → Committed (a no-op on a committed one). ``expires_at`` replaces the expiry.

    No quantity changes (the stock is already held), so no ledger entry.
    """
    aware(expires_at, "expires_at")
    _balances, locked = _lock_reservation(reservation)
    if locked.state == ReservationState.PENDING and locked.expired_by_clock:
        raise ReservationExpired(
            f"Reservation {locked.pk} expired before it was committed.",
            extra={"reservationId": locked.pk},
        )
    _refuse_unless_open(locked)
    if locked.state == ReservationState.COMMITTED and expires_at is None:
        _sync(reservation, locked)
        return reservation
    locked.state = ReservationState.COMMITTED
    if expires_at is not None:
        locked.expires_at = expires_at
    locked.save(update_fields=["state", "expires_at"])
    outbox_emit(
        event_type="reservation.committed",
        aggregate_type="InventoryReservation",
        aggregate_id=locked.pk,
        data={
            "reservationId": locked.pk,
            "demandRef": locked.demand_ref,
            "qty": format(locked.qty_open, "f"),
            "expiresAt": locked.expires_at.isoformat() if locked.expires_at else None,
        },
    )
    _sync(reservation, locked)
    return reservation


@posting_transaction
def reservation_release(
    *, reservation: InventoryReservation, posting_key: str, qty=None, actor=None
) -> PostingResult:
    """Give back ``qty`` (``None``: all that is still open) of a reservation to available.

    Releasing everything that is open closes the reservation as Released; a
    closed reservation refuses (``reservation_not_open`` / ``reservation_expired``).
    """
    qty = qty_checked(qty) if qty is not None else None

    def plan() -> Plan:
        balances, locked = _lock_reservation(reservation)
        _refuse_unless_open(locked)
        release = locked.qty_open if qty is None else qty
        if release > locked.qty_open:
            raise ReservationOverRelease(
                f"Reservation {locked.pk} holds {format(locked.qty_open, 'f')}; "
                f"cannot release {format(release, 'f')}.",
                extra={"reservationId": locked.pk, "open": format(locked.qty_open, "f")},
            )
        change = ReservationChange(
            released=release,
            closes_as=ReservationState.RELEASED if release == locked.qty_open else None,
        )
        _resolve(locked, change)
        return Plan(
            lines=[
                Line(
                    LedgerEntryType.RELEASE,
                    locked.item,
                    locked.location,
                    locked.status,
                    reserved_delta=-release,
                )
            ],
            event_type="reservation.released",
            item=locked.item,
            qty=release,
            balances=balances,
            reservation=locked,
            reservation_change=change,
            event={"state": locked.state},
        )

    result = post(
        kind=PostingKind.RELEASE,
        posting_key=posting_key,
        content={"reservation": reservation, "qty": qty if qty is not None else "rest"},
        source_ref=reservation.demand_ref,
        actor=actor,
        plan=plan,
    )
    _sync(reservation, result.reservation)
    return result


@posting_transaction
def reservation_consume(
    *,
    reservation: InventoryReservation,
    qty,
    to_location: Location,
    posting_key: str,
    actor=None,
) -> PostingResult:
    """A pick: ``qty`` of the reserved stock moves to ``to_location`` (staging), unreserved.

    Partial consumes keep the reservation open for the rest; consuming the
    last unit closes it as Consumed. Over-consume, consume after expiry (also
    when the expiry task has not run yet) and consume of a pending or closed
    reservation are refused.
    """
    qty = qty_checked(qty)
    if to_location.warehouse_id != reservation.warehouse_id:
        raise InvalidPosting(
            f"Location {to_location.code} is in another warehouse than the reservation.",
            code="warehouse_mismatch",
        )
    accepting(to_location)
    result = post(
        kind=PostingKind.CONSUME,
        posting_key=posting_key,
        content={"reservation": reservation, "qty": qty, "to_location": to_location},
        source_ref=reservation.demand_ref,
        actor=actor,
        plan=lambda: _consume_plan(reservation, qty, to_location),
    )
    _sync(reservation, result.reservation)
    return result


def _consume_lines(reservation: InventoryReservation, qty, to_location: Location) -> list[Line]:
    item, status = reservation.item, reservation.status
    return [
        Line(
            LedgerEntryType.PICK_OUT,
            item,
            reservation.location,
            status,
            on_hand_delta=-qty,
            reserved_delta=-qty,
        ),
        Line(LedgerEntryType.PICK_IN, item, to_location, status, on_hand_delta=qty),
    ]


def _consume_plan(reservation: InventoryReservation, qty, to_location: Location) -> Plan:
    """A pick's plan, once its key is claimed: lock the two balances and the
    reservation, refuse an expired, closed or pending one and an over-consume."""
    lines = _consume_lines(reservation, qty, to_location)
    balances, locked = _lock_reservation(reservation, lines)
    return _consume_checked(reservation, locked, qty, to_location, lines, balances)


def _consume_checked(
    reservation: InventoryReservation, locked, qty, to_location: Location, lines, balances
) -> Plan:
    """The rules of a consume, on the locked reservation (as the postings before it
    left it): its plan, the change shown on ``locked``."""
    item, status = reservation.item, reservation.status
    if locked.state == ReservationState.EXPIRED or (locked.is_open and locked.expired_by_clock):
        raise ReservationExpired(
            f"Reservation {locked.pk} expired; it can no longer be picked.",
            extra={"reservationId": locked.pk},
        )
    _refuse_unless_open(locked)
    if locked.state == ReservationState.PENDING:
        raise ReservationPending(
            f"Reservation {locked.pk} is pending; commit it before picking.",
            extra={"reservationId": locked.pk},
        )
    if qty > locked.qty_open:
        raise ReservationOverConsume(
            f"Reservation {locked.pk} holds {format(locked.qty_open, 'f')}; "
            f"cannot consume {format(qty, 'f')}.",
            extra={"reservationId": locked.pk, "open": format(locked.qty_open, "f")},
        )
    change = ReservationChange(
        consumed=qty,
        closes_as=ReservationState.CONSUMED if qty == locked.qty_open else None,
    )
    _resolve(locked, change)
    return Plan(
        lines=lines,
        event_type="reservation.consumed",
        item=item,
        qty=qty,
        balances=balances,
        reservation=locked,
        reservation_change=change,
        event={
            "fromLocation": reservation.location.code,
            "toLocation": to_location.code,
            "status": status.code,
            "state": locked.state,
        },
    )


@dataclass(frozen=True)
class Consume:
    """One pick of ``reservations_consume``: ``qty`` of ``reservation`` (its item,
    location and status cached) to ``to_location`` under ``posting_key``."""

    reservation: InventoryReservation
    qty: Decimal
    to_location: Location
    posting_key: str
    actor: object = None


def reservations_consume(consumes: list[Consume]) -> list[PostingResult]:
    """Several picks (``reservation_consume`` each, by each one's ``actor``), in
    order, in the caller's transaction: a batch of synced pick confirmations.

    The same rules and rows as one ``reservation_consume`` per pick, with the
    locks taken once for the batch in the same order (missing balances created,
    every balance in primary-key order, then every reservation in primary-key
    order) and the writes in one round trip (``post_planned``). All picks are
    checked before any is written: a refusal (``DomainError`` with
    ``posting_key`` naming the pick) writes nothing and takes back the zero
    balance rows created to lock them; the caller may drop that pick and call
    again.
    """
    if not consumes:
        return []
    if not connection.in_atomic_block:
        raise RuntimeError("reservations_consume runs in the caller's transaction")
    lines_of, all_lines = [], []
    for consume in consumes:
        qty = qty_checked(consume.qty)
        if consume.to_location.warehouse_id != consume.reservation.warehouse_id:
            raise InvalidPosting(
                f"Location {consume.to_location.code} is in another warehouse than the "
                "reservation.",
                code="warehouse_mismatch",
            )
        accepting(consume.to_location)
        lines = _consume_lines(consume.reservation, qty, consume.to_location)
        lines_of.append((qty, lines))
        all_lines.extend(lines)
    created: list[int] = []
    token = _created_balances.set(created)
    try:
        balances = lock_balances(all_lines)
        locked_all = locks.reservations_lock(reservation_ids=[c.reservation.pk for c in consumes])
        batch = []
        for consume, (qty, lines) in zip(consumes, lines_of, strict=True):
            reservation = consume.reservation
            locked = locked_all.get(reservation.pk)
            try:
                if locked is None:
                    raise InvalidPosting(
                        f"Reservation {reservation.pk} does not exist.", code="not_found"
                    )
                locked.item, locked.location, locked.status = (
                    reservation.item,
                    reservation.location,
                    reservation.status,
                )
                plan = _consume_checked(
                    reservation, locked, qty, consume.to_location, lines, balances
                )
            except DomainError as exc:
                exc.posting_key = consume.posting_key
                raise
            batch.append(
                BatchPosting(
                    kind=PostingKind.CONSUME,
                    posting_key=consume.posting_key,
                    content={
                        "reservation": reservation,
                        "qty": qty,
                        "to_location": consume.to_location,
                    },
                    source_ref=reservation.demand_ref,
                    plan=plan,
                    actor=consume.actor,
                )
            )
        results = post_planned(batch)
    except DomainError:
        _plan_withdraw_balances(created)
        raise
    finally:
        _created_balances.reset(token)
    for consume, result in zip(consumes, results, strict=True):
        _sync(consume.reservation, result.reservation)
    return results


@posting_transaction
def reservation_expire(*, reservation_id: int) -> PostingResult | None:
    """Expire one reservation whose ``expires_at`` has passed on the database clock.

    ``None`` (and no change) when it is no longer open or not due: the expiry
    task may race a pick or a release, and whoever locks first wins.
    The posting key is derived from the reservation, so an expiry posts once.
    """
    candidate = (
        InventoryReservation.objects.select_related("item__warehouse", "location", "status")
        .filter(pk=reservation_id)
        .first()
    )
    if candidate is None:
        return None
    balances, locked = _lock_reservation(candidate)
    if not locked.is_open or not locked.expired_by_clock:
        return None
    remaining = locked.qty_open
    change = ReservationChange(released=remaining, closes_as=ReservationState.EXPIRED)
    _resolve(locked, change)
    # Claimed after the locks (unlike the other postings): the key is derived
    # from the locked reservation, so no other posting can be waiting on it.
    return post(
        kind=PostingKind.EXPIRE,
        posting_key=f"reservation-expire:{locked.pk}",
        content={"reservation": locked},
        source_ref=locked.demand_ref,
        actor=EXPIRY_ACTOR,
        plan=Plan(
            lines=[
                Line(
                    LedgerEntryType.EXPIRE,
                    candidate.item,
                    candidate.location,
                    candidate.status,
                    reserved_delta=-remaining,
                )
            ],
            event_type="reservation.expired",
            item=candidate.item,
            qty=remaining,
            balances=balances,
            reservation=locked,
            reservation_change=change,
        ),
    )


def reservation_expire_due(*, limit: int = 500) -> int:
    """Expire every reservation due on the database clock; the number expired.

    One transaction per reservation (each ``reservation_expire``), so one
    slow row never holds the locks of the others. Safe to run concurrently
    and repeatedly: a reservation expires once.
    """
    expired = 0
    for reservation_id in locks.reservation_ids_due(limit=limit):
        if reservation_expire(reservation_id=reservation_id) is not None:
            expired += 1
    return expired
