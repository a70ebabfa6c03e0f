"""Domain errors of the tasking context, each with a stable ``code`` (problem details).

Messages are translated where they are raised: the handheld pages show them to
pickers as they are.
"""

# The refusal of outbound's pick work port: raised by this app, caught by outbound.
from outbound.ports import PickingStarted  # noqa: F401
from wms.exceptions import BusinessValidationError, DomainError, NotFoundError


class TaskNotFound(NotFoundError):
    code = "pick_task_not_found"
    title = "No such pick task"


class TaskNotOpen(DomainError):
    """CONTRACT.md: a confirmation for a cancelled or finished task → 409 ``task_not_open``."""

    status = 409
    code = "task_not_open"
    title = "The pick task is no longer open"


class TaskNotYours(DomainError):
    status = 409
    code = "task_not_assigned_to_you"
    title = "The pick task is assigned to someone else"


class TaskNotDispatched(DomainError):
    status = 409
    code = "task_not_dispatched"
    title = "The pick task is not dispatched to this system"


class TaskStateConflict(DomainError):
    status = 409
    code = "task_state_conflict"
    title = "The pick task cannot do this in its current status"


class OverPick(BusinessValidationError):
    """CONTRACT.md: more than is open on the task → 422 ``over_pick``."""

    code = "over_pick"
    title = "More than is open on the task"


class WrongScan(BusinessValidationError):
    """A scan that does not match the task: refused, nothing changes."""

    code = "wrong_scan"
    title = "The scan does not match the task"


class ConfirmationKeyReused(BusinessValidationError):
    code = "confirmation_key_reused"
    title = "This key already confirmed another pick"


class NoStagingLocation(DomainError):
    status = 409
    code = "no_staging_location"
    title = "The warehouse has no active staging location"


class ExceptionNotOpen(DomainError):
    status = 409
    code = "exception_not_open"
    title = "The exception case is already resolved"


class NoStockElsewhere(DomainError):
    status = 409
    code = "no_stock_elsewhere"
    title = "No stock available at another location"
