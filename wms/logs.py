"""Structured logs: one JSON object per line, for web, worker, beat and relay alike.

Every line carries ``timestamp`` (UTC, ISO 8601), ``level``, ``event`` (the
message), ``logger``, ``instanceId``, ``correlationId`` (of the request, task or
event being handled), ``actor`` (``user:<id>`` or ``system:<id>``) when known and
``integrationTarget`` (an external system's code) while the work concerns one, and
``traceId``/``spanId`` while tracing is on and a span is active (``wms.telemetry``).
The standard library's loggers are rendered by structlog's ProcessorFormatter
(settings.LOGGING), so Django's, Celery's and our own lines look alike.

No secrets: keys that name one (password, token, authorization, secret, cookie)
are masked, and so is anything that looks like an API token or a session id.
``LOG_FORMAT=console`` renders the same lines for people instead of machines.
"""

import contextvars
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

import structlog
from django.conf import settings

from .correlation import _correlation_id
from .telemetry import trace_ids

_actor: contextvars.ContextVar[str] = contextvars.ContextVar("log_actor", default="")
_integration_target: contextvars.ContextVar[str] = contextvars.ContextVar(
    "log_integration_target", default=""
)

_SECRET_KEYS = re.compile(r"pass(word)?|token|authori[sz]ation|secret|cookie|api[_-]?key", re.I)
_SECRET_VALUES = re.compile(
    r"\bwms_[a-z2-7]{32}\b"  # API token keys
    r"|(?i:\b(?:token|bearer)\s+)[A-Za-z0-9._~+/=-]{8,}"  # Authorization header values
    r"|(?i:sessionid=)[a-z0-9]{20,}"
)
MASK = "[redacted]"


def set_actor(value: str) -> contextvars.Token:
    """``user:<id>`` or ``system:<id>``: who the current work is done for."""
    return _actor.set(value)


def reset_actor(token: contextvars.Token) -> None:
    _actor.reset(token)


def set_integration_target(code: str) -> contextvars.Token:
    """Lines logged until the reset carry ``integrationTarget=code`` (an external system)."""
    return _integration_target.set(code)


def reset_integration_target(token: contextvars.Token) -> None:
    _integration_target.reset(token)


@contextmanager
def integration_target(code: str) -> Iterator[None]:
    token = set_integration_target(code)
    try:
        yield
    finally:
        reset_integration_target(token)


def _add_context(logger, method_name, event_dict):
    event_dict.pop("correlation_id", None)  # the record attribute of CorrelationIdLogFilter
    event_dict.setdefault("instanceId", settings.WMS_INSTANCE_ID)
    event_dict.setdefault("correlationId", _correlation_id.get() or None)
    if actor := _actor.get():
        event_dict.setdefault("actor", actor)
    if target := _integration_target.get():
        event_dict.setdefault("integrationTarget", target)
    return event_dict


def _redact(value):
    if isinstance(value, str):
        return _SECRET_VALUES.sub(MASK, value)
    if isinstance(value, dict):
        return {
            k: MASK if isinstance(k, str) and _SECRET_KEYS.search(k) else _redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redact(v) for v in value]
    return value


def _redact_secrets(logger, method_name, event_dict):
    return _redact(event_dict)


def _drop_color_message(logger, method_name, event_dict):
    event_dict.pop("color_message", None)  # uvicorn/celery duplicates of the message
    return event_dict


_PRE_CHAIN = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.add_log_level,
    structlog.stdlib.ExtraAdder(),
    structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
    _add_context,
    trace_ids,  # traceId and spanId while a span is active (wms.telemetry)
    _drop_color_message,
]


def formatter(fmt: str = "json") -> structlog.stdlib.ProcessorFormatter:
    """The logging.Formatter of settings.LOGGING (``"()": "wms.logs.formatter"``)."""
    renderer = (
        structlog.dev.ConsoleRenderer(colors=False)
        if fmt == "console"
        else structlog.processors.JSONRenderer()
    )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_PRE_CHAIN,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _redact_secrets,
            renderer,
        ],
    )


def configure_structlog() -> None:
    """structlog's own loggers (``structlog.get_logger()``) go through the same handlers."""
    structlog.configure(
        processors=[*_PRE_CHAIN, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def actor_of(user) -> str:
    """``user:<pk>``, ``system:<pk>`` (a SystemPrincipal's pk) or empty."""
    if user is None or not getattr(user, "is_authenticated", False):
        return ""
    pk = user.pk
    return pk if isinstance(pk, str) else f"user:{pk}"


request_logger = logging.getLogger("wms.request")
