"""factory_boy factories for the whole suite (STYLE.md: tests/factories.py)."""

from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from guardian.shortcuts import assign_perm

from integrations.models import ExternalSystem, SystemType
from inventory.models import (
    DockDoor,
    InventoryStatus,
    Item,
    Location,
    LocationType,
    UnitOfMeasure,
    Warehouse,
    Zone,
)


class WarehouseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Warehouse
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"WH{n:02d}")
    name = factory.LazyAttribute(lambda o: f"Warehouse {o.code}")


class ZoneFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Zone

    warehouse = factory.SubFactory(WarehouseFactory)
    code = factory.Sequence(lambda n: f"Z{n}")
    name = factory.LazyAttribute(lambda o: f"Zone {o.code}")


class LocationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Location

    warehouse = factory.SubFactory(WarehouseFactory)
    code = factory.Sequence(lambda n: f"A-{n:02d}-01-1")
    barcode = factory.LazyAttribute(lambda o: f"LOC{o.code}")
    type = LocationType.PICK_FACE
    pick_sequence = factory.Sequence(lambda n: n)


class DockDoorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DockDoor

    warehouse = factory.SubFactory(WarehouseFactory)
    code = factory.Sequence(lambda n: f"D{n:02d}")


class UnitOfMeasureFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = UnitOfMeasure
        django_get_or_create = ("code",)

    code = "EA"
    description = "Each"


class InventoryStatusFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = InventoryStatus
        django_get_or_create = ("code",)

    code = "AVAILABLE"
    description = "Available"
    allocatable = True


class ItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Item

    warehouse = factory.SubFactory(WarehouseFactory)
    sku = factory.Sequence(lambda n: f"SKU-{1000 + n}")
    gtin = factory.Sequence(lambda n: f"84000000{n:05d}")
    description = factory.LazyAttribute(lambda o: f"Item {o.sku}")
    base_uom = factory.SubFactory(UnitOfMeasureFactory)
    unit_cost = Decimal("1.50")
    unit_price = Decimal("2.75")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.PostGenerationMethodCall("set_password", "pw-for-tests-1")
    is_staff = True

    @factory.post_generation
    def warehouses(self, create, extracted, **kwargs):
        for warehouse in extracted or []:
            assign_perm("inventory.access_warehouse", self, warehouse)
        if create:
            self.save()


class ExternalSystemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ExternalSystem
        django_get_or_create = ("code",)
        skip_postgeneration_save = True

    type = SystemType.STORE
    code = factory.Sequence(lambda n: f"SYS{n:03d}")
    name = factory.LazyAttribute(lambda o: f"System {o.code}")

    @factory.post_generation
    def warehouses(self, create, extracted, **kwargs):
        if extracted:
            self.warehouses.add(*extracted)
