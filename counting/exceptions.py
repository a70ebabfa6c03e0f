"""Domain errors of counting, each with the stable ``code`` the API answers with."""

from django.utils.translation import gettext_lazy as _

from wms.exceptions import BusinessValidationError, DomainError


class CountClosed(DomainError):
    status = 409
    code = "count_closed"
    title = _("The count is closed")


class RecountPending(DomainError):
    status = 409
    code = "recount_pending"
    title = _("Lines wait for a recount")


class RecountBySameCounter(DomainError):
    """A recount (or accepting a variance) needs a person other than the first counter."""

    status = 403
    code = "recount_same_counter"
    title = _("A recount needs another person")


class SubmissionKeyReused(BusinessValidationError):
    code = "count_result_key_reused"
    title = _("The request key was used for other results")
