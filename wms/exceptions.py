"""Domain errors: every one carries a stable ``code`` the API turns into problem details."""


class DomainError(Exception):
    """A business rule refused the command. Nothing was changed."""

    status = 409
    code = "domain_error"
    title = "Request conflicts with the current state"

    def __init__(
        self,
        detail: str = "",
        *,
        code: str | None = None,
        status: int | None = None,
        extra: dict | None = None,
    ):
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        if code:
            self.code = code
        if status:
            self.status = status
        self.extra = extra or {}


class NotFoundError(DomainError):
    status = 404
    code = "not_found"
    title = "Not found"


class BusinessValidationError(DomainError):
    """Input that is well-formed but breaks a business rule (unknown SKU…)."""

    status = 422
    code = "validation_failed"
    title = "Request failed business validation"

    def __init__(self, detail: str = "", *, errors: list[dict] | None = None, **kwargs):
        super().__init__(detail, **kwargs)
        self.errors = errors or []
