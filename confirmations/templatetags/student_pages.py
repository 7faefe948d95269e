"""Small pieces of the student pages that must read the same everywhere."""

from __future__ import annotations

import functools
import re

from django import template
from django.urls import get_resolver, get_script_prefix, get_urlconf, reverse
from django.urls.resolvers import URLResolver
from django.utils.html import format_html

register = template.Library()


@register.simple_tag
def page_url(name: str) -> str:
    """`{% url name %}` for a page without arguments, reversed once and then remembered.

    Reversing costs each student page more than its own markup (issue 14). The address depends
    only on the URLconf (a new resolver after the URLs change, as tests do) and the script
    prefix: both are part of the key.
    """
    return _reversed(get_resolver(get_urlconf()), get_script_prefix(), name)


@register.filter
def identified(session: object) -> bool:
    """The session holds an identified student (the header offers 退出).

    `request.session.student` in a template asks for an attribute when the key is missing, and
    Django then lists the session's attributes (dir()) on every page before identification.
    """
    return hasattr(session, "get") and bool(session.get("student"))


@functools.lru_cache(maxsize=256)
def _reversed(resolver: URLResolver, prefix: str, name: str) -> str:
    return reverse(name)


@register.simple_tag
def hotline(city) -> str:
    """The city's hotline as a tap-to-call link, written as the city's row writes it."""
    number = city.hotline if city is not None else ""
    if not number:
        return ""
    dial = re.sub(r"[^\d+]", "", number)
    return format_html('<a class="tel" href="tel:{}">{}</a>', dial, number)
