"""Sessions read from the cache and written to the database (`cached_db`), with fewer writes.

Django's `cached_db` store is kept as it is where it matters: every write goes to the
database (a Redis outage ends no session, issue 11), reads come from the cache. What changes
is the number of statements a student's request costs (bench/RESULTS.md, issue 14):

* a new key is not looked up before it is used: 32 random characters of 36 do not collide in
  practice, and if one did, the INSERT's primary key refuses it and `create` draws another
  (Django's own retry) — the lookup cost a cache call and a query on every new session;
* `cycle_key` (the key changes when the student is identified: no session fixation) lets the
  response's save rename the old row to a new key, with the data as the view left it: one
  UPDATE instead of Django's 5 statements (lookup, INSERT, SELECT and DELETE of the old row,
  UPDATE). The old key is gone once the new one exists; a flush before the save deletes the old
  row; a response that saves nothing (an error) leaves the old session as it was before the
  request; an old row deleted meanwhile is replaced by an INSERT under the new key;
* a write is one statement (INSERT, UPDATE or DELETE) instead of the model's save, its signals
  and a transaction of its own around a single statement.

One guarantee is added: a cache entry lives at most CACHE_SECONDS, so a session signed out
while the cache could not forget it stops being served within minutes, not hours.
"""

from __future__ import annotations

from contextlib import nullcontext

from django.contrib.sessions.backends import cached_db
from django.contrib.sessions.backends.base import VALID_KEY_CHARS, CreateError, UpdateError
from django.db import IntegrityError, connections, router, transaction
from django.utils.crypto import get_random_string

# How long a session stays in the cache (at most; less if it expires sooner). A staff session
# lives for hours: if signing out could not delete the cache entry (Redis failing soft, or a
# request on the same key refilling it just after), the signed-out session would otherwise be
# served from the cache until it expired. A student's requests come seconds apart, so they
# still hit the cache; a page opened after a longer pause costs one read from the database.
CACHE_SECONDS = 5 * 60


class SessionStore(cached_db.SessionStore):
    _renamed_from: str | None = None  # the key `cycle_key` left, renamed by the next save

    def _cache_seconds(self, **expiry: object) -> int:
        return min(self.get_expiry_age(**expiry), CACHE_SECONDS)

    def load(self) -> dict:
        # Django's cached_db load, with the cache entry's life bounded by CACHE_SECONDS.
        try:
            data = self._cache.get(self.cache_key)
        except Exception:
            data = None  # an invalid key: read the database, as Django does
        if data is None:
            row = self._get_session_from_db()
            if row is None:
                return {}
            data = self.decode(row.session_data)
            self._cache.set(self.cache_key, data, self._cache_seconds(expiry=row.expire_date))
        return data

    def _get_new_session_key(self) -> str:
        return get_random_string(32, VALID_KEY_CHARS)

    def cycle_key(self) -> None:
        data = self._session
        self._renamed_from = self.session_key or self._renamed_from
        # Renamed to a new key by the save at the end of the request.
        self._session_key = None
        self._session_cache = data
        self.modified = True

    def save(self, must_create: bool = False) -> None:
        if self.session_key is None:
            return self.create()  # create() saves (and caches) with must_create
        self._write(must_create)
        try:
            self._cache.set(self.cache_key, self._session, self._cache_seconds())
        except Exception:
            cached_db.logger.exception("Error saving to cache (%s)", self._cache)

    def delete(self, session_key: str | None = None) -> None:
        if session_key is None:
            if self.session_key is None:  # cycled and not saved yet: the old row goes
                session_key, self._renamed_from = self._renamed_from, None
                if session_key is None:
                    return
            else:
                session_key = self.session_key
        using = router.db_for_write(self.model)
        with connections[using].cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {self._table(using)} WHERE session_key = %s", [session_key]
            )
        self._cache.delete(self.cache_key_prefix + session_key)

    def _table(self, using: str) -> str:
        return connections[using].ops.quote_name(self.model._meta.db_table)

    def _write(self, must_create: bool) -> None:
        data = self._get_session(no_load=must_create)
        using = router.db_for_write(self.model)
        connection = connections[using]
        expires = connection.ops.adapt_datetimefield_value(self.get_expiry_date())
        row = [self.encode(data), expires, self.session_key]
        table = self._table(using)
        if must_create:
            try:
                # A savepoint only inside a transaction: there, a refused INSERT must not
                # break the caller's transaction (outside one, the statement is its own).
                savepoint = (
                    transaction.atomic(using=using) if connection.in_atomic_block else nullcontext()
                )
                with savepoint, connection.cursor() as cursor:
                    if self._renamed_from is not None:
                        cursor.execute(
                            f"UPDATE {table} SET session_data = %s, expire_date = %s, "
                            "session_key = %s WHERE session_key = %s",
                            [*row, self._renamed_from],
                        )
                        renamed = cursor.rowcount == 1
                    if self._renamed_from is None or not renamed:  # deleted meanwhile
                        cursor.execute(
                            f"INSERT INTO {table} (session_data, expire_date, session_key) "
                            "VALUES (%s, %s, %s)",
                            row,
                        )
            except IntegrityError as exc:  # the new key is taken: create() draws another
                raise CreateError from exc
            if self._renamed_from is not None:
                self._cache.delete(self.cache_key_prefix + self._renamed_from)
                self._renamed_from = None
            return
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET session_data = %s, expire_date = %s WHERE session_key = %s",
                row,
            )
            if cursor.rowcount != 1:  # deleted meanwhile (signed out elsewhere): as Django does
                raise UpdateError
