"""Forms of the picking handheld pages: input shape only; the services decide the rest."""

from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import ExceptionType

REPORTABLE = [
    (ExceptionType.LOCATION_EMPTY, _("Location empty")),
    (ExceptionType.DAMAGED, _("Damaged goods")),
    (ExceptionType.WRONG_ITEM, _("Wrong item at the location")),
    (ExceptionType.OTHER, _("Other problem")),
]


class ScanForm(forms.Form):
    code = forms.CharField(label=_("Scan"), max_length=128, strip=True)


class PickQtyForm(forms.Form):
    """The last step of a pick. ``client_key`` identifies this rendered form: sending
    it twice (double tap, reload, replay after the network came back) picks once."""

    location = forms.CharField(widget=forms.HiddenInput, max_length=128)
    item = forms.CharField(widget=forms.HiddenInput, max_length=128)
    client_key = forms.CharField(widget=forms.HiddenInput, max_length=64)
    qty = forms.DecimalField(
        label=_("Quantity picked"),
        max_digits=18,
        decimal_places=3,
        min_value=Decimal("0"),
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )


class ProblemForm(forms.Form):
    client_key = forms.CharField(widget=forms.HiddenInput, max_length=64)
    type = forms.ChoiceField(
        label=_("What is wrong?"), choices=REPORTABLE, widget=forms.RadioSelect
    )
    qty = forms.DecimalField(
        label=_("Good units picked"),
        max_digits=18,
        decimal_places=3,
        min_value=Decimal("0"),
        initial=Decimal("0"),
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
    note = forms.CharField(label=_("Note"), max_length=500, required=False)


class PackScanForm(forms.Form):
    """An item scanned into the order's open package. ``client_key`` identifies this
    rendered form: sending it twice packs once. ``package_type`` is used when the scan
    opens a new package (an open package keeps its type)."""

    client_key = forms.CharField(widget=forms.HiddenInput, max_length=64)
    package_type = forms.CharField(label=_("Package type"), max_length=32)
    code = forms.CharField(label=_("Scan item (barcode or SKU)"), max_length=128, strip=True)
    qty = forms.DecimalField(
        label=_("Quantity"),
        max_digits=18,
        decimal_places=3,
        min_value=Decimal("0.001"),
        initial=Decimal("1"),
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )


class PackCloseForm(forms.Form):
    package = forms.UUIDField(widget=forms.HiddenInput)
    weight_kg = forms.DecimalField(
        label=_("Gross weight (kg)"),
        max_digits=10,
        decimal_places=3,
        min_value=Decimal("0.001"),
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )


class PackageChoiceForm(forms.Form):
    """Reopen a closed package (by id; the view checks it is the order's)."""

    package = forms.UUIDField(widget=forms.HiddenInput)


class DockConfirmForm(forms.Form):
    """Confirm the load at the dock as a shipment. ``client_key`` is the load's key:
    sending the form twice (double tap, reload) ships once."""

    client_key = forms.CharField(widget=forms.HiddenInput, max_length=64)
    carrier = forms.CharField(label=_("Carrier"), max_length=100)
    tracking_ref = forms.CharField(label=_("Tracking reference"), max_length=100, required=False)
