"""Small pieces of the student pages that must read the same everywhere."""

from __future__ import annotations

import re

from django import template
from django.utils.html import format_html

register = template.Library()


@register.simple_tag
def hotline(city) -> str:
    """The city's hotline as a tap-to-call link, written as the city's row writes it."""
    number = city.hotline if city is not None else ""
    if not number:
        return ""
    dial = re.sub(r"[^\d+]", "", number)
    return format_html('<a class="tel" href="tel:{}">{}</a>', dial, number)
