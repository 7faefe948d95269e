from django.apps import AppConfig


class SecurityConfig(AppConfig):
    name = "security"
    verbose_name = "身份与访问安全"
