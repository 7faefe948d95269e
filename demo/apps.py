from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Demo data for a new installation; sits above every app it fills."""

    name = "demo"
    verbose_name = "演示数据"
