"""The finance feed (CONTRACT.md, Finance): ``GET /api/v1/finance/events`` in JSON and CSV,
``export_finance_events``, and paging that never skips nor repeats while writers commit."""

import csv
import io
import json
import os
import queue
import subprocess
import sys
import threading
import time
import uuid
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.core import signing
from django.core.management import CommandError, call_command
from django.db import connection, connections, transaction
from django.db.models import Max

from inventory.finance import (
    CSV_COLUMNS,
    FinanceLine,
    finance_cursor,
    finance_event_as_dict,
    finance_event_record,
    finance_events_after,
)
from inventory.models import FinanceEvent, FinanceEventType, FinanceSequence
from tests.factories import ItemFactory, UnitOfMeasureFactory, UserFactory

D = Decimal
PROBLEM = "application/problem+json"
URL = "/api/v1/finance/events"
WRITER = str(Path(__file__).with_name("finance_writer_process.py"))
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def items(warehouse):
    each = UnitOfMeasureFactory(code="EA")
    return [
        ItemFactory(warehouse=warehouse, sku="SKU-A", base_uom=each, unit_cost=D("2.5000")),
        ItemFactory(warehouse=warehouse, sku="SKU-B", base_uom=each, unit_cost=D("0.3333")),
    ]


def record(warehouse, lines, *, key=None, store_code="S042", reason_code="", **extra):
    """One finance event in its own transaction; ``lines``: [(item, qty)]."""
    key = key or f"test:{uuid.uuid4()}"
    with transaction.atomic():
        return finance_event_record(
            event_type=extra.pop("event_type", FinanceEventType.SHIPMENT_CONFIRMED),
            warehouse=warehouse,
            reference_type=extra.pop("reference_type", "shipment"),
            reference_id=extra.pop("reference_id", key),
            reference_number=extra.pop("reference_number", "SH-1"),
            store_code=store_code,
            reason_code=reason_code,
            lines=[FinanceLine(item=item, qty=D(qty), uom="EA") for item, qty in lines],
            source_key=key,
            **extra,
        )


@pytest.fixture
def finance(system_client, warehouse):
    return system_client("finance", "FIN1", [warehouse])


def body_of(response) -> dict:
    """The JSON of a feed page (streamed) or of a problem."""
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    assert response.status_code == 200, raw
    return json.loads(raw)


def pages(client, *, limit, after=None, accept=None):
    """Follow ``next`` until a page brings nothing: [(events, next)] (the empty page last)."""
    result = []
    while True:
        query = f"?limit={limit}" + (f"&after={after}" if after else "")
        response = client.get(URL + query)
        assert response.status_code == 200, response.content
        body = body_of(response)
        assert response["X-Next-Cursor"] == body["next"]
        result.append((body["events"], body["next"]))
        if not body["events"]:
            assert body["next"] == (after or finance_cursor(0))
            return result
        after = body["next"]


# --- JSON ------------------------------------------------------------------------


@pytest.mark.django_db
def test_finance_events_list_has_the_contract_shape(finance, warehouse, items):
    """Each event: sequence, id, type, occurredAt, warehouse, currency, reference, storeCode,
    lines with decimal strings, totalAmount; reasonCode only when there is one."""
    event = record(warehouse, [(items[0], "4"), (items[1], "3")], reference_number="SH-000042")
    response = finance.get(URL)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = body_of(response)
    assert set(body) == {"events", "next"}
    assert body["events"] == [
        {
            "sequence": 1,
            "id": str(event.event_id),
            "type": "shipment.confirmed",
            "occurredAt": event.occurred_at.isoformat(),
            "warehouse": "MAD1",
            "currency": "EUR",
            "reference": {"type": "shipment", "id": event.reference_id, "number": "SH-000042"},
            "storeCode": "S042",
            "lines": [
                {
                    "sku": "SKU-A",
                    "qty": "4",
                    "uom": "EA",
                    "unitCost": "2.5000",
                    "amount": "10.0000",
                },
                {"sku": "SKU-B", "qty": "3", "uom": "EA", "unitCost": "0.3333", "amount": "0.9999"},
            ],
            "totalAmount": "10.9999",
        }
    ]
    assert body["next"] == finance_cursor(1)
    assert response.streaming  # never built in memory, whatever the limit
    assert body["events"] == [finance_event_as_dict(FinanceEvent.objects.get(pk=event.pk))]
    loss = record(
        warehouse,
        [(items[0], "-2")],
        event_type=FinanceEventType.INVENTORY_ADJUSTED,
        reference_type="adjustment",
        store_code="",
        reason_code="DAMAGED",
    )
    [adjusted] = body_of(finance.get(f"{URL}?after={body['next']}"))["events"]
    assert adjusted["sequence"] == loss.sequence == 2
    assert adjusted["reasonCode"] == "DAMAGED" and "storeCode" not in adjusted
    assert adjusted["totalAmount"] == "-5.0000" and adjusted["lines"][0]["amount"] == "-5.0000"


@pytest.mark.django_db
def test_finance_event_record_twice_with_one_source_key_records_once(warehouse, items):
    """The same ``source_key`` again returns the first event and takes no number: the next
    event gets the next number, no gap."""
    first = record(warehouse, [(items[0], "1")], key="shipment:one")
    again = record(warehouse, [(items[1], "5")], key="shipment:one")
    assert (again.pk, again.sequence, again.lines) == (first.pk, 1, first.lines)
    assert record(warehouse, [(items[0], "2")]).sequence == 2
    assert FinanceSequence.objects.get(pk=1).last == 2
    assert FinanceEvent.objects.count() == 2


@pytest.mark.django_db
def test_finance_events_list_pages_never_repeat_nor_skip(finance, warehouse, items):
    """Following ``next`` with a small limit returns every event once, in sequence order;
    with nothing new, ``next`` is the cursor that was sent."""
    for _ in range(12):
        record(warehouse, [(items[0], "1")])
    result = pages(finance, limit=5)
    assert [len(events) for events, _next in result] == [5, 5, 2, 0]
    sequences = [event["sequence"] for events, _next in result for event in events]
    assert sequences == list(range(1, 13))
    last_next = result[-1][1]
    record(warehouse, [(items[1], "2")])
    [new] = body_of(finance.get(f"{URL}?after={last_next}"))["events"]
    assert new["sequence"] == 13
    assert body_of(finance.get(f"{URL}?limit=5000"))["events"][-1]["sequence"] == 13


@pytest.mark.django_db
def test_finance_events_list_filters_by_type_and_warehouse(finance, warehouse, items):
    """``type`` and ``warehouse`` narrow a page; a warehouse not granted is 403."""
    record(warehouse, [(items[0], "1")])
    record(warehouse, [(items[0], "-1")], event_type=FinanceEventType.INVENTORY_ADJUSTED)
    body = body_of(finance.get(f"{URL}?type=inventory.adjusted&warehouse=MAD1"))
    assert [event["sequence"] for event in body["events"]] == [2]
    assert finance.get(f"{URL}?type=nope").status_code == 400
    response = finance.get(f"{URL}?warehouse=BCN1")
    assert response.status_code == 403 and response["Content-Type"] == PROBLEM


# --- CSV -------------------------------------------------------------------------


@pytest.mark.django_db
def test_finance_events_list_as_csv_one_row_per_line(finance, warehouse, items):
    """``Accept: text/csv``: a header row, one row per line with the event's columns repeated,
    streamed, and the same next cursor as the JSON page in ``X-Next-Cursor``."""
    first = record(warehouse, [(items[0], "4"), (items[1], "3")], reference_number="SH-1")
    record(warehouse, [(items[1], "1")], reference_number="SH-2")
    response = finance.get(URL, HTTP_ACCEPT="text/csv")
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    text = b"".join(response.streaming_content).decode()
    rows = list(csv.reader(io.StringIO(text)))
    assert tuple(rows[0]) == CSV_COLUMNS
    head = [
        "1", str(first.event_id), "shipment.confirmed", first.occurred_at.isoformat(),
        "MAD1", "EUR", "shipment", first.reference_id, "SH-1", "S042", "",
    ]  # fmt: skip
    assert rows[1] == [*head, "SKU-A", "4", "EA", "2.5000", "10.0000", "10.9999"]
    assert rows[2] == [*head, "SKU-B", "3", "EA", "0.3333", "0.9999", "10.9999"]
    assert rows[3][0] == "2" and rows[3][8] == "SH-2"
    assert rows[3][11:] == ["SKU-B", "1", "EA", "0.3333", "0.3333", "0.3333"]
    assert len(rows) == 4
    assert response["X-Next-Cursor"] == body_of(finance.get(URL))["next"] == finance_cursor(2)

    after = response["X-Next-Cursor"]
    empty = finance.get(f"{URL}?after={after}", HTTP_ACCEPT="text/csv")
    assert b"".join(empty.streaming_content).decode().splitlines() == [",".join(CSV_COLUMNS)]
    assert empty["X-Next-Cursor"] == after


# --- bad input and who may read --------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "cursor",
    [
        "42",
        "garbage:abc",
        "MQ:1vXb8c:tampered-signature",
        signing.Signer(salt="inventory.finance.cursor:another-instance").sign_object(1),
        signing.Signer(salt=f"inventory.finance.cursor:{settings.WMS_INSTANCE_ID}").sign_object(
            "1"
        ),
    ],
)
def test_finance_events_list_refuses_a_cursor_it_never_gave(finance, warehouse, items, cursor):
    """A cursor the API did not hand out (forged, altered, another instance's) is a 400
    problem with code invalid_cursor, also when CSV was asked for."""
    record(warehouse, [(items[0], "1")])
    for accept in ("application/json", "text/csv"):
        response = finance.get(URL, {"after": cursor}, HTTP_ACCEPT=accept)
        assert response.status_code == 400
        assert response["Content-Type"] == PROBLEM
        assert response.json()["code"] == "invalid_cursor"


@pytest.mark.django_db
def test_finance_events_list_refuses_a_tampered_cursor(finance, warehouse, items):
    """The sequence in a cursor cannot be changed: the signature no longer matches."""
    for _ in range(3):
        record(warehouse, [(items[0], "1")])
    good = finance_cursor(1)
    payload, signature = good.split(":", 1)
    forged = signing.b64_encode(b"2").decode() + ":" + signature
    assert payload != forged.split(":", 1)[0]
    assert finance.get(URL, {"after": forged}).json()["code"] == "invalid_cursor"
    assert [e["sequence"] for e in body_of(finance.get(URL, {"after": good}))["events"]] == [2, 3]


@pytest.mark.django_db
@pytest.mark.parametrize("limit", ["5001", "0", "-1", "ten", "1.5"])
def test_finance_events_list_refuses_a_limit_outside_1_to_5000(finance, limit):
    """``limit`` above 5,000 (or not a positive whole number) is a 400 invalid_limit."""
    response = finance.get(URL, {"limit": limit})
    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["code"] == "invalid_limit"
    assert body["errors"][0]["field"] == "limit"


@pytest.mark.django_db
def test_finance_events_list_only_for_finance_clients(
    system_client, api_client, finance, warehouse, items
):
    """No token 401; a store or automation token 403; a finance token 200."""
    record(warehouse, [(items[0], "1")])
    assert api_client.get(URL).status_code == 401
    for system_type, code in (("store", "S042"), ("automation", "ROBO1")):
        response = system_client(system_type, code, [warehouse]).get(URL)
        assert response.status_code == 403
        assert response["Content-Type"] == PROBLEM
    assert finance.get(URL, {"limit": 5000}).status_code == 200


@pytest.mark.django_db
def test_finance_events_list_of_another_warehouse_shows_nothing_of_this_one(
    system_client, warehouse, other_warehouse, items
):
    """A finance system granted only BCN1 sees none of MAD1's events; its cursor moves past
    them, and its own warehouse's next event comes on the next page."""
    for _ in range(3):
        record(warehouse, [(items[0], "1")])
    bcn = system_client("finance", "FIN-BCN", [other_warehouse])
    body = body_of(bcn.get(URL))
    assert body["events"] == []
    assert body["next"] == finance_cursor(3)
    bcn_item = ItemFactory(warehouse=other_warehouse, sku="SKU-A", unit_cost=D("1"))
    record(other_warehouse, [(bcn_item, "2")])
    record(warehouse, [(items[0], "1")])
    later = body_of(bcn.get(URL, {"after": body["next"]}))
    assert [(e["sequence"], e["warehouse"]) for e in later["events"]] == [(4, "BCN1")]
    assert later["next"] == finance_cursor(5)
    assert body_of(bcn.get(URL, {"after": later["next"]}))["events"] == []


@pytest.mark.django_db
def test_finance_events_list_for_people_with_the_finance_role(
    api_client, warehouse, other_warehouse, items
):
    """The finance role reads the events of its warehouses; a picker is 403; a superuser
    reads every warehouse's."""
    record(warehouse, [(items[0], "1")])
    bcn_item = ItemFactory(warehouse=other_warehouse, sku="SKU-A")
    record(other_warehouse, [(bcn_item, "1")])
    accountant = UserFactory(username="accountant", warehouses=[warehouse])
    accountant.groups.add(Group.objects.get(name="finance"))
    api_client.force_login(accountant)
    assert [e["warehouse"] for e in body_of(api_client.get(URL))["events"]] == ["MAD1"]
    picker = UserFactory(username="picker", warehouses=[warehouse])
    picker.groups.add(Group.objects.get(name="picker"))
    api_client.force_login(picker)
    assert api_client.get(URL).status_code == 403
    admin = UserFactory(username="root", is_superuser=True)
    api_client.force_login(admin)
    assert [e["warehouse"] for e in body_of(api_client.get(URL))["events"]] == ["MAD1", "BCN1"]


# --- export_finance_events -------------------------------------------------------


def export(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("export_finance_events", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue().strip()


@pytest.mark.django_db
def test_export_finance_events_csv_and_json_match_the_api(finance, warehouse, items, tmp_path):
    """The command writes what the API pages show (CSV and JSON), everything after the
    cursor, and prints the next cursor on stderr; from that cursor only newer events."""
    for n in range(7):
        record(warehouse, [(items[0], str(n + 1)), (items[1], "2")])
    api_csv = b"".join(finance.get(URL, HTTP_ACCEPT="text/csv").streaming_content).decode()
    api_json = body_of(finance.get(URL))

    text, next_cursor = export("--format", "csv")
    assert text == api_csv
    assert len(list(csv.reader(io.StringIO(text)))) == 1 + 7 * 2
    assert next_cursor == api_json["next"] == finance_cursor(7)

    text, next_json = export("--format", "json")
    assert json.loads(text) == api_json
    assert next_json == next_cursor

    first, second = export("--format", "json", "--limit", "3")
    assert [e["sequence"] for e in json.loads(first)["events"]] == [1, 2, 3]
    rest, end = export("--format", "json", "--after", second)
    assert [e["sequence"] for e in json.loads(rest)["events"]] == [4, 5, 6, 7]
    assert end == next_cursor

    target = tmp_path / "events.csv"
    _out, file_next = export("--after", finance_cursor(5), "--output", str(target))
    assert _out == "" and file_next == next_cursor
    rows = list(csv.reader(target.open(newline="", encoding="utf-8")))
    assert [row[0] for row in rows[1:]] == ["6", "6", "7", "7"]

    empty, same = export("--format", "json", "--after", next_cursor)
    assert json.loads(empty) == {"events": [], "next": next_cursor} and same == next_cursor


@pytest.mark.django_db
def test_export_finance_events_refuses_a_bad_cursor_in_one_line(warehouse):
    """A cursor the feed never gave ends the command with one error line (exit status 1)."""
    with pytest.raises(CommandError) as failure:
        export("--after", "not-a-cursor")
    assert "invalid cursor" in str(failure.value) and "\n" not in str(failure.value)
    with pytest.raises(CommandError):
        export("--warehouse", "NOPE")


# --- under concurrency -----------------------------------------------------------


def _subprocess_env() -> dict:
    db = connection.settings_dict
    env = dict(os.environ)
    env.update(
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        SECRET_KEY=settings.SECRET_KEY,
        WMS_INSTANCE_ID=settings.WMS_INSTANCE_ID,
        DB_CONN_MAX_AGE="0",
        PYTHONUNBUFFERED="1",
    )
    return env


ROUNDS, WRITERS, EVENTS_PER_WRITER = 10, 8, 25


class WriterProcesses:
    """The writer processes of ``finance_writer_process.py``, and what they said."""

    def __init__(self, warehouse, items):
        item_ids = ",".join(str(item.pk) for item in items)
        command = [sys.executable, WRITER, str(warehouse.pk), item_ids, str(EVENTS_PER_WRITER)]
        self.processes = [
            subprocess.Popen(
                [*command, str(seed)],
                cwd=ROOT,
                env=_subprocess_env(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for seed in range(WRITERS)
        ]
        self.output = [[] for _ in self.processes]
        self.lines = queue.Queue()
        self.ready_count = 0
        self.committed: dict[int, dict[int, int]] = {}  # run → writer → events committed
        for number, process in enumerate(self.processes):
            threading.Thread(target=self._follow, args=(number, process), daemon=True).start()

    def _follow(self, number, process):
        for line in process.stdout:
            self.output[number].append(line)
            self.lines.put((number, line.split()))
        self.lines.put((number, ["exited"]))

    def _take(self, *, block: bool) -> bool:
        """Note one line of a writer; False when there was none (waiting at most 1 s)."""
        try:
            number, words = self.lines.get(timeout=1) if block else self.lines.get_nowait()
        except queue.Empty:
            return False
        if words == ["ready"]:
            self.ready_count += 1
        elif words[0] == "done":  # done RUN committed N
            self.committed.setdefault(int(words[1]), {})[number] = int(words[3])
        else:
            raise AssertionError("".join(self.output[number]))
        return True

    def ready(self) -> None:
        deadline = time.monotonic() + 120
        while self.ready_count < WRITERS:
            self._take(block=True)
            assert time.monotonic() < deadline, self.output

    def go(self, run: int) -> None:
        for process in self.processes:
            process.stdin.write(f"go {run}\n")
            process.stdin.flush()

    def done(self, run: int) -> bool:
        """Whether every writer has committed its last event of ``run`` (never blocks)."""
        while self._take(block=False):
            pass
        return len(self.committed.get(run, {})) == WRITERS

    def close(self) -> None:
        for process in self.processes:
            process.stdin.close()
        for process in self.processes:
            process.wait(timeout=60)
        assert all(p.returncode == 0 for p in self.processes), self.output


def _read_until_drained(poll, finished) -> tuple[list, int]:
    """Call ``poll`` (→ the next page's events) as fast as it answers until the writers are
    finished and a page comes back empty: (every event read, how many while writing)."""
    seen, during = [], 0
    while True:
        writers_finished = finished()  # asked before the poll: then the poll sees every commit
        events = poll()
        seen.extend(events)
        if not writers_finished:
            during += len(events)
        elif not events:
            return seen, during


def _api_poller(client):
    """Pages of ``GET /api/v1/finance/events`` following ``next``."""
    after = None

    def poll():
        nonlocal after
        body = body_of(client.get(URL, {"limit": 7} | ({"after": after} if after else {})))
        after = body["next"]
        return [(event["sequence"], event["id"]) for event in body["events"]]

    return poll


def _selector_poller():
    """Pages of ``finance_events_after`` (no HTTP: several times the API's polls per second)."""
    after = 0

    def poll():
        nonlocal after
        events = [(e.sequence, str(e.event_id)) for e in finance_events_after(after=after, limit=7)]
        if events:
            after = events[-1][0]
        return events

    return poll


def _assert_feed_read(run, reader, seen, during, *, before, committed):
    in_database = [
        (sequence, str(event_id))
        for sequence, event_id in FinanceEvent.objects.filter(sequence__gt=before)
        .order_by("sequence")
        .values_list("sequence", "event_id")
    ]
    where = f"run {run}, {reader}"
    sequences = [sequence for sequence, _id in seen]
    assert len(in_database) == committed, where
    assert len(set(sequences)) == len(sequences), f"{where}: an event came twice"
    assert all(a < b for a, b in pairwise(sequences)), f"{where}: out of order"
    assert seen == in_database, f"{where}: the pages are not the committed events"
    assert sequences == list(range(before + 1, before + committed + 1)), f"{where}: a gap"
    assert during > 0, f"{where}: nothing was read while the writers were writing"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_finance_feed_pages_under_8_writer_processes_skip_and_repeat_nothing(
    system_client, warehouse, items
):
    """8 processes record events in their own transactions (some roll back) while two
    readers page with ``after=`` as fast as they can (this test through the API, a thread
    through ``finance_events_after``) until the writers are done and the feed is drained: in
    each of 10 runs the union of each reader's pages is exactly the set of events committed
    in the run, strictly increasing, gap-free, nothing twice.

    Numbered by a database sequence instead (``nextval`` in ``finance_event_record``), this
    fails in every run: rolled-back numbers are gaps, and the fast reader skips events."""
    FinanceSequence.objects.get_or_create(pk=1, defaults={"last": 0})  # flushed by the last test
    api_poll = _api_poller(system_client("finance", "FIN1", [warehouse]))
    selector_poll = _selector_poller()
    writers = WriterProcesses(warehouse, items)
    try:
        writers.ready()
        for run in range(ROUNDS):
            before = FinanceEvent.objects.aggregate(last=Max("sequence"))["last"] or 0
            finished = threading.Event()
            fast = {}

            def read_fast(finished=finished, fast=fast):
                try:
                    fast["seen"], fast["during"] = _read_until_drained(
                        selector_poll, finished.is_set
                    )
                finally:
                    connections.close_all()

            thread = threading.Thread(target=read_fast)
            thread.start()
            writers.go(run)

            def writers_done(run=run, finished=finished):
                if writers.done(run):
                    finished.set()
                return finished.is_set()

            seen, during = _read_until_drained(api_poll, writers_done)
            thread.join(60)
            committed = sum(writers.committed[run].values())
            _assert_feed_read(run, "API", seen, during, before=before, committed=committed)
            _assert_feed_read(
                run, "selector", fast["seen"], fast["during"], before=before, committed=committed
            )
    finally:
        writers.close()


def _raw_connection():
    db = connection.settings_dict
    return psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"], dbname=db["NAME"], autocommit=True
    )


@pytest.mark.django_db(transaction=True)
def test_finance_feed_numbers_in_commit_order_where_an_autoincrement_skips(warehouse, items):
    """The contrast, step by step on two connections: with an autoincrement a reader who saw
    id 2 never sees id 1 that commits later; with the feed's counter the second writer waits
    for the first to commit, so a reader can never get past an uncommitted event."""
    with _raw_connection() as admin:
        admin.execute("CREATE TABLE finance_contrast (id bigserial PRIMARY KEY)")
    try:
        with _raw_connection() as slow, _raw_connection() as fast, _raw_connection() as reader:
            slow.execute("BEGIN")
            slow.execute("INSERT INTO finance_contrast DEFAULT VALUES")  # takes id 1
            fast.execute("INSERT INTO finance_contrast DEFAULT VALUES")  # id 2, committed
            page = [row[0] for row in reader.execute("SELECT id FROM finance_contrast")]
            assert page == [2]
            slow.execute("COMMIT")
            after_cursor = reader.execute("SELECT id FROM finance_contrast WHERE id > 2")
            assert after_cursor.fetchall() == []  # id 1 is never read: skipped
    finally:
        with _raw_connection() as admin:
            admin.execute("DROP TABLE finance_contrast")

    FinanceSequence.objects.get_or_create(pk=1, defaults={"last": 0})
    first_recorded, second_done = threading.Event(), threading.Event()
    release_first = threading.Event()
    numbers = {}

    def writer(name, before_commit=None):
        try:
            with transaction.atomic():
                numbers[name] = record(warehouse, [(items[0], "1")]).sequence
                if before_commit:
                    before_commit()
        finally:
            connections.close_all()

    def first_waits():
        first_recorded.set()
        release_first.wait(10)

    slow = threading.Thread(target=writer, args=("slow", first_waits))
    slow.start()
    assert first_recorded.wait(10)
    fast = threading.Thread(target=lambda: (writer("fast"), second_done.set()))
    fast.start()
    time.sleep(0.5)
    assert not second_done.is_set(), "the second writer must wait for the first's commit"
    assert list(finance_events_after(after=0, limit=10)) == []  # nothing committed yet
    release_first.set()
    slow.join(10)
    fast.join(10)
    assert numbers == {"slow": 1, "fast": 2}
    assert [e.sequence for e in finance_events_after(after=0, limit=10)] == [1, 2]


@pytest.mark.django_db(transaction=True)
def test_finance_event_record_racing_on_one_source_key_records_once(warehouse, items):
    """Two transactions record one ``source_key`` at once: the second waits for the first's
    commit, then gets the first event back; one row, one number taken."""
    FinanceSequence.objects.get_or_create(pk=1, defaults={"last": 0})
    first_recorded, release_first = threading.Event(), threading.Event()
    results = {}

    def writer(name, before_commit=None):
        try:
            with transaction.atomic():
                results[name] = record(warehouse, [(items[0], "1")], key="shipment:race")
                if before_commit:
                    before_commit()
        finally:
            connections.close_all()

    first = threading.Thread(
        target=writer, args=("first", lambda: (first_recorded.set(), release_first.wait(10)))
    )
    first.start()
    assert first_recorded.wait(10)
    second = threading.Thread(target=writer, args=("second",))
    second.start()
    time.sleep(0.5)
    assert "second" not in results, "the second writer must wait for the first's commit"
    release_first.set()
    first.join(10)
    second.join(10)
    assert results["second"].pk == results["first"].pk and results["first"].sequence == 1
    assert FinanceSequence.objects.get(pk=1).last == 1
    assert FinanceEvent.objects.filter(source_key="shipment:race").count() == 1
    assert record(warehouse, [(items[0], "1")]).sequence == 2
