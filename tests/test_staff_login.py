"""Staff logins (portal and admin): locked accounts, slowed addresses, short sessions, 2FA.

On main 50 wrong passwords in 38 s were all answered and the right one still worked; sessions
lasted 14 days with no idle timeout.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditEntry
from security import middleware
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def login(client, username, password, *, address="10.1.0.1", url=None):
    return client.post(
        url or reverse("login"),
        {"username": username, "password": password},
        REMOTE_ADDR=address,
    )


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def fail(client, username, times, *, url=None):
    # Each from its own address, so that only the per-account lock is at work here.
    for index in range(times):
        login(
            client,
            username,
            "wrong-password",
            address=f"10.2.{index // 200}.{index % 200}",
            url=url,
        )


def test_twenty_wrong_passwords_lock_the_account(client, filer_1012):
    fail(client, "filer1012", 20)
    response = login(client, "filer1012", PASSWORD, address="10.3.0.1")
    assert response.status_code == 429 and "账号已锁定" in response.content.decode()
    assert not logged_in(client)


def test_nineteen_wrong_passwords_do_not_lock_it(client, filer_1012):
    fail(client, "filer1012", 19)
    login(client, "filer1012", PASSWORD, address="10.3.0.1")
    assert logged_in(client)


def test_the_admin_login_locks_the_same_account(client, city_admin):
    city_admin.is_staff = True
    city_admin.save()
    fail(client, "cityadmin", 20, url=reverse("admin:login"))
    response = login(client, "cityadmin", PASSWORD, url=reverse("admin:login"))
    assert response.status_code == 429 and not logged_in(client)
    response = login(client, "cityadmin", PASSWORD)  # the portal login refuses it too
    assert response.status_code == 429 and not logged_in(client)


def test_locked_account_is_audited(client, filer_1012):
    fail(client, "filer1012", 20)
    assert AuditEntry.objects.filter(action="login_failed", actor_label="filer1012").count() == 20
    assert AuditEntry.objects.filter(action="locked_out", actor_label="filer1012").exists()


def test_city_administrator_unlocks_the_account(client, filer_1012, city_admin):
    from django.test import Client

    fail(client, "filer1012", 20)
    admin = Client()
    city_admin.is_staff = city_admin.is_superuser = True
    city_admin.save()
    admin.force_login(city_admin)
    listing = admin.get(reverse("admin:schools_user_changelist")).content.decode()
    assert 'alt="True"' in listing  # the lock shows in the user list
    admin.post(
        reverse("admin:schools_user_changelist"),
        {"action": "unlock_logins", "_selected_action": [filer_1012.pk]},
    )
    login(client, "filer1012", PASSWORD, address="10.3.0.1")
    assert logged_in(client)
    assert AuditEntry.objects.filter(action="unlocked", actor=city_admin).exists()


def test_failed_login_records_who_tried_from_where_but_never_the_password(client, filer_1012):
    login(client, "filer1012", "Secret-Guess-1", address="10.4.0.9")
    entry = AuditEntry.objects.get(action="login_failed")
    assert (entry.actor_label, entry.client_ip) == ("filer1012", "10.4.0.9")
    assert "Secret-Guess-1" not in str(entry.detail)


def test_a_user_name_that_is_an_id_number_is_masked_in_the_trail(client, registry):
    login(client, "310104200904020013", "x")
    assert AuditEntry.objects.get(action="login_failed").actor_label == "310*****13"


def test_many_failures_from_one_address_slow_it_down_without_locking_it(
    client, filer_1012, settings
):
    settings.STAFF_LOGIN_FREE_FAILURES_PER_ADDRESS = 3
    for _ in range(3):
        login(client, "someone", "wrong", address="10.5.0.1")
    response = login(client, "filer1012", PASSWORD, address="10.5.0.1")
    assert response.status_code == 429 and "秒后再登录" in response.content.decode()
    assert not logged_in(client)  # the password was not even checked while waiting
    assert not AuditEntry.objects.filter(action="login_failed", actor_label="filer1012").exists()
    assert login(client, "filer1012", PASSWORD, address="10.5.0.2").status_code == 302
    later = timezone.now() + dt.timedelta(seconds=settings.STAFF_LOGIN_MAX_BACKOFF_SECONDS)
    assert middleware.login_backoff_seconds("10.5.0.1", now=later) == 0  # never a lock


def test_backoff_doubles_with_each_failure_up_to_the_cap(registry, settings):
    from django.test import RequestFactory

    from audit.services import Action, audit_record

    settings.STAFF_LOGIN_FREE_FAILURES_PER_ADDRESS = 2
    settings.STAFF_LOGIN_MAX_BACKOFF_SECONDS = 10
    request = RequestFactory().post(reverse("login"), REMOTE_ADDR="10.6.0.1")
    waits = []
    for _ in range(6):
        audit_record(action=Action.LOGIN_FAILED, request=request, actor_label="x")
        waits.append(middleware.login_backoff_seconds("10.6.0.1"))
    assert waits == [0, 2, 4, 8, 10, 10]


# --- session lifetime ---------------------------------------------------------------------------


def set_session_times(client, *, since_ago: float, seen_ago: float) -> None:
    session = client.session
    now = time.time()
    session[middleware.SESSION_STAFF_SINCE] = now - since_ago
    session[middleware.SESSION_STAFF_SEEN] = now - seen_ago
    session.save()


def test_idle_staff_session_ends(client, filer_1012):
    client.force_login(filer_1012)
    client.get(reverse("enrollment:dashboard"))
    idle = settings.STAFF_SESSION_IDLE_MINUTES * 60
    set_session_times(client, since_ago=idle + 5, seen_ago=idle + 5)
    response = client.get(reverse("enrollment:dashboard"))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))
    assert not logged_in(client)


def test_staff_session_ends_after_its_absolute_lifetime_even_when_active(client, filer_1012):
    client.force_login(filer_1012)
    client.get(reverse("enrollment:dashboard"))
    lifetime = settings.STAFF_SESSION_MAX_HOURS * 3600
    set_session_times(client, since_ago=lifetime + 5, seen_ago=10)
    response = client.get(reverse("enrollment:dashboard"))
    assert response.status_code == 302 and not logged_in(client)


def test_an_active_staff_session_goes_on(client, filer_1012):
    client.force_login(filer_1012)
    client.get(reverse("enrollment:dashboard"))
    set_session_times(client, since_ago=3600, seen_ago=120)
    assert client.get(reverse("enrollment:dashboard")).status_code == 200


def test_staff_cookie_ends_with_the_browser_and_the_lifetime():
    assert settings.SESSION_EXPIRE_AT_BROWSER_CLOSE
    assert settings.SESSION_COOKIE_AGE == settings.STAFF_SESSION_MAX_HOURS * 3600


# --- two-factor ---------------------------------------------------------------------------------


def current_token(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def test_staff_set_up_a_totp_device_with_a_qr_code(client, filer_1012):
    client.force_login(filer_1012)
    page = client.get(reverse("security:two_factor_setup"))
    assert "<svg" in page.content.decode() and page.context["secret"]
    device = TOTPDevice.objects.get(user=filer_1012)
    assert not device.confirmed
    response = client.post(
        reverse("security:two_factor_setup"), {"token": current_token(device), "next": "/"}
    )
    assert response.status_code == 302
    device.refresh_from_db()
    assert device.confirmed
    assert AuditEntry.objects.filter(action="2fa_enabled", actor=filer_1012).exists()


def test_staff_with_a_device_must_verify_before_any_page(client, filer_1012):
    device = TOTPDevice.objects.create(user=filer_1012, name="t", confirmed=True)
    login(client, "filer1012", PASSWORD)
    response = client.get(reverse("desk:activation"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("security:two_factor_verify"))
    bad = client.post(
        response.url, {"token": "000000" if current_token(device) != "000000" else "111111"}
    )
    assert bad.status_code == 200
    assert client.get(reverse("desk:activation")).status_code == 302
    device.refresh_from_db()
    device.throttling_failure_count = 0  # django-otp throttles guesses; reset for the right code
    device.throttling_failure_timestamp = None
    device.save()
    client.post(reverse("security:two_factor_verify"), {"token": current_token(device)})
    assert client.get(reverse("desk:activation")).status_code == 200


def test_the_admin_is_behind_the_same_second_factor(client, city_admin):
    city_admin.is_staff = city_admin.is_superuser = True
    city_admin.save()
    TOTPDevice.objects.create(user=city_admin, name="t", confirmed=True)
    client.force_login(city_admin)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("security:two_factor_verify"))


def test_required_two_factor_sends_staff_to_set_up_first(client, filer_1012, settings):
    settings.STAFF_REQUIRE_2FA = True
    client.force_login(filer_1012)
    response = client.get(reverse("enrollment:record_list"))
    assert response.url.startswith(reverse("security:two_factor_setup"))


def test_without_a_device_and_not_required_staff_go_straight_in(client, filer_1012):
    client.force_login(filer_1012)
    assert client.get(reverse("enrollment:record_list")).status_code == 200
