"""One-time codes that identify a freshman by the phone on their school's roster.

A code belongs to roster records, not to an ID number: it goes to the phone of the records
matching the name and ID number, and verifying it binds the session to exactly the records
that carry the phone it went to. A student on two rosters with the same phone may act on both
(and chooses a school); with different phones each phone gets its own code, and each code
binds only its own records — so a filer who adds a record with their own phone for another
school's student gets a code that opens their own record and nothing done through the other.

The answer to a name/ID pair is the same whether or not it is on any roster: a code is "sent"
either way, and only a matching pair can ever be verified. Limits that could refuse a student
are keyed so that nobody else can use them up: the per-person quota counts requests for the
same name *and* ID number (a wrong name counts against itself), and a shared address is
slowed down progressively, never locked out.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from confirmations.models import OneTimeCode
from confirmations.sms import sms_sender
from enrollment.models import StudentRecord
from enrollment.rules import (
    identify_id_problem,
    is_mobile,
    name_key,
    normalize_id_number,
    normalize_text,
    same_name,
)
from security.throttle import attempts_wait

CODE_TTL = dt.timedelta(minutes=5)
RESEND_AFTER = dt.timedelta(seconds=60)
SENDS_PER_PERSON_PER_HOUR = 5
VERIFY_ATTEMPTS = 5
ADDRESS_WINDOW = dt.timedelta(hours=1)
ADDRESS_BACKOFF_BASE_SECONDS = 1


class RateLimited(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ResendTooSoon(RateLimited):
    """A code went to this name and ID number less than a minute ago; `wait` seconds are left."""

    def __init__(self, wait: int) -> None:
        super().__init__(f"验证码已发送，请 {wait} 秒后再重新获取")
        self.wait = wait


class MalformedIdNumber(Exception):
    """The ID number cannot be anyone's (wrong length, check character, birth date)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class CodeSent:
    code_id: int


def _digest(*parts: str) -> str:
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, "\x1f".join(parts).encode(), hashlib.sha256).hexdigest()


def _address_wait(client_ip: str | None, now: dt.datetime) -> int:
    if not client_ip:
        return 0
    return attempts_wait(
        OneTimeCode.objects.filter(client_ip=client_ip, created_at__gte=now - ADDRESS_WINDOW),
        at_field="created_at",
        free=settings.IDENTIFY_FREE_PER_ADDRESS_PER_HOUR,
        now=now,
        base_seconds=ADDRESS_BACKOFF_BASE_SECONDS,
        max_seconds=settings.IDENTIFY_MAX_BACKOFF_SECONDS,
    )


def _records_by_phone(name: str, id_number: str) -> dict[str, list[int]]:
    """The roster records matching the pair, grouped by the mobile phone each one carries.

    Names compare as rosters store them (case, full-width letters, spaces and the middle dots
    of minority and foreign names aside: `rules.same_name`). A record whose phone is a landline
    can receive no code: it opens nothing (the code page tells every student so, whether or not
    the pair is on a roster; the school's records list shows which records cannot receive one).
    """
    by_phone: dict[str, list[int]] = {}
    records = StudentRecord.objects.filter(id_number=id_number).order_by()
    # Sorted here: compiling the ORDER BY cost more Python than the sort of a person's records.
    for pk, record_name, phone in sorted(records.values_list("pk", "name", "phone")):
        if same_name(record_name, name) and is_mobile(phone):
            by_phone.setdefault(phone, []).append(pk)
    return by_phone


def _resend_wait(last: dt.datetime | None, now: dt.datetime) -> int:
    """Whole seconds until this pair may ask for another code (0: now), from its last code."""
    if last is None:
        return 0
    return max(0, math.ceil((last + RESEND_AFTER - now).total_seconds()))


def resend_wait(*, name: str, id_number: str) -> int:
    """Seconds before 重新获取 may send another code to this name and ID number (0: now).

    The code page counts this down (the server's number, not a fixed 60).
    """
    pair_hash = _digest("pair", normalize_id_number(id_number), name_key(normalize_text(name)))
    now = timezone.now()
    return _resend_wait(max(_pair_sends(pair_hash, since=now - RESEND_AFTER), default=None), now)


def _pair_sends(pair_hash: str, *, since: dt.datetime) -> list[dt.datetime]:
    """When the codes for this name and ID number since `since` were sent. A pair gets a few
    an hour at most (SENDS_PER_PERSON_PER_HOUR): counted here, not by an aggregate, whose
    Python cost more than the query (a shared address, with thousands, is aggregated)."""
    sends = OneTimeCode.objects.filter(pair_hash=pair_hash, created_at__gte=since).order_by()
    return list(sends.values_list("created_at", flat=True))


def code_request(*, name: str, id_number: str, client_ip: str | None) -> CodeSent:
    """Send a code to each roster phone for this name and ID number (if they match any)."""
    id_number = normalize_id_number(id_number)
    if problem := identify_id_problem(id_number):
        raise MalformedIdNumber(problem)
    name = normalize_text(name)
    now = timezone.now()
    if wait := _address_wait(client_ip, now):
        raise RateLimited(f"当前网络获取验证码的人较多，请 {wait} 秒后再试")
    pair_hash = _digest("pair", id_number, name_key(name))
    mine = _pair_sends(pair_hash, since=now - dt.timedelta(hours=1))
    if len(mine) >= SENDS_PER_PERSON_PER_HOUR:
        raise RateLimited("获取验证码次数过多，请一小时后再试")
    if wait := _resend_wait(max(mine, default=None), now):
        raise ResendTooSoon(wait)

    deliveries, messages = [], []
    for phone, record_ids in _records_by_phone(name, id_number).items():
        code = f"{secrets.randbelow(10**6):06d}"
        deliveries.append({"code_hash": _digest("code", id_number, code), "record_ids": record_ids})
        messages.append((phone, code))
    sent = OneTimeCode.objects.create(
        id_number_hash=_digest("id", id_number),
        pair_hash=pair_hash,
        deliveries=deliveries,
        expires_at=now + CODE_TTL,
        client_ip=client_ip,
    )
    sender = sms_sender()
    for phone, code in messages:
        sender.send(phone, f"【医保新生参保】您的验证码是 {code}，5 分钟内有效。请勿告诉他人。")
    return CodeSent(sent.pk)


def code_verify(*, code_id: int, id_number: str, code: str) -> list[int]:
    """The records the right code binds (once), or [] for a wrong, spent or expired code.

    One request may have sent several codes (one per phone); a guess is counted once against
    the request, whichever code it tries, so several phones do not buy more guesses.
    """
    id_number = normalize_id_number(id_number)
    now = timezone.now()
    live = OneTimeCode.objects.filter(
        pk=code_id,
        id_number_hash=_digest("id", id_number),
        used_at__isnull=True,
        expires_at__gt=now,
        attempts__lt=VERIFY_ATTEMPTS,
    )
    deliveries = next(iter(live.values_list("deliveries", flat=True).order_by()), None)
    if deliveries is None:  # wrong person, spent, expired or out of attempts
        return []
    expected = _digest("code", id_number, code.strip())
    delivery = next((d for d in deliveries if hmac.compare_digest(d["code_hash"], expected)), None)
    # Count the attempt (and spend the code if it was right) in one statement that checks the
    # limit, the expiry and that the code is unspent again when it writes: parallel guesses
    # cannot all slip under the limit, and racing requests cannot spend a code twice.
    spent = {"used_at": now} if delivery is not None else {}
    if not live.update(attempts=F("attempts") + 1, **spent) or delivery is None:
        return []
    return list(delivery["record_ids"])


TOO_MANY_ATTEMPTS = "错误次数过多，请重新获取验证码"
EXPIRED = "验证码已过期，请重新获取验证码"
WRONG = "验证码错误，请重新输入或重新获取"


def code_refusal(*, code_id: int) -> str:
    """Why a code of this request is refused now, in the student's words (after `code_verify`).

    Once the guesses are used up even the right code is refused: the student must be told to
    get a new code, not that the code is wrong (issue 13, defect 5). Says nothing about whether
    the name and ID number matched a roster: every request has the same attempts and expiry.
    """
    sent = OneTimeCode.objects.filter(pk=code_id).first()
    if sent is None or sent.used_at is not None:
        return EXPIRED
    if sent.attempts >= VERIFY_ATTEMPTS:
        return TOO_MANY_ATTEMPTS
    if sent.expires_at <= timezone.now():
        return EXPIRED
    return WRONG
