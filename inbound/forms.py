"""Forms of the inbound handheld pages: input shape only; the services decide the rest."""

from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from .services.common import DAMAGED_STATUS, RECEIVED_STATUS

CONDITIONS = [(RECEIVED_STATUS, _("Good")), (DAMAGED_STATUS, _("Damaged"))]


class ScanForm(forms.Form):
    code = forms.CharField(label=_("Scan"), max_length=128, strip=True)


class ReceiveQtyForm(forms.Form):
    """Quantity, unit and condition of one scanned item. ``client_key`` identifies this
    form: sending it twice (double tap, reload) receives once."""

    item = forms.CharField(widget=forms.HiddenInput, max_length=128)
    client_key = forms.CharField(widget=forms.HiddenInput, max_length=100)
    qty = forms.DecimalField(
        label=_("Quantity"),
        max_digits=18,
        decimal_places=3,
        min_value=Decimal("0.001"),
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
    uom = forms.ChoiceField(label=_("Unit"))
    condition = forms.ChoiceField(
        label=_("Condition"),
        choices=CONDITIONS,
        initial=RECEIVED_STATUS,
        widget=forms.RadioSelect,
    )

    def __init__(self, *args, units=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["uom"].choices = [(u.code, u.code) for u in units]


class BlindReceiveForm(ReceiveQtyForm):
    warehouse = forms.CharField(widget=forms.HiddenInput, max_length=32)


class PutAwayConfirmForm(forms.Form):
    location = forms.CharField(label=_("Scan destination"), max_length=128, strip=True)
    reason = forms.ModelChoiceField(
        label=_("Reason for another location"), queryset=None, required=False
    )

    def __init__(self, *args, reasons=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reason"].queryset = reasons
