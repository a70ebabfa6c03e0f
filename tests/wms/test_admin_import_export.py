"""CSV import and export of items and locations in the admin: all rows or none."""

import csv
import io

import pytest
import tablib
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from inventory.admin_masterdata import ItemResource, LocationResource
from inventory.models import Item, ItemUnitConversion, Location
from tests.factories import ItemFactory, UnitOfMeasureFactory, UserFactory, ZoneFactory
from wms import roles

pytestmark = pytest.mark.django_db

ITEM_HEADER = (
    "warehouse,sku,gtin,description_en,description_es,item_class,base_uom,"
    "unit_cost,unit_price,is_active,conversions\n"
)
GOOD_ITEMS = ITEM_HEADER + (
    "MAD1,SKU-2001,8412345000011,Olive oil 1 L,Aceite de oliva 1 L,GROCERY,EA,5.10,8.95,1,CS=12\n"
    "MAD1,SKU-2002,8412345000028,Rice 1 kg,Arroz 1 kg,GROCERY,EA,0.95,1.75,1,\n"
)


@pytest.fixture
def units(db):
    return UnitOfMeasureFactory(code="EA", description="Each"), UnitOfMeasureFactory(
        code="CS", description="Case"
    )


@pytest.fixture
def supervisor(warehouse):
    user = UserFactory(username="sup-mad", warehouses=[warehouse])
    user.groups.add(Group.objects.get(name=roles.SUPERVISOR))
    return user


@pytest.fixture
def client(supervisor):
    client = Client()
    client.force_login(supervisor)
    return client


def upload(client, model, content, name="items.csv"):
    """The admin's first import step (validate and preview); returns the response."""
    return client.post(
        f"/admin/inventory/{model}/import/",
        {
            "format": "0",  # CSV, the only format offered
            "resource": "0",
            "import_file": SimpleUploadedFile(name, content.encode(), content_type="text/csv"),
        },
    )


def confirm(client, model, response):
    """The admin's second step: import what the preview validated."""
    form = response.context["confirm_form"]
    return client.post(
        f"/admin/inventory/{model}/process_import/",
        {name: form[name].value() for name in form.fields},
    )


def test_item_import_good_file_imports_every_row(client, warehouse, units):
    """A valid file previews, then imports items with both descriptions and packs."""
    preview = upload(client, "item", GOOD_ITEMS)
    assert preview.status_code == 200
    assert not preview.context["result"].has_errors()
    assert not preview.context["result"].has_validation_errors()
    assert not Item.objects.filter(sku__in=["SKU-2001", "SKU-2002"]).exists()  # dry run

    done = confirm(client, "item", preview)
    assert done.status_code == 302
    oil = Item.objects.get(warehouse=warehouse, sku="SKU-2001")
    assert (oil.description_en, oil.description_es) == ("Olive oil 1 L", "Aceite de oliva 1 L")
    assert oil.base_uom.code == "EA"
    assert str(oil.unit_price) == "8.9500"
    assert ItemUnitConversion.objects.get(item=oil).base_units == 12
    assert not ItemUnitConversion.objects.filter(item__sku="SKU-2002").exists()
    assert oil.history.count() == 1


def test_item_import_updates_existing_item_by_natural_key(client, warehouse, units):
    """Re-importing a SKU updates that item instead of adding a second one."""
    ItemFactory(warehouse=warehouse, sku="SKU-2001", description="Old", gtin="8412345000011")
    confirm(client, "item", upload(client, "item", GOOD_ITEMS))
    assert Item.objects.filter(warehouse=warehouse, sku="SKU-2001").count() == 1
    assert Item.objects.get(sku="SKU-2001").description_en == "Olive oil 1 L"


@pytest.mark.parametrize(
    ("bad_row", "message"),
    [
        ("MAD1,SKU-2003,,Salt,Sal,GROCERY,XX,1,1,1,", "Unknown unit of measure “XX”"),
        ("BCN1,SKU-2003,,Salt,Sal,GROCERY,EA,1,1,1,", "Unknown warehouse “BCN1”"),
        ("MAD1,SKU-2003,,Salt,Sal,GROCERY,EA,-1,1,1,", "greater than or equal to 0"),
        ("MAD1,SKU-2003,,,Sal,GROCERY,EA,1,1,1,", "An English description is required"),
        ("MAD1,SKU-2003,,Salt,Sal,GROCERY,EA,1,1,1,CS=zero", "Bad conversion “CS=zero”"),
        ("MAD1,SKU-2003,8412345000011,Salt,Sal,GROCERY,EA,1,1,1,", "item_gtin_unique_per_wh"),
    ],
)
def test_item_import_bad_row_rejects_whole_file(
    client, warehouse, other_warehouse, units, bad_row, message
):
    """One bad row: the preview names it and no row of the file is imported."""
    preview = upload(client, "item", GOOD_ITEMS + bad_row + "\n")
    assert preview.status_code == 200
    result = preview.context["result"]
    assert result.has_errors() or result.has_validation_errors()
    assert "confirm_form" not in preview.context  # nothing to confirm
    assert message in preview.text
    assert not Item.objects.filter(sku__startswith="SKU-200").exists()


def test_item_import_rolls_back_at_confirm_step_too(warehouse, supervisor, units):
    """A bad row found while writing (not previewing) still leaves nothing behind."""
    dataset = tablib.Dataset().load(GOOD_ITEMS + "MAD1,SKU-2003,,Salt,Sal,X,NOPE,1,1,1,\n")
    result = ItemResource(actor=supervisor).import_data(dataset, dry_run=False)
    assert result.has_errors() or result.has_validation_errors()
    assert not Item.objects.filter(sku__startswith="SKU-200").exists()


def test_item_import_cannot_touch_ungranted_warehouse(other_warehouse, supervisor, units):
    """A user granted MAD1 cannot update BCN1's item even with its exact key."""
    ItemFactory(warehouse=other_warehouse, sku="SKU-2001", description="Barcelona's")
    dataset = tablib.Dataset().load(ITEM_HEADER + "BCN1,SKU-2001,,Hacked,Hackeado,X,EA,1,1,1,\n")
    result = ItemResource(actor=supervisor).import_data(dataset, dry_run=False)
    assert result.has_validation_errors()
    assert Item.objects.get(sku="SKU-2001").description_en == "Barcelona's"


def test_item_export_holds_only_granted_warehouses(
    client, warehouse, other_warehouse, units, supervisor
):
    """The CSV export lists the user's warehouses' items with natural keys and packs."""
    item = ItemFactory(warehouse=warehouse, sku="SKU-EXPORT", description="Exported")
    ItemUnitConversion.objects.create(item=item, uom=units[1], base_units=12)
    ItemFactory(warehouse=other_warehouse, sku="SKU-HIDDEN")

    export_page = client.get("/admin/inventory/item/export/")
    assert export_page.status_code == 200
    form = export_page.context["form"]
    data = {"format": "0", "resource": "0"}
    data.update({name: "on" for name in form.fields if name.startswith("itemresource_")})
    response = client.post("/admin/inventory/item/export/", data)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [row["sku"] for row in rows] == ["SKU-EXPORT"]
    assert rows[0]["warehouse"] == "MAD1"
    assert rows[0]["base_uom"] == "EA"
    assert rows[0]["conversions"] == "CS=12"
    assert rows[0]["description_en"] == "Exported"


def test_item_export_then_import_round_trips(warehouse, supervisor, units):
    """What the export writes, the import reads back unchanged."""
    item = ItemFactory(warehouse=warehouse, sku="SKU-RT", description="Round trip")
    ItemUnitConversion.objects.create(item=item, uom=units[1], base_units=12)
    exported = ItemResource(actor=supervisor).export()
    result = ItemResource(actor=supervisor).import_data(
        tablib.Dataset().load(exported.csv), dry_run=False
    )
    assert not result.has_errors() and not result.has_validation_errors()
    assert Item.objects.filter(sku="SKU-RT").count() == 1
    assert ItemUnitConversion.objects.get(item__sku="SKU-RT").base_units == 12


def test_location_import_by_zone_code_of_same_warehouse(client, warehouse, other_warehouse):
    """Locations import with their zone by code; a zone of another warehouse is an error."""
    ZoneFactory(warehouse=warehouse, code="A")
    ZoneFactory(warehouse=other_warehouse, code="Z9")
    header = "warehouse,code,barcode,type,zone,capacity,pick_sequence,is_active\n"
    good = header + "MAD1,A-09-01-1,LA09011,PICK_FACE,A,120,900,1\n"
    done = confirm(client, "location", upload(client, "location", good, "locations.csv"))
    assert done.status_code == 302
    location = Location.objects.get(code="A-09-01-1")
    assert (location.zone.code, location.pick_sequence) == ("A", 900)

    bad = header + "MAD1,A-09-02-1,LA09021,PICK_FACE,Z9,,910,1\n"
    preview = upload(client, "location", bad, "locations.csv")
    assert "Unknown zone “Z9” in warehouse “MAD1”" in preview.text
    assert not Location.objects.filter(code="A-09-02-1").exists()


def test_location_import_bad_type_rejects_file(warehouse, supervisor):
    """An unknown location type is a validation error and nothing is written."""
    header = "warehouse,code,barcode,type,zone,capacity,pick_sequence,is_active\n"
    dataset = tablib.Dataset().load(
        header + "MAD1,OK-1,OK1,RESERVE,,,1,1\nMAD1,BAD-1,BAD1,SHELF,,,2,1\n"
    )
    result = LocationResource(actor=supervisor).import_data(dataset, dry_run=False)
    assert result.has_validation_errors()
    assert not Location.objects.filter(code__in=["OK-1", "BAD-1"]).exists()
