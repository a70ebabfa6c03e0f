"""Webhook subscriptions and the store-and-forward delivery of HTTP pushes.

What it owns: ``WebhookSubscription`` and ``WebhookDelivery`` rows, their
signing secrets and the delivery loop.

* **Subscriptions** name event types (``fnmatch`` patterns: ``order.*``,
  ``*``). The relay calls ``webhook_deliveries_create_for_events`` in the
  transaction that marks events published, so a delivery exists if and only
  if the event was published; the unique (subscription, event) constraint
  absorbs a relay's redelivery. An event whose ``data`` names a warehouse
  (``"warehouse": "MAD1"``) goes only to systems granted that warehouse.
* **Deliveries** are generic: ``delivery_enqueue`` stores any JSON POST for
  an external system (the automation connector pushes pick-task batches with
  it, ``kind="pick_task_batch"`` and the batch's ``Idempotency-Key``).
  ``deliveries_deliver_due`` claims due rows (``FOR UPDATE SKIP LOCKED`` plus
  a short lease, so no transaction stays open during HTTP calls and several
  workers can share the work), POSTs them signed, and records the outcome.
  Failures retry with exponential backoff and jitter until ``max_attempts``,
  then the delivery is DEAD until an operator replays it.
* **Signing**: ``X-WMS-Signature`` is the hex HMAC-SHA256 of the exact body
  bytes with the subscriber's secret; ``X-WMS-Event-Id`` carries the event id
  (the same on every retry), ``Idempotency-Key`` the delivery's key,
  ``X-Correlation-ID`` the correlation id of the change. Secrets are not
  stored: they are derived from ``SECRET_KEY`` and a per-subscription salt
  and shown once.

Order: deliveries of one subscription are attempted in id order, but a
failing delivery does not hold back the next (receivers order by the
envelope's ``occurredAt`` or fetch current state); the event bus is the
ordered channel.

Every attempt is an ``IntegrationMessage`` (OUTBOUND).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import random
import secrets
from dataclasses import dataclass
from datetime import timedelta
from fnmatch import fnmatch

import requests
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Q
from django.dispatch import Signal
from django.utils import timezone

from wms import metrics
from wms.correlation import get_correlation_id, reset_correlation_id, set_correlation_id
from wms.exceptions import BusinessValidationError
from wms.logs import reset_integration_target, set_integration_target

from .envelope import envelope_bytes, event_envelope
from .messages import integration_message_record
from .models import (
    DeliveryKind,
    DeliveryStatus,
    ExternalSystem,
    MessageDirection,
    MessageStatus,
    WebhookDelivery,
    WebhookSubscription,
)

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-WMS-Signature"
EVENT_ID_HEADER = "X-WMS-Event-Id"

#: Sent when a delivery lands (2xx), inside the transaction that marks it
#: DELIVERED, so a receiver's writes commit with the mark (kwargs: ``delivery``).
#: The automation connector records delivered pick-task batches with it.
delivery_delivered = Signal()
#: Sent after the commit that made deliveries due, so they go out soon rather than
#: at the next beat (the beat is the safety net); ``integrations.tasks`` listens.
deliveries_due = Signal()


def _setting(name: str, default):
    return getattr(settings, name, default)


# --- secrets and signatures --------------------------------------------------------


def _derive_secret(label: str) -> str:
    digest = hmac.new(settings.SECRET_KEY.encode(), label.encode(), hashlib.sha256).digest()
    return "whsec_" + base64.b32encode(digest).decode().rstrip("=").lower()


def webhook_secret(*, subscription: WebhookSubscription) -> str:
    """The subscription's signing secret (recomputed, never stored)."""
    return _derive_secret(f"webhook-secret:{subscription.pk}:{subscription.secret_salt}")


def system_delivery_secret(*, system: ExternalSystem) -> str:
    """Signing secret of pushes to a system outside any subscription (e.g. pick-task batches)."""
    return _derive_secret(f"delivery-secret:{system.code}")


def signature_for(*, secret: str, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``body``: what ``X-WMS-Signature`` carries."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_is_valid(*, secret: str, body: bytes, signature: str) -> bool:
    """For receivers (and tests): constant-time check of ``X-WMS-Signature``."""
    return hmac.compare_digest(signature_for(secret=secret, body=body), signature or "")


def _delivery_secret(delivery: WebhookDelivery) -> str:
    if delivery.subscription_id is not None:
        return webhook_secret(subscription=delivery.subscription)
    return system_delivery_secret(system=delivery.system)


# --- subscriptions ------------------------------------------------------------------


def webhook_event_types_clean(event_types) -> list[str]:
    if isinstance(event_types, str):
        event_types = [t for t in event_types.replace(",", " ").split() if t]
    cleaned = sorted({str(t).strip() for t in event_types or [] if str(t).strip()})
    if not cleaned:
        raise BusinessValidationError(
            "Name at least one event type (or '*').", code="event_types_required"
        )
    return cleaned


@transaction.atomic
def webhook_subscription_create(
    *, system: ExternalSystem, url: str, event_types, max_attempts: int = 8
) -> tuple[WebhookSubscription, str]:
    """Create a subscription; returns it with its secret (shown once)."""
    subscription = WebhookSubscription.objects.create(
        system=system,
        url=url,
        event_types=webhook_event_types_clean(event_types),
        max_attempts=max_attempts,
        secret_salt=secrets.token_hex(16),
    )
    return subscription, webhook_secret(subscription=subscription)


@transaction.atomic
def webhook_secret_rotate(*, subscription: WebhookSubscription) -> str:
    """New salt, new secret (returned once); the old secret stops signing at once."""
    subscription.secret_salt = secrets.token_hex(16)
    subscription.save(update_fields=["secret_salt"])
    return webhook_secret(subscription=subscription)


def subscription_matches(subscription: WebhookSubscription, event_type: str) -> bool:
    return any(fnmatch(event_type, pattern) for pattern in subscription.event_types or [])


def _event_warehouse(data) -> str | None:
    if isinstance(data, dict):
        value = data.get("warehouse") or data.get("warehouseCode")
        if isinstance(value, str):
            return value
    return None


def _for_this_store(system, data) -> bool:
    """A store hears only about its own orders and shipments (``storeCode`` in the data)."""
    if system.type != "store" or not isinstance(data, dict):
        return True
    store_code = data.get("storeCode")
    return store_code is None or store_code == system.code


def webhook_deliveries_create_for_events(*, events) -> int:
    """Fan published events out to matching subscriptions (in the relay's transaction)."""
    subscriptions = list(
        WebhookSubscription.objects.filter(is_active=True, system__is_active=True)
        .select_related("system")
        .prefetch_related("system__warehouses")
    )
    if not subscriptions:
        return 0
    granted = {s.pk: {w.code for w in s.system.warehouses.all()} for s in subscriptions}
    rows = []
    for event in events:
        warehouse = _event_warehouse(event.data)
        body = None
        for subscription in subscriptions:
            if not subscription_matches(subscription, event.event_type):
                continue
            if warehouse is not None and warehouse not in granted[subscription.pk]:
                continue
            if not _for_this_store(subscription.system, event.data):
                continue
            body = body or envelope_bytes(event_envelope(event)).decode()
            rows.append(
                WebhookDelivery(
                    system=subscription.system,
                    subscription=subscription,
                    kind=DeliveryKind.EVENT,
                    event_id=event.event_id,
                    event_type=event.event_type,
                    idempotency_key=str(event.event_id),
                    url=subscription.url,
                    body=body,
                    correlation_id=event.correlation_id,
                    max_attempts=subscription.max_attempts,
                )
            )
    if not rows:
        return 0
    WebhookDelivery.objects.bulk_create(rows, ignore_conflicts=True)
    transaction.on_commit(_kick_delivery_worker)
    return len(rows)


def _kick_delivery_worker() -> None:
    """After commit: deliveries are due now; ``integrations.tasks`` enqueues a delivery run."""
    if not _setting("WMS_WEBHOOK_KICK_WORKER", True):
        return
    for receiver, result in deliveries_due.send_robust(sender=WebhookDelivery):
        if isinstance(result, Exception):
            logger.warning("deliveries_due receiver %r failed: %s", receiver, result)


# --- generic store-and-forward ------------------------------------------------------


@transaction.atomic
def delivery_enqueue(
    *,
    system: ExternalSystem,
    body,
    idempotency_key: str,
    kind: str = DeliveryKind.OTHER,
    url: str | None = None,
    event_type: str = "",
    max_attempts: int | None = None,
) -> WebhookDelivery:
    """Store a JSON POST for ``system`` (its ``endpoint_url`` unless ``url``); it is sent
    after commit and retried until delivered or dead. ``body``: dict/list or JSON text."""
    target = url or system.endpoint_url
    if not target:
        raise BusinessValidationError(
            f"External system '{system.code}' has no push endpoint.", code="no_push_endpoint"
        )
    text = body if isinstance(body, str) else json.dumps(body, cls=DjangoJSONEncoder)
    delivery = WebhookDelivery.objects.create(
        system=system,
        kind=kind,
        event_type=event_type,
        idempotency_key=idempotency_key,
        url=target,
        body=text,
        correlation_id=get_correlation_id(),
        max_attempts=max_attempts or _setting("WMS_DELIVERY_MAX_ATTEMPTS", 8),
    )
    transaction.on_commit(_kick_delivery_worker)
    return delivery


def delivery_backoff(attempts: int) -> timedelta:
    """Exponential backoff with "equal jitter": between half and all of base·2^(n-1)."""
    base = _setting("WMS_WEBHOOK_BACKOFF_BASE_SECONDS", 10.0)
    cap = _setting("WMS_WEBHOOK_BACKOFF_MAX_SECONDS", 3600.0)
    delay = min(cap, base * (2 ** max(attempts - 1, 0)))
    return timedelta(seconds=delay / 2 + random.uniform(0, delay / 2))


def _claim_due(*, limit: int, now, lease: timedelta) -> list[int]:
    with transaction.atomic():
        ids = list(
            WebhookDelivery.objects.filter(
                status__in=[DeliveryStatus.PENDING, DeliveryStatus.RETRYING],
                next_attempt_at__lte=now,
            )
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .order_by("id")
            .select_for_update(skip_locked=True, of=("self",))
            .values_list("id", flat=True)[:limit]
        )
        if ids:
            WebhookDelivery.objects.filter(id__in=ids).update(claimed_until=now + lease)
    return ids


@dataclass
class AttemptOutcome:
    ok: bool
    http_status: int | None
    error: str


def _post(delivery: WebhookDelivery, session: requests.Session) -> AttemptOutcome:
    body = delivery.body.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "wms-delivery/1",
        "Idempotency-Key": delivery.idempotency_key,
        "X-WMS-Delivery-Id": str(delivery.pk),
        "X-WMS-Instance": settings.WMS_INSTANCE_ID,
        SIGNATURE_HEADER: signature_for(secret=_delivery_secret(delivery), body=body),
    }
    if delivery.event_id:
        headers[EVENT_ID_HEADER] = str(delivery.event_id)
        headers["X-WMS-Event-Type"] = delivery.event_type
    if delivery.correlation_id:
        headers["X-Correlation-ID"] = delivery.correlation_id
    timeout = _setting("WMS_WEBHOOK_TIMEOUT_SECONDS", 10.0)
    try:
        response = session.post(delivery.url, data=body, headers=headers, timeout=timeout)
    except requests.RequestException as exc:
        return AttemptOutcome(False, None, f"{type(exc).__name__}: {exc}"[:2000])
    if 200 <= response.status_code < 300:
        return AttemptOutcome(True, response.status_code, "")
    return AttemptOutcome(
        False, response.status_code, f"HTTP {response.status_code}: {response.text[:500]}"
    )


#: A delivery's status after an attempt → the outcome label of ``wms_webhook_deliveries``.
_OUTCOMES = {
    DeliveryStatus.DELIVERED: "delivered",
    DeliveryStatus.RETRYING: "retrying",
    DeliveryStatus.DEAD: "dead",
}


@transaction.atomic
def _record_attempt(*, delivery_id: int, outcome: AttemptOutcome) -> WebhookDelivery:
    delivery = (
        WebhookDelivery.objects.select_for_update().select_related("system").get(pk=delivery_id)
    )
    now = timezone.now()
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.last_http_status = outcome.http_status
    delivery.claimed_until = None
    if outcome.ok:
        delivery.status = DeliveryStatus.DELIVERED
        delivery.delivered_at = now
        delivery.last_error = ""
        message_status = MessageStatus.DELIVERED
    elif delivery.attempts >= delivery.max_attempts:
        delivery.status = DeliveryStatus.DEAD
        delivery.last_error = outcome.error
        message_status = MessageStatus.DEAD
    else:
        delivery.status = DeliveryStatus.RETRYING
        delivery.next_attempt_at = now + delivery_backoff(delivery.attempts)
        delivery.last_error = outcome.error
        message_status = MessageStatus.FAILED
    delivery.save()
    integration_message_record(
        system=delivery.system,
        direction=MessageDirection.OUTBOUND,
        message_type=f"{delivery.kind} {delivery.event_type}".strip(),
        status=message_status,
        idempotency_key=delivery.idempotency_key,
        correlation_id=delivery.correlation_id,
        payload_ref=f"WebhookDelivery:{delivery.pk}",
        http_status=outcome.http_status,
        detail=outcome.error if not outcome.ok else f"attempt {delivery.attempts}",
    )
    metrics.webhook_attempted(target=delivery.system.code, outcome=_OUTCOMES[delivery.status])
    if outcome.ok:
        delivery_delivered.send(sender=WebhookDelivery, delivery=delivery)
    return delivery


def delivery_attempt(*, delivery_id: int, session: requests.Session | None = None):
    """POST one claimed delivery and record the outcome. Idempotent: a delivery that is
    already delivered or dead is left alone."""
    delivery = (
        WebhookDelivery.objects.select_related("subscription", "system")
        .filter(pk=delivery_id)
        .first()
    )
    if delivery is None or delivery.status in (DeliveryStatus.DELIVERED, DeliveryStatus.DEAD):
        return delivery
    token = set_correlation_id(delivery.correlation_id or None)
    target = set_integration_target(delivery.system.code)
    try:
        outcome = _post(delivery, session or requests.Session())
        delivery = _record_attempt(delivery_id=delivery_id, outcome=outcome)
        log = logger.info if outcome.ok else logger.warning
        log(
            "delivery %s (%s %s) to %s: %s after attempt %d",
            delivery.pk,
            delivery.kind,
            delivery.event_type,
            delivery.system.code,
            delivery.status,
            delivery.attempts,
        )
        return delivery
    finally:
        reset_integration_target(target)
        reset_correlation_id(token)


def deliveries_deliver_due(*, limit: int = 50, max_rounds: int = 20) -> int:
    """Claim and attempt due deliveries until none is due (or ``max_rounds``).
    Returns the number of attempts made."""
    lease = timedelta(seconds=_setting("WMS_WEBHOOK_TIMEOUT_SECONDS", 10.0) * 3 + 30)
    attempts = 0
    with requests.Session() as session:
        for _ in range(max_rounds):
            ids = _claim_due(limit=limit, now=timezone.now(), lease=lease)
            if not ids:
                break
            for delivery_id in ids:
                delivery_attempt(delivery_id=delivery_id, session=session)
                attempts += 1
    return attempts


@transaction.atomic
def deliveries_replay(*, delivery_ids) -> int:
    """Give dead (or failing) deliveries a fresh retry budget, due now."""
    count = (
        WebhookDelivery.objects.filter(pk__in=list(delivery_ids))
        .exclude(status=DeliveryStatus.DELIVERED)
        .update(
            status=DeliveryStatus.PENDING,
            attempts=0,
            next_attempt_at=timezone.now(),
            claimed_until=None,
        )
    )
    if count:
        transaction.on_commit(_kick_delivery_worker)
    return count
