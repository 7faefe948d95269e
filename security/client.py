"""The client's address, read the one way every limit and record uses it.

Behind a reverse proxy REMOTE_ADDR is the proxy. Only when REMOTE_ADDR is one of
`TRUSTED_PROXIES` is X-Forwarded-For believed, and then read right to left: each trusted hop
appended the address it saw, so the first untrusted address from the right is the client.
Anything to its left was written by the client and proves nothing.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _address(text: str) -> IPAddress | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [2001:db8::1]:443
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # 203.0.113.9:51000
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(address: IPAddress) -> bool:
    return any(address in network for network in settings.TRUSTED_PROXIES)


def client_address(remote_addr: str | None, forwarded_for: str | None) -> str | None:
    """The client address from REMOTE_ADDR and X-Forwarded-For (pure; see module doc)."""
    remote = _address(remote_addr or "")
    if remote is None:
        return None
    if not _trusted(remote):
        return str(remote)
    client = remote
    for hop in reversed((forwarded_for or "").split(",")):
        address = _address(hop)
        if address is None:
            break  # a malformed entry: nothing further left can be believed
        client = address
        if not _trusted(address):
            break
    return str(client)


def client_ip(request: HttpRequest) -> str | None:
    return client_address(request.META.get("REMOTE_ADDR"), request.META.get("HTTP_X_FORWARDED_FOR"))
