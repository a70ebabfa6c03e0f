"""The outbox relay: committed ``OutboxEvent`` rows → the event bus (and webhooks).

Guarantees (CONTRACT.md, Events):

* **At least once, same id.** An event is marked published only after the
  broker confirmed it (publisher confirms). A relay killed between the confirm
  and the mark publishes the event again on restart, with the same ``id``.
* **Commit order per aggregate.** A batch holds only events whose earlier
  pending events of the same aggregate are in the batch too (an event behind
  another relay's batch or behind a retry in backoff waits), and they are
  published in id order, round by round: the k-th event of every aggregate,
  confirms, then the (k+1)-th, so even a broker nack cannot let a later event
  overtake an earlier one. Services lock the aggregate they change, so the ids
  of one aggregate follow commit order.
* **Several relays at once, no double publishing.** Events are taken with
  ``SELECT … FOR UPDATE SKIP LOCKED`` and stay locked until the batch is
  marked; another relay skips them. The row locks are held across the broker
  call on purpose (an exception to the house rule): they block only other
  relays, never a business transaction, and a relay that dies releases them
  at once, so there is no lease to expire and no timing assumption.
* **No poison pill.** An event the broker refuses (nack) or that cannot be
  encoded gets an attempt, exponential backoff and, after
  ``WMS_OUTBOX_MAX_ATTEMPTS``, status DEAD; other aggregates keep flowing (a
  dead event stops blocking its own aggregate too). The admin replays dead
  events. A broker that is down is not the events' fault: the batch rolls back
  untouched and the relay retries the connection with backoff.
* **Without a broker** (``WMS_EVENT_BUS_URL`` empty, the embedded default)
  events are "published" to the log sink: a log line per event, ``sink="log"``
  on the row, visible in the admin.

Published events also fan out to webhook subscriptions in the same
transaction that marks them (``integrations.webhooks``), so webhooks work with
or without a bus.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, Min, OuterRef
from django.utils import timezone

from wms import metrics
from wms.correlation import reset_correlation_id, set_correlation_id
from wms.models import OutboxEvent, OutboxStatus

from .envelope import envelope_bytes, event_envelope
from .webhooks import webhook_deliveries_create_for_events

logger = logging.getLogger(__name__)

CONTENT_TYPE = "application/json"


class BrokerUnavailable(Exception):
    """The bus could not be reached or did not confirm in time; nothing is marked."""


def _setting(name: str, default):
    return getattr(settings, name, default)


# --- sinks --------------------------------------------------------------------------


@dataclass
class Outgoing:
    event_id: str
    routing_key: str
    body: bytes
    correlation_id: str
    occurred_at: float


class LogSink:
    """No bus configured: every event becomes a log line (and ``sink="log"``)."""

    name = "log"

    def publish(self, messages: list[Outgoing]) -> dict[str, str | None]:
        for message in messages:
            token = set_correlation_id(message.correlation_id or None)
            try:
                logger.info(
                    "event %s %s published to the log sink: %s",
                    message.routing_key,
                    message.event_id,
                    message.body.decode(),
                )
            finally:
                reset_correlation_id(token)
        return {m.event_id: None for m in messages}

    def close(self) -> None:
        pass

    def heartbeat(self) -> None:
        pass


class AmqpSink:
    """RabbitMQ topic exchange, routing key = event type, with publisher confirms.

    Confirms are batched: the whole batch is published on a confirm-mode channel
    and then every delivery tag is awaited (acks may cover several tags). A
    batch that is not fully confirmed within ``confirm_timeout`` is treated as
    a broker failure: nothing is marked, so it is published again (same ids).
    """

    name = "amqp"

    def __init__(
        self, url: str, exchange: str, *, confirm_timeout: float = 10.0, heartbeat: float = 30.0
    ):
        self.url = url
        self.exchange = exchange
        self.confirm_timeout = confirm_timeout
        # AMQP heartbeats: a dead broker or a silently dropped connection (a NAT or a
        # load balancer forgetting an idle one) is noticed within two intervals, and
        # the relay reconnects at its next publish instead of hanging on a dead socket.
        self.heartbeat_seconds = heartbeat
        self._connection = None
        self._channel = None

    # connection handling -------------------------------------------------------

    def _connect(self):
        import kombu

        connection = kombu.Connection(self.url, connect_timeout=5, heartbeat=self.heartbeat_seconds)
        try:
            connection.connect()
            raw = connection.connection  # the py-amqp connection
            channel = raw.channel()
            channel.exchange_declare(self.exchange, "topic", durable=True, auto_delete=False)
            channel.confirm_select()
        except Exception as exc:
            connection.release()
            raise BrokerUnavailable(f"cannot reach the event bus: {exc}") from exc
        self._connection, self._raw, self._channel = connection, raw, channel
        self._next_tag = 1
        self._outcome: dict[int, bool] = {}
        channel.events["basic_ack"].add(self._on_ack)
        channel.events["basic_nack"].add(self._on_nack)

    def _on_ack(self, delivery_tag, multiple):
        self._settle(delivery_tag, multiple, True)

    def _on_nack(self, delivery_tag, multiple):
        self._settle(delivery_tag, multiple, False)

    def _settle(self, delivery_tag, multiple, ok):
        if multiple:
            for tag in self._waiting:
                if tag <= delivery_tag and tag not in self._outcome:
                    self._outcome[tag] = ok
        else:
            self._outcome[delivery_tag] = ok

    def close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.release()
            except Exception:  # closing a dead connection must not raise
                logger.debug("closing the bus connection failed", exc_info=True)
        self._connection = self._channel = None

    def heartbeat(self) -> None:
        """Send and check heartbeats while idle (py-amqp has no thread of its own for
        them); a connection found dead is dropped, the next publish reconnects."""
        if self._connection is None or not self.heartbeat_seconds:
            return
        try:
            self._connection.heartbeat_check()
        except Exception as exc:  # missed heartbeats, a reset socket
            logger.warning("event bus connection lost (%r); reconnecting at the next publish", exc)
            self.close()

    # publishing -----------------------------------------------------------------

    def publish(self, messages: list[Outgoing]) -> dict[str, str | None]:
        """Publish and await confirms; returns ``{event_id: None | error}``."""
        import amqp

        if self._channel is None:
            self._connect()
        tags: dict[int, str] = {}
        self._waiting = tags
        self._outcome = {}
        try:
            for message in messages:
                props = {
                    "content_type": CONTENT_TYPE,
                    "delivery_mode": 2,
                    "message_id": message.event_id,
                    "type": message.routing_key,
                    "app_id": "wms",
                    "timestamp": int(message.occurred_at),
                }
                if message.correlation_id:
                    props["correlation_id"] = message.correlation_id
                self._channel.basic_publish(
                    amqp.Message(message.body, **props),
                    exchange=self.exchange,
                    routing_key=message.routing_key,
                )
                tags[self._next_tag] = message.event_id
                self._next_tag += 1
            deadline = time.monotonic() + self.confirm_timeout
            while len(self._outcome) < len(tags):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise BrokerUnavailable(
                        f"{len(tags) - len(self._outcome)} of {len(tags)} publishes "
                        f"unconfirmed after {self.confirm_timeout}s"
                    )
                self._raw.drain_events(timeout=remaining)
        except BrokerUnavailable:
            self.close()
            raise
        except Exception as exc:  # socket, channel or connection errors
            self.close()
            raise BrokerUnavailable(f"publishing to the event bus failed: {exc!r}") from exc
        return {
            event_id: None if self._outcome.get(tag) else "nacked by the broker"
            for tag, event_id in tags.items()
        }


def sink_from_settings():
    url = settings.WMS_EVENT_BUS_URL
    if not url:
        return LogSink()
    return AmqpSink(
        url,
        settings.WMS_EVENT_EXCHANGE,
        confirm_timeout=_setting("WMS_OUTBOX_CONFIRM_TIMEOUT", 10.0),
        heartbeat=_setting("WMS_EVENT_BUS_HEARTBEAT", 30.0),
    )


# --- selecting a batch --------------------------------------------------------------


def _due_events(*, batch_size: int, now) -> list[OutboxEvent]:
    """Lock a batch of due events that may be published now, in id order.

    Fast path: the oldest due pending events (``SKIP LOCKED``: rows another
    relay holds are skipped), minus any event that has an earlier pending
    event of its aggregate outside the batch (held by another relay, or
    waiting for a retry), which keeps the order per aggregate. If that leaves
    little (the oldest events all wait behind someone), take the heads of all
    aggregates instead, so a blocked aggregate never starves the others.
    """
    batch = list(
        OutboxEvent.objects.filter(status=OutboxStatus.PENDING, next_attempt_at__lte=now)
        .order_by("id")
        .select_for_update(skip_locked=True, of=("self",))[:batch_size]
    )
    usable = _without_blocked(batch, locked_ids={e.id for e in batch})
    if len(batch) < batch_size or len(usable) >= batch_size // 2:
        return usable
    locked = {e.id for e in batch}
    extra = _heads_and_followers(batch_size=batch_size - len(usable), now=now)
    merged = {e.id: e for e in usable}
    for event in extra:
        merged.setdefault(event.id, event)
    logger.info(
        "outbox relay: %d of the %d oldest due events wait behind earlier ones; "
        "took %d aggregate heads",
        len(locked) - len(usable),
        len(locked),
        len(extra),
    )
    return sorted(merged.values(), key=lambda e: e.id)


def _without_blocked(batch: list[OutboxEvent], *, locked_ids: set[int]) -> list[OutboxEvent]:
    """``batch`` minus events with an earlier pending event of their aggregate outside it."""
    if not batch:
        return batch
    keys = {(e.aggregate_type, e.aggregate_id) for e in batch}
    blockers = (
        OutboxEvent.objects.filter(
            status=OutboxStatus.PENDING,
            id__lt=max(e.id for e in batch),
            aggregate_type__in={k[0] for k in keys},
            aggregate_id__in={k[1] for k in keys},
        )
        .exclude(id__in=locked_ids)
        .order_by()
        .values_list("aggregate_type", "aggregate_id")
        .annotate(first_id=Min("id"))
    )
    first_blocker = {(t, i): first for t, i, first in blockers if (t, i) in keys}
    if not first_blocker:
        return batch
    return [
        e for e in batch if e.id < first_blocker.get((e.aggregate_type, e.aggregate_id), e.id + 1)
    ]


def _heads_and_followers(*, batch_size: int, now) -> list[OutboxEvent]:
    """The first due pending event of each aggregate (skipping other relays' rows), then
    the due followers of those aggregates. Scans every pending row: the slow path."""
    earlier_pending = OutboxEvent.objects.filter(
        status=OutboxStatus.PENDING,
        aggregate_type=OuterRef("aggregate_type"),
        aggregate_id=OuterRef("aggregate_id"),
        id__lt=OuterRef("id"),
    )
    heads = list(
        OutboxEvent.objects.filter(status=OutboxStatus.PENDING, next_attempt_at__lte=now)
        .filter(~Exists(earlier_pending))
        .order_by("id")
        .select_for_update(skip_locked=True, of=("self",))[:batch_size]
    )
    if not heads or len(heads) >= batch_size:
        return heads
    # Followers of the locked heads: no other relay can take them (their head
    # is pending), so a plain lock never waits. Stop an aggregate at its first
    # event that is not due (a retry in backoff keeps its place in the order).
    head_keys = {(e.aggregate_type, e.aggregate_id) for e in heads}
    head_ids = {e.id for e in heads}
    budget = batch_size - len(heads)
    candidates = (
        OutboxEvent.objects.filter(
            status=OutboxStatus.PENDING,
            aggregate_type__in={k[0] for k in head_keys},
            aggregate_id__in={k[1] for k in head_keys},
            id__gt=min(head_ids),
        )
        .exclude(id__in=head_ids)
        .order_by("id")
        .select_for_update(of=("self",))[: budget * 2]
    )
    blocked: set[tuple[str, str]] = set()
    followers: list[OutboxEvent] = []
    for event in candidates:
        key = (event.aggregate_type, event.aggregate_id)
        if key not in head_keys or key in blocked:
            continue
        if event.next_attempt_at > now:
            blocked.add(key)
            continue
        followers.append(event)
        if len(followers) >= budget:
            break
    return sorted(heads + followers, key=lambda e: e.id)


def _backoff(attempts: int) -> timedelta:
    base = _setting("WMS_OUTBOX_BACKOFF_BASE_SECONDS", 2.0)
    cap = _setting("WMS_OUTBOX_BACKOFF_MAX_SECONDS", 600.0)
    delay = min(cap, base * (2 ** max(attempts - 1, 0)))
    return timedelta(seconds=delay / 2 + random.uniform(0, delay / 2))


# --- one batch ----------------------------------------------------------------------


@dataclass
class BatchResult:
    published: int = 0
    failed: int = 0
    dead: int = 0
    event_ids: list[str] = field(default_factory=list)

    @property
    def handled(self) -> int:
        return self.published + self.failed + self.dead


def outbox_relay_batch(*, sink, batch_size: int = 1000) -> BatchResult:
    """Publish one batch of due events through ``sink`` and mark them, atomically.

    Raises ``BrokerUnavailable`` (and leaves every event as it was) when the
    bus cannot be reached.
    """
    result = BatchResult()
    with transaction.atomic():
        now = timezone.now()
        events = _due_events(batch_size=batch_size, now=now)
        if not events:
            return result
        errors, deferred = _publish_in_rounds(events, sink=sink)
        published = [e for e in events if e.id not in errors and e.id not in deferred]
        if published:
            _mark_published(published, sink=sink)
        _mark_failed([e for e in events if e.id in errors], errors=errors, now=now, result=result)
        result.published = len(published)
        result.event_ids = [str(e.event_id) for e in published]
    return result


def _rounds_by_aggregate(events: list[OutboxEvent]) -> list[list[OutboxEvent]]:
    """Round k holds the k-th event of every aggregate in the batch (events in id order)."""
    rounds: list[list[OutboxEvent]] = []
    depth: dict[tuple[str, str], int] = {}
    for event in events:
        aggregate = (event.aggregate_type, event.aggregate_id)
        k = depth.get(aggregate, 0)
        depth[aggregate] = k + 1
        if k == len(rounds):
            rounds.append([])
        rounds[k].append(event)
    return rounds


def _publish_in_rounds(events: list[OutboxEvent], *, sink) -> tuple[dict[int, str], set[int]]:
    """Publish round by round; returns the errors by event and the events held back.

    Each round's confirms are awaited before the next, so an event the broker
    refuses never has a later event of its aggregate published ahead of it:
    the later ones are deferred (left pending, untouched) behind it.
    """
    errors: dict[int, str] = {}
    deferred: set[int] = set()
    stalled: set[tuple[str, str]] = set()
    for round_events in _rounds_by_aggregate(events):
        outgoing: list[Outgoing] = []
        for event in round_events:
            aggregate = (event.aggregate_type, event.aggregate_id)
            if aggregate in stalled:
                deferred.add(event.id)  # waits behind its failed predecessor
                continue
            try:
                body = envelope_bytes(event_envelope(event))
            except (TypeError, ValueError) as exc:
                errors[event.id] = f"cannot encode the envelope: {exc}"
                stalled.add(aggregate)
                continue
            outgoing.append(
                Outgoing(
                    event_id=str(event.event_id),
                    routing_key=event.event_type,
                    body=body,
                    correlation_id=event.correlation_id,
                    occurred_at=event.occurred_at.timestamp(),
                )
            )
        if not outgoing:
            continue
        outcome = sink.publish(outgoing)
        for event in round_events:
            error = outcome.get(str(event.event_id))
            if error:
                errors[event.id] = error
                stalled.add((event.aggregate_type, event.aggregate_id))
    return errors, deferred


def _mark_published(published: list[OutboxEvent], *, sink) -> None:
    """Confirmed by the bus: mark them and fan them out to webhook subscriptions."""
    now = timezone.now()
    OutboxEvent.objects.filter(id__in=[e.id for e in published]).update(
        status=OutboxStatus.PUBLISHED,
        published_at=now,  # confirmed by now
        sink=sink.name,
        attempts=F("attempts") + 1,
        last_error="",
    )
    metrics.outbox_published(events=published, sink=sink.name, published_at=now)
    webhook_deliveries_create_for_events(events=published)


def _mark_failed(failed: list[OutboxEvent], *, errors, now, result: BatchResult) -> None:
    """Back off and retry later, or dead-letter after ``WMS_OUTBOX_MAX_ATTEMPTS``."""
    max_attempts = _setting("WMS_OUTBOX_MAX_ATTEMPTS", 10)
    for event in failed:
        attempts = event.attempts + 1
        dead = attempts >= max_attempts
        OutboxEvent.objects.filter(id=event.id).update(
            status=OutboxStatus.DEAD if dead else OutboxStatus.PENDING,
            attempts=attempts,
            next_attempt_at=now + _backoff(attempts),
            last_error=errors[event.id][:4000],
        )
        logger.warning(
            "event %s %s not published (attempt %d%s): %s",
            event.event_type,
            event.event_id,
            attempts,
            ", dead-lettered" if dead else "",
            errors[event.id],
        )
        if dead:
            result.dead += 1
            metrics.dead_lettered(channel="outbox", target=event.event_type)
        else:
            result.failed += 1


# --- the loop -----------------------------------------------------------------------


def outbox_relay_run(
    *,
    sink=None,
    batch_size: int = 1000,
    poll_interval: float = 0.1,
    stop: threading.Event | None = None,
    max_seconds: float | None = None,
    until_idle: bool = False,
    on_batch=None,
) -> int:
    """Relay until ``stop`` is set (or ``max_seconds`` passed / nothing is due with
    ``until_idle``). Returns the number of events published."""
    from django.db import DatabaseError, InterfaceError, close_old_connections, connection

    sink = sink or sink_from_settings()
    stop = stop or threading.Event()
    started = time.monotonic()
    broker_backoff = database_backoff = 0.5
    total = 0
    try:
        while not stop.is_set():
            if max_seconds is not None and time.monotonic() - started >= max_seconds:
                break
            try:
                result = outbox_relay_batch(sink=sink, batch_size=batch_size)
            except BrokerUnavailable as exc:
                logger.warning("event bus unavailable, retrying in %.1fs: %s", broker_backoff, exc)
                if until_idle:
                    raise
                stop.wait(broker_backoff)
                broker_backoff = min(broker_backoff * 2, 30.0)
                close_old_connections()
                continue
            except (DatabaseError, InterfaceError) as exc:
                # A database restart, a fail-over or a killed backend: the batch rolled
                # back (nothing marked, its events are taken again), so a long-running
                # relay waits and reconnects instead of exiting. The one-shot form
                # (until_idle) reports the error to its caller.
                if until_idle:
                    raise
                logger.warning("database unavailable, retrying in %.1fs: %s", database_backoff, exc)
                with contextlib.suppress(DatabaseError, InterfaceError):
                    connection.close()  # the next batch opens a new connection
                stop.wait(database_backoff)
                database_backoff = min(database_backoff * 2, 30.0)
                continue
            broker_backoff = database_backoff = 0.5
            total += result.published
            if on_batch is not None:
                on_batch(result)
            if result.handled == 0:
                if until_idle:
                    break
                close_old_connections()
                if hasattr(sink, "heartbeat"):  # the benches' counting sinks have none
                    sink.heartbeat()
                stop.wait(poll_interval)
    finally:
        sink.close()
    return total
