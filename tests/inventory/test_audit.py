"""The audit trail (``inventory.audit``): records what other apps ask, in their transaction,
and the database refuses to change or delete a record."""

import pytest
from django.db import IntegrityError, connection, transaction

from inventory.audit import audit_record
from inventory.models import AuditEvent
from tests.factories import UserFactory
from wms.correlation import reset_correlation_id, set_correlation_id

pytestmark = pytest.mark.django_db


@pytest.fixture
def recorded(warehouse):
    token = set_correlation_id("corr-42")
    try:
        with transaction.atomic():
            return audit_record(
                event_type="count.variance_approved",
                actor=UserFactory(username="auditor"),
                warehouse=warehouse,
                entity_type="CountLine",
                entity_id=7,
                before={"qtyCounted": "3"},
                after={"decision": "APPROVED"},
            )
    finally:
        reset_correlation_id(token)


def test_audit_record_keeps_actor_warehouse_snapshots_and_correlation(recorded, warehouse):
    """A record names the actor, the warehouse, the entity, before/after and the correlation id."""
    event = AuditEvent.objects.get(pk=recorded.pk)
    assert (event.actor_label, event.warehouse_id) == ("auditor", warehouse.pk)
    assert (event.entity_type, event.entity_id) == ("CountLine", "7")
    assert (event.before, event.after) == ({"qtyCounted": "3"}, {"decision": "APPROVED"})
    assert event.correlation_id == "corr-42"
    assert event.occurred_at is not None


@pytest.mark.django_db(transaction=True)
def test_audit_record_outside_a_transaction_is_refused(warehouse):
    """An audit record belongs to the transaction of what it records."""
    with pytest.raises(RuntimeError):
        audit_record(event_type="x", actor=None, warehouse=warehouse, entity_type="X", entity_id=1)


def test_audit_event_update_is_refused_by_the_database(recorded):
    """UPDATE on the audit table fails, through the ORM and in SQL."""
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=recorded.pk).update(actor_label="someone else")
    with (
        pytest.raises(IntegrityError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE inventory_auditevent SET after = NULL WHERE id = %s", [recorded.pk])
    assert AuditEvent.objects.get(pk=recorded.pk).actor_label == "auditor"


def test_audit_event_delete_is_refused_by_the_database(recorded):
    """DELETE on the audit table fails, through the ORM and in SQL."""
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=recorded.pk).delete()
    with (
        pytest.raises(IntegrityError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM inventory_auditevent")
    assert AuditEvent.objects.filter(pk=recorded.pk).exists()
