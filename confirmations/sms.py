"""Pluggable SMS senders for one-time codes and reminders (setting `SMS_SENDER`)."""

from __future__ import annotations

import json
import logging
from typing import ClassVar, Protocol

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
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


class FileOutboxSender:
    """Browser-test sender: appends each message, with the full phone, to SMS_OUTBOX_FILE.

    The browser tests read the one-time code there; never in production (the deployment
    check confirmations.W001 names it).
    """

    def __init__(self) -> None:
        if not settings.SMS_OUTBOX_FILE:
            raise ImproperlyConfigured("FileOutboxSender needs SMS_OUTBOX_FILE (a file path).")
        self.path = settings.SMS_OUTBOX_FILE

    def send(self, phone: str, message: str) -> None:
        line = json.dumps(
            {"phone": phone, "message": message, "sent_at": timezone.now().isoformat()},
            ensure_ascii=False,
        )
        # One short append per message: lines from several web processes never interleave.
        with open(self.path, "a", encoding="utf-8") as outbox:
            outbox.write(line + "\n")


def sms_sender() -> SmsSender:
    return import_string(settings.SMS_SENDER)()
