"""The request being served, for audit entries written from signals (admin, designations)."""

from __future__ import annotations

from contextvars import ContextVar

from django.http import HttpRequest

current_request: ContextVar[HttpRequest | None] = ContextVar("audit_request", default=None)
