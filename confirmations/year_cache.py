"""The current policy year, kept in each process between requests (issue 14).

Every page of the student flow needs the year (its window, pledge text, premium); it changes a
few times a year, in the admin. Each process keeps the year it read, with the version token
that was current in the shared cache (Redis) when it read it. Saving or deleting a policy year
or a city writes a new token (at once and again after the commit), so the next request of every
process sees the token change and reads the database again: a change is never served stale —
except if the new token could not be written because Redis was down at that moment; then the
entry's age bounds it (MAX_AGE_SECONDS). When Redis cannot be asked, nothing is cached: the
database answers, as without the cache. Without a shared cache (development, tests) the year is
read on every call.
"""

from __future__ import annotations

import copy
import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.db import transaction

TOKEN_KEY = "policy-year-token"
MAX_AGE_SECONDS = 300

_lock = threading.Lock()
_entries: dict[dt.date, tuple[str, float, Any]] = {}


def _cache():
    alias = settings.SHARED_CACHE_ALIAS
    return caches[alias] if alias else None


def _token(cache) -> str | None:
    token = cache.get(TOKEN_KEY)
    if token is None:  # first use, or Redis was emptied: start a version
        cache.add(TOKEN_KEY, uuid.uuid4().hex, timeout=None)
        token = cache.get(TOKEN_KEY)
    return token


def current(today: dt.date, load: Callable[[dt.date], Any]) -> Any:
    """`load(today)`, or the copy this process kept while the token is unchanged."""
    cache = _cache()
    token = None if cache is None else _token(cache)
    if token is None:
        return load(today)
    entry = _entries.get(today)
    if entry is not None and entry[0] == token and time.monotonic() - entry[1] < MAX_AGE_SECONDS:
        value = entry[2]
    else:
        value = load(today)
        with _lock:
            _entries.clear()  # one day's year is all a process needs
            _entries[today] = (token, time.monotonic(), value)
    # A copy per request: a view that sets an attribute changes no other request's year.
    return copy.copy(value)


def invalidate(**_: object) -> None:
    """A policy year or city changed: a new token now, and again once the change is committed
    (a request between the two may have read the old row under the first new token)."""
    clear_local()
    _bump()
    transaction.on_commit(_bump)


def _bump() -> None:
    cache = _cache()
    if cache is not None:
        cache.set(TOKEN_KEY, uuid.uuid4().hex, timeout=None)


def clear_local() -> None:
    with _lock:
        _entries.clear()
