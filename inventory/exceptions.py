"""Domain errors of the inventory context, each with a stable ``code`` (problem details)."""

from wms.exceptions import BusinessValidationError, DomainError


class InsufficientAvailable(DomainError):
    status = 409
    code = "insufficient_available"
    title = "Not enough available stock"


class PostingKeyReused(DomainError):
    status = 422
    code = "posting_key_reused"
    title = "Posting key already used for a different posting"


class ReservationNotOpen(DomainError):
    status = 409
    code = "reservation_not_open"
    title = "Reservation already resolved"


class ReservationExpired(DomainError):
    status = 409
    code = "reservation_expired"
    title = "Reservation expired"


class ReservationPending(DomainError):
    status = 409
    code = "reservation_pending"
    title = "Reservation not committed yet"


class ReservationOverConsume(DomainError):
    status = 409
    code = "reservation_over_consume"
    title = "Consume exceeds the reserved quantity"


class ReservationOverRelease(DomainError):
    status = 409
    code = "reservation_over_release"
    title = "Release exceeds the reserved quantity"


class StatusNotAllocatable(DomainError):
    status = 409
    code = "status_not_allocatable"
    title = "Stock in this status may not be reserved"


class InvalidPosting(BusinessValidationError):
    """Well-formed but impossible posting input (bad quantity, wrong warehouse…)."""

    code = "invalid_posting"
    title = "Posting refused"


# --- adjustments and approvals (``inventory.services.adjustments``) -----------------


class InvalidReasonCode(BusinessValidationError):
    code = "invalid_reason_code"
    title = "Unknown reason code, or not one for adjustments"


class AdjustmentRequestKeyReused(BusinessValidationError):
    code = "adjustment_request_key_reused"
    title = "Request key already used for a different adjustment"


class AdjustmentNotFound(DomainError):
    status = 404
    code = "adjustment_not_found"
    title = "Adjustment not found"


class AdjustmentAlreadyDecided(DomainError):
    status = 409
    code = "adjustment_already_decided"
    title = "Adjustment already approved, rejected or applied"


class SelfApprovalForbidden(DomainError):
    status = 403
    code = "self_approval_forbidden"
    title = "The requester cannot decide their own adjustment"


class ApprovalNotPermitted(DomainError):
    status = 403
    code = "approval_not_permitted"
    title = "Not allowed to approve adjustments in this warehouse"
