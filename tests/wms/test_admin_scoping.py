"""The admin shows, offers and saves only data of the warehouses a user was granted."""

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from inventory.models import Item, Location
from tests.factories import (
    DockDoorFactory,
    ItemFactory,
    LocationFactory,
    UnitOfMeasureFactory,
    UserFactory,
    WarehouseFactory,
    ZoneFactory,
)
from wms import roles

pytestmark = pytest.mark.django_db


@pytest.fixture
def madrid_data(warehouse):
    """One row of each warehouse-scoped model in MAD1, with codes easy to spot."""
    zone = ZoneFactory(warehouse=warehouse, code="ZMAD", name="Zone only in Madrid")
    location = LocationFactory(warehouse=warehouse, zone=zone, code="LOC-MADONLY")
    return {
        "zone": zone,
        "location": location,
        "item": ItemFactory(warehouse=warehouse, sku="SKU-MADONLY", description="Madrid widget"),
        "dock": DockDoorFactory(warehouse=warehouse, code="DMADONLY"),
    }


@pytest.fixture
def barcelona_data(other_warehouse):
    zone = ZoneFactory(warehouse=other_warehouse, code="ZBCN", name="Zone only in Barcelona")
    return {
        "zone": zone,
        "location": LocationFactory(warehouse=other_warehouse, zone=zone, code="LOC-BCNONLY"),
        "item": ItemFactory(warehouse=other_warehouse, sku="SKU-BCNONLY"),
        "dock": DockDoorFactory(warehouse=other_warehouse, code="DBCNONLY"),
    }


def supervisor_client(username, warehouses):
    user = UserFactory(username=username, warehouses=warehouses)
    user.groups.add(Group.objects.get(name=roles.SUPERVISOR))
    client = Client()
    client.force_login(user)
    return client


CHANGELISTS = {
    "item": ("/admin/inventory/item/", "SKU-MADONLY", "SKU-BCNONLY"),
    "location": ("/admin/inventory/location/", "LOC-MADONLY", "LOC-BCNONLY"),
    "zone": ("/admin/inventory/zone/", "ZMAD", "ZBCN"),
    "dockdoor": ("/admin/inventory/dockdoor/", "DMADONLY", "DBCNONLY"),
    "warehouse": ("/admin/inventory/warehouse/", "Madrid DC", "Barcelona DC"),
}


@pytest.mark.parametrize("model", sorted(CHANGELISTS))
def test_admin_changelist_shows_only_granted_warehouses(
    model, warehouse, other_warehouse, madrid_data, barcelona_data
):
    """A Madrid supervisor sees Madrid rows; a Barcelona supervisor sees none of them."""
    url, madrid_marker, barcelona_marker = CHANGELISTS[model]

    madrid = supervisor_client("sup-mad", [warehouse]).get(url)
    assert madrid.status_code == 200
    assert madrid_marker in madrid.text
    assert barcelona_marker not in madrid.text

    barcelona = supervisor_client("sup-bcn", [other_warehouse]).get(url)
    assert barcelona.status_code == 200
    assert barcelona_marker in barcelona.text
    assert madrid_marker not in barcelona.text


def test_admin_user_without_any_grant_sees_no_rows(warehouse, madrid_data):
    """Staff with the supervisor role but no warehouse grant get empty lists."""
    client = supervisor_client("sup-none", [])
    for url, marker, _other in CHANGELISTS.values():
        response = client.get(url)
        assert response.status_code == 200
        assert marker not in response.text


def test_admin_superuser_sees_every_warehouse(
    warehouse, other_warehouse, madrid_data, barcelona_data
):
    """Superusers are not limited by grants."""
    client = Client()
    client.force_login(UserFactory(username="root", is_superuser=True))
    response = client.get("/admin/inventory/item/")
    assert "SKU-MADONLY" in response.text and "SKU-BCNONLY" in response.text


def test_admin_list_filter_does_not_name_other_warehouses(
    warehouse, other_warehouse, madrid_data, barcelona_data
):
    """The warehouse and zone filters in the sidebar offer only visible values."""
    valencia = WarehouseFactory(code="VLC1", name="Valencia DC")
    LocationFactory(warehouse=valencia, zone=ZoneFactory(warehouse=valencia, code="ZVLC"))
    client = supervisor_client("sup-bcn", [other_warehouse, valencia])
    response = client.get("/admin/inventory/location/")
    filters = response.context["cl"].filter_specs
    warehouse_filter = next(f for f in filters if f.field_path == "warehouse")
    assert [label for _pk, label in warehouse_filter.lookup_choices] == [
        "BCN1 — Barcelona DC",
        "VLC1 — Valencia DC",
    ]
    zone_filter = next(f for f in filters if f.field_path == "zone")
    assert {label for _pk, label in zone_filter.lookup_choices} == {"BCN1/ZBCN", "VLC1/ZVLC"}
    assert "Madrid DC" not in response.text
    assert "ZMAD" not in response.text


def test_admin_change_and_history_of_other_warehouse_are_hidden(
    warehouse, other_warehouse, madrid_data
):
    """Opening a Madrid item by id as a Barcelona supervisor finds nothing."""
    client = supervisor_client("sup-bcn", [other_warehouse])
    item = madrid_data["item"]
    change = client.get(f"/admin/inventory/item/{item.pk}/change/")
    assert change.status_code == 302  # Django's "does not exist" redirect to the index
    assert change.url == "/admin/"
    history = client.get(f"/admin/inventory/item/{item.pk}/history/")
    assert history.status_code == 404
    location = madrid_data["location"]
    assert client.get(f"/admin/inventory/location/{location.pk}/history/").status_code == 404


def test_admin_add_form_offers_only_granted_warehouses(warehouse, other_warehouse):
    """The warehouse drop-down of the item form lists only granted warehouses."""
    response = supervisor_client("sup-bcn", [other_warehouse]).get("/admin/inventory/item/add/")
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert list(form.fields["warehouse"].queryset) == [other_warehouse]


def test_admin_save_into_ungranted_warehouse_is_refused(warehouse, other_warehouse):
    """Posting an item into a warehouse the user was not granted saves nothing."""
    uom = UnitOfMeasureFactory()
    client = supervisor_client("sup-bcn", [other_warehouse])
    response = client.post(
        "/admin/inventory/item/add/",
        {
            "warehouse": warehouse.pk,
            "sku": "SKU-SNEAKY",
            "description_en": "Sneaky",
            "base_uom": uom.pk,
            "unit_cost": "1",
            "unit_price": "2",
            "is_active": "on",
            "unit_conversions-TOTAL_FORMS": "0",
            "unit_conversions-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200  # the form again, with an error
    assert "warehouse" in response.context["adminform"].form.errors
    assert not Item.objects.filter(sku="SKU-SNEAKY").exists()


def test_admin_save_into_granted_warehouse_works_and_keeps_history(warehouse):
    """A granted supervisor adds an item with a Spanish description; history records it."""
    uom = UnitOfMeasureFactory()
    client = supervisor_client("sup-mad", [warehouse])
    response = client.post(
        "/admin/inventory/item/add/",
        {
            "warehouse": warehouse.pk,
            "sku": "SKU-NEW",
            "description_en": "Olive oil",
            "description_es": "Aceite de oliva",
            "base_uom": uom.pk,
            "unit_cost": "1",
            "unit_price": "2",
            "is_active": "on",
            "unit_conversions-TOTAL_FORMS": "1",
            "unit_conversions-INITIAL_FORMS": "0",
            "unit_conversions-0-uom": UnitOfMeasureFactory(code="CS", description="Case").pk,
            "unit_conversions-0-base_units": "12",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    item = Item.objects.get(sku="SKU-NEW")
    assert item.description_es == "Aceite de oliva"
    assert item.unit_conversions.get().base_units == 12
    assert item.history.count() == 1
    assert item.history.first().history_user.username == "sup-mad"
    history = client.get(f"/admin/inventory/item/{item.pk}/history/")
    assert history.status_code == 200


def test_admin_location_zone_choices_are_scoped(warehouse, other_warehouse, madrid_data):
    """Zone choices on the location form come only from granted warehouses."""
    ZoneFactory(warehouse=other_warehouse, code="ZBCN")
    response = supervisor_client("sup-bcn", [other_warehouse]).get("/admin/inventory/location/add/")
    zones = response.context["adminform"].form.fields["zone"].queryset
    assert {z.code for z in zones} == {"ZBCN"}
    assert Location.objects.filter(code="LOC-MADONLY").exists()


def test_admin_supervisor_creating_a_warehouse_is_granted_it():
    """A supervisor who adds a warehouse may work in it straight away."""
    client = supervisor_client("sup-new", [])
    response = client.post(
        "/admin/inventory/warehouse/add/",
        {"code": "SVQ1", "name": "Sevilla DC", "is_active": "on", "currency": "EUR"},
    )
    assert response.status_code == 302
    listing = client.get("/admin/inventory/warehouse/")
    assert "Sevilla DC" in listing.text
    other = supervisor_client("sup-other", []).get("/admin/inventory/warehouse/")
    assert "Sevilla DC" not in other.text


def test_admin_view_only_role_can_export_but_not_import(warehouse, madrid_data):
    """Finance (view permissions) may export items but the import page is refused."""
    user = UserFactory(username="fin", warehouses=[warehouse])
    user.groups.add(Group.objects.get(name=roles.FINANCE))
    client = Client()
    client.force_login(user)
    assert client.get("/admin/inventory/item/import/").status_code == 403
    assert client.get("/admin/inventory/item/export/").status_code == 200
