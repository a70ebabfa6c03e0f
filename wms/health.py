"""Liveness and readiness for the orchestrator (contract: Health).

/readyz also carries the release metadata a progressive rollout gates on: the
code's version and commit, and the schema's migration state (pending, and
"ahead" when a newer release already migrated the database: expand/contract
keeps the old code serving then). The same figures are metrics on /metrics.
"""

import os
from importlib import metadata

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.recorder import MigrationRecorder
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import Gauge


def _release_version() -> str:
    # The image sets WMS_RELEASE_VERSION (Dockerfile build arg); a checkout has the package's.
    try:
        return os.environ.get("WMS_RELEASE_VERSION") or metadata.version("wms")
    except metadata.PackageNotFoundError:
        return "unknown"


RELEASE = {
    "version": _release_version(),
    "commit": os.environ.get("WMS_RELEASE_COMMIT", "unknown"),
}

RELEASE_INFO = Gauge(
    "wms_release_info",
    "Release this process runs (always 1; the labels say which).",
    ["instance_id", "version", "commit"],
)
RELEASE_INFO.labels(settings.WMS_INSTANCE_ID, RELEASE["version"], RELEASE["commit"]).set(1)
MIGRATIONS_PENDING = Gauge(
    "wms_migrations_pending",
    "Migrations of this release not yet applied to the instance's database (last /readyz).",
    ["instance_id"],
)
MIGRATIONS_AHEAD = Gauge(
    "wms_migrations_ahead",
    "Migrations applied to the database that this release does not know (a newer release's).",
    ["instance_id"],
)


@require_GET
@never_cache
def healthz(request):
    return JsonResponse({"status": "ok", "instanceId": settings.WMS_INSTANCE_ID})


def _migration_state(connection) -> dict:
    executor = MigrationExecutor(connection)
    graph = executor.loader.graph
    plan = executor.migration_plan(graph.leaf_nodes())
    applied = MigrationRecorder(connection).applied_migrations()
    ahead = sorted(f"{app}.{name}" for app, name in applied if (app, name) not in graph.nodes)
    return {"pending": len(plan), "ahead": ahead, "applied": len(applied)}


def _database_check() -> tuple[bool, str, dict | None]:
    try:
        connection = connections[DEFAULT_DB_ALIAS]
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        state = _migration_state(connection)
    except Exception as exc:  # any failure means "not ready", with the reason
        return False, f"database unreachable: {exc.__class__.__name__}", None
    MIGRATIONS_PENDING.labels(settings.WMS_INSTANCE_ID).set(state["pending"])
    MIGRATIONS_AHEAD.labels(settings.WMS_INSTANCE_ID).set(len(state["ahead"]))
    if state["pending"]:
        return False, f"{state['pending']} migration(s) not applied", state
    return True, "ok", state


def _broker_check() -> tuple[bool, str]:
    url = settings.CELERY_BROKER_URL
    if url.startswith(("filesystem://", "memory://")):
        return True, "embedded"
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:
        return False, f"broker unreachable: {exc.__class__.__name__}"
    return True, "ok"


@require_GET
@never_cache
def readyz(request):
    db_ok, db_detail, migrations = _database_check()
    broker_ok, broker_detail = _broker_check()
    ready = db_ok and broker_ok
    return JsonResponse(
        {
            "status": "ready" if ready else "not ready",
            "instanceId": settings.WMS_INSTANCE_ID,
            "release": {**RELEASE, "migrations": migrations},
            "checks": {"database": db_detail, "broker": broker_detail},
        },
        status=200 if ready else 503,
    )
