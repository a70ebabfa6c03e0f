"""Store-and-forward dispatch of pick tasks to an automation system on 127.0.0.1:
retries with one key until delivered, dead letter and replay, pull systems."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from integrations.automation import automation_batch_replay, automation_dispatch
from integrations.models import DeliveryStatus, IntegrationMessage, WebhookDelivery
from integrations.webhooks import deliveries_deliver_due, signature_is_valid, system_delivery_secret
from tasking.models import PickTask, PickTaskStatus, WorkMode
from wms.models import OutboxEvent

pytestmark = pytest.mark.django_db


class Receiver:
    """An automation system's endpoint: fails the first ``fail_first`` POSTs (503), then
    answers 200; processes each Idempotency-Key once, as a careful receiver would."""

    def __init__(self, fail_first: int):
        self.fail_first = fail_first
        self.requests: list[dict] = []
        self.processed: dict[str, list[str]] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"headers": dict(self.headers), "body": body})
                if len(receiver.requests) <= receiver.fail_first:
                    self.send_response(503)
                    self.end_headers()
                    return
                key = self.headers["Idempotency-Key"]
                if key not in receiver.processed:
                    batch = json.loads(body)
                    receiver.processed[key] = [t["pickTaskId"] for t in batch["pickTasks"]]
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b'{"received": true}')

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/pick-batches"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fast_retries(settings):
    settings.WMS_WEBHOOK_BACKOFF_BASE_SECONDS = 0.0
    settings.WMS_WEBHOOK_TIMEOUT_SECONDS = 5.0


def test_automation_dispatch_retries_until_delivered_once(
    release_order, robot, layout, fast_retries
):
    """503, 503, 200: three POSTs with one key and one body, processed once; the tasks
    are DISPATCHED and delivered, the retries are in the message log, one event."""
    _order, (task,) = release_order([("SKU-R", 4)])
    _order2, (task2,) = release_order([("SKU-R", 2)])
    assert task.work_mode == WorkMode.AUTOMATION
    with Receiver(fail_first=2) as receiver:
        robot.system.endpoint_url = receiver.url
        robot.system.save()
        assert automation_dispatch() == 2
        assert set(PickTask.objects.values_list("status", flat=True)) == {"DISPATCHED"}
        delivery = WebhookDelivery.objects.get()
        assert (delivery.kind, delivery.status) == ("pick_task_batch", DeliveryStatus.PENDING)
        deliveries_deliver_due()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DELIVERED, 3)
    keys = {r["headers"]["Idempotency-Key"] for r in receiver.requests}
    assert keys == {delivery.idempotency_key}
    assert len({r["body"] for r in receiver.requests}) == 1
    assert receiver.processed == {delivery.idempotency_key: [str(task.pk), str(task2.pk)]}
    request = receiver.requests[-1]
    secret = system_delivery_secret(system=robot.system)
    assert signature_is_valid(
        secret=secret, body=request["body"], signature=request["headers"]["X-WMS-Signature"]
    )
    messages = IntegrationMessage.objects.filter(payload_ref=f"WebhookDelivery:{delivery.pk}")
    assert sorted(messages.values_list("status", flat=True)) == ["DELIVERED", "FAILED", "FAILED"]
    task.refresh_from_db()
    assert task.dispatch_target == "ROBO1" and task.delivered_at is not None
    event = OutboxEvent.objects.get(event_type="pick_tasks.dispatched")
    assert event.data["delivery"] == "push" and event.data["attempts"] == 3
    assert event.data["pickTaskIds"] == [str(task.pk), str(task2.pk)]
    # Nothing new to dispatch: no second batch.
    assert automation_dispatch() == 0
    assert WebhookDelivery.objects.count() == 1


def test_automation_dispatch_dead_letter_then_replay(release_order, robot, layout, fast_retries):
    """A system down for the whole budget: DEAD, tasks stay dispatched (pull works);
    replay sends the same batch again and it lands."""
    robot.system.endpoint_url = "http://127.0.0.1:9/down"  # discard port: refused
    robot.system.save()
    _order, (task,) = release_order([("SKU-R", 1)])
    from django.test import override_settings

    with override_settings(WMS_AUTOMATION_MAX_ATTEMPTS=2):
        automation_dispatch()
    deliveries_deliver_due()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.max_attempts) == ("DEAD", 2, 2)
    pulled = robot.get("/api/v1/automation/pick-tasks?status=DISPATCHED").json()
    assert [t["pickTaskId"] for t in pulled["results"]] == [str(task.pk)]
    with Receiver(fail_first=0) as receiver:
        delivery.url = receiver.url
        delivery.save(update_fields=["url"])
        assert automation_batch_replay(batch_key=delivery.idempotency_key) == 1
        deliveries_deliver_due()
    delivery.refresh_from_db()
    assert delivery.status == "DELIVERED"
    assert list(receiver.processed) == [delivery.idempotency_key]


def test_automation_dispatch_pull_system_announces_at_once(release_order, robot, layout):
    """No endpoint: tasks DISPATCHED, no delivery stored, pick_tasks.dispatched (pull)."""
    _order, (task,) = release_order([("SKU-R", 3)])
    assert automation_dispatch() == 1
    assert not WebhookDelivery.objects.exists()
    task.refresh_from_db()
    assert task.status == PickTaskStatus.DISPATCHED
    event = OutboxEvent.objects.get(event_type="pick_tasks.dispatched")
    assert (event.data["delivery"], event.data["warehouse"]) == ("pull", "MAD1")


@pytest.mark.django_db(transaction=True)
def test_automation_dispatch_kicked_by_wave_release(release_order, robot, layout):
    """Released automation work is dispatched right after the release commits."""
    _order, (task,) = release_order([("SKU-R", 1)])
    task.refresh_from_db()
    assert (task.status, task.dispatch_target) == (PickTaskStatus.DISPATCHED, "ROBO1")
