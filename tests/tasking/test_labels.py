"""Labels and packing lists: an order picked, packed into two packages and shipped
through the services; its labels (ZPL and PDF) and the shipment's packing list
carry each SSCC as a GS1-128 barcode that decodes, and only callers of the
package's warehouse (and, for a packing list, the shipment's own store) get them."""

from decimal import Decimal

import pypdfium2
import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from outbound.models import OrderStatus, PackageKind, PackageType
from outbound.services.shipping import shipment_confirm
from tasking.services import pick_confirm, pick_task_next_for_picker, pick_task_start
from tasking.services.packing import pack_close_package, pack_scan_item
from tests.barcodes import decode_pdf_barcodes
from tests.factories import DockDoorFactory, UserFactory

from .conftest import order_of

pytestmark = pytest.mark.django_db
D = Decimal
MM = 72 / 25.4  # PDF points per millimetre


@pytest.fixture
def packed(release_order, picker, layout):
    """An order of 10 SKU-A and 5 SKU-B, picked and packed: 6 SKU-A in the first
    carton (3.1 kg), 4 SKU-A and 5 SKU-B in the second (4.2 kg)."""
    layout.warehouse.gs1_company_prefix = "8412345"
    layout.warehouse.save()
    PackageType.objects.create(
        code="CARTON-M", name="Carton M", kind=PackageKind.CARTON,
        tare_weight_kg=D("0.4"), length_cm=40, width_cm=30, height_cm=30,
    )  # fmt: skip
    order, tasks = release_order([("SKU-A", 10), ("SKU-B", 5)])
    for n, _task in enumerate(tasks):
        task = pick_task_next_for_picker(picker=picker, warehouse=layout.warehouse)
        pick_task_start(task_id=task.pk, picker=picker)
        pick_confirm(task_id=task.pk, qty=str(task.qty_to_pick), request_key=f"p{n}", actor=picker)
    packages = []
    for key, scans, weight in [
        ("a", [("SKU-A", 6)], "3.1"),
        ("b", [("SKU-A", 4), ("SKU-B", 5)], "4.2"),
    ]:
        for n, (code, qty) in enumerate(scans):
            package, _entry, _replayed = pack_scan_item(
                order_id=order.pk, package_type_code="CARTON-M", item_code=code, qty=qty,
                entry_key=f"{key}{n}", actor=picker,
            )  # fmt: skip
        pack_close_package(package_id=package.pk, weight_kg=weight, actor=picker)
        packages.append(package)
    assert order_of(order).status == OrderStatus.PACKED
    return order_of(order), packages


@pytest.fixture
def shipped(packed, layout):
    order, packages = packed
    DockDoorFactory(warehouse=layout.warehouse, code="D-OUT-1", direction="OUTBOUND")
    shipment, _replayed = shipment_confirm(
        order_ids=[order.pk], dock_door_code="D-OUT-1", carrier="DHL", tracking_ref="T-42"
    )
    return shipment, order, packages


def _session(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _label_url(package) -> str:
    return reverse("package-label", args=[package.pk])


def _pdf_text(pdf: bytes) -> str:
    document = pypdfium2.PdfDocument(pdf)
    try:
        return "\n".join(page.get_textpage().get_text_range() for page in document)
    finally:
        document.close()


@pytest.fixture
def other_supervisor(other_warehouse):
    """A supervisor granted only the other warehouse (BCN1)."""
    user = UserFactory(username="otto", warehouses=[other_warehouse])
    user.groups.add(Group.objects.get(name="supervisor"))
    return user


# --- package label ------------------------------------------------------------------


def test_package_label_zpl_for_a_zebra_printer(packed, picker):
    """?format=zpl → one ^XA…^XZ label with the SSCC as GS1-128 (start C, FNC1, AI 00)
    and the store, order, package type, weight, contents and warehouse."""
    order, (first, _second) = packed
    response = _session(picker).get(_label_url(first), {"format": "zpl"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/zpl")
    zpl = response.content.decode()
    assert zpl.startswith("^XA") and zpl.rstrip().endswith("^XZ")
    assert zpl.count("^XA") == 1
    assert f"^BCN,256,N,N,N^FD>;>800{first.sscc}^FS" in zpl
    assert f"(00) {first.sscc}" in zpl
    for text in ["S042", order.external_order_id.replace("_", "_5F"), "CARTON-M", "3.1 kg"]:
        assert text in zpl
    assert "SKU-A \u00d7 6 EA" in zpl and "SKU-B" not in zpl
    assert "MAD1" in zpl


def test_package_label_zpl_as_text_plain(packed, picker):
    """Accept: text/plain (and application/zpl) also answer ZPL."""
    _order, (first, _second) = packed
    client = _session(picker)
    plain = client.get(_label_url(first), HTTP_ACCEPT="text/plain")
    assert plain.status_code == 200 and plain["Content-Type"].startswith("text/plain")
    assert plain.content.startswith(b"^XA")
    zpl = client.get(_label_url(first), HTTP_ACCEPT="application/zpl")
    assert zpl["Content-Type"].startswith("application/zpl") and zpl.content == plain.content


def test_package_label_pdf_barcode_decodes_to_the_sscc(packed, picker):
    """By default the label is one 100 x 150 mm PDF page whose barcode a scanner reads
    as GS1 (00) + the package's SSCC, with the label's text on it."""
    order, (_first, second) = packed
    response = _session(picker).get(_label_url(second))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'inline; filename="{second.sscc}.pdf"'
    pdf = response.content
    assert pdf.startswith(b"%PDF")
    document = pypdfium2.PdfDocument(pdf)
    assert len(document) == 1
    width, height = document[0].get_size()
    assert (round(width / MM), round(height / MM)) == (100, 150)
    document.close()
    assert decode_pdf_barcodes(pdf) == [f"00{second.sscc}"]
    text = _pdf_text(pdf)
    for expected in ["S042", order.external_order_id, "CARTON-M", "4.2 kg", "MAD1"]:
        assert expected in text
    assert "SKU-A \u00d7 4 EA" in text and "SKU-B \u00d7 5 EA" in text


def test_package_label_for_the_automation_system(packed, robot):
    """An automation system of the package's warehouse prints labels with its token."""
    _order, (first, _second) = packed
    response = robot.get(_label_url(first), HTTP_ACCEPT="application/pdf")
    assert response.status_code == 200
    assert decode_pdf_barcodes(response.content) == [f"00{first.sscc}"]


def test_package_label_of_another_warehouse_is_not_found(
    packed, other_supervisor, system_client, other_warehouse
):
    """A person or an automation system not granted the package's warehouse gets 404."""
    _order, (first, _second) = packed
    response = _session(other_supervisor).get(_label_url(first))
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "package_not_found"
    robot = system_client("automation", "ROBO-BCN", [other_warehouse])
    assert robot.get(_label_url(first), {"format": "zpl"}).status_code == 404


def test_package_label_unknown_id_is_a_problem(picker, layout):
    """An id that names no package → 404 problem details, not a PDF."""
    response = _session(picker).get(
        reverse("package-label", args=["0190a4c0-0000-7000-8000-000000000000"])
    )
    assert response.status_code == 404
    assert response.json()["code"] == "package_not_found"


def test_package_label_refuses_anonymous_and_stores(packed, api_client, store):
    """No credentials → 401; a store token (not a printing system) → 403."""
    _order, (first, _second) = packed
    anonymous = api_client.get(_label_url(first))
    assert anonymous.status_code == 401
    assert anonymous["Content-Type"] == "application/problem+json"
    assert anonymous.json()["code"] == "not_authenticated"
    assert store.get(_label_url(first)).status_code == 403


# --- packing list ---------------------------------------------------------------


def test_shipment_packing_list_decodes_every_sscc(shipped, supervisor):
    """The packing list PDF names the shipment and carries each package's SSCC as a
    GS1-128 barcode that decodes, in the order of the contract's packages."""
    shipment, order, packages = shipped
    response = _session(supervisor).get(reverse("shipment-packing-list", args=[shipment.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    pdf = response.content
    assert pdf.startswith(b"%PDF")
    assert decode_pdf_barcodes(pdf) == [f"00{p.sscc}" for p in packages]
    text = _pdf_text(pdf)
    for expected in [shipment.shipment_number, "S042", "DHL", "T-42", "D-OUT-1"]:
        assert expected in text
    assert order.external_order_id in text and "SKU-B" in text


def test_shipment_packing_list_for_its_own_store_only(shipped, store, system_client, warehouse):
    """The shipment's store reads its packing list; another store of the same
    warehouse is refused (403)."""
    shipment, _order, packages = shipped
    url = reverse("shipment-packing-list", args=[shipment.pk])
    own = store.get(url)
    assert own.status_code == 200
    assert decode_pdf_barcodes(own.content) == [f"00{p.sscc}" for p in packages]
    other = system_client("store", "S043", [warehouse]).get(url)
    assert other.status_code == 403
    assert other["Content-Type"] == "application/problem+json"


def test_shipment_packing_list_of_another_warehouse_is_not_found(
    shipped, other_supervisor, api_client
):
    """Another warehouse's supervisor → 404; no credentials → 401."""
    shipment, _order, _packages = shipped
    url = reverse("shipment-packing-list", args=[shipment.pk])
    assert _session(other_supervisor).get(url).status_code == 404
    assert api_client.get(url).status_code == 401


# --- admin ----------------------------------------------------------------------


def test_admin_shows_packages_shipments_and_pack_tasks(shipped, supervisor):
    """A supervisor's admin lists packages (with label links), shipments (with the
    packing list, packages and their shipment.confirmed event) and pack tasks."""
    shipment, order, packages = shipped
    client = _session(supervisor)
    listing = client.get(reverse("admin:outbound_package_changelist"), {"status__exact": "SHIPPED"})
    assert listing.status_code == 200
    body = listing.content.decode()
    assert all(p.sscc in body for p in packages)
    assert f"{_label_url(packages[0])}?format=zpl" in body
    page = client.get(reverse("admin:outbound_package_change", args=[packages[1].pk]))
    assert page.status_code == 200 and "SKU-B" in page.content.decode()
    page = client.get(reverse("admin:outbound_shipment_change", args=[shipment.pk])).content
    page = page.decode()
    assert reverse("shipment-packing-list", args=[shipment.pk]) in page
    assert "shipment.confirmed" in page and packages[0].sscc in page
    tasks = client.get(reverse("admin:tasking_packtask_changelist"))
    assert tasks.status_code == 200 and order.external_order_id in tasks.content.decode()
    packages_of_order = client.get(
        reverse("admin:outbound_package_changelist"), {"order__id__exact": str(order.pk)}
    )
    assert packages_of_order.status_code == 200
    assert client.get(reverse("admin:outbound_packagetype_add")).status_code == 200


def test_admin_hides_another_warehouses_packages(shipped, other_supervisor):
    """Package and shipment pages stop at the supervisor's warehouse grants."""
    shipment, _order, packages = shipped
    client = _session(other_supervisor)
    listing = client.get(reverse("admin:outbound_package_changelist")).content.decode()
    assert packages[0].sscc not in listing
    assert (
        client.get(reverse("admin:outbound_shipment_change", args=[shipment.pk])).status_code
        == 302  # the admin sends a row it does not show back to the index
    )
