"""The outbox relay in-process: envelope, broker confirms, order, poison events, log sink."""

import json
import logging
import time
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from integrations.relay import (
    AmqpSink,
    BrokerUnavailable,
    LogSink,
    outbox_relay_batch,
    outbox_relay_run,
    sink_from_settings,
)
from integrations.tasks import outbox_relay_task
from wms.correlation import reset_correlation_id, set_correlation_id
from wms.models import OutboxEvent, OutboxStatus
from wms.outbox import outbox_emit, outbox_events_replay


def _emit(n=1, *, aggregate="A-1", event_type="thing.changed", **data):
    with transaction.atomic():
        return [
            outbox_emit(
                event_type=event_type,
                aggregate_type="Thing",
                aggregate_id=aggregate,
                data={"n": i, **data},
            )
            for i in range(n)
        ]


class FlakySink(LogSink):
    """A sink that refuses some events (as a broker nack would)."""

    name = "flaky"

    def __init__(self, refuse: set[str]):
        self.refuse = refuse
        self.seen: list[str] = []

    def publish(self, messages):
        self.seen.extend(m.event_id for m in messages)
        return {m.event_id: ("refused" if m.event_id in self.refuse else None) for m in messages}


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_outbox_relay_publishes_committed_not_rolled_back(bus_queue, settings):
    """A committed change's event reaches a bound queue; a rolled-back change's never exists."""
    token = set_correlation_id("corr-relay-1")
    try:
        (committed,) = _emit(event_type="order.accepted", aggregate="ORD-1", warehouse="MAD1")
        with pytest.raises(RuntimeError), transaction.atomic():
            _emit(event_type="order.accepted", aggregate="ORD-2")
            raise RuntimeError("the change fails after emitting")
    finally:
        reset_correlation_id(token)

    assert outbox_relay_run(until_idle=True) == 1
    (message,) = bus_queue.drain(expect=1)
    envelope = json.loads(message.body)
    committed.refresh_from_db()
    assert envelope == {
        "id": str(committed.event_id),
        "type": "order.accepted",
        "occurredAt": committed.occurred_at.isoformat(),
        "instanceId": settings.WMS_INSTANCE_ID,
        "correlationId": "corr-relay-1",
        "aggregate": {"type": "Thing", "id": "ORD-1"},
        "version": 1,
        "data": {"n": 0, "warehouse": "MAD1"},
    }
    assert message.delivery_info["routing_key"] == "order.accepted"
    assert message.properties["message_id"] == str(committed.event_id)
    assert message.properties["correlation_id"] == "corr-relay-1"
    assert message.properties["delivery_mode"] == 2
    assert committed.status == OutboxStatus.PUBLISHED
    assert committed.sink == "amqp"
    assert committed.published_at is not None
    assert not OutboxEvent.objects.filter(aggregate_id="ORD-2").exists()


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_outbox_relay_keeps_order_per_aggregate(bus_queue):
    """Interleaved events of several aggregates arrive in commit order per aggregate."""
    for round_ in range(30):
        for aggregate in ("A", "B", "C"):
            _emit(aggregate=aggregate, round=round_)
    assert outbox_relay_run(until_idle=True, batch_size=7) == 90
    bodies = [b for b in (json.loads(m.body) for m in bus_queue.drain(expect=90))]
    assert len(bodies) == 90
    for aggregate in ("A", "B", "C"):
        rounds = [b["data"]["round"] for b in bodies if b["aggregate"]["id"] == aggregate]
        assert rounds == list(range(30))


@pytest.mark.django_db(transaction=True)
def test_outbox_relay_batch_takes_heads_and_followers_only():
    """A batch never takes an event whose earlier event of the same aggregate is in backoff."""
    first, second = _emit(2, aggregate="X")
    (other,) = _emit(aggregate="Y")
    OutboxEvent.objects.filter(pk=first.pk).update(
        next_attempt_at=timezone.now() + timedelta(minutes=5)
    )
    sink = FlakySink(refuse=set())
    result = outbox_relay_batch(sink=sink)
    assert result.published == 1
    assert sink.seen == [str(other.event_id)]
    second.refresh_from_db()
    assert second.status == OutboxStatus.PENDING


@pytest.mark.django_db(transaction=True)
def test_outbox_relay_poison_event_backs_off_then_dies_without_blocking_others(settings):
    """A refused event gets attempts and backoff, then DEAD; other aggregates keep flowing,
    its own aggregate waits behind it while it is retried and moves on once it is dead."""
    settings.WMS_OUTBOX_MAX_ATTEMPTS = 3
    settings.WMS_OUTBOX_BACKOFF_BASE_SECONDS = 60
    poison, behind = _emit(2, aggregate="P")
    healthy = _emit(5, aggregate="H")
    sink = FlakySink(refuse={str(poison.event_id)})

    result = outbox_relay_batch(sink=sink)
    assert (result.published, result.failed) == (5, 1)
    assert str(behind.event_id) not in sink.seen  # order: waits behind the failed head
    poison.refresh_from_db()
    assert poison.status == OutboxStatus.PENDING
    assert poison.attempts == 1
    assert poison.last_error == "refused"
    delay = (poison.next_attempt_at - timezone.now()).total_seconds()
    assert 25 <= delay <= 61  # base 60 s, equal jitter: between 30 and 60 s
    assert all(
        e.status == OutboxStatus.PUBLISHED
        for e in OutboxEvent.objects.filter(pk__in=[h.pk for h in healthy])
    )

    # Nothing is due now: the poison waits for its backoff.
    assert outbox_relay_batch(sink=sink).handled == 0
    for expected_attempts in (2, 3):
        OutboxEvent.objects.filter(pk=poison.pk).update(next_attempt_at=timezone.now())
        outbox_relay_batch(sink=sink)
        poison.refresh_from_db()
        assert poison.attempts == expected_attempts
    assert poison.status == OutboxStatus.DEAD

    # Dead, it no longer holds its aggregate back.
    result = outbox_relay_batch(sink=sink)
    assert result.published == 1
    behind.refresh_from_db()
    assert behind.status == OutboxStatus.PUBLISHED

    # The admin's replay puts it back with the same id; it goes out once accepted.
    assert outbox_events_replay(event_ids=[poison.pk]) == 1
    sink.refuse.clear()
    assert outbox_relay_batch(sink=sink).published == 1
    poison.refresh_from_db()
    assert poison.status == OutboxStatus.PUBLISHED
    assert sink.seen.count(str(poison.event_id)) == 4


@pytest.mark.django_db(transaction=True)
def test_outbox_relay_broker_down_leaves_events_untouched(settings):
    """An unreachable bus raises BrokerUnavailable and burns no attempt of any event."""
    events = _emit(3)
    sink = AmqpSink("amqp://guest:guest@127.0.0.1:1//", "h2.unreachable", confirm_timeout=1)
    with pytest.raises(BrokerUnavailable):
        outbox_relay_batch(sink=sink)
    for event in events:
        event.refresh_from_db()
        assert (event.status, event.attempts) == (OutboxStatus.PENDING, 0)


@pytest.mark.django_db(transaction=True)
def test_outbox_relay_without_bus_publishes_to_log_sink(settings, caplog):
    """No WMS_EVENT_BUS_URL: events are marked published to the "log" sink and logged."""
    settings.WMS_EVENT_BUS_URL = ""
    (event,) = _emit(event_type="inventory.adjusted")
    with caplog.at_level(logging.INFO, logger="integrations.relay"):
        assert outbox_relay_task.delay().get() == 1
    event.refresh_from_db()
    assert event.status == OutboxStatus.PUBLISHED
    assert event.sink == "log"
    assert str(event.event_id) in caplog.text
    assert "inventory.adjusted" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_outbox_relay_task_survives_broker_down(settings):
    """The beat task logs an unreachable bus and returns; the events wait."""
    settings.WMS_EVENT_BUS_URL = "amqp://guest:guest@127.0.0.1:1//"
    _emit(2)
    assert outbox_relay_task.delay().get() == 0
    assert OutboxEvent.objects.filter(status=OutboxStatus.PENDING).count() == 2


@pytest.mark.django_db(transaction=True)
def test_outbox_relay_deep_backlog_behind_retry_does_not_starve_others():
    """The oldest due events all wait behind a retry in backoff: the relay still finds
    and publishes the other aggregates' events, in order."""
    stuck, *backlog = _emit(31, aggregate="X")
    others = _emit(5, aggregate="Y")
    OutboxEvent.objects.filter(pk=stuck.pk).update(
        next_attempt_at=timezone.now() + timedelta(minutes=5)
    )
    sink = FlakySink(refuse=set())
    result = outbox_relay_batch(sink=sink, batch_size=10)
    assert sink.seen == [str(e.event_id) for e in others]
    assert result.published == 5
    assert not OutboxEvent.objects.filter(
        pk__in=[e.pk for e in backlog], status=OutboxStatus.PUBLISHED
    ).exists()


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_outbox_relay_heartbeats_and_reconnects_after_a_dropped_connection(bus_queue, settings):
    """The relay's connection negotiates AMQP heartbeats; one dropped under it (its
    socket closed, as a NAT or a broker restart would) is noticed by the idle
    heartbeat check and replaced at the next publish, which lands."""
    settings.WMS_EVENT_BUS_HEARTBEAT = 2
    sink = sink_from_settings()
    try:
        _emit(event_type="order.accepted", aggregate="HB-1")
        assert outbox_relay_batch(sink=sink).published == 1
        assert sink._raw.heartbeat == 2  # negotiated with the broker
        sink.heartbeat()  # the relay's idle loop ticks (the first tick only starts the clock)
        sink._raw.sock.close()  # the connection dies under the relay
        time.sleep(1.2)  # the next heartbeat is due (every half interval)
        sink.heartbeat()
        assert sink._channel is None  # noticed and dropped, nothing hangs
        _emit(event_type="order.accepted", aggregate="HB-2")
        assert outbox_relay_batch(sink=sink).published == 1
    finally:
        sink.close()
    aggregates = [json.loads(m.body)["aggregate"]["id"] for m in bus_queue.drain(expect=2)]
    assert aggregates == ["HB-1", "HB-2"]
