"""Quantities as people read them on the floor: ``10``, ``2.5``, ``0.125``.

Quantities are ``Decimal`` with three places (``10.000``). ``Decimal.normalize``
drops the zeros but writes round numbers in exponent form (``1E+1``), and
``str`` keeps them (``10.000``); both showed on the handheld pages. Here a
quantity is written in plain positional notation, trailing zeros dropped, with
a decimal point in every language: the same text the quantity fields accept
back (they do not take a decimal comma), so what a page shows can be typed.

Templates load the filter (``wms/templatetags/quantities.py``)::

    {% load quantities %}{{ task.qty_open|qty }}

and Python (messages, form initials) calls ``qty_text``.
"""

from decimal import Decimal, InvalidOperation


def qty_text(value) -> str:
    """``Decimal("10.000")`` → ``"10"``, ``2.50`` → ``"2.5"``; None → ``""``.

    A value that is not a number (a bound form's raw input) comes back as text,
    unchanged, so the field shows what was typed.
    """
    if value is None or value == "":
        return ""
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    if not number.is_finite():
        return str(value)
    if number.is_zero():
        return "0"  # not "-0" nor "0E-3"
    return format(number.normalize(), "f")
