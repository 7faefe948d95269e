"""Background work for confirmations: thin tasks that take ids and call a service."""

import datetime as dt
import logging

from celery import shared_task

from confirmations import services
from confirmations.gateway import GatewayUnavailable
from confirmations.models import PolicyYear

MAX_RETRIES = 5
logger = logging.getLogger(__name__)


@shared_task(bind=True, acks_late=True, max_retries=MAX_RETRIES)
def create_account(self, application_id: int) -> None:
    try:
        services.account_create(application_id=application_id)
    except GatewayUnavailable as exc:
        if self.request.retries >= MAX_RETRIES:
            services.account_fail_technically(application_id=application_id)
            return
        raise self.retry(exc=exc, countdown=30 * 2**self.request.retries) from exc


@shared_task
def requeue_stale_applications() -> int:
    from confirmations import staff

    older_than = dt.timedelta(minutes=3)
    return services.applications_requeue_stale(older_than=older_than) + staff.batches_requeue_stale(
        older_than=older_than
    )


@shared_task(acks_late=True)
def run_batch_confirmation(batch_id: str) -> None:
    from confirmations import staff

    staff.batch_confirmation_run(batch_id=batch_id)


@shared_task(acks_late=True)
def send_reminders(reminder_id: int, record_ids: list[int]) -> int:
    from confirmations import staff

    policy_year = PolicyYear.current()
    if policy_year is None:
        return 0
    sent = staff.reminders_deliver(record_ids=record_ids, policy_year=policy_year)
    logger.info("reminder %s: %s messages sent", reminder_id, sent)
    return sent
