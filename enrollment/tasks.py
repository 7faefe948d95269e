"""Background work for roster uploads: thin tasks that take ids and call a service."""

import datetime as dt

from celery import shared_task

from enrollment import services


@shared_task(acks_late=True)
def check_roster_upload(upload_id: str) -> None:
    services.roster_upload_check(upload_id=upload_id)


@shared_task(acks_late=True)
def commit_roster_upload(upload_id: str) -> None:
    services.roster_upload_commit(upload_id=upload_id)


@shared_task
def requeue_stale_uploads() -> int:
    return services.uploads_requeue_stale(older_than=dt.timedelta(minutes=3))


@shared_task
def purge_expired_upload_files() -> int:
    from enrollment.retention_jobs import purge_expired_upload_files as purge

    return purge()
