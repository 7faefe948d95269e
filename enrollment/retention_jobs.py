"""The retention purge as the beat schedule and `manage.py purge_upload_files` run it."""

from __future__ import annotations

import datetime as dt

from django.apps import apps
from django.conf import settings

from enrollment import services


def closing_dates() -> dict[int, dt.date]:
    """Each policy year's closing date (the day both confirmation channels shut).

    Policy years live in `confirmations`, which builds on this app; they are read through the
    app registry so that enrollment does not import upward.
    """
    policy_year = apps.get_model("confirmations", "PolicyYear")
    return dict(policy_year.objects.values_list("enrollment_year", "closing_date"))


def purge_expired_upload_files(*, today: dt.date | None = None) -> int:
    """Roster files past their retention, and the admin import's expired drafts; returns the
    number of roster uploads emptied."""
    services.import_drafts_purge(older_than_hours=settings.IMPORT_DRAFT_HOURS)
    return services.upload_files_purge(
        closing_dates=closing_dates(),
        days_after_year=settings.UPLOAD_RETENTION_DAYS_AFTER_YEAR,
        today=today,
    )
