"""Django's Redis cache backend, with one Redis client per connection pool.

Django's own client builds a new `redis.Redis` for every call; building one fills its table
of about 170 response callbacks, which cost more CPU than the session read or write itself:
two of them per student request, 7% of the flow's CPU (bench/RESULTS.md, issue 14). A client
is thread-safe and holds no connection of its own (the pool does), so one is kept per pool.
"""

from __future__ import annotations

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


class RedisCache(DjangoRedisCache):
    def __init__(self, server: str, params: dict) -> None:
        super().__init__(server, params)
        self._class = _ReusingClient
