"""Typed readers for environment variables that fail loudly on values they cannot parse."""

import ipaddress
import os

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, *, default: str) -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, *, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be one of 1/0/true/false/yes/no/on/off, not {raw!r}.")


def env_int(name: str, *, default: int, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}.") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}.")
    return value


def env_list(name: str, *, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_networks(name: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """A comma-separated list of addresses or CIDR networks (`10.0.0.5, 172.16.0.0/12`)."""
    networks = []
    for item in env_list(name, default=[]):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"{name} must list IP addresses or networks, and {item!r} is neither."
            ) from None
    return networks


def env_proxy_ssl_header(name: str) -> tuple[str, str] | None:
    """`X-Forwarded-Proto` or `X-Forwarded-Proto=https` → Django's ("HTTP_X_FORWARDED_PROTO", "https")."""
    raw = env_str(name, default="")
    if not raw:
        return None
    header, _, value = raw.partition("=")
    header = header.strip()
    if not header or not all(part.isalnum() for part in header.split("-")):
        raise ImproperlyConfigured(
            f"{name} must name the header the proxy sets, such as X-Forwarded-Proto=https."
        )
    return "HTTP_" + header.upper().replace("-", "_"), (value.strip() or "https")


# Values that have been published (this repository, docker-compose, tutorials): never a secret.
_KNOWN_SECRET_KEYS = {
    "change-me",
    "change-me-in-production",
    "changeme",
    "secret",
    "dev-only-insecure-key-do-not-use-in-production",
}
_WEAK_MARKERS = ("change-me", "changeme", "insecure", "example", "dev-only")
SECRET_KEY_MIN_LENGTH = 50
SECRET_KEY_MIN_DISTINCT = 10


def secret_key_problem(key: str) -> str | None:
    """Why `key` is not fit to sign production sessions, or None when it is.

    Django's own deploy check wants 50 characters and 5 distinct ones; a published or
    placeholder value is refused whatever its length.
    """
    lowered = key.lower()
    if key in _KNOWN_SECRET_KEYS or any(marker in lowered for marker in _WEAK_MARKERS):
        return "it is a published placeholder, not a secret"
    if len(key) < SECRET_KEY_MIN_LENGTH:
        return f"it has {len(key)} characters; use at least {SECRET_KEY_MIN_LENGTH} random ones"
    if len(set(key)) < SECRET_KEY_MIN_DISTINCT:
        return "it repeats too few characters to be random"
    return None
