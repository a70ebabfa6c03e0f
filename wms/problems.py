"""RFC 9457 problem details for every 4xx and 5xx the API answers."""

import logging

from django.http import JsonResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework import status as http
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_default_handler

from .correlation import get_correlation_id
from .exceptions import BusinessValidationError, DomainError

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://wms.example/problems/"

_DRF_CODES = {
    drf_exceptions.ParseError: ("malformed_request", "Malformed request body"),
    drf_exceptions.NotAuthenticated: ("not_authenticated", "Authentication required"),
    drf_exceptions.AuthenticationFailed: ("authentication_failed", "Authentication failed"),
    drf_exceptions.PermissionDenied: ("permission_denied", "Permission denied"),
    drf_exceptions.NotFound: ("not_found", "Not found"),
    drf_exceptions.MethodNotAllowed: ("method_not_allowed", "Method not allowed"),
    drf_exceptions.NotAcceptable: ("not_acceptable", "Not acceptable"),
    drf_exceptions.UnsupportedMediaType: ("unsupported_media_type", "Unsupported media type"),
    drf_exceptions.Throttled: ("rate_limited", "Too many requests"),
}


def problem_body(
    *,
    status: int,
    code: str,
    title: str,
    detail: str = "",
    errors: list[dict] | None = None,
    **extra,
) -> dict:
    body = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail or title,
        "code": code,
        "correlationId": get_correlation_id(),
    }
    if errors is not None:
        body["errors"] = errors
    body.update(extra)
    return body


def problem_response(**kwargs) -> Response:
    body = problem_body(**kwargs)
    return Response(body, status=body["status"], content_type=PROBLEM_CONTENT_TYPE)


def flatten_validation_errors(detail, prefix: str = "") -> list[dict]:
    """Turn DRF's nested error structure into ``[{field, code, message}]``."""
    errors: list[dict] = []
    if isinstance(detail, dict):
        for key, value in detail.items():
            if key in ("non_field_errors", "__all__"):
                field = prefix or None
            elif isinstance(key, int) or str(key).isdigit():
                # DRF keys a ListSerializer's errors by index: name it like a list
                # item (``lines[0].qty``), as the services do.
                field = f"{prefix}[{key}]"
            else:
                field = f"{prefix}.{key}" if prefix else str(key)
            errors.extend(flatten_validation_errors(value, field or ""))
    elif isinstance(detail, list):
        if all(isinstance(item, (str, drf_exceptions.ErrorDetail)) for item in detail):
            for item in detail:
                errors.append(
                    {
                        "field": prefix or None,
                        "code": getattr(item, "code", "invalid"),
                        "message": str(item),
                    }
                )
        else:
            for index, item in enumerate(detail):
                if item:
                    errors.extend(flatten_validation_errors(item, f"{prefix}[{index}]"))
    else:
        errors.append(
            {
                "field": prefix or None,
                "code": getattr(detail, "code", "invalid"),
                "message": str(detail),
            }
        )
    return errors


def problem_exception_handler(exc, context):
    """DRF exception handler: every error leaves as ``application/problem+json``."""
    if isinstance(exc, BusinessValidationError):
        return problem_response(
            status=exc.status,
            code=exc.code,
            title=exc.title,
            detail=exc.detail,
            errors=exc.errors,
            **exc.extra,
        )
    if isinstance(exc, DomainError):
        return problem_response(
            status=exc.status, code=exc.code, title=exc.title, detail=exc.detail, **exc.extra
        )
    if isinstance(exc, drf_exceptions.ValidationError):
        return problem_response(
            status=http.HTTP_400_BAD_REQUEST,
            code="validation_failed",
            title="Request failed validation",
            detail="One or more fields are invalid.",
            errors=flatten_validation_errors(exc.detail),
        )
    response = drf_default_handler(exc, context)
    if response is None:
        logger.exception("Unhandled error in API view", exc_info=exc)
        return problem_response(
            status=500,
            code="internal_error",
            title="Internal server error",
            detail="The request could not be completed; it is safe to retry with the same "
            "Idempotency-Key.",
        )
    code, title = "error", "Error"
    for exc_class, (exc_code, exc_title) in _DRF_CODES.items():
        if isinstance(exc, exc_class):
            code, title = exc_code, exc_title
            break
    detail = exc.detail if isinstance(exc, drf_exceptions.APIException) else str(exc)
    problem = problem_response(
        status=response.status_code, code=code, title=title, detail=str(detail)
    )
    for header in ("Retry-After", "WWW-Authenticate", "Allow"):
        if header in response:
            problem[header] = response[header]
    return problem


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def handler404(request, exception=None):
    if _is_api(request):
        body = problem_body(
            status=404,
            code="not_found",
            title="Not found",
            detail=f"No resource at {request.path}.",
        )
        return JsonResponse(body, status=404, content_type=PROBLEM_CONTENT_TYPE)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def handler500(request):
    if _is_api(request):
        body = problem_body(status=500, code="internal_error", title="Internal server error")
        return JsonResponse(body, status=500, content_type=PROBLEM_CONTENT_TYPE)
    from django.views.defaults import server_error

    return server_error(request)
