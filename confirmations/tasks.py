"""Background work for confirmations: thin tasks that take ids and call a service."""

import datetime as dt

from celery import shared_task

from confirmations import services
from confirmations.gateway import GatewayUnavailable

MAX_RETRIES = 5


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
def open_due_accounts() -> int:
    """Beat: accounts of waiting-period students whose day has come (seed 03)."""
    return services.waiting_accounts_queue_due()


@shared_task
def requeue_stale_applications() -> int:
    return services.applications_requeue_stale(older_than=dt.timedelta(minutes=3))
