"""Django's Redis cache with one client object per connection pool.

Django's ``RedisCacheClient`` builds a new ``redis.Redis`` around the pool on
every operation; on intake's path (store throttle, planning nudge: two cache
calls per order) that construction cost more CPU than the round trips. The
client is as thread-safe as the pool it wraps, and Django's cache handler
already gives each thread its own backend instance.
"""

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class _PooledClients(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._clients[index] = self._client(
                connection_pool=self._get_connection_pool(index)
            )
        return client


class RedisCache(DjangoRedisCache):
    """``CACHE_URL=redis://…`` selects this backend (see settings)."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = _PooledClients
