"""The ``@idempotent`` decorator against the contract's table (CONTRACT.md, Idempotency).

A tiny test-only view stands in for a real endpoint: each processed request
writes one outbox event (the effect) and answers 201.
"""

import json
import time
from datetime import timedelta

import pytest
from django.urls import path
from django.utils import timezone
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from tests.factories import UserFactory
from wms.exceptions import DomainError
from wms.idempotency import idempotency_purge, idempotent
from wms.models import IdempotencyRecord, OutboxEvent
from wms.outbox import outbox_emit
from wms.tasks import idempotency_purge_task

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.wms.test_idempotency")]

URL = "/test-idempotent/things"


class _ThingInput(serializers.Serializer):
    name = serializers.CharField(max_length=50)
    fail = serializers.ChoiceField(choices=["", "domain", "response"], default="", required=False)
    hold = serializers.FloatField(default=0, min_value=0, max_value=5)


class ThingCreateApi(APIView):
    """Test-only: one outbox event per processed request."""

    permission_classes = [IsAuthenticated]

    @idempotent
    def post(self, request):
        payload = _ThingInput(data=request.data)
        payload.is_valid(raise_exception=True)
        event = outbox_emit(
            event_type="thing.created",
            aggregate_type="Thing",
            aggregate_id=payload.validated_data["name"],
            data={"name": payload.validated_data["name"]},
        )
        # Keep the transaction open a while, so concurrent requests overlap.
        time.sleep(payload.validated_data["hold"])
        if payload.validated_data["fail"] == "domain":
            raise DomainError("refused after the effect", code="thing_refused")
        if payload.validated_data["fail"] == "response":
            return Response({"detail": "no"}, status=409)
        response = Response({"eventId": str(event.event_id), "name": event.aggregate_id}, 201)
        response["Location"] = f"{URL}/{event.pk}"
        return response


urlpatterns = [path(URL.lstrip("/"), ThingCreateApi.as_view())]


def _effects(name: str) -> int:
    return OutboxEvent.objects.filter(aggregate_type="Thing", aggregate_id=name).count()


@pytest.fixture
def store(system_client, warehouse):
    return system_client("store", "S042", [warehouse])


def test_idempotent_missing_key_is_400(store):
    """No Idempotency-Key → 400 idempotency_key_missing and no effect."""
    response = store.post(URL, {"name": "a"}, format="json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "idempotency_key_missing"
    assert _effects("a") == 0


@pytest.mark.parametrize("key", ["x" * 256, "tab\tkey", "ñandú"])
def test_idempotent_invalid_key_is_400(store, key):
    """A key that is not 1 to 255 printable ASCII characters → 400 idempotency_key_invalid."""
    response = store.post(URL, {"name": "a"}, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 400
    assert response.json()["code"] == "idempotency_key_invalid"
    assert _effects("a") == 0


def test_idempotent_longest_key_is_accepted(store):
    """255 printable characters (spaces included) are a valid key."""
    key = ("k " * 128)[:255]
    response = store.post(URL, {"name": "a"}, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 201


def test_idempotent_first_use_stores_outcome_with_effect(store):
    """First use runs the view once and stores status, body and Location."""
    response = store.post(URL, {"name": "a"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    record = IdempotencyRecord.objects.get(key="k-1")
    assert record.scope == f"system:{store.system.pk}"
    assert record.response_status == 201
    assert json.loads(record.response_body) == response.json()
    assert record.response_headers["Location"] == response["Location"]
    assert _effects("a") == 1


def test_idempotent_replay_returns_stored_outcome_without_second_effect(store):
    """Same key and body again → same status, body and Location, header Idempotent-Replayed."""
    first = store.post(URL, {"name": "a"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = store.post(
        URL,
        '{ "name" : "a" }',  # another spelling of the same JSON body
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k-1",
    )
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert again["Location"] == first["Location"]
    assert _effects("a") == 1


def test_idempotent_same_key_different_body_is_422(store):
    """Same key with another body → 422 idempotency_key_reused, no effect."""
    store.post(URL, {"name": "a"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    response = store.post(URL, {"name": "b"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert _effects("b") == 0


def test_idempotent_same_key_other_path_is_422(store):
    """The request fingerprint includes the path: a key names one request, not one body."""
    store.post(URL, {"name": "a"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    response = store.post(URL + "?x=1", {"name": "a"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert response.status_code == 422


def test_idempotent_validation_error_stores_nothing(store):
    """A 400 from the view leaves nothing stored; the fixed request may reuse the key."""
    bad = store.post(URL, {"name": ""}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert bad.status_code == 400
    assert bad.json()["code"] == "validation_failed"
    assert not IdempotencyRecord.objects.exists()
    good = store.post(URL, {"name": "a"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert good.status_code == 201
    assert "Idempotent-Replayed" not in good


def test_idempotent_domain_error_rolls_back_effect(store):
    """A DomainError after the effect → problem details, effect rolled back, nothing stored."""
    response = store.post(
        URL, {"name": "a", "fail": "domain"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert response.status_code == 409
    assert response.json()["code"] == "thing_refused"
    assert _effects("a") == 0
    assert not IdempotencyRecord.objects.exists()


def test_idempotent_4xx_response_rolls_back_effect(store):
    """A view that answers 4xx itself keeps no effect and no outcome."""
    response = store.post(
        URL, {"name": "a", "fail": "response"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    assert response.status_code == 409
    assert _effects("a") == 0
    assert not IdempotencyRecord.objects.exists()


def test_idempotent_keys_are_scoped_per_client(system_client, warehouse, api_client):
    """Two systems and a session user may use the same key independently."""
    store_a = system_client("store", "S001", [warehouse])
    store_b = system_client("store", "S002", [warehouse])
    api_client.force_login(UserFactory())
    for client, name in ((store_a, "a"), (store_b, "b"), (api_client, "c")):
        response = client.post(URL, {"name": name}, format="json", HTTP_IDEMPOTENCY_KEY="shared")
        assert response.status_code == 201
        assert "Idempotent-Replayed" not in response
    scopes = set(IdempotencyRecord.objects.values_list("scope", flat=True))
    assert len(scopes) == 3
    assert any(s.startswith("user:") for s in scopes)


def test_idempotent_key_past_retention_is_new(store, settings):
    """An outcome older than the retention no longer blocks the key."""
    settings.WMS_IDEMPOTENCY_RETENTION_HOURS = 1
    store.post(URL, {"name": "a"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=2))
    response = store.post(URL, {"name": "b"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    assert json.loads(IdempotencyRecord.objects.get(key="k-1").response_body)["name"] == "b"


def test_idempotency_purge_deletes_only_expired(store, settings):
    """The purge removes outcomes past the retention and keeps the rest."""
    settings.WMS_IDEMPOTENCY_RETENTION_HOURS = 72
    for key in ("old-1", "old-2", "fresh"):
        store.post(URL, {"name": key}, format="json", HTTP_IDEMPOTENCY_KEY=key)
    IdempotencyRecord.objects.filter(key__startswith="old").update(
        created_at=timezone.now() - timedelta(hours=73)
    )
    assert idempotency_purge(batch_size=1) == 1
    assert idempotency_purge_task.delay().get() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["fresh"]


def test_idempotent_documents_header_in_schema(store):
    """The OpenAPI operation of a decorated view lists the required Idempotency-Key header."""
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator(patterns=urlpatterns).get_schema(request=None, public=True)
    operation = schema["paths"][URL]["post"]
    header = next(p for p in operation["parameters"] if p["name"] == "Idempotency-Key")
    assert header["in"] == "header"
    assert header["required"] is True


def test_idempotent_replay_body_is_identical_bytes(store):
    """The replay sends exactly the bytes of the first answer."""
    first = store.post(URL, {"name": "a"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = store.post(URL, {"name": "a"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert again.content == first.content
    assert again["Content-Type"] == first["Content-Type"]
