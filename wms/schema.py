"""OpenAPI: token authentication and the problem-details responses of every operation."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension

PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string", "description": "Stable machine-readable error code."},
        "correlationId": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string", "nullable": True},
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                },
            },
        },
    },
}

_COMMON_ERRORS = {
    "400": "Malformed request or invalid input",
    "401": "Missing or invalid token",
    "403": "Token of the wrong system type or warehouse",
    "404": "Not found, or not in the caller's warehouses (a warehouse, an id in the path)",
    "421": "X-WMS-Instance names another instance",
    "429": "Rate limited; retry after Retry-After seconds",
    "500": "Internal error; safe to retry with the same Idempotency-Key",
}

_IDEMPOTENCY_ERRORS = {
    "409": "The same Idempotency-Key is still being processed (idempotency_key_in_use), "
    "or the request conflicts with the current state",
    "422": "The Idempotency-Key was used with another body (idempotency_key_reused), "
    "or the request failed business validation",
}


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "integrations.authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <key>`: one key per external system (store, automation, "
            "finance).",
        }


def _cursor_page(operation: dict) -> None:
    """A list taking ``cursor`` answers a page of wms.pagination.CursorPagination, not
    the bare array an APIView's ``responses=Serializer(many=True)`` declares."""
    if not any(
        p.get("in") == "query" and p.get("name") == "cursor"
        for p in operation.get("parameters", [])
    ):
        return
    content = operation.get("responses", {}).get("200", {}).get("content", {})
    media = content.get("application/json")
    if not media or media.get("schema", {}).get("type") != "array":
        return
    link = {"type": "string", "format": "uri", "nullable": True}
    media["schema"] = {
        "type": "object",
        "required": ["next", "previous", "results"],
        "properties": {"next": link, "previous": link, "results": media["schema"]},
    }


def add_problem_responses(result, generator, request, public):
    """Postprocessing hook: every operation documents its problem-details errors (and
    a cursor-paginated list its page)."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    ref = {"$ref": "#/components/schemas/Problem"}
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            _cursor_page(operation)
            responses = operation.setdefault("responses", {})
            errors = dict(_COMMON_ERRORS)
            if any(
                p.get("in") == "header" and p.get("name") == "Idempotency-Key"
                for p in operation.get("parameters", [])
            ):
                errors.update(_IDEMPOTENCY_ERRORS)
            if "requestBody" in operation:
                errors["415"] = "The body is not JSON (Content-Type application/json)"
            for status, description in errors.items():
                responses.setdefault(
                    status,
                    {
                        "description": description,
                        "content": {"application/problem+json": {"schema": ref}},
                    },
                )
    return result
