"""Money and percentages as the student's pages print them: 1,000 元, 60%, 1,234.50 元."""

from decimal import Decimal

from django import template

register = template.Library()


@register.filter
def yuan(value: Decimal | None) -> str:
    """Thousands separated, fen only when there are any: 1,000 / 2,508.50."""
    if value is None:
        return ""
    return f"{Decimal(value):,.2f}".removesuffix(".00")


@register.filter
def percent(value: Decimal | None) -> str:
    """60.00 → 60, 62.50 → 62.5 (without the % sign)."""
    if value is None:
        return ""
    return f"{Decimal(value).normalize():f}"
