"""``@idempotent`` under concurrency: 20 simultaneous requests, one key, real connections."""

import threading
from collections import Counter

import pytest
from django.db import connection
from rest_framework.test import APIClient

from wms.models import IdempotencyRecord, OutboxEvent

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.urls("tests.wms.test_idempotency"),
    pytest.mark.slow,
]

URL = "/test-idempotent/things"


def _fire(credentials: str, bodies: list[dict], key: str) -> list:
    """Send every body at once from its own thread (own DB connection); return responses."""
    barrier = threading.Barrier(len(bodies))
    results: list = [None] * len(bodies)

    def worker(index: int, body: dict) -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=credentials)
        try:
            barrier.wait(timeout=30)
            results[index] = client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY=key)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, b)) for i, b in enumerate(bodies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def test_idempotent_twenty_concurrent_requests_one_effect(system_client, warehouse):
    """20 requests with one key (5 with another body) → one effect; others replay, 409 or 422."""
    client = system_client("store", "S042", [warehouse])
    credentials = client._credentials["HTTP_AUTHORIZATION"]
    same = {"name": "widget", "hold": 1.0}
    other = {"name": "gadget", "hold": 1.0}
    bodies = [same] * 15 + [other] * 5

    responses = _fire(credentials, bodies, key="one-key")

    assert all(r is not None for r in responses)
    processed = [r for r in responses if r.status_code == 201 and "Idempotent-Replayed" not in r]
    assert len(processed) == 1
    winner_body = processed[0].json()
    effects = OutboxEvent.objects.filter(aggregate_type="Thing")
    assert effects.count() == 1
    assert IdempotencyRecord.objects.filter(key="one-key").count() == 1

    outcomes = Counter()
    for body, response in zip(bodies, responses, strict=True):
        status = response.status_code
        if status == 201:
            # The winner, or a replay of the winner: same body either way.
            assert response.json() == winner_body
            assert body["name"] == winner_body["name"]
            outcomes["replayed" if "Idempotent-Replayed" in response else "processed"] += 1
        elif status == 409:
            assert response.json()["code"] == "idempotency_key_in_use"
            assert response["Retry-After"] == "1"
            outcomes["in_use"] += 1
        elif status == 422:
            assert response.json()["code"] == "idempotency_key_reused"
            assert body["name"] != winner_body["name"]
            outcomes["reused"] += 1
        else:
            pytest.fail(f"unexpected answer {status}: {response.content!r}")
    assert outcomes["processed"] == 1
    # The effect holds its transaction open for 1 s: the others arrive while it runs.
    assert outcomes["in_use"] >= 1

    # After completion every retry is a replay (same body) or 422 (other body).
    # (Either body may have won the race.)
    winner, loser = (same, other) if winner_body["name"] == same["name"] else (other, same)
    late = _fire(credentials, [winner, loser], key="one-key")
    assert late[0].status_code == 201 and late[0]["Idempotent-Replayed"] == "true"
    assert late[0].json() == winner_body
    assert late[1].status_code == 422
    assert effects.count() == 1


def test_idempotent_retry_after_in_use_gets_replay(system_client, warehouse):
    """A client that got 409 and retries after the first finished gets the stored outcome."""
    client = system_client("store", "S042", [warehouse])
    credentials = client._credentials["HTTP_AUTHORIZATION"]
    responses = _fire(credentials, [{"name": "w", "hold": 2.0}] * 2, key="k")
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201, 409]
    retry = APIClient()
    retry.credentials(HTTP_AUTHORIZATION=credentials)
    again = retry.post(URL, {"name": "w", "hold": 2.0}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert OutboxEvent.objects.filter(aggregate_type="Thing").count() == 1
