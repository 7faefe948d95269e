"""The one way services queue background work: by task name, after the transaction commits.

Services never import their app's task module (tasks import services); they name the task
here. Every publish goes through `enqueue`, so how publishing behaves (routing, timeouts,
what happens when the broker is down) is decided in one place.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterable

import kombu.exceptions
import redis
from celery import Task
from celery.exceptions import NotRegistered
from django.conf import settings
from django.db import transaction
from django.db.models import F, Model, Q
from django.utils import timezone

from config.celery import app

logger = logging.getLogger(__name__)

HEARTBEAT = "health.tasks.heartbeat"
# Within a queue, Redis serves a lower number first.
HEARTBEAT_PRIORITY = 0  # its age then tells whether a worker consumes the queue, not its length
PRIORITY = 5
BULK_PRIORITY = 9  # thousands at once (a batch's accounts) never hold up one student's account
# Celery's task discovery returns nothing to a second thread while a first one is importing
# (its _RACE_PROTECTION flag): in a threaded web process the second student's submission
# then failed with NotRegistered (bench/bench_student_flow.py). One thread imports at a time.
_IMPORTING = threading.Lock()


# What a stopped, frozen or unreachable broker raises while publishing.
BROKER_ERRORS = (kombu.exceptions.OperationalError, redis.RedisError, OSError)


def enqueue(task_name: str, *args: object, bulk: bool = False) -> bool:
    """Publish `task_name(*args)` now; `bulk` work waits behind the rest of its queue.

    False when the broker could not take it: the work is stored and its sweeper queues it
    again once the broker answers, so the caller carries on (no 500 after the data is saved).
    Publishing gives up within a second or two (settings.BROKER_TIMEOUT_SECONDS).
    """
    options = {"priority": BULK_PRIORITY} if bulk else {}
    try:
        _task(task_name).apply_async(args, **options)
    except BROKER_ERRORS as exc:
        # Ids only, never a name or an ID number; the sweeper has what it needs in the database.
        logger.warning(
            "could not queue %s (left to the sweeper): %s", task_name, type(exc).__name__
        )
        return False
    return True


def _task(name: str) -> Task:
    # The registered task, not app.send_task: it honours task_always_eager in tests.
    try:
        return app.tasks[name]
    except NotRegistered:
        # Outside a worker the task modules are imported on first use.
        with _IMPORTING:
            app.loader.import_default_modules()
        return app.tasks[name]


def enqueue_on_commit(task_name: str, *args: object, bulk: bool = False) -> None:
    """Publish `task_name(*args)` once the current transaction has committed."""
    transaction.on_commit(lambda: enqueue(task_name, *args, bulk=bulk))


def requeue(model: type[Model], work: Iterable[tuple[str, object]], *, bulk: bool = False) -> int:
    """The sweepers' publishing: `task_name(key)` for each (task name, primary key) of `work`,
    in turn, then the published rows' `last_queued_at` stamped, so that their sweeper leaves
    them alone for a while. Stops at the first message the broker refuses: each try costs its
    timeout, and the next sweep tries again. How many were published."""
    queued = []
    for task_name, key in work:
        if not enqueue(task_name, key, bulk=bulk):
            break
        queued.append(key)
    if queued:
        model.objects.filter(pk__in=queued).update(last_queued_at=timezone.now())
    return len(queued)


def lost_work(*, cutoff: dt.datetime, queue_empty: bool) -> Q:
    """Which claimed-and-queued work (`claimed_at`, `last_queued_at`) queued before `cutoff` was
    lost:

    - claimed by a worker since it was last queued, and not finished or renewed since `cutoff`
      (the worker died, or lost its database);
    - never claimed since it was queued, but only while its queue holds no waiting message
      (`queue_empty`): its message was lost (a broker outage when it was queued). While
      messages wait, unclaimed work is waiting work, and queueing it again would only double
      the backlog.
    """
    lost = Q(claimed_at__gte=F("last_queued_at"), claimed_at__lt=cutoff)
    if queue_empty:
        lost |= Q(claimed_at__isnull=True) | Q(claimed_at__lt=F("last_queued_at"))
    return lost & Q(last_queued_at__lt=cutoff)


def waiting_messages(queue: str) -> int | None:
    """How many messages wait in one of settings.QUEUES (not those a worker holds), or None
    when the broker does not answer. A sweeper re-queues work never picked up only when its
    queue is empty: a backlog is waiting work, not lost work.
    """
    if app.conf.task_always_eager:
        return 0  # tasks run where they are queued: nothing ever waits in a broker
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://")):
        return 0  # the development folder broker: nothing to double-count worth asking about
    name = queue_name(queue)
    # Kombu keeps one Redis list per priority step: `name` (0) and name + "\x06\x16" + step.
    keys = [name, *(f"{name}\x06\x16{step}" for step in (3, 6, 9))]
    client = redis.Redis.from_url(
        url,
        socket_connect_timeout=settings.BROKER_TIMEOUT_SECONDS,
        socket_timeout=settings.BROKER_TIMEOUT_SECONDS,
    )
    try:
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.llen(key)
        return sum(pipe.execute())
    except redis.RedisError:
        return None
    finally:
        client.close()


def queue_name(queue: str) -> str:
    """The broker's name for one of settings.QUEUES (with this deployment's prefix)."""
    return settings.QUEUE_PREFIX + queue


def route_task(name: str, args: tuple, kwargs: dict, options: dict, **_: object) -> dict | None:
    """Celery router (setting CELERY_TASK_ROUTES): each task to its queue, by task name.

    The heartbeat goes through the queue it is sent for, ahead of the work waiting there, so
    that each queue's worker answers. A priority given when queueing (bulk) wins over this one.
    """
    if name == HEARTBEAT:
        return {"queue": queue_name(args[0]), "priority": HEARTBEAT_PRIORITY}
    queue = settings.TASK_QUEUES.get(name)
    return {"queue": queue_name(queue), "priority": PRIORITY} if queue else None
