"""Disconnected operations (issue 16): work downloaded ahead, and the sync of a
handheld's offline queue.

``handheld_work_download``: the picker's next tasks (claimed ahead, up to
``WMS_HANDHELD_DOWNLOAD_TASKS``, default 20) and the open put-aways of their
warehouses, with what the device needs to check scans without the network
(location codes and barcodes, SKU and GTIN, quantities).

``handheld_sync``: a batch of queued floor actions from one device, applied in
the order they happened on the device (its ``seq``; the device's clock is
recorded, never used to reorder), each through the SAME service as the online
page (``pick_confirm``, ``pick_task_report_exception``,
``putaway_task_confirm``, ``receipt_post``), each answered on its own:
``applied``, ``already_applied`` or ``refused`` with a reason.

One transaction per batch (bench/offline_sync.py: 1,000 entries from one
device 28.6 s -> a few seconds; the figures are in the commits): the batch's
keys are claimed first, in one statement; then the entries run in order:
consecutive picks (confirm, short) together through ``pick_confirm_many``
(the same rules and rows as ``pick_confirm``, its locks taken once for the
run, everything checked before anything is written), any other entry in a
savepoint of its own; last, the refused entries are recorded on their rows.
A deadlock or serialization failure runs the whole batch again.

Exactly once: every entry's ``SyncEntry`` row is unique per (user, key). A
retried entry finds the row and is answered from it (its content must match:
else ``idempotency_key_reused``); a concurrent duplicate waits on the unique
index until the first batch commits, then finds it. The service under the
entry also has its own key (the pick's ``request_key`` is the online form's,
``user:<id>:<key>``; a receipt's ``client_key``; a put-away is a replay when
done at the same place), so an action the online page sent before the
network dropped is not applied again either.

Nothing half-applied: a refused pick wrote nothing (refused before the run's
writes); any other entry's effect is rolled back to its savepoint; the row
stays, with its reason. A refusal because the world changed meanwhile (status
404 or 409: task reassigned, cancelled or done elsewhere, stock gone, ASN
closed) is a conflict: the row stays OPEN for a supervisor (admin "Handheld
sync entries") and ``handheld.sync_conflict`` goes to the outbox.

Lock order: the entry rows (unique index, key order), then the services' own
order (for picks: orders, tasks, balances, reservations, each in primary-key
order).
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from counting import selectors as counting_selectors
from counting.models import InventoryCount
from counting.services import count_result_record
from inbound import selectors as inbound_selectors
from inbound.models import InboundShipment, PutAwayTask
from inbound.services import ReceiptLineSpec, putaway_task_confirm, receipt_post
from inbound.services.common import units_for_item
from inventory.models import Warehouse
from outbound.models import ReplenishmentOrder
from wms import metrics, sql
from wms.exceptions import BusinessValidationError, DomainError
from wms.outbox import outbox_row, outbox_rows_insert
from wms.scoping import warehouses_visible_to

from . import locks, selectors
from .models import (
    ConflictStatus,
    HandheldDevice,
    PickTask,
    PickTaskStatus,
    SyncEntry,
    SyncOutcome,
)
from .services import pick_confirm, pick_confirm_many, pick_qty, pick_task_report_exception
from .services.packing import pack_scan_item

MAX_BATCH = 500
MAX_ATTEMPTS = 5
DEFAULT_DOWNLOAD = 20
APPLIED, ALREADY_APPLIED, REFUSED = "applied", "already_applied", "refused"
KINDS = (
    "pick.confirm",
    "pick.short",
    "pick.problem",
    "putaway.confirm",
    "receipt.asn",
    "receipt.blind",
    "pack.scan",
    "count.result",
)
_CONFLICT_STATUSES = (404, 409)


def download_limit() -> int:
    return int(getattr(settings, "WMS_HANDHELD_DOWNLOAD_TASKS", DEFAULT_DOWNLOAD))


# --- work downloaded ahead --------------------------------------------------------


@transaction.atomic
def pick_tasks_claim_ahead(*, picker, warehouse, zone=None, limit: int | None = None) -> int:
    """Assign released manual tasks to ``picker`` until they hold ``limit`` (the
    setting by default) in ``warehouse``: work for the shift without network.
    Each claim skips tasks another picker is taking (``SKIP LOCKED``). Returns
    how many were claimed now."""
    limit = download_limit() if limit is None else limit
    held = selectors.pick_tasks_in_hand(picker=picker, warehouse=warehouse).count()
    claimed = 0
    now = timezone.now()
    while held + claimed < limit:
        task = locks.pick_task_claim_next(
            warehouse_id=warehouse.pk, zone_id=zone.pk if zone is not None else None
        )
        if task is None:
            break
        task.status = PickTaskStatus.ASSIGNED
        task.assigned_to = picker
        task.assigned_at = now
        task._change_reason = "downloaded for offline work"
        task._history_user = picker
        task.save(update_fields=["status", "assigned_to", "assigned_at", "updated_at"])
        claimed += 1
    return claimed


def _plain(qty: Decimal) -> str:
    return format(qty.normalize(), "f")


def _pick_payload(task: PickTask) -> dict:
    item, location = task.item, task.from_location
    return {
        "id": str(task.pk),
        "label": task.label,
        "warehouse": task.warehouse.code,
        "status": task.status,
        "location": location.code,
        "locationCodes": [c for c in (location.code, location.barcode) if c],
        "sku": item.sku,
        "itemCodes": [c for c in (item.sku, item.gtin) if c],
        "description": item.description,
        "qty": _plain(task.qty_open),
        "uom": item.base_uom.code,
    }


def _putaway_payload(task) -> dict:
    to = task.to_location
    return {
        "id": task.pk,
        "label": f"PA{task.pk}",
        "warehouse": task.warehouse.code,
        "from": task.from_location.code,
        "location": to.code if to else "",
        "locationCodes": [c for c in (to.code, to.barcode) if c] if to else [],
        "sku": task.item.sku,
        "itemCodes": [c for c in (task.item.sku, task.item.gtin) if c],
        "qty": _plain(task.qty),
        "uom": task.item.base_uom.code,
    }


def handheld_work_download(*, user, limit: int | None = None) -> dict:
    """What a device keeps for offline work: the user's pick tasks in hand and the
    open put-aways of their warehouses (oldest first, ``limit`` of each)."""
    limit = download_limit() if limit is None else limit
    picks = []
    if user.has_perm("tasking.change_picktask"):
        picks = [_pick_payload(t) for t in selectors.pick_tasks_in_hand(picker=user)[:limit]]
    putaways = []
    if user.has_perm("inbound.change_putawaytask"):
        putaways = [
            _putaway_payload(t)
            for t in inbound_selectors.putaway_task_list_open(actor=user)[:limit]
        ]
    return {
        "user": user.pk,
        "serverTime": timezone.now().isoformat(),
        "limit": limit,
        "picks": picks,
        "putaways": putaways,
    }


# --- the batch: shape ---------------------------------------------------------------


class SyncBatchInvalid(BusinessValidationError):
    """The batch is malformed or too large: nothing was applied."""

    status = 400
    code = "sync_batch_invalid"


class SyncBatchForbidden(DomainError):
    """The batch holds another user's entries or tasks of a warehouse not granted."""

    status = 403
    code = "sync_batch_forbidden"


@dataclass(frozen=True)
class Entry:
    key: str
    kind: str
    seq: int
    happened_at: datetime
    data: dict
    raw: dict
    warehouse_id: int | None = None

    @property
    def fingerprint(self) -> str:
        content = {"kind": self.kind, "data": self.data}
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def _invalid(index, field: str, message: str) -> SyncBatchInvalid:
    return SyncBatchInvalid(
        _("The sync batch is malformed; nothing was applied."),
        errors=[{"field": f"entries[{index}].{field}", "code": "invalid", "message": message}],
    )


_REQUIRED = {
    "pick.confirm": ("taskId", "location", "item", "qty"),
    "pick.short": ("taskId", "location", "item", "qty"),
    "pick.problem": ("taskId", "type", "qty"),
    "putaway.confirm": ("taskId", "location"),
    "receipt.asn": ("shipmentId", "item", "qty"),
    "receipt.blind": ("warehouse", "item", "qty"),
    "pack.scan": ("orderId", "package_type", "code", "qty"),
    "count.result": ("countId", "location"),
}


def _parse_entry(index: int, raw, user) -> Entry:
    if not isinstance(raw, dict):
        raise _invalid(index, "", "an object")
    key = raw.get("key")
    if not isinstance(key, str) or not 1 <= len(key) <= 64 or not key.isprintable():
        raise _invalid(index, "key", "1 to 64 printable characters")
    if raw.get("user") != user.pk:
        raise SyncBatchForbidden(
            _("This batch holds actions of another user; nothing was applied.")
        )
    kind = raw.get("kind")
    if kind not in KINDS:
        raise _invalid(index, "kind", "one of " + ", ".join(KINDS))
    seq = raw.get("seq", index)
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise _invalid(index, "seq", "an integer ≥ 0")
    try:
        happened_at = datetime.fromisoformat(str(raw.get("happenedAt")).replace("Z", "+00:00"))
    except ValueError:
        happened_at = None
    if happened_at is None or timezone.is_naive(happened_at):
        raise _invalid(index, "happenedAt", "an ISO 8601 time with its offset")
    data = raw.get("data")
    if not isinstance(data, dict):
        raise _invalid(index, "data", "an object")
    for field in _REQUIRED[kind]:
        value = data.get(field)
        if not isinstance(value, (str, int)) or isinstance(value, bool) or str(value) == "":
            raise _invalid(index, f"data.{field}", "required")
    for field, value in data.items():
        if not isinstance(value, (str, int)) or len(str(value)) > 500:
            raise _invalid(index, f"data.{field}", "a string of at most 500 characters")
    return Entry(key, kind, seq, happened_at, data, raw)


def sync_batch_parse(*, body, user) -> tuple[str, int, list[Entry]]:
    """(device id, entries the device still holds, the entries in the order they
    happened) of a sync request body; ``SyncBatchInvalid`` (400) or
    ``SyncBatchForbidden`` (403) before anything is applied."""
    if not isinstance(body, dict):
        raise SyncBatchInvalid(_("The sync batch is malformed; nothing was applied."))
    device_key = body.get("deviceId")
    if not isinstance(device_key, str) or not 1 <= len(device_key) <= 64:
        raise SyncBatchInvalid(
            _("The sync batch is malformed; nothing was applied."),
            errors=[{"field": "deviceId", "code": "invalid", "message": "1 to 64 characters"}],
        )
    raw_entries = body.get("entries")
    if not isinstance(raw_entries, list) or not raw_entries:
        raise SyncBatchInvalid(
            _("The sync batch is malformed; nothing was applied."),
            errors=[{"field": "entries", "code": "invalid", "message": "a non-empty list"}],
        )
    if len(raw_entries) > MAX_BATCH:
        raise SyncBatchInvalid(
            _("At most %(max)s actions per sync; nothing was applied.") % {"max": MAX_BATCH},
            code="sync_batch_too_large",
        )
    entries = [_parse_entry(i, raw, user) for i, raw in enumerate(raw_entries)]
    if len({e.key for e in entries}) != len(entries):
        raise SyncBatchInvalid(_("The same action twice in one batch; nothing was applied."))
    entries = _check_warehouses(entries, user)
    pending = body.get("pending", 0)
    pending = pending if isinstance(pending, int) and not isinstance(pending, bool) else 0
    return device_key, max(pending, 0), sorted(entries, key=lambda e: e.seq)


def _check_warehouses(entries: list[Entry], user) -> list[Entry]:
    """Refuse (403) a batch naming tasks of warehouses the user was not granted; the
    entries with their task's warehouse."""
    granted = set(warehouses_visible_to(user).values_list("pk", flat=True))
    pick_ids = [e.data["taskId"] for e in entries if e.kind.startswith("pick.")]
    try:
        where = dict(PickTask.objects.filter(pk__in=pick_ids).values_list("pk", "warehouse_id"))
    except ValidationError as exc:  # a task id that is not a UUID
        raise SyncBatchInvalid(_("The sync batch is malformed; nothing was applied.")) from exc
    if not set(where.values()) <= granted:
        raise SyncBatchForbidden(
            _("This batch holds tasks of a warehouse you have no access to; nothing was applied.")
        )
    by_text = {str(pk): warehouse_id for pk, warehouse_id in where.items()}
    others = _warehouses_of_other_entries(entries)
    return [
        replace(
            e,
            warehouse_id=(
                by_text.get(str(e.data.get("taskId")))
                if e.kind.startswith("pick.")
                else others.get((e.kind, str(e.data.get(_SUBJECT_FIELD.get(e.kind, "")))))
            ),
        )
        for e in entries
    ]


#: The field naming what an entry of each kind (other than picks) acts on.
_SUBJECT_FIELD = {
    "putaway.confirm": "taskId",
    "receipt.asn": "shipmentId",
    "receipt.blind": "warehouse",
    "pack.scan": "orderId",
    "count.result": "countId",
}


#: The model (and its field) an entry's subject names.
_SUBJECT_MODEL = {
    "putaway.confirm": (PutAwayTask, "pk"),
    "receipt.asn": (InboundShipment, "pk"),
    "receipt.blind": (Warehouse, "code"),
    "pack.scan": (ReplenishmentOrder, "pk"),
    "count.result": (InventoryCount, "pk"),
}


def _subject_typed(kind: str, subject: str):
    """The entry's subject as its model field takes it (a put-away task also by its
    label, PA12); ``ValidationError`` when it cannot be one."""
    model, field = _SUBJECT_MODEL[kind]
    if kind == "putaway.confirm":
        subject = subject.removeprefix("PA")
    model_field = model._meta.pk if field == "pk" else model._meta.get_field(field)
    return model_field.to_python(subject)


def _warehouses_of_other_entries(entries: list[Entry]) -> dict[tuple[str, str], int]:
    """``{(kind, subject): warehouse id}`` for the entries that are not picks, so every
    stored entry carries its warehouse (the admin shows entries by warehouse grant).
    Access itself is checked when each entry is applied (its selector, with the user);
    a subject that does not exist, or cannot be one, maps to nothing here and the
    entry is refused when applied (``_apply_one``)."""
    found: dict[tuple[str, str], int] = {}
    for kind, (model, field) in _SUBJECT_MODEL.items():
        subjects = {str(e.data.get(_SUBJECT_FIELD[kind])) for e in entries if e.kind == kind}
        typed = {}
        for subject in subjects:
            try:
                typed[subject] = _subject_typed(kind, subject)
            except ValidationError:
                continue
        if not typed:
            continue
        warehouse = "pk" if model is Warehouse else "warehouse_id"
        rows = dict(
            model.objects.filter(**{f"{field}__in": set(typed.values())}).values_list(
                field, warehouse
            )
        )
        for subject, value in typed.items():
            if value in rows:
                found[(kind, subject)] = rows[value]
    return found


# --- the batch: applying --------------------------------------------------------------


@dataclass(frozen=True)
class EntryResult:
    key: str
    status: str
    code: str = ""
    message: str = ""
    conflict: bool = False

    def as_json(self) -> dict:
        return {
            "key": self.key,
            "status": self.status,
            "code": self.code,
            "message": self.message,
            "conflict": self.conflict,
        }


def handheld_sync(
    *, user, device_key: str, entries: list[Entry], pending: int = 0, user_agent: str = ""
) -> list[EntryResult]:
    """Apply a parsed batch (``sync_batch_parse``) in one transaction, in order; a
    deadlock or serialization failure rolls the whole batch back and runs it again
    (nothing of it was committed)."""
    device = _device(device_key, user, user_agent)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            results = _apply_batch(entries, user=user, device=device)
            break
        except OperationalError as exc:
            if attempt == MAX_ATTEMPTS or getattr(exc.__cause__, "sqlstate", None) not in (
                "40P01",
                "40001",
            ):
                raise
            time.sleep(random.uniform(0.005, 0.02) * attempt)
    _count(device, results, user=user, pending=pending)
    metrics.sync_entries(entries=entries, results=results)
    return results


def _device(device_key: str, user, user_agent: str) -> HandheldDevice:
    device, _created = HandheldDevice.objects.get_or_create(
        device_key=device_key, defaults={"last_user": user, "user_agent": user_agent[:300]}
    )
    return device


def _count(device: HandheldDevice, results: list[EntryResult], *, user, pending: int) -> None:
    """The operator view's counters, in one statement (F(): other batches of the
    device may count at the same time)."""
    HandheldDevice.objects.filter(pk=device.pk).update(
        last_user=user,
        last_sync_at=timezone.now(),
        last_pending=pending,
        entries_received=F("entries_received") + len(results),
        entries_applied=F("entries_applied") + sum(r.status == APPLIED for r in results),
        entries_refused=F("entries_refused") + sum(r.status == REFUSED for r in results),
        conflicts=F("conflicts") + sum(r.conflict for r in results),
    )


#: Claim the keys of a batch: one ``SyncEntry`` row per key not known yet (as
#: APPLIED; a refusal rewrites it before commit), its (id, key) back; a known
#: key gives no row (a concurrent duplicate waits here until the first batch
#: commits, then finds it). In key order, so two batches sharing keys wait for
#: each other in one order. Parameters: device, user, received at, the entries
#: as JSON. Replaces one claim statement per entry (bench/offline_sync.py).
_ENTRIES_CLAIM = f"""
INSERT INTO tasking_syncentry (device_id, user_id, warehouse_id, key, fingerprint, kind,
    subject, payload, happened_at, received_at, sequence, outcome, reason_code, message,
    conflict_status)
SELECT %s, %s, e.warehouse_id, e.key, e.fingerprint, e.kind, e.subject, e.payload,
    e.happened_at, %s, e.sequence, '{SyncOutcome.APPLIED.value}', '', '', ''
FROM jsonb_to_recordset(CAST(%s AS jsonb)) AS e(warehouse_id bigint, key varchar,
    fingerprint varchar, kind varchar, subject varchar, payload jsonb,
    happened_at timestamptz, sequence integer)
ORDER BY e.key
ON CONFLICT (user_id, key) DO NOTHING
RETURNING id, key
"""

#: The refused entries of a batch, recorded on their rows. Parameters: outcome
#: REFUSED, then the refusals as JSON (id, reason code, message, conflict status).
_ENTRIES_REFUSED = """
UPDATE tasking_syncentry s SET outcome = %s, reason_code = r.reason_code,
    message = r.message, conflict_status = r.conflict_status
FROM jsonb_to_recordset(CAST(%s AS jsonb)) AS r(id bigint, reason_code varchar,
    message varchar, conflict_status varchar)
WHERE s.id = r.id
"""


def _subject(entry: Entry) -> str:
    """What the entry is about (the task, ASN or order), for the operator view."""
    data = entry.data
    subject = data.get("taskId") or data.get("shipmentId") or data.get("orderId")
    return str(subject or data.get("countId") or "")[:64]


def _claim_all(entries: list[Entry], *, user, device) -> dict[str, int]:
    """Claim the batch's keys (``_ENTRIES_CLAIM``): key → row id of those new."""
    records = [
        {
            "warehouse_id": entry.warehouse_id,
            "key": entry.key,
            "fingerprint": entry.fingerprint,
            "kind": entry.kind,
            "subject": _subject(entry),
            "payload": entry.raw,
            "happened_at": entry.happened_at.isoformat(),
            "sequence": min(entry.seq, 2**31 - 1),
        }
        for entry in entries
    ]
    with connection.cursor() as cursor:
        cursor.execute(_ENTRIES_CLAIM, [device.pk, user.pk, timezone.now(), json.dumps(records)])
        return {key: row_id for row_id, key in cursor.fetchall()}


@transaction.atomic
def _apply_batch(entries: list[Entry], *, user, device) -> list[EntryResult]:
    """The batch's keys, then each new entry's effect in order (consecutive picks
    together, ``pick_confirm_many``; any other entry in a savepoint of its own),
    then the refusals recorded: one transaction."""
    claimed = _claim_all(entries, user=user, device=device)
    results = _answer_replays([e for e in entries if e.key not in claimed], user=user)
    refused = []
    for run in _runs([e for e in entries if e.key in claimed]):
        if run[0].kind in _BATCHED_KINDS:
            outcomes = _apply_picks(run, user=user)
        else:
            outcomes = [_apply_one(entry, user=user) for entry in run]
        for entry, outcome in zip(run, outcomes, strict=True):
            if isinstance(outcome, DomainError):
                results[entry.key] = _refusal(entry, outcome, row_id=claimed[entry.key])
                refused.append((entry, results[entry.key], claimed[entry.key]))
                continue
            # Applied before by the online page (same key): this entry changed nothing.
            status = ALREADY_APPLIED if isinstance(outcome, _Replayed) else APPLIED
            results[entry.key] = EntryResult(entry.key, status, message=str(outcome))
    _record_refusals(refused, user=user, device=device)
    return [results[entry.key] for entry in entries]


#: Kinds applied together (``pick_confirm_many``) when they follow each other.
_BATCHED_KINDS = ("pick.confirm", "pick.short")


def _runs(entries: list[Entry]) -> list[list[Entry]]:
    """The entries in order, consecutive picks grouped, every other entry alone."""
    runs: list[list[Entry]] = []
    for entry in entries:
        if runs and entry.kind in _BATCHED_KINDS and runs[-1][0].kind in _BATCHED_KINDS:
            runs[-1].append(entry)
        else:
            runs.append([entry])
    return runs


def _apply_one(entry: Entry, *, user):
    """One entry through its handler in a savepoint: its message, or the
    ``DomainError`` that refused it (its effect rolled back)."""
    if entry.kind in _SUBJECT_MODEL:
        try:
            _subject_typed(entry.kind, str(entry.data.get(_SUBJECT_FIELD[entry.kind])))
        except ValidationError:  # e.g. a count id that is not a number: nothing to look up
            return BusinessValidationError(
                _("The action names something that does not exist here."),
                code="invalid_subject",
            )
    try:
        with transaction.atomic():
            return _HANDLERS[entry.kind](entry, user=user)
    except DomainError as exc:
        return exc


def _answer_replays(entries: list[Entry], *, user) -> dict[str, EntryResult]:
    """Entries whose key is known: answered from the first row (one read)."""
    if not entries:
        return {}
    rows = {
        row.key: row
        for row in SyncEntry.objects.filter(user=user, key__in=[e.key for e in entries])
    }
    return {entry.key: _answer_replay(entry, rows[entry.key]) for entry in entries}


def _answer_replay(entry: Entry, first: SyncEntry) -> EntryResult:
    if first.fingerprint != entry.fingerprint:
        return EntryResult(
            entry.key,
            REFUSED,
            code="idempotency_key_reused",
            message=_("This key was already used for another action; nothing was changed."),
        )
    if first.outcome == SyncOutcome.APPLIED:
        return EntryResult(entry.key, ALREADY_APPLIED, message=first.message)
    return EntryResult(
        entry.key,
        REFUSED,
        code=first.reason_code,
        message=first.message,
        conflict=bool(first.conflict_status),
    )


def _refusal(entry: Entry, exc: DomainError, *, row_id: int) -> EntryResult:
    conflict = exc.status in _CONFLICT_STATUSES
    return EntryResult(
        entry.key, REFUSED, code=exc.code[:64], message=str(exc.detail)[:500], conflict=conflict
    )


def _record_refusals(refused: list, *, user, device) -> None:
    """Record the refused entries on their rows (their effects were never written
    or rolled back); a conflict opens the supervisor's case and writes
    ``handheld.sync_conflict``. One round trip for the batch."""
    if not refused:
        return
    received_at = timezone.now().isoformat()
    rows = [
        {
            "id": row_id,
            "reason_code": result.code,
            "message": result.message,
            "conflict_status": ConflictStatus.OPEN if result.conflict else ConflictStatus.NONE,
        }
        for _entry, result, row_id in refused
    ]
    statements = [(_ENTRIES_REFUSED, [SyncOutcome.REFUSED, json.dumps(rows)])]
    events = [
        outbox_row(
            event_type="handheld.sync_conflict",
            aggregate_type="SyncEntry",
            aggregate_id=row_id,
            data={
                "syncEntryId": row_id,
                "kind": entry.kind,
                "subject": _subject(entry),
                "user": user.get_username(),
                "device": device.device_key,
                "reasonCode": result.code,
                "message": result.message,
                "happenedAt": entry.happened_at.isoformat(),
                "receivedAt": received_at,
                "entry": entry.raw,
            },
        )
        for entry, result, row_id in refused
        if result.conflict
    ]
    if events:
        statements.append(outbox_rows_insert(events))
    sql.execute(statements)


# --- one handler per kind: the online page's service ------------------------------------


class _Replayed(str):
    """A handler's message when the service answered a replay (nothing changed)."""


def _qty(value) -> Decimal:
    return pick_qty(value, field_name="qty")


def _floor_time(entry: Entry) -> datetime:
    """When it happened: the device's time, but never later than the server's (a
    clock ahead is not trusted with the future; both are kept on the entry)."""
    return min(entry.happened_at, timezone.now())


def _pick_request(entry: Entry, *, user) -> dict:
    """``pick_confirm``'s arguments for a pick entry (the online form's key)."""
    data = entry.data
    # The task may still be ASSIGNED (its location was scanned on the device, not
    # here): pick_confirm takes it so, and moves the order to PICKING itself.
    return {
        "task_id": data["taskId"],
        "qty": _qty(data["qty"]),
        "request_key": f"user:{user.pk}:{entry.key}",
        "actor": user,
        "location_code": str(data["location"]),
        "item_code": str(data["item"]),
        "confirmed_at": _floor_time(entry),
        # Checked for the batch (``_check_warehouses``); none: the task is gone (404).
        "warehouse_ids": [entry.warehouse_id] if entry.warehouse_id else [],
        "check": _confirm_or_short(short=entry.kind == "pick.short"),
    }


def _pick_message(result) -> str:
    if result.replayed:
        return _Replayed(_("Already confirmed: this pick was sent before."))
    task = result.task
    message = _("Picked %(qty)s %(uom)s of %(sku)s from %(location)s.") % {
        "qty": _plain(result.confirmation.qty_picked),
        "uom": task.item.base_uom.code,
        "sku": task.item.sku,
        "location": task.from_location.code,
    }
    if result.exception_case is not None:
        message += " " + _("Exception %(case)s opened for the supervisor.") % {
            "case": result.exception_case.label
        }
    return message


def _pick(entry: Entry, *, user) -> str:
    """One pick entry (``pick_confirm``): a batch's fallback."""
    return _pick_message(pick_confirm(**_pick_request(entry, user=user)))


def _apply_picks(run: list[Entry], *, user) -> list:
    """Consecutive pick entries through ``pick_confirm_many``: each one's message or
    the ``DomainError`` that refused it. If the batch meets a database error (a
    key the online page is confirming at this moment) or a refusal it cannot pin
    on one entry, its savepoint is rolled back and the entries go one by one."""
    requests, outcomes = {}, [None] * len(run)
    for n, entry in enumerate(run):
        try:
            requests[n] = _pick_request(entry, user=user)
        except DomainError as exc:
            outcomes[n] = exc
    try:
        # Atomic itself (a savepoint here): an error leaves nothing of the run.
        confirmed = pick_confirm_many(list(requests.values()))
    except (IntegrityError, DomainError):
        # A refusal the batch cannot pin on one entry: each entry on its own.
        return [_apply_one(entry, user=user) for entry in run]
    for n, result in zip(requests, confirmed, strict=True):
        outcomes[n] = result if isinstance(result, DomainError) else _pick_message(result)
    return outcomes


def _confirm_or_short(*, short: bool):
    """As the online page: "confirm" takes all that is open, "short" less. Checked by
    the service on the locked task, before anything is written."""

    def check(task: PickTask, open_qty: Decimal, qty: Decimal) -> None:
        if not short and qty < open_qty:
            raise BusinessValidationError(
                _("You picked less than %(open)s: use Short pick if the rest is not there.")
                % {"open": _plain(open_qty)},
                code="short_needs_short_pick",
            )
        if short and qty >= open_qty:
            raise BusinessValidationError(
                _("Nothing is missing: use Confirm."), code="nothing_missing"
            )

    return check


def _problem(entry: Entry, *, user) -> str:
    data = entry.data
    result = pick_task_report_exception(
        task_id=data["taskId"],
        type=str(data["type"]),
        qty_picked=_qty(data["qty"]),
        request_key=f"user:{user.pk}:{entry.key}",
        picker=user,
        note=str(data.get("note", "")),
    )
    if result.replayed:
        return _Replayed(_("Already reported."))
    case = result.exception_case
    return _("Problem reported: %(type)s. Exception %(case)s opened for the supervisor.") % {
        "type": case.get_type_display(),
        "case": case.label,
    }


def _putaway(entry: Entry, *, user) -> str:
    data = entry.data
    task_id = str(data["taskId"]).removeprefix("PA")
    if not task_id.isdigit():
        raise BusinessValidationError(_("No such put-away task."), code="invalid_task")
    task = inbound_selectors.putaway_task_get(actor=user, pk=int(task_id))
    location = inbound_selectors.location_by_scan(
        warehouse=task.warehouse, code=str(data["location"])
    )
    result = putaway_task_confirm(task=task, location=location, actor=user)
    done = result.task
    if result.replayed:
        return _Replayed(
            _("Already put away at %(location)s.") % {"location": done.confirmed_location.code}
        )
    return _("Put away %(qty)s %(uom)s of %(sku)s at %(location)s.") % {
        "qty": _plain(done.qty),
        "uom": done.item.base_uom.code,
        "sku": done.item.sku,
        "location": done.confirmed_location.code,
    }


def _receipt(entry: Entry, *, user) -> str:
    data = entry.data
    if entry.kind == "receipt.asn":
        shipment = inbound_selectors.inbound_shipment_get(actor=user, pk=data["shipmentId"])
        warehouse = shipment.warehouse
        door = inbound_selectors.dock_door_by_code(warehouse=warehouse, code=data.get("door"))
        where = {"shipment": shipment, "dock_door": door}
    else:
        shipment = None
        warehouse = (
            inbound_selectors.receipt_warehouses(actor=user).filter(code=data["warehouse"]).first()
        )
        if warehouse is None:
            raise DomainError(
                _("No access to this warehouse."), code="permission_denied", status=403
            )
        where = {"warehouse": warehouse}
    item = inbound_selectors.item_by_scan(warehouse=warehouse, code=str(data["item"]))
    if shipment is not None:
        inbound_selectors.asn_line_for_item(shipment=shipment, item=item)
    units = units_for_item(item)
    uom_code = str(data.get("uom") or units[0].code)
    uom = next((u for u in units if u.code == uom_code), None)
    if uom is None:
        raise BusinessValidationError(
            _("Unknown unit %(uom)s.") % {"uom": uom_code}, code="invalid_uom"
        )
    result = receipt_post(
        **where,
        client_key=entry.key,
        lines=[
            ReceiptLineSpec(
                item=item,
                uom=uom,
                qty=_qty(data["qty"]),
                status_code=str(data.get("condition") or "") or None,
            )
        ],
        actor=user,
    )
    if result.replayed:
        return _Replayed(_("Already received: this form was sent before."))
    return _("Received %(qty)s %(uom)s of %(sku)s.") % {
        "qty": _plain(_qty(data["qty"])),
        "uom": uom.code,
        "sku": item.sku,
    }


def _pack(entry: Entry, *, user) -> str:
    """An item scanned into the order's open package (the pack page's scan form)."""
    data = entry.data
    selectors.pack_order_view(actor=user, order_id=data["orderId"])  # 404 if not theirs
    package, packed, replayed = pack_scan_item(
        order_id=data["orderId"],
        package_type_code=str(data["package_type"]),
        item_code=str(data["code"]),
        qty=str(data["qty"]),
        entry_key=f"user:{user.pk}:{entry.key}",
        actor=user,
    )
    if replayed:
        return _Replayed(_("Already packed: this scan was sent before."))
    return _("Packed %(qty)s %(uom)s of %(sku)s into package %(sscc)s.") % {
        "qty": _plain(packed.qty),
        "uom": packed.order_line.item.base_uom.code,
        "sku": packed.order_line.item.sku,
        "sscc": package.sscc,
    }


def _count_result(entry: Entry, *, user) -> str:
    """A counted quantity (or "location empty") of an open count (the count pages'
    key: ``handheld:<user>:<key>``). A count closed meanwhile is a conflict."""
    data = entry.data
    count = counting_selectors.count_get(actor=user, count_id=data["countId"])
    empty = str(data.get("empty", "")) in ("1", "true", "on")
    recorded = count_result_record(
        count=count,
        lines=[
            {
                "location": str(data["location"]),
                "sku": str(data.get("sku") or data.get("item") or "") or None,
                "qty_counted": str(data.get("qty", "")),
                "empty": empty,
            }
        ],
        actor=user,
        request_key=f"handheld:{user.pk}:{entry.key}",
    )
    if recorded.replayed:
        return _Replayed(_("Already counted: this result was sent before."))
    return _("Counted at %(location)s (count %(count)s).") % {
        "location": data["location"],
        "count": count.count_number,
    }


_HANDLERS = {
    "pick.confirm": _pick,
    "pick.short": _pick,
    "pick.problem": _problem,
    "putaway.confirm": _putaway,
    "receipt.asn": _receipt,
    "receipt.blind": _receipt,
    "pack.scan": _pack,
    "count.result": _count_result,
}


# --- the supervisor's side ---------------------------------------------------------------


@transaction.atomic
def sync_conflict_resolve(*, entry_id: int, actor) -> SyncEntry:
    """The supervisor dealt with a refused offline action: the case is closed."""
    row = SyncEntry.objects.select_for_update().get(pk=entry_id)
    if row.conflict_status == ConflictStatus.OPEN:
        row.conflict_status = ConflictStatus.RESOLVED
        row.resolved_by = actor
        row.resolved_at = timezone.now()
        row.save(update_fields=["conflict_status", "resolved_by", "resolved_at"])
    return row
