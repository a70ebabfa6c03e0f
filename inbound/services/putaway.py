"""Put-away confirmation: the operator scanned a destination; move the goods there once.

The move is one ``stock_move`` under the task's own posting key
(``PutAwayTask:<id>:move``), and the task row is locked while it is decided, so
a double tap, a browser retry or two operators confirming together have one
effect: the second call finds the task done at the same place and is a replay.
"""

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from inventory.models import Location, ReasonCode, ReasonCodeUse
from inventory.services import stock_move
from wms.exceptions import BusinessValidationError, DomainError

from ..locks import lock_put_away_task
from ..models import PutAwayTask, PutAwayTaskStatus
from .common import actor_has_perm, actor_user, require_warehouse

CONFIRM_PERMISSION = "inbound.change_putawaytask"


@dataclass(frozen=True)
class PutAwayResult:
    task: PutAwayTask
    replayed: bool = False
    overridden: bool = False


@transaction.atomic
def putaway_task_confirm(
    *,
    task: PutAwayTask,
    location: Location,
    reason_code: ReasonCode | None = None,
    actor=None,
) -> PutAwayResult:
    """Put the task's goods away at ``location``.

    Another location than the suggested one is an override and needs a reason
    code of use OVERRIDE (422 ``override_reason_required``). Confirming a done
    task at the same location is a replay; elsewhere, 409 ``task_not_open``.
    """
    if not actor_has_perm(actor, CONFIRM_PERMISSION):
        raise DomainError(_("You may not confirm put-away."), code="permission_denied", status=403)
    task = lock_put_away_task(task.pk)
    require_warehouse(actor, task.warehouse)
    if task.status == PutAwayTaskStatus.DONE and task.confirmed_location_id == location.pk:
        overridden = task.override_reason_id is not None
        return PutAwayResult(task=task, replayed=True, overridden=overridden)
    if task.status != PutAwayTaskStatus.OPEN:
        raise DomainError(
            _("Put-away task %(task)s is already %(status)s.")
            % {"task": task.pk, "status": task.get_status_display().lower()},
            code="task_not_open",
        )
    _check_destination(task, location)
    overridden = location.pk != task.to_location_id
    if overridden:
        _check_override_reason(task, location, reason_code)
    stock_move(
        item=task.item,
        from_location=task.from_location,
        to_location=location,
        status=task.inventory_status,
        qty=task.qty,
        posting_key=task.posting_key,
        source_ref=f"PutAwayTask:{task.pk}",
        actor=actor,
    )
    task.status = PutAwayTaskStatus.DONE
    task.confirmed_location = location
    task.override_reason = reason_code if overridden else None
    task.confirmed_at = timezone.now()
    task.confirmed_by = actor_user(actor)
    task.save(
        update_fields=[
            "status",
            "confirmed_location",
            "override_reason",
            "confirmed_at",
            "confirmed_by",
        ]
    )
    return PutAwayResult(task=task, overridden=overridden)


def _check_destination(task: PutAwayTask, location: Location) -> None:
    if location.warehouse_id != task.warehouse_id or not location.is_active:
        raise BusinessValidationError(
            _("%(location)s is not a location of this warehouse.") % {"location": location.code},
            code="unknown_location",
        )
    if location.pk == task.from_location_id:
        raise BusinessValidationError(
            _("The goods are already at %(location)s.") % {"location": location.code},
            code="same_location",
        )


def _check_override_reason(task: PutAwayTask, location: Location, reason_code) -> None:
    """Another location than the suggested one needs a reason code of use OVERRIDE."""
    if reason_code is None:
        suggested = task.to_location.code if task.to_location_id else "-"
        raise BusinessValidationError(
            _(
                "Wrong location: scanned %(scanned)s, expected %(expected)s. "
                "Nothing was moved. To put away elsewhere, choose a reason and scan again."
            )
            % {"scanned": location.code, "expected": suggested},
            code="override_reason_required",
        )
    if reason_code.use != ReasonCodeUse.OVERRIDE:
        raise BusinessValidationError(
            _("%(reason)s is not an override reason.") % {"reason": reason_code.code},
            code="invalid_reason_code",
        )
