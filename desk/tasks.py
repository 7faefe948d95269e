"""Background work for the desk: thin tasks that take ids and call a service."""

import datetime as dt
import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError

from config.queueing import enqueue
from desk import services

logger = logging.getLogger(__name__)


DATABASE_RETRIES = 5


@shared_task(bind=True, acks_late=True, max_retries=DATABASE_RETRIES)
def run_batch_confirmation(self, batch_id: str) -> None:
    """One chunk of a batch, then the next chunk is queued (behind the queue's other work)."""
    try:
        more = services.batch_confirmation_run(batch_id=batch_id)
        while more and self.request.is_eager:  # tests and eager setups: no queue to go through
            more = services.batch_confirmation_run(batch_id=batch_id)
    except (OperationalError, InterfaceError) as exc:
        # The chunk rolled back; try again soon on a fresh connection (config.celery). After
        # the last retry the batch's lease runs out and the sweeper resumes it.
        raise self.retry(exc=exc, countdown=2**self.request.retries) from exc
    if more:
        enqueue(services.RUN_BATCH, batch_id)


@shared_task(acks_late=True)
def read_id_list(upload_id: str) -> None:
    services.id_list_upload_read(upload_id=upload_id)


@shared_task
def requeue_stale_batches() -> int:
    # ID lists ride on the batches' sweep (a list becomes a batch once read), and so do the
    # reminders, which are sent on the batches queue.
    return (
        services.batches_requeue_stale()
        + services.id_lists_requeue_stale(older_than=dt.timedelta(minutes=3))
        + services.reminders_requeue_stale()
    )


@shared_task(acks_late=True)
def send_reminders(reminder_id: int, record_ids: list[int] | None = None) -> int:
    # `record_ids` rode along on messages queued before reminders kept their own progress; the
    # stored reminder is what is sent, so a redelivered message texts nobody twice.
    sent = services.reminder_deliver(reminder_id=reminder_id)
    logger.info("reminder %s: %s messages sent", reminder_id, sent)
    return sent
