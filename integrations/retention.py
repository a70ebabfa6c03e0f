"""Retention of the integration backbone: published outbox events, delivered
webhook deliveries and old integration messages are deleted after their
retention (settings ``WMS_*_RETENTION_*``), by the beat's ``retention_purge_task``.

In small batches, each its own short transaction that takes only rows nobody
holds (``FOR UPDATE SKIP LOCKED``): a relay marking events published, a writer
appending events or a worker recording a delivery never waits on the purge, and
the purge never waits on them (a row it skips goes with a later batch).
"""

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from . import queries

logger = logging.getLogger(__name__)


def _purge(statement: str, *, cutoff, batch_size: int, max_seconds: float) -> int:
    total = 0
    started = time.monotonic()
    while time.monotonic() - started < max_seconds:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [cutoff, batch_size])
            deleted = cursor.rowcount
        total += deleted
        if deleted < batch_size:
            break
    return total


def retention_purge(*, now=None, batch_size: int | None = None, max_seconds: float = 300.0):
    """Purge what is past its retention; returns ``{what: rows deleted}``."""
    now = now or timezone.now()
    batch_size = batch_size or settings.WMS_PURGE_BATCH_SIZE
    plan = {
        "outbox_events": (
            queries.OUTBOX_PUBLISHED_PURGE,
            now - timedelta(hours=settings.WMS_OUTBOX_RETENTION_HOURS),
        ),
        "webhook_deliveries": (
            queries.DELIVERY_DELIVERED_PURGE,
            now - timedelta(days=settings.WMS_DELIVERY_RETENTION_DAYS),
        ),
        "integration_messages": (
            queries.MESSAGE_PURGE,
            now - timedelta(days=settings.WMS_MESSAGE_RETENTION_DAYS),
        ),
    }
    purged = {}
    for what, (statement, cutoff) in plan.items():
        purged[what] = _purge(
            statement, cutoff=cutoff, batch_size=batch_size, max_seconds=max_seconds
        )
        if purged[what]:
            logger.info("retention: purged %d %s older than %s", purged[what], what, cutoff)
    return purged
