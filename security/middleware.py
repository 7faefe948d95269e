"""Staff session limits, the two-factor gate and the per-address login back-off.

Each applies to every request, so no page can forget it.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from functools import cached_property
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django_otp import user_has_device

from security.client import client_ip
from security.throttle import attempts_wait

SESSION_STAFF_SINCE = "staff_since"
SESSION_STAFF_SEEN = "staff_seen"
SEEN_RESOLUTION_SECONDS = 60  # write the session at most once a minute to note activity
LOGIN_FAILURE_WINDOW = dt.timedelta(minutes=15)
LOGIN_BACKOFF_BASE_SECONDS = 2

Middleware = Callable[[HttpRequest], HttpResponse]


class StaffSessionTimeoutMiddleware:
    """End a staff session after STAFF_SESSION_IDLE_MINUTES without a request, or
    STAFF_SESSION_MAX_HOURS after it began, whatever the cookie says."""

    def __init__(self, get_response: Middleware) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            now = time.time()
            since = request.session.get(SESSION_STAFF_SINCE)
            seen = request.session.get(SESSION_STAFF_SEEN, since)
            idle = settings.STAFF_SESSION_IDLE_MINUTES * 60
            lifetime = settings.STAFF_SESSION_MAX_HOURS * 3600
            if since is None:
                request.session[SESSION_STAFF_SINCE] = request.session[SESSION_STAFF_SEEN] = now
            elif now - seen > idle or now - since > lifetime:
                logout(request)
                messages.info(request, "登录已超时，请重新登录")
                return redirect(
                    f"{reverse(settings.LOGIN_URL)}?{urlencode({'next': request.path})}"
                )
            elif now - seen > SEEN_RESOLUTION_SECONDS:
                request.session[SESSION_STAFF_SEEN] = now
        return self.get_response(request)


class TwoFactorMiddleware:
    """A staff user with a confirmed TOTP device (or any staff user, with STAFF_REQUIRE_2FA)
    verifies a code before any page: set-up and verification pages and logging out excepted."""

    def __init__(self, get_response: Middleware) -> None:
        self.get_response = get_response

    @cached_property
    def exempt_paths(self) -> set[str]:
        names = ["security:two_factor_setup", "security:two_factor_verify", "logout"]
        return {reverse(name) for name in names} | {reverse("admin:logout")}

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if (
            user.is_authenticated
            and not user.is_verified()
            and request.path not in self.exempt_paths
        ):
            has_device = user_has_device(user, confirmed=True)
            if has_device or settings.STAFF_REQUIRE_2FA:
                target = "security:two_factor_verify" if has_device else "security:two_factor_setup"
                return redirect(f"{reverse(target)}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)


def login_backoff_seconds(address: str | None, *, now: dt.datetime | None = None) -> int:
    """How long this address must wait before its next staff login attempt."""
    from audit.models import AuditEntry

    if not address:
        return 0
    now = now or timezone.now()
    failures = AuditEntry.objects.filter(
        action=AuditEntry.Action.LOGIN_FAILED,
        client_ip=address,
        at__gte=now - LOGIN_FAILURE_WINDOW,
    )
    return attempts_wait(
        failures,
        at_field="at",
        free=settings.STAFF_LOGIN_FREE_FAILURES_PER_ADDRESS,
        now=now,
        base_seconds=LOGIN_BACKOFF_BASE_SECONDS,
        max_seconds=settings.STAFF_LOGIN_MAX_BACKOFF_SECONDS,
    )


class LoginBackoffMiddleware:
    """Many failed staff logins from one address (portal or admin): later tries wait longer.

    The password is not even checked while the address waits, so waiting reveals nothing and
    counts against no account; a shared office address is slowed, never locked.
    """

    def __init__(self, get_response: Middleware) -> None:
        self.get_response = get_response

    @cached_property
    def login_paths(self) -> set[str]:
        return {reverse(settings.LOGIN_URL), reverse("admin:login")}

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST" and request.path in self.login_paths:
            wait = login_backoff_seconds(client_ip(request))
            if wait:
                return render(request, "registration/backoff.html", {"wait": wait}, status=429)
        return self.get_response(request)


class NulRefusalMiddleware:
    """Answer 400 to a request with a NUL character in its path, query string or form fields.

    PostgreSQL refuses NUL in any text, so a NUL that reached a query would be a 500; no page
    takes one (forms' CharFields refuse it too, but views read list filters and path arguments
    directly). Files uploaded in the body are not looked at.
    """

    def __init__(self, get_response: Middleware) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "\x00" in request.path_info or _has_nul(request.GET) or _has_nul(request.POST):
            return HttpResponse(
                "请求中含有不允许的字符（NUL），未被处理。",
                status=400,
                content_type="text/plain; charset=utf-8",
            )
        return self.get_response(request)


def _has_nul(query: object) -> bool:
    return any(
        "\x00" in key or any("\x00" in value for value in values) for key, values in query.lists()
    )
