"""Django's Redis cache backend, with one Redis client per connection pool, that fails soft.

Django's own client builds a new `redis.Redis` for every call; building one fills its table
of about 170 response callbacks, which cost more CPU than the session read or write itself:
two of them per student request, 7% of the flow's CPU (bench/RESULTS.md, issue 14). A client
is thread-safe and holds no connection of its own (the pool does), so one is kept per pool.
"""

from __future__ import annotations

import logging

import redis
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class _ReusingClient(RedisCacheClient):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}

    def get_client(self, key: str | None = None, *, write: bool = False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._client(connection_pool=self._get_connection_pool(write))
            self._clients[index] = client
        return client


logger = logging.getLogger(__name__)


class RedisCache(DjangoRedisCache):
    """Sessions are read from here and written to the database as well (`cached_db`): when
    Redis is down or frozen, a read is a miss (the database answers) and a write is skipped,
    each within the connection's short timeouts, so a Redis outage slows students' pages by a
    second at most and never ends their session or answers with an error (issue 11)."""

    def __init__(self, server: str, params: dict) -> None:
        super().__init__(server, params)
        self._class = _ReusingClient

    def get(self, key, default=None, version=None):
        try:
            return super().get(key, default, version)
        except redis.RedisError as exc:
            _unavailable("get", exc)
            return default

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            super().set(key, value, timeout, version)
        except redis.RedisError as exc:
            _unavailable("set", exc)

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            return super().add(key, value, timeout, version)
        except redis.RedisError as exc:
            _unavailable("add", exc)
            return False

    def delete(self, key, version=None):
        try:
            return super().delete(key, version)
        except redis.RedisError as exc:
            _unavailable("delete", exc)
            return False

    def has_key(self, key, version=None):
        try:
            return super().has_key(key, version)
        except redis.RedisError as exc:
            _unavailable("has_key", exc)
            return False


def _unavailable(operation: str, exc: Exception) -> None:
    # No key in the message: a session key is a credential.
    logger.warning("session cache %s skipped, Redis unavailable: %s", operation, type(exc).__name__)
