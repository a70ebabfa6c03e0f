"""Celery tasks of the integration layer: thin, idempotent, scheduled in ``wms.celery``.

This is the top of the app: it calls the relay, the webhooks and the automation
connector, and none of them imports it. They announce work that is due with a
signal (``webhooks.deliveries_due``, ``tasking.signals.pick_tasks_released``),
and the kicks below enqueue a run soon instead of waiting for the next beat.
"""

import logging

from celery import shared_task
from django.conf import settings

from tasking.signals import pick_tasks_released

from .alerts import alert_rules_evaluate
from .automation import automation_dispatch
from .relay import BrokerUnavailable, outbox_relay_run
from .retention import retention_purge
from .scheduled_reports import subscriptions_send_due
from .webhooks import deliveries_deliver_due, deliveries_due, delivery_attempt

logger = logging.getLogger(__name__)


@shared_task(name="integrations.tasks.outbox_relay_task", ignore_result=True)
def outbox_relay_task(max_seconds: float = 5.0) -> int:
    """Publish due outbox events until none is due (or ``max_seconds``).

    Safe beside the ``outbox_relay`` command and other workers: batches lock
    their rows with SKIP LOCKED, so each event is published by one relay.
    """
    try:
        return outbox_relay_run(until_idle=True, max_seconds=max_seconds)
    except BrokerUnavailable as exc:
        # The next beat tries again; the events wait untouched.
        logger.warning("outbox relay: event bus unavailable: %s", exc)
        return 0


@shared_task(name="integrations.tasks.webhook_deliver_due_task", ignore_result=True)
def webhook_deliver_due_task() -> int:
    """Attempt every due webhook / store-and-forward delivery."""
    return deliveries_deliver_due()


@shared_task(name="integrations.tasks.webhook_deliver_task", ignore_result=True)
def webhook_deliver_task(delivery_id: int) -> None:
    """Attempt one delivery now (a delivered or dead one is left alone)."""
    delivery_attempt(delivery_id=delivery_id)


@shared_task(name="integrations.tasks.automation_dispatch_task", ignore_result=True)
def automation_dispatch_task() -> int:
    """Dispatch released automation pick tasks to their systems (store and forward)."""
    return automation_dispatch()


def kick_delivery_worker(sender=None, **kwargs) -> None:
    """Receiver of ``deliveries_due`` (after commit): deliver soon."""
    try:
        webhook_deliver_due_task.apply_async(expires=60)
    except Exception:
        logger.warning("could not enqueue the webhook delivery task", exc_info=True)


def kick_automation_dispatch(sender=None, **kwargs) -> None:
    """Receiver of ``tasking.signals.pick_tasks_released`` (after commit): dispatch soon."""
    if not getattr(settings, "WMS_AUTOMATION_KICK", True):
        return
    try:
        automation_dispatch_task.apply_async(expires=60)
    except Exception:
        logger.warning("could not enqueue the automation dispatch task", exc_info=True)


def connect_kicks() -> None:
    deliveries_due.connect(kick_delivery_worker, dispatch_uid="integrations.tasks.deliveries")
    pick_tasks_released.connect(
        kick_automation_dispatch, dispatch_uid="integrations.tasks.automation"
    )


@shared_task(name="integrations.tasks.alerts_evaluate_task", ignore_result=True)
def alerts_evaluate_task() -> int:
    """Evaluate every alert rule (issue 17); the number of rules evaluated."""
    return len(alert_rules_evaluate())


@shared_task(name="integrations.tasks.report_subscriptions_send_task", ignore_result=True)
def report_subscriptions_send_task() -> int:
    """Mail the scheduled reports that are due (issue 17)."""
    return subscriptions_send_due()


@shared_task(name="integrations.tasks.retention_purge_task", ignore_result=True)
def retention_purge_task() -> dict:
    """Delete published outbox events, delivered deliveries and integration messages
    past their retention, in batches that never block a writer."""
    return retention_purge()
