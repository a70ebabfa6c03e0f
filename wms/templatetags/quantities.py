"""``{% load quantities %}{{ value|qty }}``: ``10``, ``2.5`` (see ``wms.quantities``)."""

from django import template

from wms.quantities import qty_text

register = template.Library()


@register.filter(is_safe=True)
def qty(value) -> str:
    return qty_text(value)
