"""The Redis cache backend CACHE_URL=redis://… selects: Django's, one client per pool."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.core.cache import CacheHandler

REDIS_URL = "redis://127.0.0.1:6379/6"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def redis_backend():
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    handler = CacheHandler(
        {
            "default": {
                "BACKEND": "wms.cache.RedisCache",
                "LOCATION": REDIS_URL,
                "KEY_PREFIX": f"test-{uuid.uuid4().hex[:8]}",
            }
        }
    )
    backend = handler["default"]
    yield backend
    backend.clear()


def test_redis_cache_reuses_one_client_per_pool(redis_backend):
    """Every call gets the same redis client (Django's builds one per call)."""
    client = redis_backend._cache.get_client(write=True)
    assert redis_backend._cache.get_client() is client
    assert redis_backend._cache.get_client(write=True) is client


def test_redis_cache_behaves_as_djangos(redis_backend):
    """add, get, incr, delete and expiry work as with Django's backend."""
    assert redis_backend.add("k", 1, timeout=30)
    assert not redis_backend.add("k", 2, timeout=30)
    assert redis_backend.incr("k") == 2
    assert redis_backend.get("k") == 2
    redis_backend.delete("k")
    assert redis_backend.get("k") is None


def test_settings_select_it_for_a_redis_url():
    """CACHE_URL=redis://… gives wms.cache.RedisCache; without it the default stays locmem."""
    code = "import wms.settings as s; print(s.CACHES['default']['BACKEND'])"
    env = {k: v for k, v in os.environ.items() if k != "CACHE_URL"}

    def backend(**extra):
        result = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return result.stdout.strip()

    assert backend(CACHE_URL=REDIS_URL) == "wms.cache.RedisCache"
    assert "locmem" in backend()


def _settings_cache(**extra) -> dict:
    """CACHES['default'] as wms.settings builds it from the given environment."""
    import json

    code = "import json, wms.settings as s; print(json.dumps(s.CACHES['default']))"
    env = {k: v for k, v in os.environ.items() if k not in ("CACHE_URL", "WMS_INSTANCE_ID")}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**env, **extra},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout)


def test_settings_cache_url_key_prefix_reaches_django():
    """?key_prefix= in CACHE_URL becomes KEY_PREFIX (django-environ leaves it lowercased)."""
    cache = _settings_cache(CACHE_URL=f"{REDIS_URL}?key_prefix=cell-a&version=3")
    assert cache["KEY_PREFIX"] == "cell-a"
    assert cache["VERSION"] == 3
    assert "key_prefix" not in cache and "version" not in cache


def test_settings_cache_key_prefix_defaults_to_instance_id():
    """Without a prefix in CACHE_URL, each instance's keys are prefixed by its instanceId."""
    assert _settings_cache(CACHE_URL=REDIS_URL, WMS_INSTANCE_ID="cell-b")["KEY_PREFIX"] == "cell-b"


def test_settings_two_instances_sharing_a_redis_db_do_not_see_each_others_keys(redis_backend):
    """Two cells on one Redis database, prefixed by their settings: A's key is absent in B."""
    caches = {
        name: CacheHandler({"default": _settings_cache(CACHE_URL=REDIS_URL, WMS_INSTANCE_ID=name)})[
            "default"
        ]
        for name in (f"cell-a-{uuid.uuid4().hex[:6]}", f"cell-b-{uuid.uuid4().hex[:6]}")
    }
    cell_a, cell_b = caches.values()
    try:
        cell_a.set("throttle:store-1", 41, timeout=30)
        assert cell_a.get("throttle:store-1") == 41
        assert cell_b.get("throttle:store-1") is None
    finally:
        cell_a.delete("throttle:store-1")
