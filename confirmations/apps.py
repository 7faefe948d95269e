from django.apps import AppConfig


class ConfirmationsConfig(AppConfig):
    name = "confirmations"
    verbose_name = "参保确认与建账"

    def ready(self) -> None:
        from confirmations import checks  # noqa: F401  (registers the deployment checks)
