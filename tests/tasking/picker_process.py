"""A picker in its own process, for the multi-process tests (not collected by pytest).

python tests/tasking/picker_process.py hold WAREHOUSE_ID USERNAME READY_DIR PEERS
    In one transaction: claim the next task for USERNAME, print its id, write
    READY_DIR/USERNAME, then wait (up to 30 s) until PEERS files exist there
    before committing: every picker holds its claim while the others claim.

python tests/tasking/picker_process.py drain WAREHOUSE_ID USERNAME START_AT
    From the epoch second START_AT: claim a task, confirm it in full (it leaves
    the picker's hands), repeat until the queue is empty; print every task id.
"""

import os
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wms.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import transaction  # noqa: E402

from inventory.models import Warehouse  # noqa: E402
from tasking.services import pick_confirm, pick_task_next_for_picker  # noqa: E402


def hold(warehouse_id: int, username: str, ready_dir: str, peers: int) -> None:
    user = get_user_model().objects.get(username=username)
    warehouse = Warehouse.objects.get(pk=warehouse_id)
    with transaction.atomic():
        task = pick_task_next_for_picker(picker=user, warehouse=warehouse)
        print(f"task {task.pk if task else '-'}", flush=True)
        Path(ready_dir, username).touch()
        deadline = time.time() + 30
        while len(list(Path(ready_dir).iterdir())) < peers:
            if time.time() > deadline:
                print("peers never got their claim", flush=True)
                raise SystemExit(3)
            time.sleep(0.01)


def drain(warehouse_id: int, username: str, start_at: float) -> None:
    user = get_user_model().objects.get(username=username)
    warehouse = Warehouse.objects.get(pk=warehouse_id)
    while time.time() < start_at:
        time.sleep(0.005)
    while True:
        task = pick_task_next_for_picker(picker=user, warehouse=warehouse)
        if task is None:
            break
        print(f"task {task.pk}", flush=True)
        pick_confirm(
            task_id=task.pk,
            qty=task.qty_open,
            request_key=f"user:{user.pk}:{uuid.uuid4()}",
            actor=user,
        )


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "hold":
        hold(int(args[0]), args[1], args[2], int(args[3]))
    elif command == "drain":
        drain(int(args[0]), args[1], float(args[2]))
    else:
        raise SystemExit(f"unknown command {command}")
