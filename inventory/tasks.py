"""Celery tasks of the inventory context: thin, idempotent, ids in, a service call out."""

from celery import shared_task

from . import services


@shared_task(name="inventory.tasks.reservation_expire_due_task")
def reservation_expire_due_task(limit: int = 500) -> int:
    """Expire the reservations due on the database clock (beat: every 30 s); the number expired."""
    return services.reservation_expire_due(limit=limit)
