"""Request middleware of the kernel: correlation ids and the instance guard."""

import time

from django.conf import settings
from django.http import JsonResponse
from django.utils.functional import SimpleLazyObject, empty

from .correlation import get_correlation_id, reset_correlation_id, set_correlation_id
from .logs import actor_of, request_logger, reset_actor, set_actor

CORRELATION_HEADER = "X-Correlation-ID"
INSTANCE_HEADER = "X-WMS-Instance"


class CorrelationIdMiddleware:
    """Take ``X-Correlation-ID`` from the request (or make one) and echo it; log one
    line per request (method, path, status, duration, actor)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = set_correlation_id(request.headers.get(CORRELATION_HEADER))
        actor_token = set_actor("")
        request.correlation_id = get_correlation_id()
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response[CORRELATION_HEADER] = request.correlation_id
            _log_request(request, response.status_code, started)
            return response
        finally:
            reset_actor(actor_token)
            reset_correlation_id(token)


def _log_request(request, status: int, started: float) -> None:
    # request.user as DRF or the auth middleware left it, never loaded just to log it.
    user = request.__dict__.get("user")
    if isinstance(user, SimpleLazyObject) and user._wrapped is empty:
        user = None
    extra = {
        "method": request.method,
        "path": request.path,
        "status": status,
        "durationMs": round((time.perf_counter() - started) * 1000, 1),
    }
    if actor := actor_of(user):
        extra["actor"] = actor
    request_logger.info("request", extra=extra)


class InstanceGuardMiddleware:
    """A request addressed to another instance is answered 421, never served."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        wanted = request.headers.get(INSTANCE_HEADER)
        if wanted is not None and wanted != settings.WMS_INSTANCE_ID:
            from .problems import problem_body

            body = problem_body(
                status=421,
                code="misdirected_instance",
                title="Misdirected request",
                detail=(
                    f"This is WMS instance '{settings.WMS_INSTANCE_ID}', "
                    f"the request was addressed to '{wanted}'."
                ),
            )
            return JsonResponse(body, status=421, content_type="application/problem+json")
        return self.get_response(request)
