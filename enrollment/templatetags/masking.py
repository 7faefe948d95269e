"""Template filters for the masked forms of an ID number and a phone (enrollment.masking)."""

from django import template

from enrollment import masking

register = template.Library()


@register.filter
def masked_id(value: str) -> str:
    return masking.mask_id_number(value)
