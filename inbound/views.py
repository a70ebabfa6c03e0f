"""Handheld pages of receiving and put-away (server-rendered, scanner friendly).

Thin: each view validates the form, calls a selector or a service, and turns
the outcome into a page. A refused scan re-renders the page with the reason
(HTTP 422) and has changed nothing: the services are atomic and refuse before
they write. After a success the page redirects (post/redirect/get), so a
reload does not send the form again; a double tap sends the same
``client_key`` (receiving) or confirms the same task (put-away), which the
services answer as a replay.
"""

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from wms.exceptions import DomainError, NotFoundError
from wms.quantities import qty_text

from . import selectors
from .forms import BlindReceiveForm, PutAwayConfirmForm, ReceiveQtyForm, ScanForm
from .services import (
    ReceiptLineSpec,
    inbound_shipment_complete_receiving,
    putaway_task_confirm,
    receipt_post,
)
from .services.common import units_for_item

RECEIVE = "inbound.add_receipt"
BLIND = "inbound.receive_blind"
PUTAWAY = "inbound.change_putawaytask"
REFUSED = 422


def _receive_required(view):
    return login_required(permission_required(RECEIVE, raise_exception=True)(view))


def _putaway_required(view):
    return login_required(permission_required(PUTAWAY, raise_exception=True)(view))


def _or_404(fn, **kwargs):
    try:
        return fn(**kwargs)
    except NotFoundError as exc:
        raise Http404(exc.detail) from exc


def _report_receipt(request, result) -> None:
    """Success banner of a receipt, its put-away destinations and the exceptions it opened."""
    if result.replayed:
        messages.info(request, _("Already received: this form was sent before."))
        return
    for line in result.receipt.lines.select_related("item__base_uom", "uom", "inventory_status"):
        messages.success(
            request,
            _("Received %(qty)s %(uom)s of %(sku)s (%(base)s %(base_uom)s, %(status)s).")
            % {
                "qty": qty_text(line.qty_received),
                "uom": line.uom.code,
                "sku": line.item.sku,
                "base": qty_text(line.qty_base),
                "base_uom": line.item.base_uom.code,
                "status": line.inventory_status.code,
            },
        )
    for task in result.tasks:
        messages.info(
            request,
            _("Put-away task PA%(task)s: take it to %(location)s.")
            % {"task": task.pk, "location": task.to_location.code if task.to_location else "?"},
        )
    for case in result.exceptions:
        messages.warning(
            request,
            _("Exception opened for the supervisor: %(type)s.") % {"type": case.get_type_display()},
        )


# --- receiving ------------------------------------------------------------------


@_receive_required
def receive_start(request):
    """Scan an ASN or a dock door; or pick an ASN from the list."""
    form = ScanForm(request.POST or None)
    context = {
        "form": form,
        "shipments": selectors.receivable_shipment_list(actor=request.user),
        "can_blind": request.user.has_perm(BLIND),
    }
    if request.method == "POST" and form.is_valid():
        try:
            shipment, door = selectors.receivable_shipment_by_scan(
                actor=request.user, code=form.cleaned_data["code"]
            )
        except DomainError as exc:
            context["error"] = exc.detail
            return render(request, "inbound/receive_start.html", context, status=REFUSED)
        url = reverse("handheld-receive-asn", args=[shipment.pk])
        return redirect(f"{url}?door={door.code}" if door else url)
    return render(request, "inbound/receive_start.html", context)


@_receive_required
def receive_asn(request, pk: int):
    """Receive against one ASN: scan an item, then its quantity, unit and condition."""
    shipment = _or_404(selectors.inbound_shipment_get, actor=request.user, pk=pk)
    door = selectors.dock_door_by_code(
        warehouse=shipment.warehouse, code=request.POST.get("door") or request.GET.get("door")
    )
    here = reverse("handheld-receive-asn", args=[shipment.pk])
    here_with_door = f"{here}?door={door.code}" if door else here
    context = {"shipment": shipment, "door": door, "lines": shipment.lines.all(), "here": here}
    action = request.POST.get("action") if request.method == "POST" else None

    if action == "finish":
        return _receive_asn_finish(request, shipment, here_with_door)
    if action in ("item", "receive"):
        return _receive_asn_item(request, shipment, door, context, action, here_with_door)
    context["form"] = ScanForm()
    return render(request, "inbound/receive_asn.html", context)


def _receive_asn_finish(request, shipment, here_with_door):
    try:
        _shipment, cases = inbound_shipment_complete_receiving(
            shipment=shipment, actor=request.user
        )
    except DomainError as exc:
        messages.error(request, exc.detail)
        return redirect(here_with_door)
    messages.success(request, _("Receiving of %(ref)s completed.") % {"ref": shipment.external_ref})
    for case in cases:
        messages.warning(
            request,
            _("Exception opened for the supervisor: %(type)s.") % {"type": case.get_type_display()},
        )
    return redirect("handheld-receive")


def _receive_asn_item(request, shipment, door, context, action, here_with_door):
    """``item``: the scanned item's quantity form; ``receive``: post the receipt line."""
    code = request.POST.get("code") if action == "item" else request.POST.get("item")
    try:
        item = selectors.item_by_scan(warehouse=shipment.warehouse, code=code)
        line = selectors.asn_line_for_item(shipment=shipment, item=item)
    except DomainError as exc:
        context.update(form=ScanForm(request.POST), error=exc.detail)
        return render(request, "inbound/receive_asn.html", context, status=REFUSED)
    units = units_for_item(item)
    if action == "item":
        qty_form = ReceiveQtyForm(
            units=units,
            initial={"item": code, "uom": line.uom.code, "client_key": uuid.uuid4().hex},
        )
        context.update(item=item, qty_form=qty_form)
        return render(request, "inbound/receive_asn.html", context)
    qty_form = ReceiveQtyForm(request.POST, units=units)
    context.update(item=item, qty_form=qty_form)
    if not qty_form.is_valid():
        return render(request, "inbound/receive_asn.html", context, status=REFUSED)
    data = qty_form.cleaned_data
    try:
        result = receipt_post(
            shipment=shipment,
            dock_door=door,
            client_key=data["client_key"],
            lines=[
                ReceiptLineSpec(
                    item=item,
                    uom=next(u for u in units if u.code == data["uom"]),
                    qty=data["qty"],
                    status_code=data["condition"],
                )
            ],
            actor=request.user,
        )
    except DomainError as exc:
        context["error"] = exc.detail
        return render(request, "inbound/receive_asn.html", context, status=REFUSED)
    _report_receipt(request, result)
    return redirect(here_with_door)


@_receive_required
@permission_required(BLIND, raise_exception=True)
def receive_blind(request):
    """Receive without an ASN (permitted roles only): warehouse, item, quantity, condition."""
    warehouses = list(selectors.receipt_warehouses(actor=request.user))
    code = request.POST.get("warehouse") or request.GET.get("warehouse")
    if code is None and len(warehouses) == 1:
        code = warehouses[0].code
    warehouse = next((w for w in warehouses if w.code == code), None)
    context = {"warehouses": warehouses, "warehouse": warehouse}
    if warehouse is None:
        return render(request, "inbound/receive_blind.html", context)
    action = request.POST.get("action") if request.method == "POST" else None
    if action in ("item", "receive"):
        code = request.POST.get("code") if action == "item" else request.POST.get("item")
        try:
            item = selectors.item_by_scan(warehouse=warehouse, code=code)
        except DomainError as exc:
            context.update(form=ScanForm(request.POST), error=exc.detail)
            return render(request, "inbound/receive_blind.html", context, status=REFUSED)
        units = units_for_item(item)
        if action == "item":
            initial = {"item": code, "warehouse": warehouse.code, "client_key": uuid.uuid4().hex}
            context.update(item=item, qty_form=BlindReceiveForm(units=units, initial=initial))
            return render(request, "inbound/receive_blind.html", context)
        qty_form = BlindReceiveForm(request.POST, units=units)
        context.update(item=item, qty_form=qty_form)
        if not qty_form.is_valid():
            return render(request, "inbound/receive_blind.html", context, status=REFUSED)
        data = qty_form.cleaned_data
        try:
            result = receipt_post(
                warehouse=warehouse,
                client_key=data["client_key"],
                lines=[
                    ReceiptLineSpec(
                        item=item,
                        uom=next(u for u in units if u.code == data["uom"]),
                        qty=data["qty"],
                        status_code=data["condition"],
                    )
                ],
                actor=request.user,
            )
        except DomainError as exc:
            context["error"] = exc.detail
            return render(request, "inbound/receive_blind.html", context, status=REFUSED)
        _report_receipt(request, result)
        return redirect(f"{reverse('handheld-receive-blind')}?warehouse={warehouse.code}")
    context["form"] = ScanForm()
    return render(request, "inbound/receive_blind.html", context)


# --- put-away -------------------------------------------------------------------


@_putaway_required
def putaway_list(request):
    """Open put-away tasks; scan an item (or a task label PA<id>) to start one."""
    form = ScanForm(request.POST or None)
    context = {"form": form, "tasks": selectors.putaway_task_list_open(actor=request.user)[:50]}
    if request.method == "POST" and form.is_valid():
        try:
            task = selectors.putaway_task_by_scan(
                actor=request.user, code=form.cleaned_data["code"]
            )
        except DomainError as exc:
            context["error"] = exc.detail
            return render(request, "inbound/putaway_list.html", context, status=REFUSED)
        return redirect("handheld-putaway-task", pk=task.pk)
    return render(request, "inbound/putaway_list.html", context)


@_putaway_required
def putaway_task(request, pk: int):
    """Take the goods to the destination and scan it; another location needs a reason."""
    task = _or_404(selectors.putaway_task_get, actor=request.user, pk=pk)
    reasons = selectors.override_reasons()
    form = PutAwayConfirmForm(request.POST or None, reasons=reasons)
    context = {"task": task, "form": form, "show_reason": bool(request.POST.get("reason"))}
    if request.method != "POST":
        return render(request, "inbound/putaway_task.html", context)
    if not form.is_valid():
        return render(request, "inbound/putaway_task.html", context, status=REFUSED)
    try:
        location = selectors.location_by_scan(
            warehouse=task.warehouse, code=form.cleaned_data["location"]
        )
        result = putaway_task_confirm(
            task=task,
            location=location,
            reason_code=form.cleaned_data["reason"],
            actor=request.user,
        )
    except DomainError as exc:
        context["error"] = exc.detail
        context["show_reason"] = context["show_reason"] or exc.code in (
            "override_reason_required",
            "invalid_reason_code",
        )
        task.refresh_from_db()
        return render(request, "inbound/putaway_task.html", context, status=REFUSED)
    done = result.task
    if result.replayed:
        messages.info(
            request,
            _("Already put away at %(location)s.") % {"location": done.confirmed_location.code},
        )
    else:
        messages.success(
            request,
            _("Put away %(qty)s %(uom)s of %(sku)s at %(location)s.")
            % {
                "qty": qty_text(done.qty),
                "uom": done.item.base_uom.code,
                "sku": done.item.sku,
                "location": done.confirmed_location.code,
            },
        )
    return redirect("handheld-putaway")
