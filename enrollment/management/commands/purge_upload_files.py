"""Empty the stored roster files whose retention period is over (idempotent)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand

from enrollment.retention_jobs import purge_expired_upload_files


class Command(BaseCommand):
    help = (
        "Empty the stored files of roster uploads whose policy year closed more than "
        "UPLOAD_RETENTION_DAYS_AFTER_YEAR days ago; counts, errors and the audit trail stay."
    )

    def handle(self, *args: object, **options: object) -> None:
        purged = purge_expired_upload_files()
        self.stdout.write(
            f"purged the files of {purged} roster uploads "
            f"(kept for {settings.UPLOAD_RETENTION_DAYS_AFTER_YEAR} days after their policy year)"
        )
