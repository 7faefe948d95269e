from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "审计记录"

    def ready(self) -> None:
        from audit import signals  # noqa: F401  (logins, admin edits, designations)
