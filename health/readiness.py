"""What /readyz reports: can this deployment serve a request and keep its promises now?

Cheap enough for a load balancer every few seconds: one round trip to the broker (remembered
for a few seconds) and a handful of indexed queries under a short statement timeout. It says
only ages, limits and yes/no: never a name, an ID number or a phone.
"""

from __future__ import annotations

import datetime as dt
import os
import time

import redis
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Min
from django.utils import timezone

from config.queueing import queue_name
from confirmations.models import Application, BatchConfirmation
from desk.models import IdListUpload
from enrollment.models import RosterUpload
from health.models import Heartbeat

BROKER_TIMEOUT_SECONDS = 1.0
DATABASE_STATEMENT_TIMEOUT_MS = 2000

_broker_checked: dict[str, tuple[float, dict]] = {}  # broker URL -> (valid until, status)


def readiness(*, now: dt.datetime | None = None) -> dict:
    """Every check with its numbers, and `ready` when all of them pass."""
    now = now or timezone.now()
    checks: dict = {"broker": broker_status()}
    started = time.monotonic()
    try:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute(f"SET LOCAL statement_timeout = {DATABASE_STATEMENT_TIMEOUT_MS}")
            heartbeats = _heartbeats()
            waiting = _oldest_waiting(now)
    except DatabaseError:
        # Without the database nothing else can be read: beat and queues stay unknown.
        checks["database"] = {"ok": False}
        return {"ready": False, "checks": checks}
    checks["database"] = {"ok": True, "ms": _ms_since(started)}
    checks["beat"] = _beat(heartbeats, now)
    checks["queues"] = {
        queue: _queue(heartbeats.get(queue), *waiting[queue], now=now) for queue in settings.QUEUES
    }
    ready = (
        checks["broker"]["ok"]
        and checks["beat"]["ok"]
        and all(queue["ok"] for queue in checks["queues"].values())
    )
    return {"ready": ready, "checks": checks}


def broker_status() -> dict:
    """Whether the broker answers, asked at most every READYZ_BROKER_CACHE_SECONDS."""
    url = settings.CELERY_BROKER_URL
    remembered = _broker_checked.get(url)
    if remembered is not None and remembered[0] > time.monotonic():
        return remembered[1]
    started = time.monotonic()
    status = {"ok": _broker_answers(url), "ms": _ms_since(started)}
    _broker_checked[url] = (time.monotonic() + settings.READYZ_BROKER_CACHE_SECONDS, status)
    return status


def _broker_answers(url: str) -> bool:
    if url.startswith(("redis://", "rediss://")):
        client = redis.Redis.from_url(
            url,
            socket_connect_timeout=BROKER_TIMEOUT_SECONDS,
            socket_timeout=BROKER_TIMEOUT_SECONDS,
        )
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()
    # The development folder broker (no REDIS_URL): it answers while its folder can be written.
    folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("data_folder_in", "")
    return bool(folder) and os.access(folder, os.W_OK)


def _heartbeats() -> dict[str, dt.datetime]:
    """The latest heartbeat of each queue, by the queue's name in settings.QUEUES."""
    names = {queue_name(queue): queue for queue in settings.QUEUES}
    rows = Heartbeat.objects.filter(queue__in=names).values_list("queue", "beat_at")
    return {names[name]: beat_at for name, beat_at in rows}


def _oldest_waiting(now: dt.datetime) -> dict[str, tuple[dt.datetime | None, dt.timedelta]]:
    """Per queue: since when its oldest unfinished work waits, and how long it may wait.

    A waiting-period application is not late work while its account's day lies ahead (seed 03:
    the account comes the day after the period ends); from the start of that day it is.
    """
    # Measured from when the work was last queued (a retried application is not late for
    # its first submission; a sweeper only queues lost work again, so waiting work ages).
    pending = (
        Application.objects.filter(state=Application.State.PENDING)
        .order_by("last_queued_at")
        .values_list("last_queued_at", "policy_year__promised_minutes")
        .first()
    )
    due = (
        Application.objects.filter(
            state=Application.State.WAITING, account_on__lte=timezone.localdate(now)
        )
        .order_by("account_on")
        .values_list("account_on", "policy_year__promised_minutes")
        .first()
    )
    if due is not None:
        day, minutes = due
        due = (timezone.make_aware(dt.datetime.combine(day, dt.time.min)), minutes)
    application = min((row for row in (pending, due) if row), default=None)
    # A running batch stamps each chunk: its age is how long it has made no progress.
    batch = (
        BatchConfirmation.objects.filter(
            state__in=[BatchConfirmation.State.QUEUED, BatchConfirmation.State.RUNNING]
        )
        .order_by("last_queued_at")
        .values_list("last_queued_at", "policy_year__promised_minutes")
        .first()
    )
    # Files: roster uploads waiting for their check or stuck committing, ID lists waiting to
    # be read. (A check in progress stamps its progress and is not waiting.)
    upload = RosterUpload.objects.filter(
        state__in=[RosterUpload.State.QUEUED, RosterUpload.State.COMMITTING]
    ).aggregate(since=Min("last_queued_at"))["since"]
    id_list = IdListUpload.objects.filter(state=IdListUpload.State.QUEUED).aggregate(
        since=Min("last_queued_at")
    )["since"]
    file_since = min((moment for moment in (upload, id_list) if moment), default=None)
    file_limit = dt.timedelta(minutes=settings.FILE_CHECK_PROMISE_MINUTES)
    return {
        "accounts": _since(application),
        "batches": _since(batch),
        "files": (file_since, file_limit),
    }


def _since(row: tuple[dt.datetime, int] | None) -> tuple[dt.datetime | None, dt.timedelta]:
    # Accounts, and a batch's accounts, are promised within the policy year's minutes.
    if row is None:
        return None, dt.timedelta(0)
    waiting_since, promised_minutes = row
    return waiting_since, dt.timedelta(minutes=promised_minutes)


def _beat(heartbeats: dict[str, dt.datetime], now: dt.datetime) -> dict:
    """Beat sends a heartbeat through each queue: the newest one tells that beat is running."""
    newest = max(heartbeats.values(), default=None)
    age = _age(newest, now)
    limit = settings.HEARTBEAT_MAX_AGE_SECONDS
    return {"ok": age is not None and age <= limit, "age_seconds": age, "limit_seconds": limit}


def _queue(
    heartbeat: dt.datetime | None,
    waiting_since: dt.datetime | None,
    wait_limit: dt.timedelta,
    *,
    now: dt.datetime,
) -> dict:
    """A queue is fine when its worker ran a heartbeat lately and no work waits too long."""
    heartbeat_age = _age(heartbeat, now)
    alive = heartbeat_age is not None and heartbeat_age <= settings.HEARTBEAT_MAX_AGE_SECONDS
    waiting = _age(waiting_since, now)
    limit = None if waiting is None else round(wait_limit.total_seconds())
    return {
        "ok": alive and (waiting is None or waiting <= limit),
        "heartbeat_age_seconds": heartbeat_age,
        "oldest_waiting_seconds": waiting,  # None: nothing waits
        "wait_limit_seconds": limit,
    }


def _age(moment: dt.datetime | None, now: dt.datetime) -> int | None:
    return None if moment is None else max(0, round((now - moment).total_seconds()))


def _ms_since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
