"""Liveness and readiness for the orchestrator (contract: Health)."""

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


@require_GET
@never_cache
def healthz(request):
    return JsonResponse({"status": "ok", "instanceId": settings.WMS_INSTANCE_ID})


def _database_check() -> tuple[bool, str]:
    try:
        connection = connections[DEFAULT_DB_ALIAS]
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        plan = MigrationExecutor(connection).migration_plan(
            MigrationExecutor(connection).loader.graph.leaf_nodes()
        )
    except Exception as exc:  # any failure means "not ready", with the reason
        return False, f"database unreachable: {exc.__class__.__name__}"
    if plan:
        return False, f"{len(plan)} migration(s) not applied"
    return True, "ok"


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
    db_ok, db_detail = _database_check()
    broker_ok, broker_detail = _broker_check()
    ready = db_ok and broker_ok
    return JsonResponse(
        {
            "status": "ready" if ready else "not ready",
            "checks": {"database": db_detail, "broker": broker_detail},
        },
        status=200 if ready else 503,
    )
