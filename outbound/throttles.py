"""Admission control for store systems: a request rate per store on the shared cache.

A fixed-window counter: on Redis (``CACHE_URL``) ``INCR`` and ``EXPIRE`` in one
round trip, atomic, so every web process counts against the same budget; on
other caches ``cache.incr`` (``cache.add`` opens a window), so the embedded
default counts per process (locmem). The rate is the DRF ``store``
throttle rate (``WMS_STORE_RATE``, e.g. ``50/second``). Beyond it the answer
is 429 with ``Retry-After``; a cache outage lets requests through rather than
failing them.
"""

import logging
import math
import time

from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

logger = logging.getLogger(__name__)


class StoreRateThrottle(BaseThrottle):
    scope = "store"

    def __init__(self):
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
        self.num_requests, self.duration = SimpleRateThrottle.parse_rate(None, rate)
        self._wait = None

    def allow_request(self, request, view) -> bool:
        system = getattr(request.user, "system", None)
        if system is None or system.type != "store" or self.num_requests is None:
            return True
        now = time.time()
        window = int(now // self.duration)
        key = f"wms:throttle:store:{system.pk}:{window}"
        try:
            count = _count(key, timeout=self.duration + 1)
        except Exception:  # the cache is down or the key just expired: admit
            logger.warning("store throttle: cache unavailable", exc_info=True)
            return True
        if count <= self.num_requests:
            return True
        self._wait = (window + 1) * self.duration - now
        return False

    def wait(self):
        return None if self._wait is None else max(1, math.ceil(self._wait))


def _count(key: str, *, timeout: int) -> int:
    """Add one to the window's counter and return it.

    On Redis one round trip (``INCR`` and ``EXPIRE`` pipelined; Django's
    ``cache.incr`` asks ``EXISTS`` first, and a window's first request adds the
    key, then increments). Elsewhere (locmem in tests and the embedded default)
    through the cache API.
    """
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        name = backend.make_and_validate_key(key)
        pipe = backend._cache.get_client(name, write=True).pipeline(transaction=False)
        pipe.incr(name)
        pipe.expire(name, timeout)
        return pipe.execute()[0]
    try:
        return cache.incr(key)
    except ValueError:
        cache.add(key, 0, timeout=timeout)
        return cache.incr(key)
