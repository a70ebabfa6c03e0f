"""Picking handheld pages (Django test client): queue, steps, refused scans, resubmits,
short pick, problem report, JSON answers for the offline queue, Spanish."""

from decimal import Decimal

import pytest

from inventory.models import InventoryPosting
from tasking.models import ExceptionCase, PickConfirmation, PickTask, PickTaskStatus

from .conftest import balance, order_of

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def pablo(client, picker):
    client.force_login(picker)
    return client


def _flashes(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def _take_next(client) -> PickTask:
    response = client.post("/handheld/picking/", {"action": "next"})
    assert response.status_code == 302, response.content[:500]
    task_id = response["Location"].rstrip("/").split("/")[-1]
    return PickTask.objects.get(pk=task_id)


def _to_qty_step(client, task):
    url = f"/handheld/picking/task/{task.pk}/"
    client.post(url, {"action": "location", "code": task.from_location.barcode})
    page = client.post(
        url, {"action": "item", "location": task.from_location.barcode, "code": task.item.gtin}
    )
    assert page.status_code == 200 and page.context["step"] == "qty"
    return url, page.context["qty_form"].initial


def test_handheld_menu_has_pick_pack_and_load_for_pickers(pablo):
    """A picker's menu offers Pick, Pack and Load (pickers pack and load trucks too)."""
    keys = [entry["key"] for entry in pablo.get("/handheld/").context["menu"]]
    ours = [key for key in keys if key in ("tasking.pick", "tasking.pack", "tasking.dock")]
    assert ours == ["tasking.pick", "tasking.pack", "tasking.dock"]


def test_handheld_pick_requires_permission(client, layout):
    """Anonymous → login; a user without picking permission → 403."""
    from tests.factories import UserFactory

    assert client.get("/handheld/picking/")["Location"].startswith("/handheld/login/")
    client.force_login(UserFactory(username="nobody", warehouses=[layout.warehouse]))
    assert client.get("/handheld/picking/").status_code == 403


def test_handheld_pick_full_flow(pablo, release_order, layout):
    """Next task → wrong location refused (422, nothing changes) → right location →
    wrong item refused → right item → confirm: posted, task DONE, back to the queue."""
    order, _tasks = release_order([("SKU-A", 5)])
    queue = pablo.get("/handheld/picking/")
    assert queue.context["waiting"] == 1
    task = _take_next(pablo)
    url = f"/handheld/picking/task/{task.pk}/"
    page = pablo.get(url)
    assert page.context["step"] == "location"
    assert "P-01" in page.content.decode()

    wrong = pablo.post(url, {"action": "location", "code": "LP02"})
    assert wrong.status_code == 422
    assert "Wrong location: you scanned LP02, the task is at P-01." in wrong.content.decode()
    task.refresh_from_db()
    assert task.status == PickTaskStatus.ASSIGNED

    item_step = pablo.post(url, {"action": "location", "code": "LP01"})
    assert item_step.context["step"] == "item"
    task.refresh_from_db()
    assert task.status == PickTaskStatus.IN_PROGRESS
    assert order_of(order).status == "PICKING"

    wrong_item = pablo.post(url, {"action": "item", "location": "LP01", "code": "8400000000028"})
    assert wrong_item.status_code == 422
    assert "Wrong item" in wrong_item.content.decode()

    qty_step = pablo.post(url, {"action": "item", "location": "LP01", "code": "8400000000011"})
    assert qty_step.context["step"] == "qty"
    initial = qty_step.context["qty_form"].initial
    assert initial["qty"] == "5"  # as the field shows it (not 5.000 nor 1E+1)
    form = {**initial, "qty": "5", "action": "confirm"}
    done = pablo.post(url, form, follow=True)
    assert done.redirect_chain[-1][0] == "/handheld/picking/"
    assert any("Picked 5 EA of SKU-A from P-01 → STG-01." in f for f in _flashes(done))
    task.refresh_from_db()
    assert (task.status, task.qty_picked) == (PickTaskStatus.DONE, D("5"))
    assert balance(layout.sku_a, layout.staging, layout.available) == (D("5"), D("0"))

    # The same form again (double tap, reload): one pick.
    again = pablo.post(url, form, follow=True)
    assert again.redirect_chain[-1][0] == "/handheld/picking/"
    assert PickConfirmation.objects.count() == 1
    assert InventoryPosting.objects.filter(posting_key__startswith="pick:").count() == 1


def test_handheld_confirm_less_than_asked_needs_short_pick(pablo, release_order, layout):
    """Confirm with 3 of 5 is refused (nothing changes); Short pick posts 3 and opens a case."""
    release_order([("SKU-A", 5)])
    task = _take_next(pablo)
    url, initial = _to_qty_step(pablo, task)
    refused = pablo.post(url, {**initial, "qty": "3", "action": "confirm"})
    assert refused.status_code == 422
    assert "use Short pick" in refused.content.decode()
    assert not PickConfirmation.objects.exists()
    over = pablo.post(url, {**initial, "qty": "6", "action": "confirm"})
    assert over.status_code == 422 and "more than the 5" in over.content.decode()
    short = pablo.post(url, {**initial, "qty": "3", "action": "short"}, follow=True)
    flashes = _flashes(short)
    assert any("Short pick: 2 missing." in f for f in flashes), flashes
    task.refresh_from_db()
    assert task.status == PickTaskStatus.SHORT
    assert ExceptionCase.objects.get().qty_missing == D("2")


def test_handheld_report_problem_location_empty(pablo, release_order, layout):
    """Report "location empty" with nothing picked: task EXCEPTION, stock still held."""
    release_order([("SKU-A", 5)])
    task = _take_next(pablo)
    url = f"/handheld/picking/task/{task.pk}/problem/"
    page = pablo.get(url)
    key = page.context["form"].initial["client_key"]
    done = pablo.post(
        url,
        {"client_key": key, "type": "LOCATION_EMPTY", "qty": "0", "note": "bin empty"},
        follow=True,
    )
    assert any("Problem reported: Location empty." in f for f in _flashes(done))
    task.refresh_from_db()
    assert task.status == PickTaskStatus.EXCEPTION
    case = ExceptionCase.objects.get()
    assert (case.type, case.note) == ("LOCATION_EMPTY", "bin empty")
    assert case.reported_by.username == "pablo"
    assert balance(layout.sku_a, layout.p1, layout.available) == (D("50"), D("5"))


def test_handheld_confirm_answers_json_for_the_offline_queue(pablo, release_order, layout):
    """With Accept: application/json the confirm step answers JSON; a replay says so."""
    release_order([("SKU-A", 2)])
    task = _take_next(pablo)
    url, initial = _to_qty_step(pablo, task)
    form = {**initial, "qty": "2", "action": "confirm"}
    first = pablo.post(url, form, HTTP_ACCEPT="application/json")
    assert first.status_code == 200
    assert first.json()["ok"] and first.json()["taskStatus"] == "DONE"
    assert first.json()["redirect"] == "/handheld/picking/"
    # A replay of the stored request after the task closed: still one pick, answered ok.
    replay = pablo.post(url, form, HTTP_ACCEPT="application/json")
    assert replay.status_code == 200
    assert replay.json()["ok"] and replay.json()["replayed"]
    assert PickConfirmation.objects.count() == 1
    other = pablo.post(url, {**form, "client_key": "another"}, HTTP_ACCEPT="application/json")
    assert other.status_code == 422 and not other.json()["ok"]


def test_handheld_pick_pages_in_spanish(pablo, release_order, layout):
    """With Spanish chosen, the steps and refusals are in Spanish."""
    release_order([("SKU-A", 1)])
    pablo.post("/i18n/setlang/", {"language": "es", "next": "/handheld/"})
    task = _take_next(pablo)
    url = f"/handheld/picking/task/{task.pk}/"
    page = pablo.get(url).content.decode()
    assert "Escanee la ubicación P-01" in page
    wrong = pablo.post(url, {"action": "location", "code": "LP02"}).content.decode()
    assert "Ubicación equivocada" in wrong
