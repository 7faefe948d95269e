"""Pluggable SMS senders for one-time codes and reminders (setting `SMS_SENDER`)."""

from __future__ import annotations

import json
import logging
import re
from typing import ClassVar, Protocol

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from django.utils.module_loading import import_string

from enrollment.masking import mask_phone

logger = logging.getLogger("confirmations.sms")


class SmsSender(Protocol):
    def send(self, phone: str, message: str) -> None: ...


_CODE = re.compile(r"验证码是 (\d{6})")
_FRAME = "=" * 44


class LogSender:
    """Development sender (`make run`): one-time codes stand out in the console, framed on
    lines of their own; every other text (reminders) is one short line without its content,
    so a batch of reminders never buries a code. Phones are masked."""

    def send(self, phone: str, message: str) -> None:
        if found := _CODE.search(message):
            logger.warning(
                "\n%s\n  验证码 %s   → 手机 %s（5 分钟内有效）\n%s",
                _FRAME,
                found.group(1),
                mask_phone(phone),
                _FRAME,
            )
            return
        sender = message.split("】", 1)[0] + "】" if message.startswith("【") else ""
        logger.info("短信 → %s：%s…（%d 字，内容略）", mask_phone(phone), sender, len(message))


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
