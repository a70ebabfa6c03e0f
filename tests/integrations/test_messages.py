"""The message log: inbound idempotent calls of external systems are recorded automatically."""

import pytest

from integrations.messages import integration_message_record
from integrations.models import IntegrationMessage, MessageDirection, MessageStatus
from tests.factories import UserFactory
from wms.models import IdempotencyRecord

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.wms.test_idempotency")]

URL = "/test-idempotent/things"


@pytest.fixture
def store(system_client, warehouse):
    return system_client("store", "S042", [warehouse])


def _post(client, body, key="k-1", **headers):
    return client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY=key, **headers)


def test_inbound_call_recorded_processed_then_replayed(store):
    """First use → PROCESSED with the key, status, correlation id and stored outcome;
    the retry → REPLAYED pointing at the same outcome."""
    _post(store, {"name": "a"}, HTTP_X_CORRELATION_ID="corr-in-1")
    _post(store, {"name": "a"}, HTTP_X_CORRELATION_ID="corr-in-2")
    record = IdempotencyRecord.objects.get()
    first, second = IntegrationMessage.objects.order_by("id")
    assert first.system == store.system
    assert first.direction == MessageDirection.INBOUND
    assert first.message_type == "POST test-idempotent/things"
    assert (first.status, first.http_status) == (MessageStatus.PROCESSED, 201)
    assert first.idempotency_key == "k-1"
    assert first.correlation_id == "corr-in-1"
    assert first.payload_ref == f"IdempotencyRecord:{record.pk}"
    assert (second.status, second.http_status) == (MessageStatus.REPLAYED, 201)
    assert second.correlation_id == "corr-in-2"
    assert second.payload_ref == first.payload_ref


def test_inbound_rejections_recorded_with_their_code(store):
    """Validation failures, key reuse and refused effects are REJECTED with their code;
    no PROCESSED message survives a rolled-back effect."""
    _post(store, {"name": ""}, key="bad")
    _post(store, {"name": "a"}, key="k-1")
    _post(store, {"name": "b"}, key="k-1")
    _post(store, {"name": "c", "fail": "domain"}, key="refused")
    rows = list(
        IntegrationMessage.objects.order_by("id").values_list(
            "idempotency_key", "status", "http_status", "detail"
        )
    )
    assert [(k, s, h) for k, s, h, _d in rows] == [
        ("bad", MessageStatus.REJECTED, 400),
        ("k-1", MessageStatus.PROCESSED, 201),
        ("k-1", MessageStatus.REJECTED, 422),
        ("refused", MessageStatus.REJECTED, 409),
    ]
    assert rows[0][3].startswith("validation_failed")
    assert rows[2][3].startswith("idempotency_key_reused")
    assert rows[3][3].startswith("thing_refused")


def test_session_calls_are_not_integration_messages(api_client):
    """A person's call through the session is not an exchange with an external system."""
    api_client.force_login(UserFactory())
    assert _post(api_client, {"name": "a"}).status_code == 201
    assert not IntegrationMessage.objects.exists()


def test_integration_message_record_service(store):
    """Other apps log their exchanges through the service; the correlation id defaults
    to the current one."""
    from wms.correlation import reset_correlation_id, set_correlation_id

    token = set_correlation_id("corr-svc")
    try:
        message = integration_message_record(
            system=store.system,
            direction=MessageDirection.OUTBOUND,
            message_type="pick_task_batch",
            status=MessageStatus.DELIVERED,
            idempotency_key="batch-1",
            payload_ref="PickTaskBatch:1",
            http_status=200,
        )
    finally:
        reset_correlation_id(token)
    assert message.correlation_id == "corr-svc"
    assert str(message) == "Outbound pick_task_batch (Delivered)"
