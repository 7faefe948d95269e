"""Background work for the desk: thin tasks that take ids and call a service."""

import datetime as dt
import logging

from celery import shared_task

from confirmations.models import PolicyYear
from desk import services

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def run_batch_confirmation(batch_id: str) -> None:
    services.batch_confirmation_run(batch_id=batch_id)


@shared_task(acks_late=True)
def read_id_list(upload_id: str) -> None:
    services.id_list_upload_read(upload_id=upload_id)


@shared_task
def requeue_stale_batches() -> int:
    # ID lists ride on the batches' sweep: a list becomes a batch once read.
    older_than = dt.timedelta(minutes=3)
    return services.batches_requeue_stale(older_than=older_than) + services.id_lists_requeue_stale(
        older_than=older_than
    )


@shared_task(acks_late=True)
def send_reminders(reminder_id: int, record_ids: list[int]) -> int:
    policy_year = PolicyYear.current()
    if policy_year is None:
        return 0
    sent = services.reminders_deliver(record_ids=record_ids, policy_year=policy_year)
    logger.info("reminder %s: %s messages sent", reminder_id, sent)
    return sent
