"""Request middleware of the kernel: correlation ids and the instance guard."""

from django.conf import settings
from django.http import JsonResponse

from .correlation import get_correlation_id, reset_correlation_id, set_correlation_id

CORRELATION_HEADER = "X-Correlation-ID"
INSTANCE_HEADER = "X-WMS-Instance"


class CorrelationIdMiddleware:
    """Take ``X-Correlation-ID`` from the request (or make one) and echo it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = set_correlation_id(request.headers.get(CORRELATION_HEADER))
        request.correlation_id = get_correlation_id()
        try:
            response = self.get_response(request)
            response[CORRELATION_HEADER] = request.correlation_id
            return response
        finally:
            reset_correlation_id(token)


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
