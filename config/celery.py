"""The project's one Celery app; settings come from Django's (CELERY_ prefix)."""

import contextlib
import logging
import os
from pathlib import Path

from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger, celeryd_init, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def _create_filesystem_broker_folders(sender: Celery, **_: object) -> None:
    # The filesystem transport expects its folders to exist.
    options = sender.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "processed_folder"):
        if options.get(key):
            Path(options[key]).mkdir(parents=True, exist_ok=True)


@after_setup_logger.connect
@after_setup_task_logger.connect
def _mask_personal_data(logger: logging.Logger, **_: object) -> None:
    """A worker replaces the root logger's handlers (settings.LOGGING's, with the mask) with
    its own: give those the same mask, so task failures, arguments and results are masked."""
    from security.logmask import MaskPersonalData

    for handler in logger.handlers:
        if not any(isinstance(f, MaskPersonalData) for f in handler.filters):
            handler.addFilter(MaskPersonalData())


@celeryd_init.connect
def _patient_consumer_socket(**_: object) -> None:
    # The short socket timeout keeps a web worker from waiting on a frozen broker; a worker
    # waits for messages with BRPOP (1 s at a time) and needs a read timeout above that.
    options = dict(app.conf.broker_transport_options or {})
    if "socket_timeout" in options:
        options["socket_timeout"] = 10
        app.conf.broker_transport_options = options


@task_prerun.connect
def _replace_dead_database_connections(**_: object) -> None:
    """Before each task: a connection the database dropped is closed here and reopened on first
    use, so one outage costs at most the task that was running, not the next thousand
    (CELERY_DB_REUSE_MAX keeps connections across tasks). One `SELECT 1` per task."""
    from django.db import connections

    for connection in connections.all(initialized_only=True):
        if connection.connection is None or connection.in_atomic_block:
            continue  # not connected yet, or (eager, in a test) inside a transaction
        if connection.errors_occurred or not connection.is_usable():
            with contextlib.suppress(Exception):  # closing a dead connection may complain
                connection.close()
            connection.connection = None
