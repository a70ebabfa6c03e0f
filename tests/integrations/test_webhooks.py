"""Webhooks: signed deliveries to a local receiver, backoff with jitter, dead letter, replay,
and the generic store-and-forward push."""

import hashlib
import hmac
import json
import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from integrations.models import (
    DeliveryKind,
    DeliveryStatus,
    IntegrationMessage,
    MessageDirection,
    MessageStatus,
    WebhookDelivery,
)
from integrations.relay import outbox_relay_run
from integrations.tasks import webhook_deliver_due_task
from integrations.webhooks import (
    deliveries_deliver_due,
    deliveries_replay,
    delivery_enqueue,
    signature_is_valid,
    system_delivery_secret,
    webhook_deliveries_create_for_events,
    webhook_secret,
    webhook_secret_rotate,
    webhook_subscription_create,
)
from tests.factories import ExternalSystemFactory, WarehouseFactory
from wms.correlation import reset_correlation_id, set_correlation_id
from wms.models import OutboxEvent
from wms.outbox import outbox_emit

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _no_bus(settings):
    """Webhooks do not need the bus: the relay publishes to the log sink here."""
    settings.WMS_EVENT_BUS_URL = ""
    settings.WMS_WEBHOOK_KICK_WORKER = False
    settings.WMS_WEBHOOK_TIMEOUT_SECONDS = 5


@pytest.fixture
def store_system():
    madrid = WarehouseFactory(code="MAD1")
    return ExternalSystemFactory(code="S042", type="store", warehouses=[madrid])


def _emit(event_type, *, warehouse="MAD1", aggregate="ORD-1", correlation="corr-hook-1"):
    token = set_correlation_id(correlation)
    try:
        with transaction.atomic():
            return outbox_emit(
                event_type=event_type,
                aggregate_type="ReplenishmentOrder",
                aggregate_id=aggregate,
                data={"warehouse": warehouse, "status": "ACCEPTED"},
            )
    finally:
        reset_correlation_id(token)


def test_webhook_delivery_is_signed_and_received(store_system, receiver):
    """A published event reaches the subscriber once, signed with its secret, with the
    event id, idempotency key and correlation id in headers; other types and other
    warehouses' events are not sent."""
    subscription, secret = webhook_subscription_create(
        system=store_system, url=receiver.url, event_types=["order.*"]
    )
    event = _emit("order.accepted")
    _emit("inventory.adjusted")
    _emit("order.accepted", warehouse="BCN1", aggregate="ORD-9")
    assert outbox_relay_run(until_idle=True) == 3

    assert WebhookDelivery.objects.count() == 1
    assert deliveries_deliver_due() == 1
    (request,) = receiver.requests
    headers, body = request["headers"], request["body"]
    assert headers["X-WMS-Event-Id"] == str(event.event_id)
    assert headers["Idempotency-Key"] == str(event.event_id)
    assert headers["X-Correlation-ID"] == "corr-hook-1"
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-WMS-Signature"] == expected
    assert signature_is_valid(secret=secret, body=body, signature=headers["X-WMS-Signature"])
    envelope = json.loads(body)
    assert envelope["id"] == str(event.event_id)
    assert envelope["type"] == "order.accepted"
    assert envelope["correlationId"] == "corr-hook-1"
    assert envelope["aggregate"] == {"type": "ReplenishmentOrder", "id": "ORD-1"}

    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert delivery.attempts == 1
    message = IntegrationMessage.objects.get()
    assert message.direction == MessageDirection.OUTBOUND
    assert message.status == MessageStatus.DELIVERED
    assert message.correlation_id == "corr-hook-1"
    assert message.payload_ref == f"WebhookDelivery:{delivery.pk}"
    # Nothing is due any more: a second pass sends nothing.
    assert deliveries_deliver_due() == 0
    assert len(receiver.requests) == 1
    assert webhook_secret(subscription=subscription) == secret


def test_webhook_failures_follow_backoff_then_dead_letter_then_replay(
    store_system, receiver, settings
):
    """A failing receiver gets retries spaced by exponential backoff with jitter until the
    retry budget is spent, then the delivery is dead; a replay delivers it."""
    settings.WMS_WEBHOOK_BACKOFF_BASE_SECONDS = 10
    webhook_subscription_create(
        system=store_system, url=receiver.url, event_types=["*"], max_attempts=4
    )
    event = _emit("order.accepted")
    outbox_relay_run(until_idle=True)
    receiver.answers = [500, 503, 502, 500]
    delivery = WebhookDelivery.objects.get()

    for attempt in range(1, 5):
        assert deliveries_deliver_due() == 1
        delivery.refresh_from_db()
        assert delivery.attempts == attempt
        if attempt < 4:
            assert delivery.status == DeliveryStatus.RETRYING
            wait = (delivery.next_attempt_at - delivery.last_attempt_at).total_seconds()
            full = 10 * 2 ** (attempt - 1)
            assert full / 2 <= wait <= full  # 5-10 s, 10-20 s, 20-40 s
            # Not due yet: nothing is sent before the backoff has passed.
            assert deliveries_deliver_due() == 0
            # Let the backoff pass (move the clock of the row, not the test).
            WebhookDelivery.objects.filter(pk=delivery.pk).update(
                next_attempt_at=timezone.now() - timedelta(seconds=1)
            )
    assert delivery.status == DeliveryStatus.DEAD
    assert delivery.last_http_status == 500
    assert deliveries_deliver_due() == 0
    assert len(receiver.requests) == 4
    # Every retry is the same delivery: same event id, body and signature.
    assert {r["headers"]["X-WMS-Event-Id"] for r in receiver.requests} == {str(event.event_id)}
    assert len({r["body"] for r in receiver.requests}) == 1
    assert len({r["headers"]["X-WMS-Signature"] for r in receiver.requests}) == 1
    statuses = list(IntegrationMessage.objects.order_by("id").values_list("status", "http_status"))
    assert statuses == [
        (MessageStatus.FAILED, 500),
        (MessageStatus.FAILED, 503),
        (MessageStatus.FAILED, 502),
        (MessageStatus.DEAD, 500),
    ]

    assert deliveries_replay(delivery_ids=[delivery.pk]) == 1
    assert deliveries_deliver_due() == 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert len(receiver.requests) == 5


def test_webhook_unreachable_receiver_is_retried(store_system, settings):
    """A connection error counts as a failed attempt, with the error recorded."""
    webhook_subscription_create(
        system=store_system, url="http://127.0.0.1:1/hook", event_types=["*"], max_attempts=2
    )
    _emit("order.accepted")
    outbox_relay_run(until_idle=True)
    deliveries_deliver_due()
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.RETRYING
    assert delivery.last_http_status is None
    assert "ConnectionError" in delivery.last_error


def test_webhook_event_handed_over_twice_gives_one_delivery(store_system, receiver):
    """The relay may hand an event over again after a crash: still one delivery."""
    webhook_subscription_create(system=store_system, url=receiver.url, event_types=["*"])
    event = _emit("order.accepted")
    with transaction.atomic():
        webhook_deliveries_create_for_events(events=[OutboxEvent.objects.get(pk=event.pk)])
    with transaction.atomic():
        webhook_deliveries_create_for_events(events=[OutboxEvent.objects.get(pk=event.pk)])
    assert WebhookDelivery.objects.count() == 1


def test_a_store_hears_only_of_its_own_shipments(store_system, receiver):
    """Another store's shipment in the same warehouse is not delivered to S042."""
    webhook_subscription_create(
        system=store_system, url=receiver.url, event_types=["shipment.confirmed"]
    )
    events = []
    with transaction.atomic():
        for store in ("S042", "S043"):
            events.append(
                outbox_emit(
                    event_type="shipment.confirmed",
                    aggregate_type="Shipment",
                    aggregate_id=f"SHP-{store}",
                    data={"warehouse": "MAD1", "storeCode": store},
                )
            )
    with transaction.atomic():
        created = webhook_deliveries_create_for_events(
            events=list(OutboxEvent.objects.filter(pk__in=[e.pk for e in events]))
        )
    assert created == 1
    assert WebhookDelivery.objects.get().event_id == events[0].event_id


def test_webhook_secret_rotation_changes_signature(store_system, receiver):
    """After rotation deliveries are signed with the new secret only."""
    subscription, old = webhook_subscription_create(
        system=store_system, url=receiver.url, event_types=["*"]
    )
    new = webhook_secret_rotate(subscription=subscription)
    assert new != old
    _emit("order.accepted")
    outbox_relay_run(until_idle=True)
    deliveries_deliver_due()
    request = receiver.requests[0]
    signature = request["headers"]["X-WMS-Signature"]
    assert signature_is_valid(secret=new, body=request["body"], signature=signature)
    assert not signature_is_valid(secret=old, body=request["body"], signature=signature)


def test_delivery_enqueue_generic_push_with_idempotency_key(receiver):
    """A store-and-forward push (e.g. a pick-task batch) goes to the system's endpoint with
    its Idempotency-Key and the system's signature."""
    system = ExternalSystemFactory(code="AUTO1", type="automation", endpoint_url=receiver.url)
    delivery = delivery_enqueue(
        system=system,
        body={"batchId": "B-1", "tasks": [{"pickTaskId": "t-1", "qty": "2"}]},
        idempotency_key="pick-batch-B-1",
        kind=DeliveryKind.PICK_TASK_BATCH,
    )
    assert webhook_deliver_due_task.delay().get() == 1
    (request,) = receiver.requests
    assert request["headers"]["Idempotency-Key"] == "pick-batch-B-1"
    assert "X-WMS-Event-Id" not in request["headers"]
    assert signature_is_valid(
        secret=system_delivery_secret(system=system),
        body=request["body"],
        signature=request["headers"]["X-WMS-Signature"],
    )
    assert json.loads(request["body"])["batchId"] == "B-1"
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED


def test_delivery_workers_in_parallel_send_each_once(receiver):
    """Two delivery workers at once (own connections) send each delivery exactly once."""
    system = ExternalSystemFactory(code="AUTO1", type="automation", endpoint_url=receiver.url)
    for n in range(30):
        delivery_enqueue(system=system, body={"n": n}, idempotency_key=f"k-{n}")
    receiver.delay = 0.02
    barrier = threading.Barrier(2)

    def worker():
        try:
            barrier.wait(timeout=10)
            deliveries_deliver_due(limit=5)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    keys = [r["headers"]["Idempotency-Key"] for r in receiver.requests]
    assert sorted(keys) == sorted(f"k-{n}" for n in range(30))
    assert WebhookDelivery.objects.filter(status=DeliveryStatus.DELIVERED).count() == 30
