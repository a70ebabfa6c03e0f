"""The correlation id of the work in progress (request, Celery task or command).

A contextvar, so it follows the request through services into outbox events,
Celery task headers and log lines without being passed by hand.
"""

import contextvars
import logging
import re
import uuid

_correlation_id: contextvars.ContextVar[str] = contextvars.ContextVar("correlation_id", default="")

_ACCEPTABLE = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def new_correlation_id() -> str:
    return str(uuid.uuid4())


def get_correlation_id() -> str:
    """The current correlation id, generating one if none was set."""
    value = _correlation_id.get()
    if not value:
        value = new_correlation_id()
        _correlation_id.set(value)
    return value


def set_correlation_id(value: str | None) -> contextvars.Token:
    """Set the id for this context; an unusable incoming value is replaced."""
    if not value or not _ACCEPTABLE.match(value):
        value = new_correlation_id()
    return _correlation_id.set(value)


def reset_correlation_id(token: contextvars.Token) -> None:
    _correlation_id.reset(token)


class CorrelationIdLogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = _correlation_id.get() or "-"
        return True
