"""Background work for confirmations: thin tasks that take ids and call a service."""

import datetime as dt

from celery import shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from confirmations import services
from confirmations.gateway import GatewayUnavailable
from confirmations.models import Application

MAX_RETRIES = 5


@shared_task(bind=True, acks_late=True, max_retries=MAX_RETRIES)
def create_account(self, application_id: int) -> None:
    try:
        services.account_create(application_id=application_id)
    except GatewayUnavailable as exc:
        if self.request.retries >= MAX_RETRIES:
            services.account_fail_technically(application_id=application_id)
            return
        countdown = 30 * 2**self.request.retries
        # Queued again for then: the sweeper leaves it alone until it is due.
        Application.objects.filter(pk=application_id).update(
            last_queued_at=timezone.now() + dt.timedelta(seconds=countdown)
        )
        raise self.retry(exc=exc, countdown=countdown) from exc
    except (OperationalError, InterfaceError) as exc:
        # The database went away mid-task: again shortly, on a fresh connection (config.celery);
        # past the retries the sweeper finds the claimed application and queues it again.
        raise self.retry(exc=exc, countdown=2**self.request.retries, max_retries=3) from exc


@shared_task
def open_due_accounts() -> int:
    """Beat: accounts of waiting-period students whose day has come (seed 03)."""
    return services.waiting_accounts_queue_due()


@shared_task
def requeue_stale_applications() -> int:
    return services.applications_requeue_stale(older_than=dt.timedelta(minutes=3))
