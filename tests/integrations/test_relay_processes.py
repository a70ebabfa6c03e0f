"""The relay as real processes on the test database and RabbitMQ: a SIGKILL in the
middle of a batch, and two relays at once."""

import json
import re
import signal
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from django.db import connection, transaction

from wms.models import OutboxEvent, OutboxStatus
from wms.outbox import outbox_emit

pytestmark = [
    pytest.mark.broker,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

HARNESS = str(Path(__file__).with_name("relay_with_pause.py"))


def _emit_many(total: int, aggregates: int, per_transaction: int = 50) -> None:
    for start in range(0, total, per_transaction):
        with transaction.atomic():
            for n in range(start, min(start + per_transaction, total)):
                outbox_emit(
                    event_type="thing.changed",
                    aggregate_type="Thing",
                    aggregate_id=f"T{n % aggregates}",
                    data={"seq": n // aggregates},
                )


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def _pending() -> int:
    return OutboxEvent.objects.exclude(status=OutboxStatus.PUBLISHED).count()


def _per_aggregate_first_seen(bodies: list[dict]) -> dict[str, list[int]]:
    seen: set[str] = set()
    sequences: dict[str, list[int]] = defaultdict(list)
    for body in bodies:
        if body["id"] in seen:
            continue
        seen.add(body["id"])
        sequences[body["aggregate"]["id"]].append(body["data"]["seq"])
    return sequences


def _stop(process) -> int:
    """SIGTERM, then the exit code; a non-zero exit prints the relay's log (pytest shows
    it with the failure)."""
    process.send_signal(signal.SIGTERM)
    code = process.wait(timeout=30)
    if code:
        print(f"relay exited {code}; its log:\n{Path(process.log_path).read_text()}")
    return code


def test_outbox_relay_sigkill_mid_batch_then_restart_delivers_all(
    bus_queue, relay_process, tmp_path
):
    """Killed after the broker confirmed a batch but before marking it, a restarted relay
    publishes every event; the re-sent ones carry the same id and body."""
    total, aggregates = 3000, 30
    _emit_many(total, aggregates)
    marker = tmp_path / "paused"
    frozen = relay_process(
        "--batch-size", "200", script=HARNESS, WMS_TEST_PAUSE_AT=3, WMS_TEST_PAUSE_MARKER=marker
    )
    _wait_for(marker.exists, 60, "the relay to freeze after a confirmed publish")
    frozen.send_signal(signal.SIGKILL)
    frozen.wait(timeout=10)
    in_flight = set(marker.read_text().split())
    assert in_flight
    # Confirmed by the broker, never marked: still pending after the kill.
    assert OutboxEvent.objects.filter(
        event_id__in=in_flight, status=OutboxStatus.PENDING
    ).count() == len(in_flight)

    restarted = relay_process("--batch-size", "200")
    _wait_for(lambda: _pending() == 0, 120, "every event to be published")
    assert _stop(restarted) == 0

    bodies = [json.loads(m.body) for m in bus_queue.drain(expect=total + len(in_flight))]
    ids = [b["id"] for b in bodies]
    expected = {str(e) for e in OutboxEvent.objects.values_list("event_id", flat=True)}
    assert set(ids) == expected  # every event arrived
    duplicates = {i for i, n in Counter(ids).items() if n > 1}
    assert in_flight <= duplicates  # the frozen batch went out twice...
    by_id = defaultdict(set)
    for body in bodies:
        by_id[body["id"]].add(json.dumps(body, sort_keys=True))
    assert all(len(versions) == 1 for versions in by_id.values())  # ...identically
    for sequence in _per_aggregate_first_seen(bodies).values():
        assert sequence == sorted(sequence)


def test_outbox_relay_two_relays_publish_each_event_once(bus_queue, relay_process):
    """Two relays draining one outbox while a producer commits: every event exactly once,
    in commit order per aggregate, and both relays did part of the work."""
    total, aggregates = 4000, 40
    relays = [relay_process("--batch-size", "100") for _ in range(2)]
    for relay in relays:
        _wait_for(
            lambda r=relay: "outbox relay started" in Path(r.log_path).read_text(),
            60,
            "relay start",
        )
    producer = threading.Thread(
        target=lambda: (_emit_many(total, aggregates, 10), connection.close())
    )
    producer.start()
    producer.join(timeout=300)
    _wait_for(lambda: OutboxEvent.objects.count() == total and _pending() == 0, 120, "publishing")
    assert [_stop(relay) for relay in relays] == [0, 0]

    bodies = [json.loads(m.body) for m in bus_queue.drain(expect=total, quiet=1.0)]
    ids = [b["id"] for b in bodies]
    assert len(ids) == total
    assert len(set(ids)) == total
    for sequence in _per_aggregate_first_seen(bodies).values():
        assert sequence == list(range(total // aggregates))
    shares = [
        int(re.search(r"after publishing (\d+) events", Path(r.log_path).read_text()).group(1))
        for r in relays
    ]
    assert sum(shares) == total
    assert all(share > 0 for share in shares), shares


def test_outbox_relay_survives_its_database_connection_killed_mid_batch(
    bus_queue, relay_process, tmp_path
):
    """A fail-over or a restarted database drops the relay's connection between the
    broker's confirm and the mark: the batch rolls back, the relay logs it, reconnects
    and publishes the batch again (same ids); it keeps running and stops cleanly."""
    total, aggregates = 400, 10
    _emit_many(total, aggregates)
    marker = tmp_path / "paused"
    relay = relay_process(
        "--batch-size", "50", script=HARNESS,
        WMS_TEST_PAUSE_AT=2, WMS_TEST_PAUSE_MARKER=marker, WMS_TEST_PAUSE_SECONDS=2,
    )  # fmt: skip
    _wait_for(marker.exists, 60, "the relay to pause after a confirmed publish")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        (killed,) = cursor.fetchone()
    assert killed >= 1  # the relay's connection, inside the batch's transaction
    _wait_for(lambda: _pending() == 0, 60, "every event to be published")
    assert relay.poll() is None  # still running
    assert _stop(relay) == 0
    assert "database unavailable, retrying" in Path(relay.log_path).read_text()

    in_flight = set(marker.read_text().split())
    bodies = [json.loads(m.body) for m in bus_queue.drain(expect=total + len(in_flight))]
    ids = [b["id"] for b in bodies]
    expected = {str(e) for e in OutboxEvent.objects.values_list("event_id", flat=True)}
    assert set(ids) == expected
    assert in_flight <= {i for i, n in Counter(ids).items() if n > 1}  # sent again
