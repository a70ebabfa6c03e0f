"""Periodic kernel jobs (scheduled in ``wms.celery``; thin and idempotent)."""

import logging

from celery import shared_task

from .idempotency import idempotency_purge

logger = logging.getLogger(__name__)


@shared_task(name="wms.tasks.idempotency_purge_task", ignore_result=True)
def idempotency_purge_task() -> int:
    """Delete stored idempotency outcomes past the retention, in batches."""
    total = 0
    while True:
        deleted = idempotency_purge()
        total += deleted
        if not deleted:
            break
    if total:
        logger.info("purged %d idempotency records past the retention", total)
    return total
