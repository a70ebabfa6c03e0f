"""What an adjustment applied at once sends to the database, pinned (``bench/adjustments.py``
measures its rate): the statements of the hot path in its own transaction and in a
caller's, and what is committed.
"""

import threading
from decimal import Decimal

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from psycopg.pq import TransactionStatus

from inventory.models import (
    AdjustmentState,
    AuditEvent,
    FinanceEvent,
    FinanceSequence,
    InventoryAdjustment,
    InventoryLedgerEntry,
    LedgerEntryType,
)
from inventory.services import adjustments
from wms.models import OutboxEvent

from .adjustment_fixtures import *  # noqa: F403  (the fixtures)
from .helpers import balance_of

D = Decimal


def _id_in_hand():
    """An adjustment id taken from the sequence beforehand: the block refill (one query per
    ``_AdjustmentIds.BLOCK`` adjustments) stays out of the statements counted."""
    ids = adjustments._ADJUSTMENT_IDS
    if not ids._free:
        ids._free.appendleft(ids.take())


def _statements(captured) -> list[str]:
    """The captured statements, the hot path's server-bound ones named by what they write."""
    return [str(query["sql"]).split(" ", 1)[0] for query in captured]


@pytest.mark.django_db(transaction=True)
def test_adjustment_request_owning_its_transaction_statements(
    request_adjustment, controller_user, stocked, bin_a, available
):
    """Applied at once in its own transaction: BEGIN, one statement (the posting with the
    look-up, the adjustment, its history and audit records and the finance event riding
    it), and ``atomic``'s COMMIT: three round trips, as many as the raw posting."""
    FinanceSequence.objects.get_or_create(pk=1, defaults={"last": 0})
    request_adjustment("-1", actor=controller_user)  # the statements are prepared from here
    _id_in_hand()

    with CaptureQueriesContext(connection) as captured:
        adjustment = request_adjustment("-1", actor=controller_user)

    statements = _statements(captured)
    assert statements == ["BEGIN", "WITH", "COMMIT"], captured.captured_queries
    assert adjustment.state == AdjustmentState.APPLIED
    assert connection.get_autocommit()
    assert connection.connection.info.transaction_status == TransactionStatus.IDLE


@pytest.mark.django_db(transaction=True)
def test_adjustment_request_owning_its_transaction_commits_every_row(
    request_adjustment, controller_user, stocked, bin_a, available
):
    """Everything the adjustment wrote is there once committed: the adjustment,
    its history, both audit records, the ledger entry, the event and the finance event."""
    FinanceSequence.objects.get_or_create(pk=1, defaults={"last": 0})
    adjustment = request_adjustment("-2", actor=controller_user)

    # Read on a new connection: only committed rows are visible there.
    connection.close()
    stored = InventoryAdjustment.objects.get(pk=adjustment.pk)
    assert stored.state == AdjustmentState.APPLIED
    assert stored.posting_id == adjustment.posting_id
    assert stored.history.count() == 1
    assert list(
        AuditEvent.objects.filter(entity_id=str(adjustment.pk))
        .order_by("pk")
        .values_list("event_type", flat=True)
    ) == ["adjustment.requested", "adjustment.applied"]
    [entry] = InventoryLedgerEntry.objects.filter(entry_type=LedgerEntryType.ADJUSTMENT)
    assert [entry.pk] == adjustment.ledger_entry_ids
    assert OutboxEvent.objects.filter(event_type="inventory.adjusted").count() == 1
    finance = FinanceEvent.objects.get(source_key=f"adjustment:{adjustment.pk}")
    assert finance.total_amount == D("-5.0000")
    assert FinanceSequence.objects.get(pk=1).last == finance.sequence
    assert balance_of(stocked, bin_a, available) == (D("8"), D("3"))


@pytest.mark.django_db(transaction=True)
def test_adjustment_request_without_the_finance_counter_takes_the_careful_path(
    request_adjustment, controller_user, stocked, bin_a, available
):
    """With the finance counter row missing, the statement writes no finance event; the
    service rolls it back and takes the request step by step, where the finance feed creates
    the counter: the adjustment is applied once, finance event included."""
    FinanceSequence.objects.filter(pk=1).delete()

    adjustment = request_adjustment("-2", actor=controller_user)

    assert adjustment.state == AdjustmentState.APPLIED
    assert InventoryAdjustment.objects.count() == 1
    assert InventoryLedgerEntry.objects.filter(entry_type=LedgerEntryType.ADJUSTMENT).count() == 1
    assert AuditEvent.objects.filter(entity_id=str(adjustment.pk)).count() == 2
    [finance] = FinanceEvent.objects.all()
    assert (finance.source_key, finance.sequence) == (f"adjustment:{adjustment.pk}", 1)
    assert FinanceSequence.objects.get(pk=1).last == 1
    assert balance_of(stocked, bin_a, available) == (D("8"), D("3"))
    assert connection.get_autocommit()


@pytest.mark.django_db
def test_adjustment_request_inside_a_callers_transaction_leaves_the_commit_to_it(
    request_adjustment, controller_user
):
    """Inside a caller's transaction (counting, the API's idempotency record) nothing is
    committed: a savepoint, the one statement, release."""
    request_adjustment("-1", actor=controller_user)
    _id_in_hand()

    with CaptureQueriesContext(connection) as captured:
        adjustment = request_adjustment("-1", actor=controller_user)

    statements = _statements(captured)
    assert statements == ["SAVEPOINT", "WITH", "RELEASE"], captured.captured_queries
    assert connection.in_atomic_block
    assert adjustment.state == AdjustmentState.APPLIED


@pytest.mark.django_db(transaction=True)
def test_adjustment_request_rolled_back_by_its_caller_leaves_nothing(
    request_adjustment, controller_user, stocked, bin_a, available
):
    """In a caller's transaction that rolls back, the adjustment goes with it (no COMMIT was
    sent on the caller's behalf)."""
    FinanceSequence.objects.get_or_create(pk=1, defaults={"last": 0})

    class Undo(Exception):
        pass

    with pytest.raises(Undo), transaction.atomic():
        request_adjustment("-2", actor=controller_user)
        raise Undo

    assert InventoryAdjustment.objects.count() == 0
    assert FinanceEvent.objects.count() == 0
    assert balance_of(stocked, bin_a, available) == (D("10"), D("3"))


@pytest.mark.django_db(transaction=True)
def test_adjustment_request_in_a_manual_transaction_leaves_the_commit_to_it(
    request_adjustment, controller_user, stocked, bin_a, available
):
    """With autocommit off (a caller managing its transaction by hand) the service is not the
    transaction's owner: it sends no COMMIT, and the caller's rollback takes it all back."""
    FinanceSequence.objects.get_or_create(pk=1, defaults={"last": 0})
    transaction.set_autocommit(False)
    try:
        adjustment = request_adjustment("-2", actor=controller_user)
        assert adjustment.state == AdjustmentState.APPLIED
        transaction.rollback()
    finally:
        transaction.set_autocommit(True)

    assert InventoryAdjustment.objects.count() == 0
    assert FinanceEvent.objects.count() == 0
    assert balance_of(stocked, bin_a, available) == (D("10"), D("3"))


@pytest.mark.django_db
def test_adjustment_statement_stays_within_what_psycopg_caches(
    request_adjustment, controller_user, monkeypatch
):
    """psycopg parses a statement's ``%s`` again on every call once it is longer than
    ``MAX_CACHED_STATEMENT_LENGTH`` or has more than ``MAX_CACHED_STATEMENT_PARAMS``
    parameters (86 typed parameters in 6,200 characters cost more Python CPU than the rest
    of the adjustment's own work): the rows ride as JSON records to stay under both."""
    from psycopg import _queries

    from inventory.services import engine

    seen = []
    original = engine._pg_fetchone

    def spy(statement, params):
        seen.append((len(statement.encode()), len(params)))
        return original(statement, params)

    monkeypatch.setattr(engine, "_pg_fetchone", spy)
    for qty in ("-1", "2"):  # a loss (guarded update) and a gain (upsert): two statements
        seen.clear()
        request_adjustment(qty, actor=controller_user)
        [(length, params)] = seen
        assert length <= _queries.MAX_CACHED_STATEMENT_LENGTH, length
        assert params <= _queries.MAX_CACHED_STATEMENT_PARAMS, params


@pytest.mark.django_db(transaction=True)
def test_adjustments_and_other_finance_writers_at_once_neither_deadlock_nor_skip(
    request_adjustment, controller_user, stocked, bin_a, available, warehouse
):
    """Four connections adjust one balance while two record finance events of their own
    (as a shipment does: its stock, then the counter). The statement that carries an
    adjustment bumps the finance counter only after its balance lock (the counter's lock is
    always the last one taken), so nobody deadlocks (an applied-at-once adjustment is not
    retried: a deadlock would reach its caller), and the numbers stay gap-free."""
    from inventory.finance import FinanceLine, finance_event_record
    from inventory.models import Item

    FinanceSequence.objects.get_or_create(pk=1, defaults={"last": 0})
    item = Item.objects.get(pk=stocked.pk)
    barrier = threading.Barrier(6)
    errors, adjusted = [], []

    def adjust(number):
        try:
            barrier.wait()
            for n in range(10):
                qty = "1" if (number + n) % 2 else "-1"
                adjusted.append(
                    request_adjustment(qty, actor=controller_user, key=f"c{number}-{n}").pk
                )
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    def record(number):
        try:
            barrier.wait()
            for n in range(10):
                with transaction.atomic():
                    balance_of(stocked, bin_a, available)  # reads, then the counter last
                    finance_event_record(
                        event_type="shipment.confirmed",
                        warehouse=warehouse,
                        reference_type="Shipment",
                        reference_id=f"{number}-{n}",
                        lines=[FinanceLine(item=item, qty=D("1"), uom="EA")],
                        source_key=f"test-ship:{number}-{n}",
                    )
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=adjust, args=(n,)) for n in range(4)]
    threads += [threading.Thread(target=record, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert errors == []
    assert len(adjusted) == InventoryAdjustment.objects.count() == 40
    sequences = list(FinanceEvent.objects.order_by("sequence").values_list("sequence", flat=True))
    assert sequences == list(range(1, 61))
    assert balance_of(stocked, bin_a, available) == (D("10"), D("3"))
