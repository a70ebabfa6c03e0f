"""A finance writer in its own process, for the feed's concurrency proof (not collected).

python tests/inventory/finance_writer_process.py WAREHOUSE_ID ITEM_IDS COUNT SEED

Prints ``ready`` once Django is set up, then for each line ``go ROUND`` on
stdin records COUNT finance events of the warehouse (ITEM_IDS:
comma-separated), each in its own transaction through
``finance_event_record``, and prints ``done ROUND committed N``; ends at the
end of stdin. The test sends ``go`` to every writer at once, so they start
together whatever their start-up took. Each transaction sleeps a little
before recording (its business work) and after it, before the commit (to
widen the window in which another writer or a reader runs; one in ten for
20-40 ms), and about one in eight rolls back after recording.
"""

import os
import random
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wms.settings")

import django  # noqa: E402

django.setup()

from django.db import transaction  # noqa: E402

from inventory.finance import FinanceLine, finance_event_record  # noqa: E402
from inventory.models import FinanceEventType, Item, Warehouse  # noqa: E402


class RolledBack(Exception):
    pass


def write(warehouse, items, *, count: int, rng: random.Random, tag: str) -> int:
    committed = 0
    for n in range(count):
        try:
            with transaction.atomic():
                time.sleep(rng.uniform(0, 0.004))
                lines = [
                    FinanceLine(item=item, qty=Decimal(rng.randint(1, 9)), uom=item.base_uom.code)
                    for item in rng.sample(items, k=rng.randint(1, len(items)))
                ]
                finance_event_record(
                    event_type=FinanceEventType.SHIPMENT_CONFIRMED,
                    warehouse=warehouse,
                    reference_type="shipment",
                    reference_id=f"{tag}-{n}",
                    reference_number=f"SH-{tag}-{n}",
                    store_code="S042",
                    lines=lines,
                    source_key=f"test-writer:{tag}:{n}",
                )
                time.sleep(rng.uniform(0, 0.008))
                if rng.random() < 0.125:
                    raise RolledBack
            committed += 1
        except RolledBack:
            pass
    return committed


def main(warehouse_id: int, item_ids: list[int], count: int, seed: int) -> None:
    rng = random.Random(seed)
    warehouse = Warehouse.objects.get(pk=warehouse_id)
    items = list(Item.objects.filter(pk__in=item_ids).select_related("base_uom"))
    print("ready", flush=True)
    for line in sys.stdin:
        _go, round_ = line.split()
        committed = write(warehouse, items, count=count, rng=rng, tag=f"{seed}-{round_}")
        print(f"done {round_} committed {committed}", flush=True)


if __name__ == "__main__":
    warehouse_id, item_ids, count, seed = sys.argv[1:]
    main(int(warehouse_id), [int(pk) for pk in item_ids.split(",")], int(count), int(seed))
