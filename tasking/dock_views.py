"""Handheld dock pages: load a truck at a dock door and confirm the shipment.

Scan the dock door → scan packages (their SSCC label) or whole orders, all
PACKED and for one store → the page shows what is loaded, per order, and
what is still missing → confirm with the carrier (tracking reference
optional): ``outbound.services.shipping.shipment_confirm`` posts the stock
out, the orders are SHIPPED and the store hears of it.

A scan is checked on the spot (``outbound.dock_selectors``: unknown door,
unknown package, order not packed, another store's package) and a refused one
re-renders the page with the reason (HTTP 422) and loads nothing; nothing is
posted before the confirmation. The load in progress lives in the session (a
loader works one door at a time; no table for a list of scans that becomes a
shipment minutes later). A shipment leaves with whole orders, so confirming
waits until every package of each loaded order was scanned (scanning the
order number loads all its packages at once).

Twice sent, shipped once: the confirm form carries the load's key
(``client_key``); the session remembers which shipment each key became, so a
resend answers "already confirmed" with that shipment. Two sends racing each
other reach ``shipment_confirm`` with the same orders, and the second returns
the first's shipment (replayed): one shipment either way.

Permission: ``outbound.add_shipment`` (the supervisor's role and the picker's,
``wms.roles``: the people who pick and pack on the floor also load the trucks).
"""

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from outbound import dock_selectors
from outbound.selectors import shipment_list
from outbound.services.shipping import shipment_confirm
from wms.exceptions import DomainError

from . import selectors
from .forms import DockConfirmForm, ScanForm
from .views import REFUSED, floor_warehouse

SHIP = "outbound.add_shipment"
_SESSION_LOAD = "dock.load"
_SESSION_SHIPPED = "dock.shipped"
_SHIPPED_KEPT = 20  # keys remembered per session (resends come within minutes)


def _dock_required(view):
    return login_required(permission_required(SHIP, raise_exception=True)(view))


def _new_load(warehouse, door) -> dict:
    return {
        "warehouse": warehouse.code,
        "door": door.code,
        "packages": [],
        "key": uuid.uuid4().hex,
    }


def _load_of(request, warehouse) -> dict | None:
    load = request.session.get(_SESSION_LOAD)
    if not load or warehouse is None or load.get("warehouse") != warehouse.code:
        return None
    return load


def _save(request, load) -> None:
    request.session[_SESSION_LOAD] = load
    request.session.modified = True


@_dock_required
def dock_start(request):
    """Scan the dock door the truck stands at; the packed orders waiting are listed."""
    warehouses, warehouse = floor_warehouse(request)
    context = {
        "warehouses": warehouses,
        "warehouse": warehouse,
        "form": ScanForm(),
        "load": _load_of(request, warehouse),
    }
    if warehouse is not None:
        context["ready"] = dock_selectors.dock_orders_ready(warehouse_id=warehouse.pk)
        context["doors"] = dock_selectors.outbound_dock_doors(warehouse_id=warehouse.pk)
    if request.method != "POST" or warehouse is None:
        return render(request, "tasking/dock_start.html", context)
    form = ScanForm(request.POST)
    if not form.is_valid():
        context["error"] = _("Scan the dock door.")
        return render(request, "tasking/dock_start.html", context, status=REFUSED)
    try:
        door = dock_selectors.outbound_dock_door(
            warehouse_id=warehouse.pk, code=form.cleaned_data["code"]
        )
    except DomainError as exc:
        context["error"] = exc.detail
        return render(request, "tasking/dock_start.html", context, status=REFUSED)
    load = context["load"]
    if load and load["packages"]:
        load["door"] = door.code  # the truck moved: keep what is on it
    else:
        load = _new_load(warehouse, door)
    _save(request, load)
    messages.success(request, _("Dock door %(door)s: scan the packages.") % {"door": door.code})
    return redirect("handheld-dock-load")


def _render_load(request, warehouse, load, *, status=200, confirm_form=None, **extra):
    view = dock_selectors.dock_load(warehouse_id=warehouse.pk, package_ids=load["packages"])
    context = {
        "warehouse": warehouse,
        "door": load["door"],
        "load": view,
        "ready": dock_selectors.dock_orders_ready(
            warehouse_id=warehouse.pk, store_code=view.store_code, exclude_ids=view.order_ids
        ),
        "form": ScanForm(),
        "confirm_form": confirm_form or DockConfirmForm(initial={"client_key": load["key"]}),
        **extra,
    }
    return render(request, "tasking/dock_load.html", context, status=status)


def _load_and_warehouse(request):
    """The load in progress and its warehouse (if the user still has it)."""
    load = request.session.get(_SESSION_LOAD)
    if not load:
        return None, None
    warehouse = selectors.picking_warehouses(actor=request.user).filter(code=load["warehouse"])
    warehouse = warehouse.first()
    return (load, warehouse) if warehouse is not None else (None, None)


@_dock_required
def dock_load(request):
    """The load at the door: scan packages or orders, see what is on, confirm."""
    load, warehouse = _load_and_warehouse(request)
    action = request.POST.get("action") if request.method == "POST" else None
    if action == "confirm":
        replayed = _shipped_before(request, request.POST.get("client_key", ""))
        if replayed is not None:
            return replayed
    if load is None:
        messages.info(request, _("Scan the dock door first."))
        return redirect("handheld-dock")
    if action == "scan":
        return _scan(request, warehouse, load)
    if action == "clear":
        _save(request, {**load, "packages": [], "key": uuid.uuid4().hex})
        messages.info(request, _("The load was emptied; nothing was shipped."))
        return redirect("handheld-dock-load")
    if action == "confirm":
        return _confirm(request, warehouse, load)
    return _render_load(request, warehouse, load)


def _scan(request, warehouse, load):
    form = ScanForm(request.POST)
    if not form.is_valid():
        return _render_load(request, warehouse, load, status=REFUSED, error=_("Scan a package."))
    current = dock_selectors.dock_load(warehouse_id=warehouse.pk, package_ids=load["packages"])
    try:
        scan = dock_selectors.dock_scan(
            warehouse_id=warehouse.pk,
            code=form.cleaned_data["code"],
            store_code=current.store_code,
        )
    except DomainError as exc:
        return _render_load(request, warehouse, load, status=REFUSED, error=exc.detail)
    new = [str(p.pk) for p in scan.packages if str(p.pk) not in load["packages"]]
    _save(request, {**load, "packages": load["packages"] + new})
    _report_scan(request, scan, new)
    return redirect("handheld-dock-load")


def _report_scan(request, scan, new) -> None:
    order = scan.order.external_order_id
    if not new:
        messages.info(request, _("Already loaded; nothing changed."))
    elif scan.package_scanned:
        messages.success(
            request,
            _("Loaded package %(sscc)s (order %(order)s, store %(store)s).")
            % {"sscc": scan.packages[0].sscc, "order": order, "store": scan.order.store_code},
        )
    else:
        messages.success(
            request,
            _("Loaded order %(order)s: %(count)s package(s).")
            % {"order": order, "count": len(new)},
        )


def _confirm(request, warehouse, load):
    form = DockConfirmForm(request.POST)
    if not form.is_valid():
        return _render_load(
            request,
            warehouse,
            load,
            status=REFUSED,
            confirm_form=form,
            error=_("Enter the carrier."),
        )
    data = form.cleaned_data
    if data["client_key"] != load["key"]:
        return _render_load(
            request,
            warehouse,
            load,
            status=REFUSED,
            error=_("The load changed since this page was shown; check it and confirm again."),
        )
    view = dock_selectors.dock_load(warehouse_id=warehouse.pk, package_ids=load["packages"])
    refusal = _not_ready(view)
    if refusal:
        return _render_load(
            request, warehouse, load, status=REFUSED, confirm_form=form, error=refusal
        )
    try:
        shipment, replayed = shipment_confirm(
            order_ids=view.order_ids,
            dock_door_code=load["door"],
            carrier=data["carrier"],
            tracking_ref=data["tracking_ref"],
            actor=request.user,
        )
    except DomainError as exc:
        return _render_load(
            request, warehouse, load, status=REFUSED, confirm_form=form, error=exc.detail
        )
    _remember_shipped(request, load["key"], shipment)
    _save(request, {**load, "packages": [], "key": uuid.uuid4().hex})  # the next truck
    if replayed:
        messages.info(request, _("Already confirmed: these orders left in this shipment."))
    else:
        messages.success(
            request,
            _("Shipment %(number)s confirmed: %(orders)s order(s), %(packages)s package(s).")
            % {
                "number": shipment.shipment_number,
                "orders": len(view.orders),
                "packages": view.package_count,
            },
        )
    return redirect("handheld-dock-shipment", pk=shipment.pk)


def _not_ready(view) -> str:
    if not view.orders:
        return _("Nothing is loaded: scan the packages first.")
    missing = view.incomplete
    if missing:
        row = missing[0]
        return _(
            "Order %(order)s: %(loaded)s of %(total)s packages loaded. "
            "Scan the others (or scan the order) before confirming."
        ) % {"order": row.order.external_order_id, "loaded": row.loaded, "total": len(row.packages)}
    return ""


def _remember_shipped(request, key, shipment) -> None:
    shipped = dict(request.session.get(_SESSION_SHIPPED, {}))
    shipped[key] = str(shipment.pk)
    request.session[_SESSION_SHIPPED] = dict(list(shipped.items())[-_SHIPPED_KEPT:])


def _shipped_before(request, key):
    """A resent confirm form: the shipment its key became (no second confirmation)."""
    shipment_id = request.session.get(_SESSION_SHIPPED, {}).get(key) if key else None
    if shipment_id is None:
        return None
    messages.info(request, _("This form was already sent; the shipment was confirmed once."))
    return redirect("handheld-dock-shipment", pk=shipment_id)


@_dock_required
def dock_shipment(request, pk):
    """A confirmed shipment: number, door, carrier, orders, packages, packing list."""
    shipment = (
        shipment_list(actor=request.user)
        .select_related("dock_door")
        .prefetch_related("orders", "packages__package_type")
        .filter(pk=pk)
        .first()
    )
    if shipment is None:
        raise Http404(_("No such shipment."))
    context = {
        "shipment": shipment,
        "orders": sorted(shipment.orders.all(), key=lambda o: o.external_order_id),
        "packages": sorted(shipment.packages.all(), key=lambda p: p.sscc),
        "load": request.session.get(_SESSION_LOAD),
    }
    return render(request, "tasking/dock_shipment.html", context)
