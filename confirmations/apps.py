from django.apps import AppConfig


class ConfirmationsConfig(AppConfig):
    name = "confirmations"
    verbose_name = "参保确认与建账"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from confirmations import (
            checks,  # noqa: F401  (registers the deployment checks)
            year_cache,
        )
        from confirmations.models import PolicyYear
        from schools.models import City

        # The current year is kept between requests (confirmations/year_cache.py): any change
        # to a year or its city makes every process read it again.
        for model in (PolicyYear, City):
            post_save.connect(year_cache.invalidate, sender=model, dispatch_uid=f"year-{model}")
            post_delete.connect(year_cache.invalidate, sender=model, dispatch_uid=f"year-{model}-")
