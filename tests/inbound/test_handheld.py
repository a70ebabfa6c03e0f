"""Handheld pages (Django test client): the shell, receiving and put-away, refused scans."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from inbound.models import PutAwayTask, PutAwayTaskStatus, Receipt
from inbound.services import dock_assignment_create
from inventory.models import InventoryPosting
from tests.inventory.helpers import balance_of

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.fixture
def rita(client, receiver):
    client.force_login(receiver)
    return client


def _flashes(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def test_handheld_login_required_and_login_lands_on_menu(client, receiver):
    """Anonymous → login page; a good login lands on the menu with the receiver's entries."""
    response = client.get("/handheld/inbound/receive/")
    assert response.status_code == 302
    assert response["Location"].startswith("/handheld/login/?next=")
    bad = client.post("/handheld/login/", {"username": "rita", "password": "nope"})
    assert "Wrong user name or password." in bad.content.decode()
    good = client.post(
        "/handheld/login/", {"username": "rita", "password": "pw-for-tests-1"}, follow=True
    )
    assert good.redirect_chain[-1][0] == "/handheld/"
    keys = [entry["key"] for entry in good.context["menu"]]
    assert keys == ["inbound.receive", "inbound.putaway"]


def test_handheld_menu_shows_blind_receiving_to_supervisors(client, supervisor):
    """The blind-receiving entry appears with the receive_blind permission."""
    client.force_login(supervisor)
    keys = [entry["key"] for entry in client.get("/handheld/").context["menu"]]
    assert keys[:3] == ["inbound.receive", "inbound.receive_blind", "inbound.putaway"]


def test_handheld_blind_receiving_is_forbidden_without_permission(rita):
    """A receiver opening the blind page gets 403."""
    assert rita.get("/handheld/inbound/receive/blind/").status_code == 403


def test_handheld_receive_scan_asn_then_item_then_quantity(
    rita, layout, inbound_settings, strategy, make_asn
):
    """Scan ASN → scan item → 2 cases: 24 each received, put-away task shown."""
    asn = make_asn(lines=[(1, "SKU-A", "24", "EA")])
    response = rita.post("/handheld/inbound/receive/", {"code": "ASN-1"})
    assert response["Location"] == f"/handheld/inbound/receive/{asn.pk}/"
    page = rita.post(response["Location"], {"action": "item", "code": "8400000000011"})
    assert page.status_code == 200
    qty_form = page.context["qty_form"]
    assert [code for code, _label in qty_form.fields["uom"].choices] == ["EA", "CS"]
    key = qty_form.initial["client_key"]
    form = {
        "action": "receive",
        "item": "8400000000011",
        "client_key": key,
        "qty": "2",
        "uom": "CS",
        "condition": "AVAILABLE",
    }
    done = rita.post(response["Location"], form, follow=True)
    flashes = _flashes(done)
    assert any("Received 2 CS of SKU-A (24 EA, AVAILABLE)" in f for f in flashes), flashes
    assert any("take it to A-01" in f for f in flashes), flashes
    assert balance_of(layout.sku_a, layout.rcv, layout.available)[0] == D("24")
    # A double tap sends the same form again: one receipt, one posting.
    again = rita.post(response["Location"], form, follow=True)
    assert any("Already received" in f for f in _flashes(again))
    assert Receipt.objects.count() == 1
    assert InventoryPosting.objects.count() == 1


def test_handheld_receive_wrong_item_is_refused_and_changes_nothing(
    rita, layout, inbound_settings, make_asn
):
    """An item not on the ASN (or unknown) is refused on the spot with a clear message."""
    asn = make_asn(lines=[(1, "SKU-A", "24", "EA")])
    url = f"/handheld/inbound/receive/{asn.pk}/"
    wrong = rita.post(url, {"action": "item", "code": "SKU-C"})
    assert wrong.status_code == 422
    assert "SKU-C is not on ASN ASN-1. Nothing was received." in wrong.content.decode()
    unknown = rita.post(url, {"action": "item", "code": "999"})
    assert unknown.status_code == 422
    assert "Unknown item &#x27;999&#x27;." in unknown.content.decode()
    # Even a forged receive post of a foreign item is refused by the service.
    forged = rita.post(
        url,
        {
            "action": "receive",
            "item": "SKU-C",
            "client_key": "k",
            "qty": "1",
            "uom": "EA",
            "condition": "AVAILABLE",
        },
    )
    assert forged.status_code == 422
    bad_qty = rita.post(
        url,
        {
            "action": "receive",
            "item": "SKU-A",
            "client_key": "k",
            "qty": "0",
            "uom": "EA",
            "condition": "AVAILABLE",
        },
    )
    assert bad_qty.status_code == 422
    assert not Receipt.objects.exists()
    assert not InventoryPosting.objects.exists()


def test_handheld_receive_unknown_scan_is_refused(rita, layout, make_asn):
    """A scan that is neither an ASN nor a door with an appointment is refused."""
    response = rita.post("/handheld/inbound/receive/", {"code": "NOPE-1"})
    assert response.status_code == 422
    assert "No ASN and no dock door with an appointment for &#x27;NOPE-1&#x27;." in (
        response.content.decode()
    )


def test_handheld_receive_scan_dock_door_finds_its_appointment(
    rita, layout, inbound_settings, strategy, make_asn
):
    """Scanning door D01 opens the ASN booked there now and receives into DCK-01."""
    asn = make_asn(lines=[(1, "SKU-B", "5", "EA")])
    now = timezone.now()
    dock_assignment_create(
        dock_door=layout.d1,
        starts_at=now - timedelta(minutes=30),
        ends_at=now + timedelta(hours=1),
        inbound_shipment=asn,
    )
    response = rita.post("/handheld/inbound/receive/", {"code": "D01"})
    assert response["Location"] == f"/handheld/inbound/receive/{asn.pk}/?door=D01"
    rita.post(
        response["Location"],
        {
            "action": "receive",
            "item": "SKU-B",
            "door": "D01",
            "client_key": "k1",
            "qty": "5",
            "uom": "EA",
            "condition": "DAMAGED",
        },
    )
    assert balance_of(layout.sku_b, layout.dck, layout.damaged)[0] == D("5")


def test_handheld_finish_receiving_reports_short_lines(
    rita, layout, inbound_settings, strategy, make_asn
):
    """Finishing receiving completes the ASN and reports the under-receipt exception."""
    asn = make_asn(lines=[(1, "SKU-A", "24", "EA")])
    page = rita.post(f"/handheld/inbound/receive/{asn.pk}/", {"action": "finish"}, follow=True)
    flashes = _flashes(page)
    assert "Receiving of ASN-1 completed." in flashes
    assert any("Under-receipt beyond tolerance" in f for f in flashes)
    asn.refresh_from_db()
    assert asn.status == "RECEIVED"


def test_handheld_putaway_wrong_location_refused_then_override_with_reason(
    rita, layout, inbound_settings, strategy, make_asn
):
    """A wrong destination is refused without a move; with a reason it is put away there."""
    from inbound.services import ReceiptLineSpec, receipt_post

    asn = make_asn(lines=[(1, "SKU-A", "24", "EA")])
    [task] = receipt_post(
        shipment=asn, lines=[ReceiptLineSpec(line_number=1, qty=D("24"))], actor=None
    ).tasks
    listing = rita.post("/handheld/inbound/putaway/", {"code": "SKU-A"})
    url = f"/handheld/inbound/putaway/{task.pk}/"
    assert listing["Location"] == url
    wrong = rita.post(url, {"location": "LA-02"})
    assert wrong.status_code == 422
    body = wrong.content.decode()
    assert "Wrong location: scanned A-02, expected A-01. Nothing was moved." in body
    assert 'id="id_reason"' in body
    task.refresh_from_db()
    assert task.status == PutAwayTaskStatus.OPEN
    assert not InventoryPosting.objects.filter(posting_key=task.posting_key).exists()
    done = rita.post(url, {"location": "LA-02", "reason": layout.override.pk}, follow=True)
    assert "Put away 24 EA of SKU-A at A-02." in _flashes(done)
    assert balance_of(layout.sku_a, layout.a2, layout.available)[0] == D("24")
    replay = rita.post(url, {"location": "LA-02", "reason": layout.override.pk}, follow=True)
    assert "Already put away at A-02." in _flashes(replay)
    assert PutAwayTask.objects.get().status == PutAwayTaskStatus.DONE


def test_handheld_pages_speak_spanish(rita, layout, make_asn):
    """With the language set to Spanish the pages and refusals are in Spanish."""
    rita.cookies["django_language"] = "es"
    home = rita.get("/handheld/").content.decode()
    assert "Recibir" in home
    assert "Ubicar" in home
    asn = make_asn()
    refused = rita.post(f"/handheld/inbound/receive/{asn.pk}/", {"action": "item", "code": "SKU-C"})
    assert "SKU-C no está en el ASN ASN-1. No se ha recibido nada." in refused.content.decode()
