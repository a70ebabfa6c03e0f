"""Allocation: which balances an order line's quantity is reserved from, and the
reservations themselves. The one implementation, used by planning (every open
line of an order) and by re-allocation after a picking exception (one line's
remainder, away from the location that failed).

Rules, in order: allocatable statuses only, at active pick faces and reserve
locations; pick faces before reserve; oldest stock first (by the bucket (a day
by default) the stock arrived in, see ``selectors.stock_fifo_dates``); then as
few locations as possible (a location that covers the whole remainder, the
smallest such; else the largest first).

Stock is read without locks and reserved through
``inventory.services.reservations_take`` in one batch (balances locked in
primary-key order, each request takes what is still there). When another
planner took some meanwhile, a second pass looks again. Posting keys are
deterministic (``plan:<line>:<location>:<status>:r<round>``), so even a
replayed posting cannot reserve twice.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from django.conf import settings

from inventory import services as inventory_services
from inventory.models import LocationType

from .. import selectors
from ..models import Allocation, ReplenishmentOrderLine

ZERO = Decimal("0")
_TIER = {LocationType.PICK_FACE: 0, LocationType.RESERVE: 1}


def order_lines_allocate(
    *,
    order_id,
    warehouse_id: int,
    wanted: list[tuple[ReplenishmentOrderLine, Decimal]],
    exclude_location_ids=(),
    locations: dict | None = None,
    statuses: dict | None = None,
) -> tuple[dict, list[Allocation]]:
    """Reserve up to ``qty`` for each ``(line, qty)`` of ``wanted`` (lines with their
    item, in the order the planner reserves in), never at ``exclude_location_ids``.

    Returns line id → base units reserved now, and the allocation rows to record
    (unsaved, round ``line.plan_round + 1``): the caller writes them with the
    lines' new figures. ``locations`` and ``statuses`` (id → row) are filled
    as candidates are met; a planning job passes its own to look each up once.
    """
    locations = {} if locations is None else locations
    statuses = {} if statuses is None else statuses
    allocated: dict = defaultdict(lambda: ZERO)
    new_allocations: list[Allocation] = []
    if not wanted:
        return allocated, new_allocations
    item_ids = {line.item_id for line, _qty in wanted}
    excluded = set(exclude_location_ids)
    used: set[tuple] = set()  # (line id, balance id) reserved in this round
    for _pass in range(2):
        candidates = _candidates(
            warehouse_id=warehouse_id,
            item_ids=item_ids,
            excluded=excluded,
            locations=locations,
            statuses=statuses,
        )
        if not candidates:
            break
        plan = _plan(wanted=wanted, candidates=candidates, allocated=allocated, used=used)
        if not plan:
            break
        short = _reserve(
            plan,
            order_id=order_id,
            locations=locations,
            statuses=statuses,
            allocated=allocated,
            used=used,
            new_allocations=new_allocations,
        )
        if not short:
            break  # every planned reservation went through; a second pass finds nothing new
    return allocated, new_allocations


def _candidates(*, warehouse_id, item_ids, excluded, locations, statuses) -> dict[int, list]:
    """item id → the balances it may be reserved from, dated where the date decides."""
    found = selectors.allocatable_candidates(
        warehouse_id=warehouse_id, item_ids=item_ids, locations=locations, statuses=statuses
    )
    if excluded:
        found = {
            item_id: kept
            for item_id, cands in found.items()
            if (kept := [c for c in cands if c.location_id not in excluded])
        }
    if found:
        _with_fifo_dates(found)
    return found


def _plan(*, wanted, candidates, allocated, used) -> list[tuple]:
    """(balance id, line, candidate, qty) to request, in the order balances are locked
    (primary key: two planners never wait on each other in a circle)."""
    free = {c.balance_id: c.available for cands in candidates.values() for c in cands}
    plan = []
    for line, qty in wanted:
        need = qty - allocated[line.pk]
        if need <= 0:
            continue
        pool = [c for c in candidates.get(line.item_id, []) if (line.pk, c.balance_id) not in used]
        for candidate, take in _choose(need=need, pool=pool, free=free):
            plan.append((candidate.balance_id, line, candidate, take))
    plan.sort(key=lambda p: (p[0], p[1].line_number))
    return plan


def _reserve(plan, *, order_id, locations, statuses, allocated, used, new_allocations) -> bool:
    """Reserve ``plan`` in one batch; record what each request got. Returns whether any
    request got less than it asked (another planner took some since we looked)."""
    reservations = inventory_services.reservations_take(
        requests=[
            inventory_services.ReservationRequest(
                item=line.item,
                location=locations[candidate.location_id],
                status=statuses[candidate.status_id],
                qty=qty,
                demand_ref=_demand_ref(line),
                posting_key=_posting_key(line, candidate),
            )
            for _balance_id, line, candidate, qty in plan
        ]
    )
    short = False
    for (balance_id, line, candidate, qty), reservation in zip(plan, reservations, strict=True):
        used.add((line.pk, balance_id))
        got = reservation.qty if reservation is not None else ZERO
        if got < qty:
            short = True
        if reservation is None:
            continue
        allocated[line.pk] += got
        new_allocations.append(
            Allocation(
                order_id=order_id,
                line_id=line.pk,
                item_id=line.item_id,
                location_id=candidate.location_id,
                inventory_status_id=candidate.status_id,
                reservation=reservation,
                qty=got,
                posting_key=_posting_key(line, candidate),
                plan_round=line.plan_round + 1,
            )
        )
    return short


def _fifo_key(candidate):
    """How old the stock is, at the granularity of the FIFO bucket (a day by default)."""
    if candidate.fifo_at is None:
        return float("-inf")  # no inflow on record: treat as the oldest
    bucket = settings.WMS_PLANNING_FIFO_BUCKET_MINUTES * 60
    seconds = candidate.fifo_at.timestamp()
    return seconds if bucket <= 0 else seconds // bucket


def _choose(*, need: Decimal, pool: list, free: dict[int, Decimal]) -> list[tuple]:
    """Which balances to take ``need`` from (see the module docstring for the rules)."""
    picks = []
    remaining = need
    pool = [c for c in pool if free[c.balance_id] > 0]
    while remaining > 0 and pool:

        def rank(c, remaining=remaining):
            avail = free[c.balance_id]
            covers = avail >= remaining
            return (
                _TIER.get(c.location_type, 9),
                _fifo_key(c),
                0 if covers else 1,
                avail if covers else -avail,
                c.pick_sequence,
                c.balance_id,
            )

        best = min(pool, key=rank)
        qty = min(remaining, free[best.balance_id])
        picks.append((best, qty))
        free[best.balance_id] -= qty
        remaining -= qty
        pool.remove(best)
    return picks


def _with_fifo_dates(candidates: dict[int, list]) -> None:
    """Date the stock where it matters: items with two or more balances in one tier."""
    wanted = []
    for cands in candidates.values():
        tiers = defaultdict(int)
        for c in cands:
            tiers[_TIER.get(c.location_type, 9)] += 1
        if any(n > 1 for n in tiers.values()):
            wanted.extend(c.balance_id for c in cands)
    if not wanted:
        return
    dates = selectors.stock_fifo_dates(balance_ids=wanted)
    for cands in candidates.values():
        for c in cands:
            c.fifo_at = dates.get(c.balance_id)


def _demand_ref(line) -> str:
    return f"ReplenishmentOrderLine:{line.pk}"


def _posting_key(line, candidate) -> str:
    return f"plan:{line.pk}:{candidate.location_id}:{candidate.status_id}:r{line.plan_round + 1}"
