"""The Celery application and the one beat schedule of the product.

Correlation ids travel in a message header, so a task's log lines and the
events it writes carry the id of the request that caused it.
"""

import contextlib
import logging
import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wms.settings")

app = Celery("wms")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Every periodic job, in one place (task names are stable strings so this
# module imports nothing from the apps).
app.conf.beat_schedule = {
    # Expiring: a busy or stopped worker must not find a pile of stale relay
    # runs when it comes back (the next beat does the same work).
    "outbox-relay": {
        "task": "integrations.tasks.outbox_relay_task",
        "schedule": 1.0,
        "options": {"expires": 10},
    },
    "webhook-deliveries": {
        "task": "integrations.tasks.webhook_deliver_due_task",
        "schedule": 5.0,
        "options": {"expires": 30},
    },
    # Released pick tasks of automated zones → batches stored for their systems.
    "automation-dispatch": {
        "task": "integrations.tasks.automation_dispatch_task",
        "schedule": 5.0,
        "options": {"expires": 30},
    },
    "idempotency-purge": {"task": "wms.tasks.idempotency_purge_task", "schedule": 3600.0},
    # Published outbox events, delivered webhooks, old integration messages.
    "retention-purge": {
        "task": "integrations.tasks.retention_purge_task",
        "schedule": 3600.0,
        "options": {"expires": 3000},
    },
    "reservation-expiry": {"task": "inventory.tasks.reservation_expire_due_task", "schedule": 30.0},
    # Plans what the order.accepted trigger missed, re-plans backorders that
    # stock appeared for, releases due waves and marks lost planning jobs.
    "planning-sweep": {"task": "outbound.tasks.planning_sweep_task", "schedule": 15.0},
    # Alert rules (issue 17): open, keep or close alerts; expiring like the relay so a
    # stopped worker does not come back to a pile of evaluations of the same moment.
    "alerts-evaluate": {
        "task": "integrations.tasks.alerts_evaluate_task",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "report-subscriptions": {
        "task": "integrations.tasks.report_subscriptions_send_task",
        "schedule": 300.0,
        "options": {"expires": 290},
    },
}

CORRELATION_HEADER = "wms_correlation_id"
_task_logger = logging.getLogger("wms.tasks")
_task_tokens: dict[str, object] = {}


@signals.worker_init.connect
def _require_secret_key(**kwargs):
    from django.core.exceptions import ImproperlyConfigured

    from wms.checks import require_secret_key

    try:
        require_secret_key()
    except ImproperlyConfigured as exc:
        # Celery logs and swallows exceptions from signal handlers; SystemExit stops it.
        raise SystemExit(f"wms worker: {exc}") from exc


@signals.worker_init.connect
def _telemetry_start(**kwargs):
    """Traces (prefork children inherit them: the SDK re-arms its exporter after a
    fork) and, on WMS_METRICS_PORT, the metrics of every pool process."""
    from wms.telemetry import metrics_server_start, telemetry_init

    telemetry_init("worker")
    metrics_server_start()


@signals.beat_init.connect
def _telemetry_start_beat(**kwargs):
    from wms.telemetry import telemetry_init

    telemetry_init("beat")


@signals.before_task_publish.connect
def _attach_correlation_id(headers=None, **kwargs):
    from wms.correlation import get_correlation_id

    if headers is not None and CORRELATION_HEADER not in headers:
        headers[CORRELATION_HEADER] = get_correlation_id()


@signals.setup_logging.connect
def _use_django_logging(**kwargs):
    """Worker and beat log through settings.LOGGING (JSON lines), not Celery's format."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)


@signals.task_prerun.connect
def _restore_correlation_id(task_id=None, task=None, **kwargs):
    from wms.correlation import set_correlation_id

    incoming = getattr(task.request, CORRELATION_HEADER, None) if task else None
    _task_tokens[task_id] = set_correlation_id(incoming)
    _task_logger.info("task started", extra={"task": task.name if task else "", "taskId": task_id})


@signals.task_postrun.connect
def _clear_correlation_id(task_id=None, task=None, state=None, **kwargs):
    from wms.correlation import reset_correlation_id

    _task_logger.info(
        "task finished",
        extra={"task": task.name if task else "", "taskId": task_id, "state": state},
    )
    token = _task_tokens.pop(task_id, None)
    if token is not None:
        # A token from another context (eager mode) cannot be reset; harmless.
        with contextlib.suppress(ValueError):
            reset_correlation_id(token)
