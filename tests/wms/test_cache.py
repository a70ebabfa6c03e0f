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
