"""The one way services queue background work: by task name, after the transaction commits.

Services never import their app's task module (tasks import services); they name the task
here. Every publish goes through `enqueue`, so how publishing behaves (routing, timeouts,
what happens when the broker is down) is decided in one place.
"""

from __future__ import annotations

from celery import Task
from celery.exceptions import NotRegistered
from django.db import transaction

from config.celery import app


def enqueue(task_name: str, *args: object) -> None:
    """Publish `task_name(*args)` now."""
    _task(task_name).apply_async(args)


def _task(name: str) -> Task:
    # The registered task, not app.send_task: it honours task_always_eager in tests.
    try:
        return app.tasks[name]
    except NotRegistered:
        # Outside a worker the task modules are imported on first use.
        app.loader.import_default_modules()
        return app.tasks[name]


def enqueue_on_commit(task_name: str, *args: object) -> None:
    """Publish `task_name(*args)` once the current transaction has committed."""
    transaction.on_commit(lambda: enqueue(task_name, *args))
