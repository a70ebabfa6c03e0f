"""API plumbing: authentication, system-type and warehouse permissions, problem details,
correlation ids, the instance guard and the OpenAPI schema."""

import pytest

from tests.factories import ItemFactory, UserFactory

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


def test_api_without_token_is_401_problem(api_client):
    """No credentials → 401 problem details with a stable code."""
    response = api_client.get("/api/v1/items")
    assert response.status_code == 401
    assert response["Content-Type"] == PROBLEM
    assert response.json()["code"] == "not_authenticated"


def test_api_with_bad_token_is_401(api_client):
    """An unknown token is refused with 401, not 403."""
    api_client.credentials(HTTP_AUTHORIZATION="Token wms_not-a-real-token")
    response = api_client.get("/api/v1/items")
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_api_wrong_warehouse_is_403(system_client, warehouse, other_warehouse):
    """A valid token asking for a warehouse it was not granted → 403."""
    client = system_client("store", "S042", [warehouse])
    assert client.get("/api/v1/items?warehouse=MAD1").status_code == 200
    response = client.get("/api/v1/items?warehouse=BCN1")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_api_wrong_system_type_is_403(system_client, warehouse, settings):
    """A system type the view does not allow gets 403 (checked on a view for stores only)."""
    from rest_framework.test import APIRequestFactory

    from inventory.api import ItemListApi

    class StoreOnlyItems(ItemListApi):
        allowed_system_types = ("store",)

    client = system_client("automation", "AUTO1", [warehouse])
    token = client._credentials["HTTP_AUTHORIZATION"]
    request = APIRequestFactory().get("/api/v1/items", HTTP_AUTHORIZATION=token)
    response = StoreOnlyItems.as_view()(request)
    response.render()
    assert response.status_code == 403
    assert response["Content-Type"] == PROBLEM


def test_api_system_sees_only_granted_warehouses(system_client, warehouse, other_warehouse):
    """Lists hold only rows of granted warehouses."""
    ItemFactory(warehouse=warehouse, sku="SKU-MAD")
    ItemFactory(warehouse=other_warehouse, sku="SKU-BCN")
    client = system_client("store", "S042", [warehouse])
    skus = [row["sku"] for row in client.get("/api/v1/items").json()["results"]]
    assert skus == ["SKU-MAD"]


def test_api_user_without_grant_sees_no_warehouse_data(api_client, warehouse, other_warehouse):
    """A person with the model permission but a grant on one warehouse sees only that one."""
    from django.contrib.auth.models import Group

    ItemFactory(warehouse=warehouse, sku="SKU-MAD")
    ItemFactory(warehouse=other_warehouse, sku="SKU-BCN")
    user = UserFactory(warehouses=[warehouse])
    user.groups.add(Group.objects.get(name="supervisor"))
    api_client.force_login(user)
    skus = [row["sku"] for row in api_client.get("/api/v1/items").json()["results"]]
    assert skus == ["SKU-MAD"]
    codes = [row["code"] for row in api_client.get("/api/v1/warehouses").json()]
    assert codes == ["MAD1"]


def test_api_wrong_instance_header_is_421(system_client, warehouse):
    """X-WMS-Instance naming another instance → 421, and the request is not served."""
    client = system_client("store", "S042", [warehouse])
    response = client.get("/api/v1/items", HTTP_X_WMS_INSTANCE="some-other-instance")
    assert response.status_code == 421
    assert response["Content-Type"] == PROBLEM
    assert response.json()["code"] == "misdirected_instance"
    assert client.get("/api/v1/items", HTTP_X_WMS_INSTANCE="wms-test").status_code == 200


def test_api_correlation_id_is_echoed(system_client, warehouse):
    """The caller's X-Correlation-ID comes back; without one, a new id is generated."""
    client = system_client("store", "S042", [warehouse])
    response = client.get("/api/v1/items", HTTP_X_CORRELATION_ID="corr-123")
    assert response["X-Correlation-ID"] == "corr-123"
    generated = client.get("/api/v1/items")["X-Correlation-ID"]
    assert generated and generated != "corr-123"


def test_api_validation_error_is_problem_with_field_errors(system_client, warehouse):
    """A bad query parameter → 400 problem details listing the field."""
    client = system_client("store", "S042", [warehouse])
    response = client.get("/api/v1/locations?type=NOT_A_TYPE")
    assert response.status_code == 400
    body = response.json()
    assert response["Content-Type"] == PROBLEM
    assert body["code"] == "validation_failed"
    assert body["errors"][0]["field"] == "type"
    assert body["errors"][0]["code"] == "invalid_choice"


def test_api_unknown_path_is_problem_404(system_client, warehouse):
    """An unknown API path answers problem JSON, not an HTML page."""
    client = system_client("store", "S042", [warehouse])
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response["Content-Type"] == PROBLEM


def test_api_schema_generates_without_warnings():
    """drf-spectacular builds the schema with no warnings or errors."""
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/tmp/wms-schema.yaml")


def test_api_schema_and_docs_are_served(api_client):
    """The contract's schema and docs paths answer."""
    assert api_client.get("/api/v1/schema/").status_code == 200
    assert api_client.get("/api/v1/docs/").status_code == 200


def test_health_endpoints(api_client):
    """healthz is alive; readyz checks database, migrations and broker."""
    assert api_client.get("/healthz").json()["status"] == "ok"
    ready = api_client.get("/readyz")
    assert ready.status_code == 200, ready.json()
    assert ready.json()["checks"]["database"] == "ok"
    assert "django_http_requests" in api_client.get("/metrics").content.decode()


def test_api_schema_documents_idempotency_errors():
    """Operations taking Idempotency-Key get the contract's 409 and 422; others do not."""
    from wms.schema import add_problem_responses

    header = {"in": "header", "name": "Idempotency-Key", "required": True}
    schema = {
        "paths": {
            "/api/v1/things": {
                "post": {"parameters": [header], "responses": {"201": {}}},
                "get": {"parameters": [], "responses": {"200": {}}},
            }
        }
    }
    result = add_problem_responses(schema, None, None, True)
    post, get = result["paths"]["/api/v1/things"]["post"], result["paths"]["/api/v1/things"]["get"]
    assert {"400", "401", "403", "409", "421", "422", "429", "500"} <= set(post["responses"])
    assert "idempotency_key_in_use" in post["responses"]["409"]["description"]
    assert "409" not in get["responses"] and "422" not in get["responses"]
