"""Forms of the handheld count pages: input shape only; the services decide the rest."""

from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _


class ScanForm(forms.Form):
    code = forms.CharField(label=_("Scan"), max_length=128, strip=True)


class CountQtyForm(forms.Form):
    """``client_key`` identifies this rendered form: sent twice, it counts once."""

    item = forms.CharField(widget=forms.HiddenInput, max_length=128)
    client_key = forms.CharField(widget=forms.HiddenInput, max_length=64)
    qty = forms.DecimalField(
        label=_("Quantity counted"),
        max_digits=18,
        decimal_places=3,
        min_value=Decimal("0"),
        error_messages={"min_value": _("A counted quantity cannot be negative.")},
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )


class EmptyForm(forms.Form):
    client_key = forms.CharField(widget=forms.HiddenInput, max_length=64)
