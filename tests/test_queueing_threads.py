"""Queueing from a threaded web process (gunicorn --threads): the task modules load once."""

from __future__ import annotations

import threading

import celery.loaders.base

from config import queueing
from config.celery import app as celery_app

CREATE_ACCOUNT = "confirmations.tasks.create_account"


def test_a_task_queued_while_another_thread_loads_the_task_modules_is_found(monkeypatch):
    # Two students submit at once in a web process that has not queued anything yet: the
    # first thread loads the task modules; Celery's discovery answers a second caller "nothing
    # to import" meanwhile, which must not fail the second student's submission.
    celery_app.loader.import_default_modules()
    task = celery_app.tasks[CREATE_ACCOUNT]
    loading, loaded = threading.Event(), threading.Event()

    def slow_discovery(package: str, related_name: str) -> None:
        loading.set()
        loaded.wait(5)
        celery_app.tasks.register(task)  # what importing confirmations.tasks does

    monkeypatch.setattr(celery.loaders.base, "find_related_module", slow_discovery)
    monkeypatch.delitem(celery_app.tasks, CREATE_ACCOUNT)
    first = threading.Thread(target=queueing._task, args=(CREATE_ACCOUNT,))
    first.start()
    assert loading.wait(5)
    threading.Timer(0.2, loaded.set).start()
    try:
        assert queueing._task(CREATE_ACCOUNT) is task
    finally:
        loaded.set()
        first.join(5)
