"""Pluggable SMS senders for one-time codes and reminders (setting `SMS_SENDER`)."""

from __future__ import annotations

import logging
from typing import ClassVar, Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from enrollment.masking import mask_phone

logger = logging.getLogger("confirmations.sms")


class SmsSender(Protocol):
    def send(self, phone: str, message: str) -> None: ...


class LogSender:
    """Development sender: writes the message to the log with the phone masked."""

    def send(self, phone: str, message: str) -> None:
        logger.warning("SMS to %s: %s", mask_phone(phone), message)


class MemorySender:
    """Test sender: keeps messages in `outbox` as (phone, message)."""

    outbox: ClassVar[list[tuple[str, str]]] = []

    def send(self, phone: str, message: str) -> None:
        self.outbox.append((phone, message))


def sms_sender() -> SmsSender:
    return import_string(settings.SMS_SENDER)()
