"""Deployment checks: a production site must not keep its one-time codes in the log."""

from django.conf import settings
from django.core.checks import Warning, register

DEVELOPMENT_SENDERS = {
    "confirmations.sms.LogSender",
    "confirmations.sms.MemorySender",
    "confirmations.sms.FileOutboxSender",
}


@register(deploy=True)
def sms_sender_is_real(app_configs=None, **kwargs) -> list[Warning]:
    if settings.SMS_SENDER in DEVELOPMENT_SENDERS:
        return [
            Warning(
                f"SMS_SENDER is {settings.SMS_SENDER}: one-time codes are not delivered to phones.",
                hint="Set SMS_SENDER to the dotted path of a sender for your SMS service.",
                id="confirmations.W001",
            )
        ]
    return []
