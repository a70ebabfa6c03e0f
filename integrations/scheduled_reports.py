"""Scheduled reports (issue 17): a subscription mails a report as a CSV or XLSX
attachment every day or week, built with its owner's warehouses and permissions.

``subscriptions_send_due`` runs from Celery beat. Each due subscription is
claimed with ``SKIP LOCKED`` and its ``next_run_at`` moved on in the same
transaction as the sending, so two beats never mail it twice; a mail server
that refuses rolls the claim back and the next beat tries again. Filters that
became invalid (a warehouse no longer granted) are recorded in ``last_error``
and the run is skipped instead of retried forever.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.exceptions import ValidationError

from wms.exceptions import DomainError
from wms.models import ReportFrequency, ReportSubscription
from wms.reporting import XLSX_MEDIA_TYPE, csv_header, csv_stream, file_name, xlsx_stream

from .reports import REPORTS, actor_sees_values, report_source

logger = logging.getLogger(__name__)

_PERIOD = {
    ReportFrequency.DAILY: dt.timedelta(days=1),
    ReportFrequency.WEEKLY: dt.timedelta(days=7),
}


def report_file(subscription: ReportSubscription) -> tuple[str, bytes, str]:
    """The report's file as its owner would download it: name, content, media type."""
    report = REPORTS.get(subscription.report)
    if report is None:
        raise DomainError(f"Unknown report '{subscription.report}'.")
    owner = subscription.owner
    if not report.actor_may_read(owner):
        raise DomainError(f"{owner} may no longer read the {report.slug} report.")
    source, _filters = report_source(report, actor=owner, params=subscription.params)
    hide = not actor_sees_values(owner)
    if subscription.file_format == "csv":
        copy = getattr(source, "copy_csv", None)
        if copy is not None:
            chunks = [csv_header(report.columns), *copy(hide_sensitive=hide)]
        else:
            chunks = csv_stream(
                report.columns, source.stream(), key_len=source.key_len, hide_sensitive=hide
            )
        return file_name(report.slug, "csv"), b"".join(chunks), "text/csv"
    chunks = xlsx_stream(
        report.columns,
        source.stream(),
        key_len=source.key_len,
        hide_sensitive=hide,
        sheet_title=str(report.title),
    )
    return file_name(report.slug, "xlsx"), b"".join(chunks), XLSX_MEDIA_TYPE


def _next_run(subscription: ReportSubscription, now: dt.datetime) -> dt.datetime:
    step = _PERIOD[subscription.frequency]
    next_run = subscription.next_run_at + step
    while next_run <= now:  # a worker that was down does not mail the missed runs
        next_run += step
    return next_run


@transaction.atomic
def subscription_send(*, subscription_id: int) -> bool:
    """Mail one due subscription; False when it is not due or another worker has it."""
    now = timezone.now()
    subscription = (
        ReportSubscription.objects.select_for_update(skip_locked=True)
        .select_related("owner")
        .filter(pk=subscription_id, is_active=True, next_run_at__lte=now)
        .first()
    )
    if subscription is None:
        return False
    subscription.next_run_at = _next_run(subscription, now)
    try:
        name, content, media_type = report_file(subscription)
    except (ValidationError, DomainError) as exc:
        subscription.last_error = str(getattr(exc, "detail", exc))[:2000]
        subscription.save(update_fields=["next_run_at", "last_error"])
        logger.warning("report subscription %s skipped: %s", subscription_id, exc)
        return False
    report = REPORTS[subscription.report]
    message = EmailMessage(
        subject=_("[WMS] %(report)s") % {"report": report.title},
        body=_("The %(report)s report of %(date)s is attached.")
        % {"report": report.title, "date": f"{timezone.localtime(now):%Y-%m-%d %H:%M}"},
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=subscription.recipient_list,
    )
    message.attach(name, content, media_type)
    message.send(fail_silently=False)
    subscription.last_sent_at, subscription.last_error = now, ""
    subscription.save(update_fields=["next_run_at", "last_sent_at", "last_error"])
    return True


def subscriptions_send_due() -> int:
    """Every due subscription once; the count mailed."""
    due = ReportSubscription.objects.filter(is_active=True, next_run_at__lte=timezone.now())
    sent = 0
    for subscription_id in due.values_list("pk", flat=True):
        try:
            sent += subscription_send(subscription_id=subscription_id)
        except Exception:
            logger.exception("report subscription %s could not be sent", subscription_id)
    return sent
