"""Disaster-recovery drill of one instance's PostgreSQL, end to end, on this machine.

    scripts/dr-drill [--keep] [--receipts 20]

1. A throwaway PostgreSQL cluster (Debian's binaries, /usr/lib/postgresql/*/bin)
   with continuous WAL archiving (archive_command, archive_timeout), migrated
   and seeded with the product's demo data (seed_demo).
2. Batch A of stock receipts (each a posting, a ledger entry and an outbox
   event); the outbox relay publishes them to the instance's RabbitMQ vhost,
   where a consumer records every event id it sees.
3. A base backup (pg_basebackup).
4. Batch B, committed but not yet relayed; the restore TARGET time is noted.
5. The relay publishes B (so the consumers saw B, marked "sent" after the
   target), then batch C is written and relayed: the work the restore undoes.
6. The primary is lost (immediate stop) after its WAL is archived.
7. A restore to a time BEFORE the base backup is refused with a clear message,
   creating nothing.
8. Point-in-time restore to TARGET into a fresh cluster; the app (gunicorn)
   started on it and serving /readyz: that is the RTO.
9. Checks: A and B present, C absent (nothing committed before the target is
   lost: RPO at the target), verify_inventory clean, and the relay, resumed,
   republishes B (pending again in the restored database) -- the consumers,
   deduplicating by event id, see no event twice and miss none the restored
   instance has.

Prints RPO, RTO and the restore speed the runbook extrapolates from
(docs/dr-runbook.md).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import glob
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
RABBITMQ_URL = os.environ.get("DR_RABBITMQ", "amqp://guest:guest@127.0.0.1:5672")
VHOST = "wms-dr-drill"
ARCHIVE_TIMEOUT_SECONDS = 10

RECEIPTS = r"""
import json, os
from inventory.models import InventoryStatus, Item, Location
from inventory.services.stock import stock_receive
batch, count = os.environ["DRILL_BATCH"], int(os.environ["DRILL_COUNT"])
item = Item.objects.order_by("pk").first()
location = Location.objects.filter(warehouse=item.warehouse, type="RESERVE").order_by("pk").first()
status = InventoryStatus.objects.get(code="AVAILABLE")
for n in range(count):
    stock_receive(item=item, location=location, status=status, qty=1,
                  posting_key=f"drill-{batch}-{n}", source_ref=f"drill-{batch}")
"""

INSPECT = r"""
import json
from inventory.models import InventoryPosting
from wms.models import OutboxEvent
batches = {b: InventoryPosting.objects.filter(posting_key__startswith=f"drill-{b}-").count()
           for b in "ABCE"}
events = {str(e): s for e, s in OutboxEvent.objects.values_list("event_id", "status")}
print("INSPECT=" + json.dumps({"batches": batches, "events": events}))
"""


# The commit time of the newest outbox row version: the instance's last write.
LAST_COMMIT = "SELECT to_json(max(pg_xact_commit_timestamp(xmin))) #>> '{}' FROM wms_outboxevent"


class DrillError(RuntimeError):
    pass


class Cluster:
    """One PostgreSQL cluster in a directory, run as the ``postgres`` user when we are root."""

    def __init__(self, data: Path, bindir: Path):
        self.data, self.bindir = data, bindir
        self.socket = data.parent / f"{data.name}-sock"

    @property
    def url(self) -> str:
        return f"postgres://postgres@/wms?host={self.socket}"

    def run(self, tool: str, *args: str, check=True, capture=False) -> str:
        argv = [str(self.bindir / tool), *args]
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        result = subprocess.run(argv, check=check, capture_output=capture, text=True)
        return result.stdout if capture else ""

    def start(self) -> None:
        self.socket.mkdir(exist_ok=True)
        _chown(self.socket)
        options = f"-c listen_addresses='' -c unix_socket_directories={self.socket}"
        log = self.data.parent / f"{self.data.name}.log"
        self.run("pg_ctl", "-D", str(self.data), "-l", str(log), "-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self.run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def sql(self, statement: str, database: str = "wms") -> str:
        out = self.run(
            "psql", "-h", str(self.socket), "-U", "postgres", "-d", database, "-XAtqc",
            statement, capture=True,
        )  # fmt: skip
        return out.strip()


def _chown(path: Path) -> None:
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        for p in [path, *path.rglob("*")] if path.is_dir() else [path]:
            os.chown(p, user.pw_uid, user.pw_gid)


def find_bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_basebackup"))
    if not found:
        raise DrillError("PostgreSQL server binaries not found (apt-get install postgresql)")
    return Path(found[-1]).parent


def app_env(cluster: Cluster, var_dir: Path) -> dict:
    bus = f"{RABBITMQ_URL}/{VHOST}"
    return {
        **os.environ,
        "DATABASE_URL": cluster.url,
        "CELERY_BROKER_URL": bus,
        "WMS_EVENT_BUS_URL": bus,
        "WMS_INSTANCE_ID": "dr-drill",
        "WMS_VAR_DIR": str(var_dir),
        "SECRET_KEY": "dr-drill-secret",
        "CACHE_URL": "locmemcache://dr-drill",
    }


def manage(env: dict, *args: str, capture=False) -> str:
    result = subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True,
        capture_output=capture, text=True,
    )  # fmt: skip
    return result.stdout if capture else ""


def receipts(env: dict, batch: str, count: int) -> None:
    manage({**env, "DRILL_BATCH": batch, "DRILL_COUNT": str(count)}, "shell", "-c", RECEIPTS)


def inspect(env: dict) -> dict:
    out = manage(env, "shell", "-c", INSPECT, capture=True)
    line = next(x for x in out.splitlines() if x.startswith("INSPECT="))
    return json.loads(line.removeprefix("INSPECT="))


class Consumer:
    """A downstream consumer: a queue on the instance's event exchange; dedupes by event id."""

    def __init__(self):
        from kombu import Connection, Exchange, Queue

        self.connection = Connection(f"{RABBITMQ_URL}/{VHOST}")
        exchange = Exchange("wms.events", type="topic", durable=True)
        self.queue = Queue("dr-drill-consumer", exchange, routing_key="#", durable=True)
        self.queue(self.connection.default_channel).declare()
        self.queue(self.connection.default_channel).purge()
        self.seen: set[str] = set()
        self.deliveries = 0
        self.duplicates = 0

    def drain(self, quiet: float = 1.0) -> None:
        queue = self.queue(self.connection.default_channel)
        idle_since = time.monotonic()
        while time.monotonic() - idle_since < quiet:
            message = queue.get(no_ack=True)
            if message is None:
                time.sleep(0.1)
                continue
            idle_since = time.monotonic()
            event_id = message.properties.get("message_id") or message.payload.get("eventId")
            self.deliveries += 1
            if event_id in self.seen:
                self.duplicates += 1  # dropped: already applied, the dedupe of every consumer
            self.seen.add(event_id)


def vhost_ensure() -> None:
    listed = subprocess.run(
        ["rabbitmqctl", "-q", "list_vhosts"], check=True, capture_output=True, text=True
    ).stdout.split()
    if VHOST not in listed:
        subprocess.run(["rabbitmqctl", "-q", "add_vhost", VHOST], check=True)
    subprocess.run(
        ["rabbitmqctl", "-q", "set_permissions", "-p", VHOST, "guest", ".*", ".*", ".*"],
        check=True,
    )


def backup_start_time(base: Path) -> dt.datetime:
    """START TIME from the base backup's backup_label (the earliest reachable target)."""
    for line in (base / "backup_label").read_text().splitlines():
        if line.startswith("START TIME:"):
            return dt.datetime.strptime(line.split(":", 1)[1].strip(), "%Y-%m-%d %H:%M:%S %Z")
    raise DrillError(f"{base}/backup_label has no START TIME")


def restore(base: Path, archive: Path, target: dt.datetime, data: Path, bindir: Path) -> Cluster:
    """A fresh cluster at ``data`` recovered from ``base`` + ``archive`` to ``target``."""
    started = backup_start_time(base).replace(tzinfo=dt.UTC)
    if target <= started:
        raise DrillError(
            f"restore target {target.isoformat()} is before the base backup "
            f"({started.isoformat()}): that backup cannot go back so far. Choose a later "
            f"target or an older base backup. Nothing was created or changed."
        )
    if data.exists():
        raise DrillError(f"{data} exists: a restore goes into a fresh directory only")
    shutil.copytree(base, data, symlinks=True)
    with (data / "postgresql.auto.conf").open("a") as conf:
        conf.write(
            f"restore_command = 'cp {archive}/%f %p'\n"
            f"recovery_target_time = '{target.isoformat()}'\n"
            "recovery_target_action = 'promote'\n"
            "archive_mode = off\n"
        )
    (data / "recovery.signal").touch()
    _chown(data)
    os.chmod(data, 0o700)
    cluster = Cluster(data, bindir)
    cluster.start()
    deadline = time.monotonic() + 600
    while cluster.sql("SELECT pg_is_in_recovery()", "postgres") != "f":
        if time.monotonic() > deadline:
            raise DrillError("the restored cluster did not finish recovery within 10 minutes")
        time.sleep(0.2)
    return cluster


def wait_ready(url: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=5) as response:
            if response.status == 200:
                return
        time.sleep(0.2)
    raise DrillError(f"{url} not ready within {timeout:.0f}s")


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def drill(work: Path, receipts_per_batch: int) -> dict:
    bindir = find_bindir()
    archive, base = work / "wal-archive", work / "base"
    archive.mkdir(parents=True)
    _chown(work)
    primary = Cluster(work / "primary", bindir)
    primary.run("initdb", "-D", str(primary.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
    with (primary.data / "postgresql.conf").open("a") as conf:
        conf.write(
            "wal_level = replica\narchive_mode = on\n"
            f"archive_command = 'test ! -f {archive}/%f && cp %p {archive}/%f'\n"
            f"archive_timeout = {ARCHIVE_TIMEOUT_SECONDS}\n"
            "track_commit_timestamp = on\ntimezone = 'UTC'\nlog_timezone = 'UTC'\n"
        )
    primary.start()
    primary.sql("CREATE DATABASE wms", "postgres")
    vhost_ensure()
    consumer = Consumer()
    env = app_env(primary, work / "var")
    print("== migrate and seed the instance (seed_demo)")
    manage(env, "migrate", "--noinput", "-v0")
    manage(env, "seed_demo")
    receipts(env, "A", receipts_per_batch)
    manage(env, "outbox_relay", "--once")
    consumer.drain()

    print("== base backup")
    primary.run(
        "pg_basebackup", "-h", str(primary.socket), "-U", "postgres", "-D", str(base),
        "-Fp", "-Xstream", "-c", "fast",
    )  # fmt: skip
    base_started = backup_start_time(base).replace(tzinfo=dt.UTC)

    receipts(env, "B", receipts_per_batch)
    target = dt.datetime.fromisoformat(primary.sql("SELECT to_json(clock_timestamp()) #>> '{}'"))
    last_before_target = dt.datetime.fromisoformat(primary.sql(LAST_COMMIT))
    time.sleep(1.0)
    manage(env, "outbox_relay", "--once")  # consumers now saw B (sent after the target)
    receipts(env, "C", receipts_per_batch)  # after the target: the restore undoes it
    manage(env, "outbox_relay", "--once")
    consumer.drain()
    seen_before_disaster = set(consumer.seen)
    primary.sql("SELECT pg_switch_wal()")
    time.sleep(1.0)
    archived = primary.sql("SELECT last_archived_time FROM pg_stat_archiver")
    print(f"   target {target.isoformat()}; last WAL archived at {archived}")
    print("== disaster: the primary is lost (immediate stop)")
    primary.stop("immediate")

    print("== a restore to before the base backup is refused")
    too_early = work / "restore-too-early"
    try:
        restore(base, archive, base_started - dt.timedelta(minutes=5), too_early, bindir)
    except DrillError as exc:
        print(f"   refused: {exc}")
        refused = not too_early.exists()
    else:
        raise DrillError("a restore target before the base backup was accepted")

    print("== point-in-time restore to the target, the app on it")
    clock = time.monotonic()
    restored = restore(base, archive, target, work / "restored", bindir)
    recovered_at = time.monotonic()
    env = app_env(restored, work / "var-restored")
    port = _free_port()
    web = subprocess.Popen(
        [str(Path(PYTHON).parent / "gunicorn"), "wms.wsgi", "-b", f"127.0.0.1:{port}", "-w", "1"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz")
        rto = time.monotonic() - clock
        last_recovered = dt.datetime.fromisoformat(restored.sql(LAST_COMMIT))
        state = inspect(env)
        verify = subprocess.run(
            [PYTHON, "manage.py", "verify_inventory"], cwd=ROOT, env=env,
            capture_output=True, text=True,
        )  # fmt: skip
        pending_before_relay = [e for e, s in state["events"].items() if s != "PUBLISHED"]
        manage(env, "outbox_relay", "--once")
        consumer.drain()
        receipts(env, "E", 3)  # the restored instance takes new work; new event ids
        manage(env, "outbox_relay", "--once")
        consumer.drain()
        after = inspect(env)
    finally:
        os.killpg(web.pid, 15)
        web.wait(timeout=30)
    restored_ids = set(after["events"])
    unsent = [e for e, s in after["events"].items() if s != "PUBLISHED"]
    result = {
        "receipts_per_batch": receipts_per_batch,
        "batches_after_restore": state["batches"],
        "target": target.isoformat(),
        "base_backup_started": base_started.isoformat(),
        "rpo_seconds_at_target": max(0.0, (last_before_target - last_recovered).total_seconds()),
        "last_recovered_commit_before_target_s": (target - last_recovered).total_seconds(),
        "rto_seconds": round(rto, 1),
        "recovery_seconds": round(recovered_at - clock, 1),
        "base_backup_bytes": _dir_bytes(base),
        "wal_archive_bytes": _dir_bytes(archive),
        "verify_inventory_clean": verify.returncode == 0,
        "verify_inventory_output": verify.stdout.strip().splitlines()[-1:],
        "events_pending_after_restore": len(pending_before_relay),
        "events_restored_but_never_delivered": len(restored_ids - consumer.seen),
        "events_still_unsent": len(unsent),
        "redelivered_duplicates_deduped": consumer.duplicates,
        "events_seen_only_before_restore": len(seen_before_disaster - restored_ids),
        "refused_target_before_backup": refused,
        "archive_timeout_seconds": ARCHIVE_TIMEOUT_SECONDS,
    }
    restored.stop()
    return result


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def check(result: dict) -> list[str]:
    """What the drill must show; empty when it passed."""
    n = result["receipts_per_batch"]
    problems = []
    if result["batches_after_restore"] != {"A": n, "B": n, "C": 0, "E": 0}:
        problems.append(f"restored batches {result['batches_after_restore']} (want A, B; no C)")
    if not result["verify_inventory_clean"]:
        problems.append(f"verify_inventory: {result['verify_inventory_output']}")
    if result["events_restored_but_never_delivered"] or result["events_still_unsent"]:
        problems.append("the relay lost events after the restore")
    if result["events_pending_after_restore"] < n:
        problems.append("batch B's events were not pending again after the restore")
    if result["rpo_seconds_at_target"] > 0:
        problems.append("a commit from before the target is missing")
    if not result["refused_target_before_backup"]:
        problems.append("the refused restore left a directory behind")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="WMS disaster-recovery drill (PITR).")
    parser.add_argument("--receipts", type=int, default=20, help="receipts per batch")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    bindir = find_bindir()
    work = Path(tempfile.mkdtemp(prefix="wms-dr-drill-"))
    os.chmod(work, 0o755)
    try:
        result = drill(work, args.receipts)
    finally:
        for name in ("primary", "restored"):  # whatever an error left running
            if (work / name / "postmaster.pid").exists():
                Cluster(work / name, bindir).stop("immediate")
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    problems = check(result)
    if args.json:
        print("RESULT=" + json.dumps(result))
    base_mb = result["base_backup_bytes"] / 1e6
    speed = (result["base_backup_bytes"] + result["wal_archive_bytes"]) / max(
        result["recovery_seconds"], 0.1
    )
    print(
        f"RPO at the target: {result['rpo_seconds_at_target']:.1f} s "
        f"(every commit before the target recovered; the last one "
        f"{result['last_recovered_commit_before_target_s']:.2f} s before it). "
        f"Losing the primary outright: RPO <= archive_timeout = "
        f"{result['archive_timeout_seconds']} s."
    )
    print(
        f"RTO: {result['rto_seconds']:.1f} s to /readyz (recovery {result['recovery_seconds']} s "
        f"for a {base_mb:.0f} MB base backup + {result['wal_archive_bytes'] / 1e6:.0f} MB WAL, "
        f"{speed / 1e6:.0f} MB/s; 10 GB at that speed: {1e10 / speed / 60:.1f} min)"
    )
    print(
        f"Relay: {result['events_pending_after_restore']} events pending again after the "
        f"restore, republished; {result['redelivered_duplicates_deduped']} redelivered and "
        f"dropped by the consumer's dedupe; {result['events_restored_but_never_delivered']} lost; "
        f"{result['events_seen_only_before_restore']} seen by consumers but written after "
        f"the target (undone by the restore)."
    )
    for problem in problems:
        print(f"DRILL FAILED: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
