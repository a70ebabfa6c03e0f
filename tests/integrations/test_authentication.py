"""Token authentication: a valid token is remembered per process for a few seconds,
and a revocation takes effect within that bound (at once in the revoking process)."""

from datetime import timedelta

import pytest
from django.test import RequestFactory
from django.utils import timezone
from rest_framework.exceptions import AuthenticationFailed

from integrations import authentication
from integrations.authentication import ApiTokenAuthentication, token_cache_clear
from integrations.models import ApiToken
from integrations.services import api_token_rotate, external_system_ensure


@pytest.fixture
def store_key(warehouse):
    token_cache_clear()
    system, key, _ = external_system_ensure(
        system_type="store", code="S501", warehouse_codes=[warehouse.code]
    )
    yield system, key
    token_cache_clear()


@pytest.fixture
def clock(monkeypatch):
    """``clock.now`` is what ``time.monotonic`` answers in the authentication module."""

    class Clock:
        now = 1000.0

    monkeypatch.setattr(authentication.time, "monotonic", lambda: Clock.now)
    return Clock


def authenticate(key):
    request = RequestFactory().get(
        "/api/v1/replenishment-orders", HTTP_AUTHORIZATION=f"Token {key}"
    )
    return ApiTokenAuthentication().authenticate(request)


def test_token_auth_second_request_needs_no_query(store_key, warehouse, django_assert_num_queries):
    """The first request looks the token up; the next ones within the bound do not."""
    system, key = store_key
    with django_assert_num_queries(2):
        first, _token = authenticate(key)
    with django_assert_num_queries(0):
        second, _token = authenticate(key)
    assert first.system.pk == second.system.pk == system.pk
    assert second.warehouse_ids == frozenset({warehouse.pk})
    assert first.system is not second.system  # each request has its own instance


def test_token_auth_revocation_elsewhere_takes_effect_within_the_bound(store_key, clock, settings):
    """A token revoked by another process (no signal here) is refused once the
    remembered entry is older than WMS_TOKEN_CACHE_SECONDS."""
    settings.WMS_TOKEN_CACHE_SECONDS = 5
    system, key = store_key
    authenticate(key)
    ApiToken.objects.filter(system=system).update(revoked_at="2026-01-01T00:00:00Z")
    clock.now += 4.9
    principal, _token = authenticate(key)  # still within the bound
    assert principal.system.pk == system.pk
    clock.now += 0.2
    with pytest.raises(AuthenticationFailed):
        authenticate(key)


def test_token_auth_rotation_takes_effect_at_once_in_this_process(
    store_key, django_capture_on_commit_callbacks
):
    """Rotating a token clears this process's memory: the old key is refused at once."""
    system, key = store_key
    authenticate(key)
    with django_capture_on_commit_callbacks(execute=True):
        new_key = api_token_rotate(system=system)
    with pytest.raises(AuthenticationFailed):
        authenticate(key)
    assert authenticate(new_key)[0].system.pk == system.pk


def test_token_auth_deactivated_system_is_refused_at_once(store_key):
    """Saving a system (here: deactivating it) forgets remembered tokens in this process."""
    system, key = store_key
    authenticate(key)
    system.is_active = False
    system.save(update_fields=["is_active"])
    with pytest.raises(AuthenticationFailed):
        authenticate(key)


def test_token_auth_grant_change_is_seen_at_once(store_key, other_warehouse, warehouse):
    """A warehouse granted to the system is in the next request's principal."""
    system, key = store_key
    assert authenticate(key)[0].warehouse_ids == frozenset({warehouse.pk})
    system.warehouses.add(other_warehouse)
    assert authenticate(key)[0].warehouse_ids == frozenset({warehouse.pk, other_warehouse.pk})


def test_token_auth_memory_off_with_zero(store_key, settings, django_assert_num_queries):
    """WMS_TOKEN_CACHE_SECONDS = 0: every request looks the token up."""
    settings.WMS_TOKEN_CACHE_SECONDS = 0
    _system, key = store_key
    authenticate(key)
    with django_assert_num_queries(2):
        authenticate(key)


def test_token_auth_bad_token_is_not_remembered(store_key, django_assert_num_queries):
    """An unknown token is looked up (and refused) every time."""
    for _ in range(2):
        with django_assert_num_queries(1), pytest.raises(AuthenticationFailed):
            authenticate("not-a-token")


def test_token_auth_key_is_random_and_stored_only_as_hash(store_key, settings):
    """The key is not derived from SECRET_KEY: the database holds its hash and prefix only."""
    system, key = store_key
    token = ApiToken.objects.get(system=system)
    stored = [str(getattr(token, f.attname)) for f in ApiToken._meta.concrete_fields]
    assert key not in " ".join(stored)
    assert token.key_hash == ApiToken.hash_key(key) and key.startswith(token.prefix)
    _again, shown, _created = external_system_ensure(system_type="store", code=system.code)
    assert shown is None  # never shown twice


def test_token_auth_expired_token_is_refused(store_key, clock, monkeypatch):
    """A token past expires_at is refused, even while this process remembers it."""
    system, key = store_key
    authenticate(key)  # remembered, with its expiry a year ahead
    ApiToken.objects.filter(system=system).update(expires_at="2020-01-01T00:00:00Z")
    later = timezone.now() + timedelta(days=400)
    monkeypatch.setattr("integrations.models.timezone.now", lambda: later)
    with pytest.raises(AuthenticationFailed, match="expired"):
        authenticate(key)


def test_token_auth_expired_token_is_replaced_by_ensure(store_key):
    """external_system_ensure issues a new key for a system whose token expired."""
    system, key = store_key
    ApiToken.objects.filter(system=system).update(expires_at="2020-01-01T00:00:00Z")
    _system, new_key, _created = external_system_ensure(system_type="store", code=system.code)
    assert new_key and new_key != key
    assert authenticate(new_key)[0].system.pk == system.pk
