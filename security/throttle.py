"""Soft limits: progressive back-off instead of a lock-out.

A campus NAT or a district office shares one address among many honest people; locking that
address out would lock them all out. Past a free allowance each further attempt from the
address waits longer (base, 2×base, 4×base …) up to a cap, so a script is slowed to a crawl
while a person at worst waits a few seconds.
"""

from __future__ import annotations

import datetime as dt
import math

from django.db.models import Count, Max, QuerySet


def attempts_wait(
    attempts: QuerySet,
    *,
    at_field: str,
    free: int,
    now: dt.datetime,
    base_seconds: float,
    max_seconds: float,
) -> int:
    """`backoff_wait` for the attempts in `attempts` (already filtered to one address and the
    window), counted and dated in one query."""
    recent = attempts.aggregate(count=Count("pk"), last=Max(at_field))
    return backoff_wait(
        recent=recent["count"],
        free=free,
        last_at=recent["last"],
        now=now,
        base_seconds=base_seconds,
        max_seconds=max_seconds,
    )


def backoff_wait(
    *,
    recent: int,
    free: int,
    last_at: dt.datetime | None,
    now: dt.datetime,
    base_seconds: float,
    max_seconds: float,
) -> int:
    """Whole seconds to wait before the next attempt (0: go ahead).

    `recent` attempts were made in the window, the latest at `last_at`.
    """
    if recent < free or last_at is None:
        return 0
    gap = min(base_seconds * 2 ** min(recent - free, 32), max_seconds)
    remaining = gap - (now - last_at).total_seconds()
    return max(0, math.ceil(remaining))
