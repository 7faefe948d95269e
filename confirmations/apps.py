from django.apps import AppConfig


class ConfirmationsConfig(AppConfig):
    name = "confirmations"
    verbose_name = "参保确认与建账"
