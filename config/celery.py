"""The project's one Celery app; settings come from Django's (CELERY_ prefix)."""

import logging
import os
from pathlib import Path

from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger

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
