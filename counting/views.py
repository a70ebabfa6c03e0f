"""Handheld count pages (server-rendered, scanner first, English and Spanish).

My counts → a count: scan a location → at the location: scan an item, enter the
quantity (a blind count shows no expected quantity) → next item, or "nothing
(else) here" (the location's lines not counted yet count 0) → next location.

Thin: each view checks its form, calls a selector or ``count_result_record``
and turns the outcome into a page. A refused scan re-renders the step with the
reason (HTTP 422) and has changed nothing. Each quantity and "empty" form
carries its own key (``client_key``), so a double tap or a reload counts once.
"""

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from inventory import selectors as inventory_selectors
from wms.exceptions import DomainError, NotFoundError

from . import selectors
from .forms import CountQtyForm, EmptyForm, ScanForm
from .models import CountLineState
from .services import count_result_record

COUNT = "counting.change_countline"
REFUSED = 422


def _count_required(view):
    return login_required(permission_required(COUNT, raise_exception=True)(view))


def _qty(value) -> str:
    """10.000 → "10", 2.500 → "2.5" (what the quantity field accepts back)."""
    return format(value.normalize(), "f") if value is not None else ""


def _count_or_404(request, pk):
    try:
        count = selectors.count_get(actor=request.user, count_id=pk)
    except NotFoundError as exc:
        raise Http404(exc.detail) from exc
    if not count.is_active:
        messages.info(request, _("Count %(count)s is closed.") % {"count": count.count_number})
        raise _Closed
    return count


class _Closed(Exception):
    pass


def _closed_redirects(view):
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except _Closed:
            return redirect("handheld-count")

    wrapper.__name__, wrapper.__doc__ = view.__name__, view.__doc__
    return wrapper


@_count_required
def count_list(request):
    """My counts: open counts of my warehouses (mine or anyone's), with their progress."""
    counts = selectors.counts_for_counter(actor=request.user)
    for count in counts:
        count.counted, count.total = count.progress
    return render(request, "counting/list.html", {"counts": counts})


@_count_required
@_closed_redirects
def count_scan(request, pk):
    """Scan the next location of a count."""
    count = _count_or_404(request, pk)
    context = {
        "count": count,
        "form": ScanForm(),
        "recounts": selectors.recount_locations(count=count, actor=request.user),
    }
    if request.method == "POST":
        code = request.POST.get("code", "").strip()
        found = inventory_selectors.locations_for_codes(warehouse=count.warehouse, codes=[code])
        location = found.get(code)
        if location is None or not selectors.location_lines(count=count, location=location):
            context["error"] = (
                _("Location %(code)s is not part of this count.") % {"code": code}
                if location is not None
                else _("Unknown location %(code)s.") % {"code": code}
            )
            return render(request, "counting/scan.html", context, status=REFUSED)
        return redirect("handheld-count-location", pk=count.pk, location_id=location.pk)
    return render(request, "counting/scan.html", context)


def _location_or_404(count, location_id):
    location = inventory_selectors.locations_by_id(location_ids=[location_id]).get(location_id)
    if location is None or location.warehouse_id != count.warehouse_id:
        raise Http404(_("No such location."))
    return location


def _counted_by_me(lines, user) -> list[tuple[str, str, str]]:
    """What this counter recorded here: never a colleague's count (a recount stays
    independent of the first count, and a blind count blind)."""
    mine = []
    for line in lines:
        if line.item_id is None:
            continue
        if line.recount_by_id == user.pk and line.recount_qty is not None:
            mine.append((line.item.sku, _qty(line.recount_qty), line.state))
        elif line.counted_by_id == user.pk and line.qty_counted is not None:
            mine.append((line.item.sku, _qty(line.qty_counted), line.state))
    return mine


def _render_location(request, count, location, *, step="item", status=200, **extra):
    lines = selectors.location_lines(count=count, location=location)
    context = {
        "count": count,
        "location": location,
        "step": step,
        "form": ScanForm(),
        "empty_form": EmptyForm(initial={"client_key": uuid.uuid4().hex}),
        "counted": _counted_by_me(lines, request.user),
        **extra,
    }
    return render(request, "counting/location.html", context, status=status)


@_count_required
@_closed_redirects
def count_location(request, pk, location_id):
    """At one location: scan an item → its quantity, or "nothing (else) here"."""
    count = _count_or_404(request, pk)
    location = _location_or_404(count, location_id)
    action = request.POST.get("action") if request.method == "POST" else None
    if action == "item":
        return _item_scanned(request, count, location)
    if action == "qty":
        return _qty_entered(request, count, location)
    if action == "empty":
        return _empty(request, count, location)
    return _render_location(request, count, location)


def _qty_step(request, count, location, item, form, *, status=200, error=None):
    expected = None
    if not count.blind:
        lines = selectors.location_lines(count=count, location=location)
        mine = [line.qty_expected for line in lines if line.item_id == item.pk]
        expected = sum(mine) if mine else None
    return _render_location(
        request,
        count,
        location,
        step="qty",
        status=status,
        item=item,
        qty_form=form,
        expected=_qty(expected) if expected is not None else None,
        error=error,
    )


def _item_scanned(request, count, location):
    code = request.POST.get("code", "").strip()
    item = inventory_selectors.item_for_scan(warehouse=count.warehouse, code=code)
    if item is None:
        return _render_location(
            request,
            count,
            location,
            status=REFUSED,
            error=_("Unknown item %(code)s: scan its barcode or type its SKU.") % {"code": code},
        )
    form = CountQtyForm(initial={"item": item.sku, "client_key": uuid.uuid4().hex})
    return _qty_step(request, count, location, item, form)


def _qty_entered(request, count, location):
    form = CountQtyForm(request.POST)
    item = inventory_selectors.item_for_scan(
        warehouse=count.warehouse, code=request.POST.get("item", "")
    )
    if item is None:
        return _render_location(request, count, location, status=REFUSED, error=_("Scan the item."))
    if not form.is_valid():
        error = "; ".join(str(e) for errors in form.errors.values() for e in errors)
        return _qty_step(request, count, location, item, form, status=REFUSED, error=error)
    data = form.cleaned_data
    try:
        recorded = count_result_record(
            count=count,
            lines=[{"location": location.code, "sku": item.sku, "qty_counted": data["qty"]}],
            actor=request.user,
            request_key=f"handheld:{request.user.pk}:{data['client_key']}",
        )
    except DomainError as exc:
        return _qty_step(request, count, location, item, form, status=REFUSED, error=exc.detail)
    _report(request, recorded, location)
    return redirect("handheld-count-location", pk=count.pk, location_id=location.pk)


def _report(request, recorded, location) -> None:
    if recorded.replayed:
        messages.info(request, _("Already counted: this form was sent before."))
        return
    for line in recorded.lines:
        if line.item_id is None:
            continue
        if line.state == CountLineState.RECOUNT_REQUIRED:
            messages.warning(
                request,
                _("%(sku)s at %(location)s: counted %(qty)s. A colleague will recount it.")
                % {"sku": line.item.sku, "location": location.code, "qty": _qty(line.final_qty)},
            )
        else:
            messages.success(
                request,
                _("Counted %(qty)s of %(sku)s at %(location)s.")
                % {"sku": line.item.sku, "location": location.code, "qty": _qty(line.final_qty)},
            )


def _empty(request, count, location):
    form = EmptyForm(request.POST)
    if not form.is_valid():
        return _render_location(request, count, location, status=REFUSED, error=_("Try again."))
    try:
        count_result_record(
            count=count,
            lines=[{"location": location.code, "empty": True}],
            actor=request.user,
            request_key=f"handheld:{request.user.pk}:{form.cleaned_data['client_key']}",
        )
    except DomainError as exc:
        return _render_location(request, count, location, status=REFUSED, error=exc.detail)
    messages.success(
        request, _("Location %(location)s done: nothing else there.") % {"location": location.code}
    )
    return redirect("handheld-count-scan", pk=count.pk)
