"""Admin of the integration backbone: pages, replay actions, secrets shown once, scoping."""

import re

import pytest
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.db import transaction
from django.test import Client
from django.urls import reverse

from integrations.messages import integration_message_record
from integrations.models import (
    ApiToken,
    DeliveryStatus,
    ExternalSystem,
    IntegrationMessage,
    WebhookDelivery,
    WebhookSubscription,
)
from integrations.webhooks import (
    delivery_enqueue,
    webhook_secret,
)
from tests.factories import ExternalSystemFactory, UserFactory
from wms import roles
from wms.models import OutboxEvent, OutboxStatus
from wms.outbox import outbox_emit

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def root():
    return _client(UserFactory(username="root", is_superuser=True))


def _supervisor(username, warehouses) -> Client:
    user = UserFactory(username=username, warehouses=warehouses)
    user.groups.add(Group.objects.get(name=roles.SUPERVISOR))
    return _client(user)


def _emit(event_type="order.accepted", **data):
    with transaction.atomic():
        return outbox_emit(event_type=event_type, aggregate_type="T", aggregate_id="1", data=data)


@pytest.mark.parametrize(
    "model",
    [
        "wms_outboxevent",
        "wms_idempotencyrecord",
        "integrations_externalsystem",
        "integrations_integrationmessage",
        "integrations_webhooksubscription",
        "integrations_webhookdelivery",
    ],
)
def test_admin_changelists_load(root, warehouse, model):
    """Every backbone changelist renders for an administrator, with data present."""
    system = ExternalSystemFactory(code="S042", warehouses=[warehouse], endpoint_url="http://x/")
    _emit(warehouse="MAD1")
    integration_message_record(
        system=system, direction="INBOUND", message_type="POST x", status="PROCESSED"
    )
    delivery_enqueue(system=system, body={"a": 1}, idempotency_key="k")
    response = root.get(reverse(f"admin:{model}_changelist"))
    assert response.status_code == 200


def test_admin_external_system_add_shows_token_once(root, warehouse, api_client):
    """Creating a system issues a token whose key is shown once and works; the change page
    shows the prefix, never the hash or the salt."""
    response = root.post(
        reverse("admin:integrations_externalsystem_add"),
        {
            "type": "store",
            "code": "S777",
            "name": "Store 777",
            "warehouses": [warehouse.pk],
            "endpoint_url": "",
            "is_active": "on",
            "tokens-TOTAL_FORMS": "0",
            "tokens-INITIAL_FORMS": "0",
        },
        follow=True,
    )
    assert response.status_code == 200
    texts = [str(m) for m in get_messages(response.wsgi_request)] or [
        m.message for m in response.context["messages"]
    ]
    key = re.search(r"<code>(wms_[a-z0-9]+)</code>", " ".join(texts)).group(1)
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api_client.get("/api/v1/warehouses").status_code == 200

    system = ExternalSystem.objects.get(code="S777")
    token = ApiToken.objects.get(system=system)
    page = root.get(reverse("admin:integrations_externalsystem_change", args=[system.pk]))
    html = page.content.decode()
    assert token.prefix in html
    assert token.key_hash not in html
    assert key not in html


def test_admin_rotate_token_action_shows_new_key(root, warehouse):
    """The rotate action revokes the live token and shows the new key once."""
    system = ExternalSystemFactory(code="S042", warehouses=[warehouse])
    response = root.post(
        reverse("admin:integrations_externalsystem_changelist"),
        {"action": "rotate_tokens", "_selected_action": [system.pk]},
        follow=True,
    )
    assert "wms_" in response.content.decode()
    assert system.tokens.filter(revoked_at__isnull=True).count() == 1


def test_admin_webhook_subscription_add_shows_secret_once(root, warehouse):
    """A new subscription's signing secret appears once in the messages, not on its page."""
    system = ExternalSystemFactory(code="S042", warehouses=[warehouse])
    response = root.post(
        reverse("admin:integrations_webhooksubscription_add"),
        {
            "system": system.pk,
            "url": "http://127.0.0.1:9/hook",
            "event_types": "order.*, shipment.confirmed",
            "max_attempts": 5,
            "is_active": "on",
        },
        follow=True,
    )
    assert response.status_code == 200
    subscription = WebhookSubscription.objects.get()
    assert subscription.event_types == ["order.*", "shipment.confirmed"]
    secret = webhook_secret(subscription=subscription)
    assert secret in response.content.decode()
    page = root.get(
        reverse("admin:integrations_webhooksubscription_change", args=[subscription.pk])
    )
    assert secret not in page.content.decode()
    assert subscription.secret_salt not in page.content.decode()


def test_admin_replays_dead_delivery(root, warehouse):
    """The failures filter lists dead deliveries; the replay action queues them again."""
    system = ExternalSystemFactory(code="S042", warehouses=[warehouse], endpoint_url="http://x/")
    dead = delivery_enqueue(system=system, body={}, idempotency_key="dead")
    delivery_enqueue(system=system, body={}, idempotency_key="fine")
    WebhookDelivery.objects.filter(pk=dead.pk).update(status=DeliveryStatus.DEAD, attempts=8)
    url = reverse("admin:integrations_webhookdelivery_changelist")
    listing = root.get(url + "?failures=dead").content.decode()
    assert f"/{dead.pk}/change/" in listing
    assert "fine" not in listing
    root.post(url, {"action": "replay_deliveries", "_selected_action": [dead.pk]})
    dead.refresh_from_db()
    assert (dead.status, dead.attempts) == (DeliveryStatus.PENDING, 0)


def test_admin_replays_dead_outbox_event(root):
    """The outbox replay action puts a dead event back to pending with the same id."""
    event = _emit()
    OutboxEvent.objects.filter(pk=event.pk).update(status=OutboxStatus.DEAD, attempts=10)
    url = reverse("admin:wms_outboxevent_changelist")
    assert root.get(url + "?status__exact=DEAD").status_code == 200
    root.post(url, {"action": "replay_events", "_selected_action": [event.pk]})
    replayed = OutboxEvent.objects.get(pk=event.pk)
    assert replayed.status == OutboxStatus.PENDING
    assert replayed.event_id == event.event_id
    assert replayed.attempts == 0


def test_admin_scopes_by_warehouse(warehouse, other_warehouse):
    """A Madrid supervisor sees Madrid's systems, messages and events (and instance-wide
    events), not Barcelona's; idempotency records are for administrators only."""
    madrid = ExternalSystemFactory(code="S-MAD", warehouses=[warehouse])
    barcelona = ExternalSystemFactory(code="S-BCN", warehouses=[other_warehouse])
    for system in (madrid, barcelona):
        integration_message_record(
            system=system,
            direction="INBOUND",
            message_type=f"msg-{system.code}",
            status="PROCESSED",
        )
    mad_event, bcn_event, global_event = (
        _emit(warehouse="MAD1"),
        _emit(warehouse="BCN1"),
        _emit("instance.note"),
    )
    client = _supervisor("sup-mad", [warehouse])

    systems = client.get(reverse("admin:integrations_externalsystem_changelist")).content.decode()
    assert "S-MAD" in systems and "S-BCN" not in systems
    msgs = client.get(reverse("admin:integrations_integrationmessage_changelist")).content.decode()
    assert "msg-S-MAD" in msgs and "msg-S-BCN" not in msgs
    events = client.get(reverse("admin:wms_outboxevent_changelist")).content.decode()
    for event, visible in ((mad_event, True), (bcn_event, False), (global_event, True)):
        assert (f"/{event.pk}/change/" in events) is visible
    other = IntegrationMessage.objects.get(system=barcelona)
    page = client.get(reverse("admin:integrations_integrationmessage_change", args=[other.pk]))
    assert page.status_code in (302, 404)
    assert client.get(reverse("admin:wms_idempotencyrecord_changelist")).status_code == 403


def test_admin_supervisor_may_replay_deliveries(warehouse):
    """The supervisor role holds the permission the replay action needs."""
    system = ExternalSystemFactory(code="S-MAD", warehouses=[warehouse], endpoint_url="http://x/")
    dead = delivery_enqueue(system=system, body={}, idempotency_key="dead")
    WebhookDelivery.objects.filter(pk=dead.pk).update(status=DeliveryStatus.DEAD)
    client = _supervisor("sup-mad", [warehouse])
    client.post(
        reverse("admin:integrations_webhookdelivery_changelist"),
        {"action": "replay_deliveries", "_selected_action": [dead.pk]},
    )
    dead.refresh_from_db()
    assert dead.status == DeliveryStatus.PENDING
