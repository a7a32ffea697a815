"""One redis-py client per process on the default cache's own Redis, for the hottest paths.

Django's RedisCache builds a new `redis.Redis` object for every operation; with redis-py 8 that
costs about 0.3 ms of Python (its response-callback table and event dispatcher), more than the
round trip to Redis on loopback. The admission webhook and the player pages make one or two
cache operations per request, so they use this client instead: made once per process from the
cache's public configuration (LOCATION and OPTIONS) with redis-py's documented API, thread-safe
(its connection pool), reading and writing the same keys as Django's cache
(`cache.make_key`). None when the cache is not Redis (`make run` without REDIS_URL, some tests).
"""

from __future__ import annotations

from functools import lru_cache

import redis
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache


def shared_client() -> redis.Redis | None:
    if not isinstance(caches["default"], RedisCache):
        return None
    config = settings.CACHES["default"]
    return _client(config["LOCATION"], **config.get("OPTIONS", {}))


@lru_cache(maxsize=4)
def _client(location: str, **options) -> redis.Redis:
    return redis.Redis.from_url(location, **options)
