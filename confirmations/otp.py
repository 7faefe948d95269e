"""One-time codes that identify a freshman by the phone on their school's roster.

The answer to a name/ID pair is the same whether or not it is on any roster: a code is "sent"
either way, and only a matching pair can ever be verified.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from confirmations.models import OneTimeCode
from confirmations.sms import sms_sender
from enrollment.models import StudentRecord
from enrollment.rules import normalize_id_number

CODE_TTL = dt.timedelta(minutes=5)
RESEND_AFTER = dt.timedelta(seconds=60)
SENDS_PER_ID_PER_HOUR = 5
SENDS_PER_IP_PER_HOUR = 30
VERIFY_ATTEMPTS = 5


class RateLimited(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class CodeSent:
    code_id: int


def _digest(*parts: str) -> str:
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, "\x1f".join(parts).encode(), hashlib.sha256).hexdigest()


def code_request(*, name: str, id_number: str, client_ip: str | None) -> CodeSent:
    """Send a code to the roster's phone for this name and ID number (if they match one)."""
    id_number = normalize_id_number(id_number)
    name = name.strip()
    id_hash = _digest("id", id_number)
    now = timezone.now()
    hour_ago = now - dt.timedelta(hours=1)
    recent = OneTimeCode.objects.filter(created_at__gte=hour_ago)
    if client_ip and recent.filter(client_ip=client_ip).count() >= SENDS_PER_IP_PER_HOUR:
        raise RateLimited("本设备获取验证码过于频繁，请一小时后再试")
    mine = recent.filter(id_number_hash=id_hash)
    if mine.count() >= SENDS_PER_ID_PER_HOUR:
        raise RateLimited("获取验证码次数过多，请一小时后再试")
    if mine.filter(created_at__gte=now - RESEND_AFTER).exists():
        raise RateLimited("验证码已发送，请 60 秒后再重新获取")

    record = (
        StudentRecord.objects.filter(id_number=id_number, name=name)
        .order_by("-enrollment_year", "-updated_at")
        .first()
    )
    phone = record.phone if record else ""
    code = f"{secrets.randbelow(10**6):06d}"
    sent = OneTimeCode.objects.create(
        id_number_hash=id_hash,
        code_hash=_digest("code", id_number, code),
        phone=phone,
        expires_at=now + CODE_TTL,
        client_ip=client_ip,
    )
    if phone:
        sms_sender().send(
            phone, f"【医保新生参保】您的验证码是 {code}，5 分钟内有效。请勿告诉他人。"
        )
    return CodeSent(sent.pk)


def code_verify(*, code_id: int, id_number: str, code: str) -> bool:
    """True once for the right code of a name/ID pair that matched a roster."""
    id_number = normalize_id_number(id_number)
    now = timezone.now()
    live = OneTimeCode.objects.filter(
        pk=code_id,
        id_number_hash=_digest("id", id_number),
        used_at__isnull=True,
        expires_at__gt=now,
        attempts__lt=VERIFY_ATTEMPTS,
    )
    # Count the attempt in the same statement that checks the limit, so parallel guesses
    # cannot all slip under it.
    if not live.update(attempts=F("attempts") + 1):
        return False
    candidate = OneTimeCode.objects.get(pk=code_id)
    if not candidate.phone or not hmac.compare_digest(
        candidate.code_hash, _digest("code", id_number, code.strip())
    ):
        return False
    # Mark used atomically so a code cannot be spent twice by racing requests.
    return bool(
        OneTimeCode.objects.filter(pk=candidate.pk, used_at__isnull=True).update(used_at=now)
    )
