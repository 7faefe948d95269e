"""The Celery worker's logs go through the same mask as the web's (review 6).

A worker replaces the root logger's handlers with its own (worker_hijack_root_logger), so the
filter of settings.LOGGING would be gone: task failures, their exceptions and results would
reach the log unmasked. Here Celery's own logging set-up runs as in a worker, to a file.
"""

from __future__ import annotations

import logging

import pytest
from celery.app.log import Logging

from config.celery import app

ID_NUMBER = "310109200806061614"
MOBILE = "13812345678"


@pytest.fixture
def worker_logging(tmp_path):
    """Celery's logging set-up as a worker does it, writing to a file; undone afterwards."""
    loggers = [logging.getLogger(), logging.getLogger("celery.task")]
    saved = [(logger, list(logger.handlers), logger.level, logger.propagate) for logger in loggers]
    path = tmp_path / "worker.log"
    Logging(app).setup_logging_subsystem(
        loglevel=logging.INFO, logfile=str(path), colorize=False, hostname="test@worker"
    )
    yield path
    for logger, handlers, level, propagate in saved:
        for handler in logger.handlers:
            if handler not in handlers:
                handler.close()
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate


def test_task_failure_logged_by_the_worker_is_masked(worker_logging):
    try:
        raise ValueError(f"no record for {ID_NUMBER} / {MOBILE}")
    except ValueError:
        logging.getLogger("celery.app.trace").exception(
            "Task %s raised unexpected, args=%r", "t", (ID_NUMBER,)
        )
    logging.getLogger("celery.task").info("result %s", MOBILE)
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = worker_logging.read_text()
    assert "raised unexpected" in text and "result" in text
    assert ID_NUMBER not in text and MOBILE not in text
    assert "310*****14" in text
