"""The client address behind trusted proxies (TRUSTED_PROXIES): X-Forwarded-For read right to
left, skipping trusted hops; nothing a client writes can choose its own address."""

from __future__ import annotations

import ipaddress

import pytest

from security.client import client_address


@pytest.fixture
def proxies(settings):
    settings.TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128")]


def test_without_trusted_proxies_the_address_is_remote_addr(settings):
    settings.TRUSTED_PROXIES = []
    assert client_address("203.0.113.9", "198.51.100.1") == "203.0.113.9"


def test_behind_a_trusted_proxy_the_client_is_the_last_untrusted_hop(proxies):
    assert client_address("10.0.0.2", "198.51.100.7") == "198.51.100.7"


def test_a_forged_left_part_is_ignored(proxies):
    # The client sent "X-Forwarded-For: 1.2.3.4"; the proxy appended what it saw.
    assert client_address("10.0.0.2", "1.2.3.4, 198.51.100.7") == "198.51.100.7"


def test_trusted_hops_are_skipped_from_the_right(proxies):
    assert client_address("10.0.0.2", "1.2.3.4, 198.51.100.7, 10.1.1.1, 10.2.2.2") == "198.51.100.7"


def test_a_request_not_from_a_proxy_cannot_claim_an_address(proxies):
    assert client_address("198.51.100.9", "1.2.3.4") == "198.51.100.9"


def test_a_malformed_hop_stops_the_walk_at_the_last_trusted_address(proxies):
    assert client_address("10.0.0.2", "garbage, 10.3.3.3") == "10.3.3.3"


def test_addresses_with_ports_and_ipv6(proxies):
    assert client_address("::1", "[2001:db8::5]:443") == "2001:db8::5"
    assert client_address("10.0.0.2", "198.51.100.7:51000") == "198.51.100.7"


def test_the_settings_refuse_a_value_that_is_not_an_address(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    from config.env import env_networks

    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.0/8, proxy.example")
    with pytest.raises(ImproperlyConfigured, match=r"proxy\.example"):
        env_networks("TRUSTED_PROXIES")


@pytest.mark.django_db
def test_the_student_code_limit_counts_the_real_client_behind_the_proxy(
    client, proxies, stored_1012
):
    from confirmations.models import OneTimeCode

    row = stored_1012[0]
    client.post(
        "/student/identify/",
        {"name": row["姓名"], "id_number": row["证件号码"]},
        REMOTE_ADDR="10.0.0.2",
        HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.7",
    )
    assert OneTimeCode.objects.get().client_ip == "198.51.100.7"
