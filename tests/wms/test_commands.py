"""Operator commands: seed_demo and create_api_client (CONTRACT.md, Operator commands)."""

import io
import os
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection
from guardian.shortcuts import get_perms

from integrations.models import ApiToken, ExternalSystem
from inventory.models import (
    DockDoor,
    InventoryBalance,
    InventoryLedgerEntry,
    InventoryStatus,
    Item,
    Location,
    LocationType,
    Warehouse,
)
from outbound.models import PackageType, WavePolicy
from wms.models import OutboxEvent
from wms.scoping import warehouses_visible_to

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[2]


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def table_counts() -> dict[str, int]:
    """Rows in every table of the database, history tables and ledger included."""
    with connection.cursor() as cursor:
        counts = {}
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f'SELECT COUNT(*) FROM "{table}"')
            counts[table] = cursor.fetchone()[0]
    return counts


def test_seed_demo_builds_the_demo_warehouse():
    """One run: MAD1 with every location type, items, statuses, users, systems."""
    output = run("seed_demo")
    warehouse = Warehouse.objects.get(code="MAD1")
    assert set(Location.objects.filter(warehouse=warehouse).values_list("type", flat=True)) == set(
        LocationType.values
    )
    pick_faces = Location.objects.filter(warehouse=warehouse, type=LocationType.PICK_FACE)
    assert pick_faces.count() == 12
    assert len(set(pick_faces.values_list("pick_sequence", flat=True))) == 12
    assert all(loc.barcode for loc in pick_faces)
    assert DockDoor.objects.filter(warehouse=warehouse).count() == 3
    # Packing and shipping: package types, a GS1 prefix, waves released within a minute.
    assert warehouse.gs1_company_prefix == "8412345" and warehouse.currency == "EUR"
    assert set(PackageType.objects.values_list("code", flat=True)) >= {"CARTON-M", "PALLET-EU"}
    assert WavePolicy.objects.get(warehouse=warehouse).max_open_minutes == 1

    items = Item.objects.filter(warehouse=warehouse)
    assert items.count() == 12
    for item in items:
        assert item.base_uom.code == "EA"
        assert len(item.gtin) == 13
        assert item.description_en and item.description_es
        assert item.unit_conversions.get(uom__code="CS").base_units == 12

    statuses = {s.code: s.allocatable for s in InventoryStatus.objects.all()}
    assert statuses["AVAILABLE"] is True
    assert statuses["QUARANTINED"] is False
    assert statuses["DAMAGED"] is False

    User = get_user_model()
    for username in ("supervisor", "picker", "receiver", "controller", "finance"):
        user = User.objects.get(username=username)
        assert user.check_password("wms-demo")
        assert "access_warehouse" in get_perms(user, warehouse)
        assert list(warehouses_visible_to(user)) == [warehouse]
    assert User.objects.get(username="admin").is_superuser

    for code, system_type in (("S042", "store"), ("AUTO1", "automation"), ("FIN1", "finance")):
        system = ExternalSystem.objects.get(code=code)
        assert system.type == system_type
        assert list(system.warehouses.all()) == [warehouse]
        assert system.tokens.filter(revoked_at__isnull=True).count() == 1

    assert "supervisor" in output and "wms-demo" in output
    assert output.count("wms_") == 3  # one token per system


def test_seed_demo_puts_stock_in_pick_faces_and_reserve():
    """Stock arrives through the posting service: every pick face and reserve slot holds
    its item, a little is quarantined or damaged, and the ledger matches the balances."""
    run("seed_demo")
    balances = InventoryBalance.objects.filter(warehouse__code="MAD1").select_related(
        "location", "status"
    )
    by_type = {}
    for balance in balances:
        key = (balance.location.type, balance.status.code)
        by_type[key] = by_type.get(key, Decimal("0")) + balance.on_hand
        assert balance.reserved == 0
    assert by_type[(LocationType.PICK_FACE, "AVAILABLE")] == 12 * 48
    assert by_type[(LocationType.RESERVE, "AVAILABLE")] == 12 * 240
    assert by_type[(LocationType.QUARANTINE, "QUARANTINED")] == 24
    assert by_type[(LocationType.QUARANTINE, "DAMAGED")] == 6
    for balance in balances:
        entries = InventoryLedgerEntry.objects.filter(
            item=balance.item_id, location=balance.location_id, status=balance.status_id
        )
        assert sum(e.on_hand_delta for e in entries) == balance.on_hand
    assert OutboxEvent.objects.filter(event_type="inventory.received").count() == len(balances)


def test_seed_demo_twice_changes_nothing():
    """A second run writes no row in any table, prints the same logins and names the
    tokens by prefix only (a key is shown once, when issued)."""
    first_output = run("seed_demo")
    after_first = table_counts()
    second_output = run("seed_demo")
    after_second = table_counts()
    changed = {
        table: (after_first[table], after_second[table])
        for table in after_first
        if after_first[table] != after_second[table]
    }
    assert changed == {}
    assert after_first["inventory_historicalitem"] > 0  # history tables are counted too
    assert after_first["inventory_inventoryledgerentry"] > 0  # and the ledger
    logins = lambda output: output.split("Demo warehouse")[1].split("API tokens")[0]  # noqa: E731
    assert logins(first_output) == logins(second_output)
    keys = re.findall(r"\bwms_[a-z2-7]{32}\b", first_output)
    assert len(keys) == 3
    for key in keys:
        assert key not in second_output
        assert f"{key[:12]}… (issued earlier" in second_output


def test_seed_demo_rotate_tokens_prints_new_working_tokens():
    """--rotate-tokens issues and prints new keys; the old ones are refused."""
    from rest_framework.test import APIClient

    first = re.findall(r"S042 +(wms_[a-z2-7]{32})", run("seed_demo"))[0]
    second = re.findall(r"S042 +(wms_[a-z2-7]{32})", run("seed_demo", "--rotate-tokens"))[0]
    assert first != second
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {first}")
    assert client.get("/api/v1/items?warehouse=MAD1").status_code == 401
    client.credentials(HTTP_AUTHORIZATION=f"Token {second}")
    assert client.get("/api/v1/items?warehouse=MAD1").status_code == 200


def test_seed_demo_api_token_works():
    """The printed store token authenticates against the API for MAD1."""
    from rest_framework.test import APIClient

    output = run("seed_demo")
    line = next(line for line in output.splitlines() if "S042" in line and "wms_" in line)
    key = line.split()[-1]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/items?warehouse=MAD1").status_code == 200


def test_create_api_client_shows_token_once(warehouse):
    """First call creates the system and prints its token; the second finds the system,
    names the token by prefix and says --rotate shows a new one; only the hash is stored."""
    first = run("create_api_client", "--type", "store", "--code", "S077", "--warehouse", "MAD1")
    second = run("create_api_client", "--type", "store", "--code", "S077")
    assert first.startswith("Created store system S077 (warehouses: MAD1).")
    assert second.startswith("Found store system S077")
    key = next(li for li in first.splitlines() if li.startswith("API token:")).split()[-1]
    token = ApiToken.objects.get(system__code="S077")
    assert token.key_hash == ApiToken.hash_key(key) and token.expires_at is not None
    assert key not in second
    assert f"API token: {key[:12]}… exists" in second and "--rotate" in second
    assert ExternalSystem.objects.filter(code="S077").count() == 1
    with pytest.raises(CommandError, match="add --rotate"):
        run("create_api_client", "--type", "store", "--code", "S077", "--token-only")


def test_create_api_client_rotate_issues_new_token(warehouse):
    """--rotate revokes the live token and prints a new one that works."""
    old = run("create_api_client", "--type", "automation", "--code", "AUTO9", "--token-only")
    new = run(
        "create_api_client", "--type", "automation", "--code", "AUTO9", "--rotate", "--token-only"
    )
    assert old.strip() != new.strip()
    live = ApiToken.objects.get(system__code="AUTO9", revoked_at__isnull=True)
    assert live.key_hash == ApiToken.hash_key(new.strip())
    assert ApiToken.objects.filter(system__code="AUTO9").count() == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--type", "shop", "--code", "X1"], "--type must be one of store, automation, finance"),
        (["--code", "X1"], "--type must be one of"),
        (["--type", "store"], "--code is required"),
        (["--type", "store", "--code", "X1", "--warehouse", "NOPE"], "Unknown warehouse 'NOPE'"),
    ],
)
def test_create_api_client_bad_input_is_command_error(args, message):
    """Bad input raises CommandError with a clear message and creates nothing."""
    with pytest.raises(CommandError, match=message):
        run("create_api_client", *args)
    assert not ExternalSystem.objects.filter(code="X1").exists()


def test_create_api_client_type_clash_is_command_error(warehouse):
    """A code that names a system of another type is refused."""
    run("create_api_client", "--type", "store", "--code", "S078")
    with pytest.raises(CommandError, match="exists with type 'store'"):
        run("create_api_client", "--type", "finance", "--code", "S078")


def test_create_api_client_bad_type_exits_non_zero_with_one_line():
    """From the shell: exit status 1 and a single line on stderr, no usage block."""
    env = {**os.environ, "DJANGO_DEBUG": "1"}
    proc = subprocess.run(
        [sys.executable, "manage.py", "create_api_client", "--type", "shop", "--code", "X1"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines == ["CommandError: --type must be one of store, automation, finance (got 'shop')."]


def test_seed_demo_puts_away_by_rules(db):
    """The demo warehouse has a put-away strategy: damaged goods to quarantine, others
    next to the same item (consolidation) rather than to the staging fallback."""
    from decimal import Decimal

    from django.core.management import call_command

    from inbound.strategies import putaway_location_choose
    from inventory.models import InventoryStatus, Item, LocationType, Warehouse

    call_command("seed_demo", verbosity=0)
    warehouse = Warehouse.objects.get(code="MAD1")
    item = Item.objects.filter(warehouse=warehouse).order_by("sku").first()
    damaged = putaway_location_choose(
        warehouse=warehouse,
        item=item,
        status=InventoryStatus.objects.get(code="DAMAGED"),
        qty=Decimal("1"),
    )
    assert damaged.location.type == LocationType.QUARANTINE
    available = putaway_location_choose(
        warehouse=warehouse,
        item=item,
        status=InventoryStatus.objects.get(code="AVAILABLE"),
        qty=Decimal("1"),
    )
    assert available.rule.rule_type == "CONSOLIDATE"
    assert available.location.type in (LocationType.PICK_FACE, LocationType.RESERVE)
