"""``manage.py seed_demo``: one demo warehouse with people, systems and stock.

Everything is found by its natural key before it is created, stock is posted
through the posting service with fixed posting keys, and nothing that exists
is changed: running it again writes nothing (not even a history row or a
ledger entry) and prints the same logins. API tokens are printed when they are
issued, at the first run: only their hashes are stored, so a later run names
them by prefix; ``--rotate-tokens`` replaces them and prints the new ones.
"""

import sys
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from guardian.shortcuts import assign_perm

from inbound.models import InboundSettings, PutAwayRule, PutAwayRuleType, PutAwayStrategy
from integrations.services import external_system_ensure
from inventory.models import (
    DockDirection,
    DockDoor,
    InventoryStatus,
    Item,
    ItemUnitConversion,
    Location,
    LocationType,
    ReasonCode,
    ReasonCodeUse,
    UnitOfMeasure,
    Warehouse,
    Zone,
)
from inventory.services import stock_receive
from outbound.models import PackageKind, PackageType, WavePolicy
from wms import roles
from wms.exceptions import DomainError
from wms.scoping import WAREHOUSE_PERMISSION

WAREHOUSE_CODE = "MAD1"
DEMO_PASSWORD = "wms-demo"

# --- the demo data, as data ---------------------------------------------------

UNITS = [
    ("EA", "Each", "Unidad"),
    ("CS", "Case", "Caja"),
]

STATUSES = [
    # code, English, Spanish, allocatable
    ("AVAILABLE", "Available", "Disponible", True),
    ("QUARANTINED", "Quarantined", "En cuarentena", False),
    ("DAMAGED", "Damaged", "Dañado", False),
]

REASONS = [
    # code, English, Spanish, use, requires approval
    (
        "COUNT_DIFF",
        "Cycle count difference",
        "Diferencia de recuento",
        ReasonCodeUse.ADJUSTMENT,
        False,
    ),
    ("DAMAGE", "Damaged in the warehouse", "Dañado en el almacén", ReasonCodeUse.ADJUSTMENT, False),
    ("LOST", "Lost or stolen", "Perdido o robado", ReasonCodeUse.ADJUSTMENT, True),
    ("FOUND", "Found stock", "Stock encontrado", ReasonCodeUse.ADJUSTMENT, True),
    (
        "SHORT_PICK",
        "Short pick: not enough at the location",
        "Picking corto: falta en la ubicación",
        ReasonCodeUse.EXCEPTION,
        False,
    ),
    (
        "DAMAGED_PICK",
        "Damaged goods found while picking",
        "Mercancía dañada en el picking",
        ReasonCodeUse.EXCEPTION,
        False,
    ),
    (
        "OVER_RECEIPT",
        "More received than announced",
        "Recibido más de lo anunciado",
        ReasonCodeUse.EXCEPTION,
        False,
    ),
    (
        "LOC_OVERRIDE",
        "Supervisor chose another location",
        "El supervisor eligió otra ubicación",
        ReasonCodeUse.OVERRIDE,
        False,
    ),
    (
        "QA_HOLD",
        "Held for quality check",
        "Retenido por control de calidad",
        ReasonCodeUse.STATUS_CHANGE,
        False,
    ),
    (
        "QA_RELEASE",
        "Released after quality check",
        "Liberado tras control de calidad",
        ReasonCodeUse.STATUS_CHANGE,
        False,
    ),
]

ZONES = [
    ("RCV", "Receiving"),
    ("A", "Pick aisle A"),
    ("RSV", "Reserve racking"),
    ("STG", "Outbound staging"),
    ("DCK", "Docks"),
    ("QA", "Quarantine cage"),
]

# sku, English, Spanish, item class, unit cost, unit price
ITEMS = [
    (
        "SKU-1001",
        "Still mineral water 1.5 L",
        "Agua mineral sin gas 1,5 L",
        "DRINKS",
        "0.21",
        "0.45",
    ),
    ("SKU-1002", "Sparkling water 1 L", "Agua con gas 1 L", "DRINKS", "0.32", "0.69"),
    ("SKU-1003", "Orange juice 1 L", "Zumo de naranja 1 L", "DRINKS", "0.85", "1.69"),
    (
        "SKU-1004",
        "Extra virgin olive oil 1 L",
        "Aceite de oliva virgen extra 1 L",
        "GROCERY",
        "5.10",
        "8.95",
    ),
    ("SKU-1005", "Long grain rice 1 kg", "Arroz largo 1 kg", "GROCERY", "0.95", "1.75"),
    ("SKU-1006", "Chickpeas 400 g", "Garbanzos 400 g", "GROCERY", "0.55", "1.05"),
    ("SKU-1007", "Crushed tomatoes 400 g", "Tomate triturado 400 g", "GROCERY", "0.48", "0.95"),
    ("SKU-1008", "Semi-skimmed milk 1 L", "Leche semidesnatada 1 L", "DAIRY", "0.62", "1.09"),
    ("SKU-1009", "Natural yoghurt 4 x 125 g", "Yogur natural 4 x 125 g", "DAIRY", "0.80", "1.45"),
    ("SKU-1010", "Toilet paper 12 rolls", "Papel higiénico 12 rollos", "HOUSEHOLD", "2.90", "4.99"),
    (
        "SKU-1011",
        "Dishwasher tablets 40 pcs",
        "Pastillas lavavajillas 40 uds",
        "HOUSEHOLD",
        "4.20",
        "7.49",
    ),
    ("SKU-1012", "Laundry detergent 3 L", "Detergente líquido 3 L", "HOUSEHOLD", "3.75", "6.49"),
]

CASE_SIZE = Decimal("12")


@dataclass(frozen=True)
class DemoUser:
    username: str
    role: str
    first_name: str
    is_staff: bool
    is_superuser: bool = False


USERS = [
    DemoUser("supervisor", roles.SUPERVISOR, "Sara (supervisor)", True),
    DemoUser("picker", roles.PICKER, "Pablo (picker)", False),
    DemoUser("receiver", roles.RECEIVER, "Rita (receiver)", False),
    DemoUser("controller", roles.INVENTORY_CONTROLLER, "Carlos (inventory controller)", True),
    DemoUser("finance", roles.FINANCE, "Fátima (finance)", True),
    DemoUser("admin", roles.ADMINISTRATOR, "Ana (administrator)", True, True),
]

SYSTEMS = [
    # type, code, name
    ("store", "S042", "Store 042 — Madrid Centro"),
    ("automation", "AUTO1", "Pick automation (shuttle)"),
    ("finance", "FIN1", "Corporate finance"),
]


DEMO_GS1_PREFIX = "8412345"
PACKAGE_TYPES = [
    ("CARTON-S", "Carton S (30x20x20)", PackageKind.CARTON, "0.25", (30, 20, 20)),
    ("CARTON-M", "Carton M (40x30x30)", PackageKind.CARTON, "0.40", (40, 30, 30)),
    ("PALLET-EU", "Euro pallet (120x80)", PackageKind.PALLET, "25.0", (120, 80, 150)),
]


def pick_face_code(n: int) -> str:
    """Pick face of the n-th item: two levels per bay along aisle A."""
    bay, level = (n - 1) // 2 + 1, (n - 1) % 2 + 1
    return f"A-01-{bay:02d}-{level}"


def reserve_code(n: int) -> str:
    return f"R-01-{n:02d}-A"


def stock_plan(items: list) -> list[tuple]:
    """(item, location code, status code, qty): four cases in each pick face,
    twenty in reserve, a little held in quarantine and one damaged lot."""
    plan = []
    for n, item in enumerate(items, start=1):
        plan.append((item, pick_face_code(n), "AVAILABLE", 4 * CASE_SIZE))
        plan.append((item, reserve_code(n), "AVAILABLE", 20 * CASE_SIZE))
        if n in (3, 8):
            plan.append((item, "QA-01", "QUARANTINED", CASE_SIZE))
        if n == 5:
            plan.append((item, "QA-01", "DAMAGED", Decimal("6")))
    return plan


def ean13(body12: str) -> str:
    """``body12`` with its EAN-13 check digit."""
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body12))
    return body12 + str((10 - total % 10) % 10)


class Command(BaseCommand):
    help = (
        "Create one demo warehouse (MAD1) with zones, locations, dock doors, items, "
        "stock, the role users, a store, an automation system and a finance client; "
        "print the logins and API tokens. Running it again changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--rotate-tokens",
            action="store_true",
            help="replace the demo systems' API tokens and print the new ones "
            "(a token is shown only when issued)",
        )

    def handle(self, *args, **options):
        self.verbosity = options["verbosity"]
        self.rotate_tokens = options["rotate_tokens"]
        try:
            with transaction.atomic():
                self._step("Units, statuses and reason codes", self._reference_data)
                warehouse = self._step("Warehouse MAD1: zones, locations, dock doors", self._layout)
                items = self._step(
                    "Items with English and Spanish descriptions", self._items, warehouse
                )
                users = self._step("Role users with access to MAD1", self._users, warehouse)
                systems = self._step(
                    "Store, automation and finance systems", self._systems, warehouse
                )
                self._step("Stock", self._stock, warehouse, items)
                self._step("Receiving tolerances and put-away strategy", self._inbound, warehouse)
                self._step("Wave policy, package types, GS1 prefix", self._outbound, warehouse)
        except DomainError as exc:
            raise CommandError(f"seed_demo failed: {exc.detail}") from exc
        self._report(users, systems)

    # --- steps ----------------------------------------------------------------
    def _step(self, title, func, *args):
        if self.verbosity:
            self.stdout.write(f"… {title}")
        return func(*args)

    def _progress(self, label, done, total):
        """One line that counts up on a terminal, a line per 25% otherwise."""
        if not self.verbosity:
            return
        if sys.stdout.isatty():
            end = "\n" if done == total else ""
            self.stdout.write(f"\r  {label}: {done}/{total}", ending=end)
            self.stdout.flush()
        elif done == total or done % max(1, total // 4) == 0:
            self.stdout.write(f"  {label}: {done}/{total}")

    def _reference_data(self):
        for code, en, es in UNITS:
            UnitOfMeasure.objects.get_or_create(
                code=code, defaults={"description_en": en, "description_es": es}
            )
        for code, en, es, allocatable in STATUSES:
            InventoryStatus.objects.get_or_create(
                code=code,
                defaults={"description_en": en, "description_es": es, "allocatable": allocatable},
            )
        for code, en, es, use, approval in REASONS:
            ReasonCode.objects.get_or_create(
                code=code,
                defaults={
                    "description_en": en,
                    "description_es": es,
                    "use": use,
                    "requires_approval": approval,
                },
            )

    def _layout(self) -> Warehouse:
        warehouse, _ = Warehouse.objects.get_or_create(
            code=WAREHOUSE_CODE, defaults={"name": "Madrid distribution centre"}
        )
        zones = {}
        for code, name in ZONES:
            zones[code], _ = Zone.objects.get_or_create(
                warehouse=warehouse, code=code, defaults={"name": name}
            )

        def location(code, type_, zone, *, sequence=0, capacity=None, barcode=None):
            obj, _ = Location.objects.get_or_create(
                warehouse=warehouse,
                code=code,
                defaults={
                    "zone": zones[zone],
                    "type": type_,
                    "barcode": barcode or "L" + code.replace("-", ""),
                    "pick_sequence": sequence,
                    "capacity": capacity,
                },
            )
            return obj

        for n in (1, 2):
            location(f"RCV-{n:02d}", LocationType.RECEIVING, "RCV")
        # One pick face per item along aisle A, in walking order.
        for n in range(1, len(ITEMS) + 1):
            location(
                pick_face_code(n),
                LocationType.PICK_FACE,
                "A",
                sequence=n * 10,
                capacity=Decimal("240"),
            )
        for n in range(1, len(ITEMS) + 1):
            location(reserve_code(n), LocationType.RESERVE, "RSV", sequence=1000 + n)
        for n in (1, 2):
            location(f"STG-{n:02d}", LocationType.STAGING, "STG")
        docks = [location(f"DOCK-{n:02d}", LocationType.DOCK, "DCK") for n in (1, 2, 3)]
        # QA-01 holds quarantined demo stock; the others take damaged goods on put-away.
        for n in (1, 2, 3):
            location(f"QA-{n:02d}", LocationType.QUARANTINE, "QA")

        directions = [DockDirection.INBOUND, DockDirection.OUTBOUND, DockDirection.BOTH]
        for n, (dock, direction) in enumerate(zip(docks, directions, strict=True), start=1):
            DockDoor.objects.get_or_create(
                warehouse=warehouse,
                code=f"D{n:02d}",
                defaults={
                    "name": f"Door {n}",
                    "direction": direction,
                    "location": dock,
                },
            )
        return warehouse

    def _items(self, warehouse) -> list[Item]:
        each = UnitOfMeasure.objects.get(code="EA")
        case = UnitOfMeasure.objects.get(code="CS")
        items = []
        for n, (sku, en, es, item_class, cost, price) in enumerate(ITEMS, start=1):
            item, _ = Item.objects.get_or_create(
                warehouse=warehouse,
                sku=sku,
                defaults={
                    "gtin": ean13(f"8412345{n:05d}"),
                    "description_en": en,
                    "description_es": es,
                    "item_class": item_class,
                    "base_uom": each,
                    "unit_cost": Decimal(cost),
                    "unit_price": Decimal(price),
                },
            )
            ItemUnitConversion.objects.get_or_create(
                item=item, uom=case, defaults={"base_units": CASE_SIZE}
            )
            items.append(item)
        return items

    def _users(self, warehouse) -> list[DemoUser]:
        User = get_user_model()
        for demo in USERS:
            user, _ = User.objects.get_or_create(
                username=demo.username,
                defaults={
                    "first_name": demo.first_name,
                    "is_staff": demo.is_staff,
                    "is_superuser": demo.is_superuser,
                    "password": make_password(DEMO_PASSWORD),
                },
            )
            user.groups.add(Group.objects.get(name=demo.role))
            assign_perm(WAREHOUSE_PERMISSION, user, warehouse)
        return USERS

    def _systems(self, warehouse) -> list[tuple[str, str, str]]:
        keys = []
        for system_type, code, name in SYSTEMS:
            system, key, _created = external_system_ensure(
                system_type=system_type,
                code=code,
                name=name,
                warehouse_codes=[warehouse.code],
                rotate=self.rotate_tokens,
            )
            if key is None:
                prefix = system.tokens.filter(revoked_at__isnull=True).get().prefix
                key = f"{prefix}… (issued earlier, shown only then; --rotate-tokens for new ones)"
            keys.append((system_type, code, key))
        return keys

    def _stock(self, warehouse, items):
        """Receipts through the posting service; fixed keys make a second run a replay."""
        locations = {loc.code: loc for loc in Location.objects.filter(warehouse=warehouse)}
        statuses = {status.code: status for status in InventoryStatus.objects.all()}
        plan = stock_plan(items)
        for done, (item, location_code, status_code, qty) in enumerate(plan, start=1):
            stock_receive(
                item=item,
                location=locations[location_code],
                status=statuses[status_code],
                qty=qty,
                posting_key=f"seed_demo:{warehouse.code}:{item.sku}:{location_code}:{status_code}",
                source_ref="seed_demo",
                actor="seed_demo",
            )
            self._progress("receipts posted", done, len(plan))

    def _inbound(self, warehouse):
        """5 % receiving tolerance; put away damaged goods to quarantine, then next to
        the same item, then into the nearest empty reserve slot."""
        locations = {loc.code: loc for loc in Location.objects.filter(warehouse=warehouse)}
        InboundSettings.objects.get_or_create(
            warehouse=warehouse,
            defaults={
                "over_receipt_tolerance_pct": Decimal("5"),
                "under_receipt_tolerance_pct": Decimal("5"),
                "receiving_location": locations["RCV-01"],
                "staging_location": locations["STG-01"],
            },
        )
        strategy, created = PutAwayStrategy.objects.get_or_create(
            warehouse=warehouse, name="Default", defaults={"is_active": True}
        )
        if not created:
            return
        zones = {zone.code: zone for zone in Zone.objects.filter(warehouse=warehouse)}
        damaged = InventoryStatus.objects.get(code="DAMAGED")
        rules = [
            {
                "rule_type": PutAwayRuleType.NEAREST_EMPTY,
                "zone": zones["QA"],
                "inventory_status": damaged,
            },
            {"rule_type": PutAwayRuleType.CONSOLIDATE},
            {"rule_type": PutAwayRuleType.NEAREST_EMPTY, "zone": zones["RSV"]},
        ]
        for sequence, rule in enumerate(rules, start=1):
            PutAwayRule.objects.create(strategy=strategy, sequence=sequence * 10, **rule)

    # --- output ---------------------------------------------------------------
    def _outbound(self, warehouse):
        """A newcomer's order reaches the pickers within a minute (waves close after
        one minute open), packs in the demo's package types and gets real SSCCs."""
        if not warehouse.gs1_company_prefix:
            # 841: GS1 Spain's range; 2345 is made up for the demo.
            warehouse.gs1_company_prefix = DEMO_GS1_PREFIX
            warehouse.save(update_fields=["gs1_company_prefix"])
        WavePolicy.objects.get_or_create(warehouse=warehouse, defaults={"max_open_minutes": 1})
        for code, name, kind, tare, dims in PACKAGE_TYPES:
            PackageType.objects.get_or_create(
                code=code,
                defaults={
                    "name": name,
                    "kind": kind,
                    "tare_weight_kg": Decimal(tare),
                    "length_cm": dims[0],
                    "width_cm": dims[1],
                    "height_cm": dims[2],
                },
            )

    def _report(self, users, systems):
        out = self.stdout
        out.write("")
        out.write(self.style.SUCCESS(f"Demo warehouse {WAREHOUSE_CODE} is ready."))
        out.write("")
        out.write(f"Logins (password for all: {DEMO_PASSWORD}):")
        for demo in users:
            where = "admin + handheld" if demo.is_staff else "handheld"
            out.write(f"  {demo.username:<11} {demo.role:<21} {where}")
        out.write("")
        out.write("API tokens (header 'Authorization: Token <key>'):")
        for system_type, code, key in systems:
            out.write(f"  {system_type:<10} {code:<6} {key}")
        if any(key.startswith("wms_") and "…" not in key for _type, _code, key in systems):
            out.write("")
            out.write("Tokens are shown only now: they are stored as hashes. Note them down.")
