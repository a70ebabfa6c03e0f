"""The whole order-to-store cycle over the real stack (issue 14, "Prove").

gunicorn serves the product on a free port against this test's PostgreSQL
database; a real Celery worker with its embedded beat (``-B``, production's
one schedule) on a queue of its own plans the order, releases the wave,
dispatches the pick tasks to the automation system, relays the outbox to a
private exchange on the real RabbitMQ and delivers webhooks; a local HTTP
server is the store's webhook receiver. The test only speaks HTTP to gunicorn
(store, automation, packing line and finance tokens) and then reads the
database to check that the books balance (``verify_inventory``).
"""

import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from django.core.cache import caches
from kombu import Connection

from integrations.services import external_system_ensure
from integrations.webhooks import webhook_subscription_create
from inventory.models import DockDirection, InventoryBalance, LocationType
from inventory.services import stock_receive
from outbound.models import PackageKind, PackageType, WavePolicy, WaveReleaseMode
from outbound.sscc import sscc_is_valid
from tasking.models import AutomationZone
from tests.factories import (
    DockDoorFactory,
    InventoryStatusFactory,
    ItemFactory,
    LocationFactory,
    UnitOfMeasureFactory,
    WarehouseFactory,
    ZoneFactory,
)
from wms.celery import app as celery_app

from .conftest import ROOT, subprocess_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.broker, pytest.mark.slow]

D = Decimal
# This test's own Redis database: the web side and the worker share the planning
# nudges through it (cleared before and after).
REDIS_CACHE = "redis://127.0.0.1:6379/9"
# A 2-core CI machine shared with other runs: every wait is a poll with a long deadline.
TIMEOUT = 180.0
UNIT_COST = {"SKU-1001": D("0.21"), "SKU-1004": D("5.10")}
ORDERED = {1: ("SKU-1001", D("24")), 2: ("SKU-1004", D("6"))}


# --- the stack ------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path) -> str:
    return Path(path).read_text(errors="replace")[-4000:]


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the process group we started (gunicorn's or Celery's children too),
    then SIGKILL if it does not stop in time."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@pytest.fixture
def stack_env(transactional_db, bus_exchange, settings):
    """What gunicorn and the worker share: the queue, the cache, the bus exchange.

    Tasks this process sends (none are expected) go to the worker's queue too.
    """
    queue = f"e2e-order-to-store-{uuid.uuid4().hex[:8]}"
    # The prefix the worker's settings give CACHE_URL (the instance id): shared keys.
    settings.CACHES = {
        "default": {
            "BACKEND": "wms.cache.RedisCache",
            "LOCATION": REDIS_CACHE,
            "KEY_PREFIX": settings.WMS_INSTANCE_ID,
        }
    }
    caches["default"].clear()
    conf = celery_app.conf
    saved = (conf.task_default_queue, conf.task_always_eager)
    conf.task_default_queue, conf.task_always_eager = queue, False
    env = subprocess_env(
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        CELERY_TASK_ALWAYS_EAGER="0",
        CELERY_TASK_DEFAULT_QUEUE=queue,
        CACHE_URL=REDIS_CACHE,
        DJANGO_DEBUG="0",
        LOG_LEVEL="INFO",
    )
    yield {"queue": queue, "env": env}
    conf.task_default_queue, conf.task_always_eager = saved
    caches["default"].clear()
    with Connection(settings.CELERY_BROKER_URL) as connection:
        connection.default_channel.queue_delete(queue)


@pytest.fixture
def celery_worker(stack_env, tmp_path):
    """``celery worker -B``: planning, dispatch, the outbox relay and webhook delivery."""
    log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "wms", "worker", "-B",
            "-s", str(tmp_path / "celerybeat-schedule"),
            "-Q", stack_env["queue"], "-n", f"e2e-{uuid.uuid4().hex[:8]}@%h",
            "--pool", "solo", "--without-heartbeat", "--without-gossip", "--without-mingle",
            "-l", "info",
        ],
        cwd=ROOT,
        env=stack_env["env"],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    process.log_path = log.name
    try:
        yield process
    finally:
        _stop(process)
        log.close()


@pytest.fixture
def gunicorn(stack_env, tmp_path):
    """The product's WSGI app in gunicorn on a free port; yields its base URL."""
    port = _free_port()
    log = open(tmp_path / "gunicorn.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")), "wms.wsgi",
            "--bind", f"127.0.0.1:{port}", "--workers", "2", "--timeout", "120",
            "--log-level", "warning",
        ],
        cwd=ROOT,
        env=stack_env["env"],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + TIMEOUT
        while True:
            assert process.poll() is None, "gunicorn exited:\n" + _tail(log.name)
            try:
                if requests.get(f"{base}/healthz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "gunicorn did not answer:\n" + _tail(log.name)
            time.sleep(0.3)
        process.base_url, process.log_path = base, log.name
        yield process
    finally:
        _stop(process)
        log.close()


class Api:
    """One external system's HTTP client of the product behind gunicorn."""

    def __init__(self, base_url: str, token: str):
        self.base = base_url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"

    def get(self, path, **kwargs):
        return self.session.get(self.base + path, timeout=60, **kwargs)

    def post(self, path, body, *, key=None, **headers):
        headers["Idempotency-Key"] = key or uuid.uuid4().hex
        return self.session.post(self.base + path, json=body, headers=headers, timeout=60)


def _poll(what: str, probe, *, processes, timeout=TIMEOUT, interval=0.3):
    """``probe()`` until it returns something truthy; a dead process or the deadline
    fails with the processes' log tails."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        for process in processes:
            assert process.poll() is None, f"{process.args[:4]} exited:\n" + _tail(process.log_path)
        time.sleep(interval)
    logs = "\n".join(f"--- {p.log_path}\n{_tail(p.log_path)}" for p in processes)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})\n{logs}")


# --- the warehouse ------------------------------------------------------------------


@pytest.fixture
def warehouse_mad1(transactional_db):
    """MAD1: an automated zone with stock at its faces (ROBO works it), staging, an
    outbound door, a carton type, a GS1 prefix and waves released at once."""
    wh = WarehouseFactory(code="MAD1", name="Madrid DC", gs1_company_prefix="8412345")
    available = InventoryStatusFactory(code="AVAILABLE", description="Available", allocatable=True)
    each = UnitOfMeasureFactory(code="EA")
    auto = ZoneFactory(warehouse=wh, code="AUTO", name="Shuttle")
    LocationFactory(
        warehouse=wh, zone=ZoneFactory(warehouse=wh, code="STG", name="Staging"),
        code="STG-01", type=LocationType.STAGING, pick_sequence=9000,
    )  # fmt: skip
    for n, (sku, cost) in enumerate(UNIT_COST.items(), start=1):
        item = ItemFactory(warehouse=wh, sku=sku, base_uom=each, unit_cost=cost)
        face = LocationFactory(warehouse=wh, zone=auto, code=f"AUTO-{n:02d}", pick_sequence=n)
        stock_receive(
            item=item, location=face, status=available, qty=D("100"),
            posting_key=f"e2e-receive:{sku}", source_ref="e2e",
        )  # fmt: skip
    DockDoorFactory(warehouse=wh, code="D-OUT-1", direction=DockDirection.OUTBOUND)
    PackageType.objects.create(
        code="CARTON-M", name="Carton M", kind=PackageKind.CARTON,
        tare_weight_kg=D("0.4"), length_cm=40, width_cm=30, height_cm=30,
    )  # fmt: skip
    WavePolicy.objects.update_or_create(
        warehouse=wh,
        defaults={"release_mode": WaveReleaseMode.AUTOMATIC, "max_open_minutes": 0},
    )
    robot, _key, _ = external_system_ensure(
        system_type="automation", code="ROBO", warehouse_codes=["MAD1"]
    )
    AutomationZone.objects.create(zone=auto, system=robot)
    return wh


def _token(system_type, code) -> str:
    _system, key, _ = external_system_ensure(
        system_type=system_type, code=code, warehouse_codes=["MAD1"], rotate=True
    )
    return key


# --- the cycle ----------------------------------------------------------------------


def test_order_to_store_over_gunicorn_celery_and_rabbitmq(
    warehouse_mad1, receiver, bus_queue, gunicorn, celery_worker
):
    """A store's order is planned, picked by automation, packed and shipped through the
    API; the store's webhook and the bus get ``shipment.confirmed`` with the packages
    and lines that ``GET /api/v1/shipments`` shows, finance reads the shipment valued
    at unit cost, and ``verify_inventory`` finds no drift."""
    base, stack = gunicorn.base_url, [gunicorn, celery_worker]
    store_system, store_key, _ = external_system_ensure(
        system_type="store", code="S042", warehouse_codes=["MAD1"]
    )
    subscription, secret = webhook_subscription_create(
        system=store_system, url=receiver.url, event_types=["shipment.confirmed"]
    )
    store = Api(base, store_key)
    robot = Api(base, _token("automation", "ROBO"))
    packing_line = Api(base, _token("automation", "PACK1"))
    finance = Api(base, _token("finance", "FIN1"))

    # 1. The store orders; the worker plans it and releases its wave.
    external_id = f"S042-E2E-{uuid.uuid4().hex[:6]}"
    response = store.post(
        "/api/v1/replenishment-orders",
        {
            "externalOrderId": external_id,
            "storeCode": "S042",
            "requestedShipBy": "2030-11-23T18:00:00+01:00",
            "priority": 5,
            "lines": [
                {"lineNumber": n, "sku": sku, "qty": str(qty), "uom": "EA"}
                for n, (sku, qty) in ORDERED.items()
            ],
        },
    )
    assert response.status_code == 202, response.text
    order_id = response.json()["id"]

    def order():
        return store.get(f"/api/v1/replenishment-orders/{order_id}").json()

    _poll("the order RELEASED", lambda: order()["status"] == "RELEASED", processes=stack)

    # 2. Automation pulls the tasks dispatched to it, acknowledges and confirms each.
    def dispatched():
        body = robot.get("/api/v1/automation/pick-tasks?status=DISPATCHED&limit=1000").json()
        mine = [t for t in body["results"] if t["orderId"] == order_id]
        picked = {n: sum(D(t["qtyToPick"]) for t in mine if t["lineNumber"] == n) for n in ORDERED}
        return mine if picked == {n: qty for n, (_sku, qty) in ORDERED.items()} else None

    tasks = _poll("the pick tasks dispatched to ROBO", dispatched, processes=stack)
    for task in tasks:
        path = f"/api/v1/automation/pick-tasks/{task['pickTaskId']}/ack"
        ack = robot.post(path, {"correlationId": f"robo-{task['pickTaskId'][-6:]}"})
        assert ack.status_code == 200, ack.text
        assert ack.json()["status"] == "IN_PROGRESS"
        confirm = robot.post(
            "/api/v1/automation/pick-confirmations",
            {
                "pickTaskId": task["pickTaskId"],
                "qtyPicked": task["qtyToPick"],
                "fromLocation": task["fromLocation"],
                "correlationId": f"robo-{task['pickTaskId'][-6:]}",
            },
        )
        assert confirm.status_code == 200, confirm.text
        assert confirm.json()["taskStatus"] == "DONE"
    body = order()
    assert body["status"] == "PICKING"
    assert [D(line["qtyPicked"]) for line in body["lines"]] == [q for _s, q in ORDERED.values()]

    # 3. The packing line packs each line into its own carton.
    packed = packing_line.post(
        "/api/v1/automation/pack-confirmations",
        {
            "orderId": order_id,
            "packages": [
                {
                    "packageType": "CARTON-M",
                    "weightKg": weight,
                    "lines": [{"lineNumber": n, "qty": str(ORDERED[n][1])}],
                }
                for n, weight in ((1, "37.2"), (2, "6.4"))
            ],
        },
    )
    assert packed.status_code == 201, packed.text
    assert packed.json()["orderStatus"] == "PACKED"
    ssccs = [p["sscc"] for p in packed.json()["packages"]]
    assert len(set(ssccs)) == 2 and all(sscc_is_valid(s) for s in ssccs)
    assert all(s.startswith("08412345") for s in ssccs)

    # 4. The dock confirms the truck left through an outbound door.
    shipped = packing_line.post(
        "/api/v1/automation/shipment-confirmations",
        {
            "orderIds": [order_id],
            "dockDoor": "D-OUT-1",
            "carrier": "DHL",
            "trackingRef": "TRK-E2E-1",
            "departedAt": "2026-11-23T17:40:00Z",
        },
        **{"X-Correlation-ID": "e2e-truck-1"},
    )
    assert shipped.status_code == 201, shipped.text
    assert shipped.json()["status"] == "SHIPPED"
    shipment_number = shipped.json()["shipmentNumber"]
    body = order()
    assert body["status"] == "SHIPPED"
    assert [D(line["qtyShipped"]) for line in body["lines"]] == [q for _s, q in ORDERED.values()]

    # 5. The store's webhook hears about it, signed, with what is on the truck.
    def hook():
        return [r for r in receiver.requests if r["headers"].get("X-WMS-Event-Id")]

    (request,) = _poll("shipment.confirmed at the store's webhook", hook, processes=stack)
    assert (
        request["headers"]["X-WMS-Signature"]
        == hmac.new(secret.encode(), request["body"], hashlib.sha256).hexdigest()
    )
    assert request["headers"]["X-Correlation-ID"] == "e2e-truck-1"
    envelope = json.loads(request["body"])
    assert envelope["type"] == "shipment.confirmed"
    assert envelope["correlationId"] == "e2e-truck-1"
    data = envelope["data"]
    assert data["shipmentNumber"] == shipment_number
    assert data["storeCode"] == "S042" and data["warehouse"] == "MAD1"
    assert data["orders"] == [{"id": order_id, "externalOrderId": external_id}]
    assert sorted(p["sscc"] for p in data["packages"]) == sorted(ssccs)
    contents = sorted(
        (p["packageType"], line["externalOrderId"], line["lineNumber"], line["sku"], D(line["qty"]))
        for p in data["packages"]
        for line in p["lines"]
    )
    assert contents == [("CARTON-M", external_id, n, sku, qty) for n, (sku, qty) in ORDERED.items()]
    assert sorted(D(p["weightKg"]) for p in data["packages"]) == [D("6.4"), D("37.2")]

    # 6. The same content on the bus, and in the store's shipment list.
    def bus():
        bus_queue.drain(timeout=2, quiet=0.3)
        return [b for b in bus_queue.bodies() if b["type"] == "shipment.confirmed"]

    on_bus = _poll("shipment.confirmed on the bus", bus, processes=stack)
    assert [b["id"] for b in on_bus] == [envelope["id"]]
    assert on_bus[0]["data"] == data
    listed = store.get("/api/v1/shipments?storeCode=S042")
    assert listed.status_code == 200, listed.text
    (shipment,) = listed.json()["results"]
    assert shipment == {key: data[key] for key in shipment}
    assert set(data) - set(shipment) == {"warehouse"}

    # 7. Finance reads the shipment valued at the items' unit cost.
    feed = finance.get("/api/v1/finance/events")
    assert feed.status_code == 200, feed.text
    (event,) = [e for e in feed.json()["events"] if e["type"] == "shipment.confirmed"]
    assert event["reference"]["number"] == shipment_number
    assert event["storeCode"] == "S042" and event["warehouse"] == "MAD1"
    assert event["currency"] == warehouse_mad1.currency
    lines = sorted(event["lines"], key=lambda line: line["sku"])
    assert [(line["sku"], D(line["qty"]), D(line["unitCost"])) for line in lines] == [
        (sku, qty, UNIT_COST[sku]) for sku, qty in ORDERED.values()
    ]
    for line in lines:
        assert D(line["amount"]) == D(line["qty"]) * D(line["unitCost"])
    assert D(event["totalAmount"]) == D("24") * D("0.21") + D("6") * D("5.10")
    # Read on from the cursor the page gave: nothing again.
    after = finance.get("/api/v1/finance/events", params={"after": feed.json()["next"]})
    assert after.status_code == 200, after.text
    assert after.json()["events"] == []

    # 8. Nothing is left in staging and the books balance.
    staged = InventoryBalance.objects.filter(location__code="STG-01", on_hand__gt=0).values_list(
        "item__sku", "on_hand"
    )
    assert list(staged) == []
    verify = subprocess.run(
        [sys.executable, "manage.py", "verify_inventory"],
        cwd=ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "no drift" in verify.stdout
    assert subscription.deliveries.filter(status="DELIVERED").count() == 1
