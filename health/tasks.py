"""The heartbeat beat sends through every queue (settings.CELERY_BEAT_SCHEDULE)."""

from celery import shared_task
from django.utils import timezone

from config.queueing import queue_name
from health.models import Heartbeat


@shared_task
def heartbeat(queue: str) -> None:
    """Record that a worker of `queue` (a name of settings.QUEUES) is running tasks now."""
    Heartbeat.objects.update_or_create(
        queue=queue_name(queue), defaults={"beat_at": timezone.now()}
    )
