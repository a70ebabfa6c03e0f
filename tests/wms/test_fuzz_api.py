"""The API fuzzed against its own OpenAPI schema (schemathesis): every operation, with
valid and invalid input, each called as the actor it is for (a system token of an
allowed type, else a superuser's session), answers no 5xx and only documented status
codes, content types and bodies.

Bounded here (``WMS_FUZZ_EXAMPLES``, default 4 per operation and mode) so it runs in
the suite; ``scripts/fuzz`` runs it with many more. All in one transaction against
the demo data (seed_demo), rolled back at the end.
"""

import os
import re

import pytest
import schemathesis
from django.contrib.auth import get_user_model
from django.core.handlers.wsgi import WSGIHandler
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from django.urls import Resolver404, resolve
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from rest_framework.test import APIClient
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from integrations.services import external_system_ensure

EXAMPLES = int(os.environ.get("WMS_FUZZ_EXAMPLES", "4"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
MODES = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]


def _principal_for(path_template: str) -> str:
    """The first system type the operation's view allows, else "person"."""
    for sample in ("1", "00000000-0000-0000-0000-000000000001"):
        try:
            view = resolve(re.sub(r"\{[^}]+\}", sample, path_template)).func
            break
        except Resolver404:
            continue
    view_class = getattr(view, "cls", None) or getattr(view, "view_class", None)
    allowed = getattr(view_class, "allowed_system_types", ())
    if isinstance(allowed, dict):
        allowed = tuple(allowed.get("write", ())) + tuple(allowed.get("read", ()))
    return allowed[0] if allowed else "person"


@pytest.fixture
def credentials(db):
    """Demo data, a token per system type for MAD1 and a superuser's session cookie."""
    call_command("seed_demo", verbosity=0, stdout=open(os.devnull, "w"))  # noqa: SIM115
    tokens = {}
    for system_type, code in (("store", "S042"), ("automation", "AUTO1"), ("finance", "FIN1")):
        _system, key, _created = external_system_ensure(
            system_type=system_type, code=code, warehouse_codes=["MAD1"], rotate=True
        )
        tokens[system_type] = key
    client = Client()
    client.force_login(get_user_model().objects.get(username="admin"))
    return tokens, client.cookies["sessionid"].value


@pytest.fixture
def wsgi_app():
    """Django's WSGI handler without its end-of-request connection close (as the test
    client does): the requests run inside the test's transaction."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield WSGIHandler()
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


def test_fuzz_api_every_operation_conforms_without_server_errors(credentials, wsgi_app):
    """Every operation of /api/v1/schema/: no 5xx, responses as documented."""
    tokens, session_id = credentials
    schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", wsgi_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30
    failures = []
    statuses: dict[str, set[int]] = {}
    for operation in operations:
        principal = _principal_for(operation.path)
        if principal == "person":
            auth = {"cookies": {"sessionid": session_id}}
        else:
            auth = {"headers": {"Authorization": f"Token {tokens[principal]}"}}
        for mode in MODES:
            try:
                _fuzz(operation, mode, auth, statuses)
            except Unsatisfiable:
                continue  # negative mode of an operation without input: nothing to break
            except (Exception, BaseExceptionGroup) as exc:
                failures.append(f"{operation.method.upper()} {operation.path} [{mode.value}]")
                for sub in getattr(exc, "exceptions", [exc]):
                    failures.append(f"    {type(sub).__name__}: {str(sub)[:600]}")
    assert not failures, "\n".join(failures)
    # The credentials work: (nearly) every list was answered 2xx at least once (writes
    # and lookups by id mostly meet random data, so 4xx).
    lists = {op: codes for op, codes in statuses.items() if op.startswith("GET") and "{" not in op}
    answered = [op for op, codes in lists.items() if any(200 <= c < 300 for c in codes)]
    missing = sorted(set(lists) - set(answered))
    assert len(answered) >= 0.8 * len(lists), missing


def _fuzz(operation, mode, auth, statuses):
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case):
        headers = {**(case.headers or {}), **auth.get("headers", {})}
        # A JSON body with an Idempotency-Key where an operation requires one.
        headers.setdefault("Idempotency-Key", f"fuzz-{abs(hash(repr(case.body)))}")
        response = case.call_and_validate(
            headers=headers, cookies=auth.get("cookies"), checks=CHECKS
        )
        statuses.setdefault(f"{operation.method.upper()} {operation.path}", set()).add(
            response.status_code
        )

    run()


@pytest.mark.parametrize(
    ("actor", "path", "body"),
    [
        ("store", "/api/v1/replenishment-orders", {"requestedShipBy": "2030-11-23T18:61:00Z"}),
        ("finance", "/api/v1/inbound-shipments", {"expectedArrivalAt": "2030-11-23T25:00:00Z"}),
        (
            "automation",
            "/api/v1/automation/shipment-confirmations",
            {"departedAt": "2030-02-30T10:00:00Z"},
        ),
    ],
)
def test_fuzz_finding_impossible_timestamp_is_400_not_500(credentials, actor, path, body):
    """Found by the fuzzer: a well-formed but impossible timestamp (minute 61, hour 25,
    30 February) was a 500; it is a 400 naming the field."""
    tokens, _session = credentials
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {tokens[actor]}")
    response = client.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=f"ts-{path}")
    assert response.status_code == 400, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    assert next(iter(body)) in response.content.decode()
