"""Admission control for store systems: a request rate per store on the shared cache.

A fixed-window counter (``cache.incr``, ``cache.add`` to open a window), atomic on Redis
(``CACHE_URL``) so every web process counts against the same budget; the
embedded default counts per process (locmem). The rate is the DRF ``store``
throttle rate (``WMS_STORE_RATE``, e.g. ``50/second``). Beyond it the answer
is 429 with ``Retry-After``; a cache outage lets requests through rather than
failing them.
"""

import logging
import math
import time

from django.core.cache import cache
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
            try:
                count = cache.incr(key)  # one round trip for all but a window's first request
            except ValueError:
                cache.add(key, 0, timeout=self.duration + 1)
                count = cache.incr(key)
        except Exception:  # the cache is down or the key just expired: admit
            logger.warning("store throttle: cache unavailable", exc_info=True)
            return True
        if count <= self.num_requests:
            return True
        self._wait = (window + 1) * self.duration - now
        return False

    def wait(self):
        return None if self._wait is None else max(1, math.ceil(self._wait))
