"""A planner in its own process, for the multi-process tests (not collected by pytest).

python tests/outbound/planner_process.py drain WAREHOUSE_ID START_AT SEED
    Plan every partition of the warehouse, in a shuffled order and small
    batches, until no order awaits planning. Starts at the epoch second
    START_AT so several processes begin together.

python tests/outbound/planner_process.py die-after WAREHOUSE_ID GROUP TASK_ID POINT N
    Run one planning job (Celery task id TASK_ID) and kill the process
    (``os._exit``, no cleanup, the open transaction dies with the
    connection) at the N-th call of POINT: ``reserve`` (just after an
    order's reservations were written, before its commit) or ``release``
    (creating a wave's pick tasks).
"""

import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wms.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from outbound.models import ReplenishmentOrder  # noqa: E402
from outbound.services import planning_job_run  # noqa: E402


def drain(warehouse_id: int, start_at: float, seed: int) -> None:
    while time.time() < start_at:
        time.sleep(0.005)
    rng = random.Random(seed)
    groups = list(range(settings.WMS_PLANNING_GROUPS))
    jobs = 0
    while ReplenishmentOrder.objects.filter(
        warehouse_id=warehouse_id, needs_planning=True
    ).exists():
        rng.shuffle(groups)
        for group in groups:
            planning_job_run(
                warehouse_id=warehouse_id,
                planning_group=group,
                task_id=f"drain-{seed}-{jobs}",
                max_orders=rng.randint(2, 12),
            )
            jobs += 1
    print(f"planner {seed}: {jobs} jobs", flush=True)


def die_after(warehouse_id: int, group: int, task_id: str, point: str, n: int) -> None:
    if point == "reserve":
        from inventory import services as module

        # Dies after the order's reservations are written, before its commit.
        name, after = "reservations_take", True
    else:
        from outbound.ports import pick_work

        # Dies as the wave's pick tasks are created: the port tasking registered.
        module, name, after = pick_work(), "tasks_create_for_wave", False
    original = getattr(module, name)
    calls = {"n": 0}

    def dying(*args, **kwargs):
        calls["n"] += 1
        result = original(*args, **kwargs) if after else None
        if calls["n"] >= n:
            print(f"dying at {point} #{calls['n']}", flush=True)
            os._exit(9)
        return result if after else original(*args, **kwargs)

    setattr(module, name, dying)
    planning_job_run(warehouse_id=warehouse_id, planning_group=group, task_id=task_id)
    print("finished without dying", flush=True)


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "drain":
        drain(int(args[0]), float(args[1]), int(args[2]))
    elif command == "die-after":
        die_after(int(args[0]), int(args[1]), args[2], args[3], int(args[4]))
    else:
        raise SystemExit(f"unknown command {command}")
