"""Handheld pages of picking (server-rendered, scanner friendly, English and Spanish).

My queue → next task → go to the location and scan it → scan the item (GTIN or
SKU) → quantity → confirm (or short pick, or report a problem).

Thin: each view validates its form, calls a selector or a service and turns
the outcome into a page. A refused scan re-renders the step with the reason
(HTTP 422) and has changed nothing. The confirm form carries its own key
(``client_key``, one per rendered form, scoped to the user), so a double tap,
a reload or a replay after the network came back confirms once. The confirm
step answers JSON to ``Accept: application/json`` (the page's offline queue
replays stored confirmations that way).

Packing, the same way: scan the order → its page (what is left per line, the
open package, the closed ones with their labels) → scan items with a quantity
into the open package (a new one opens, of the chosen type, when none is) →
close it with its gross weight → ... → the order is packed. Reopen a closed
package before shipping. Each scan form carries its own key as well.
"""

import uuid
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from wms.exceptions import DomainError, NotFoundError
from wms.quantities import qty_text

from . import selectors
from .exceptions import ConfirmationKeyReused
from .forms import (
    PackageChoiceForm,
    PackCloseForm,
    PackScanForm,
    PickQtyForm,
    ProblemForm,
    ScanForm,
)
from .models import PickTaskStatus
from .services import (
    check_item_scan,
    check_location_scan,
    pick_confirm,
    pick_task_next_for_picker,
    pick_task_report_exception,
    pick_task_start,
)
from .services.packing import (
    order_for_pack_scan,
    pack_close_package,
    pack_reopen_package,
    pack_scan_item,
)

PICK = "tasking.change_picktask"
REFUSED = 422
_SESSION_WAREHOUSE = "picking.warehouse"
_SESSION_ZONE = "picking.zone"


def _pick_required(view):
    return login_required(permission_required(PICK, raise_exception=True)(view))


def _wants_json(request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _task_or_404(request, pk):
    try:
        return selectors.pick_task_get(actor=request.user, task_id=pk)
    except NotFoundError as exc:
        raise Http404(exc.detail) from exc


def _my_task_or_404(request, pk):
    """The task, if it is in the picker's hands (else back to the queue)."""
    task = _task_or_404(request, pk)
    if task.assigned_to_id != request.user.pk:
        raise Http404(_("This task is not assigned to you."))
    return task


def _where(request):
    """The picker's warehouse and zone (chosen on the queue page, kept in the session)."""
    warehouses = list(selectors.picking_warehouses(actor=request.user))
    code = request.POST.get("warehouse") or request.GET.get("warehouse")
    code = code or request.session.get(_SESSION_WAREHOUSE)
    warehouse = next((w for w in warehouses if w.code == code), None)
    if warehouse is None and len(warehouses) == 1:
        warehouse = warehouses[0]
    zones = list(selectors.picking_zones(warehouse=warehouse)) if warehouse else []
    zone_code = request.POST.get("zone", request.GET.get("zone"))
    if zone_code is None:
        zone_code = request.session.get(_SESSION_ZONE, "")
    zone = next((z for z in zones if z.code == zone_code), None)
    if warehouse is not None:
        request.session[_SESSION_WAREHOUSE] = warehouse.code
        request.session[_SESSION_ZONE] = zone.code if zone else ""
    return warehouses, warehouse, zones, zone


@_pick_required
def pick_queue(request):
    """My queue: the task in hand, what waits per zone, and "next task"."""
    warehouses, warehouse, zones, zone = _where(request)
    if request.method == "POST" and request.POST.get("action") == "next" and warehouse:
        task = pick_task_next_for_picker(picker=request.user, warehouse=warehouse, zone=zone)
        if task is None:
            messages.info(request, _("No tasks are waiting here. Try another zone or later."))
            return redirect("handheld-pick")
        return redirect("handheld-pick-task", pk=task.pk)
    counts = selectors.pick_queue_counts(warehouse=warehouse) if warehouse else {}
    waiting = counts.get(zone.pk, 0) if zone else sum(counts.values())
    # Counts stop at the cap: "500+" (for any zone, as soon as one zone is capped).
    if zone is not None:
        capped = waiting >= selectors.QUEUE_COUNT_CAP
    else:
        capped = any(n >= selectors.QUEUE_COUNT_CAP for n in counts.values())
    context = {
        "warehouses": warehouses,
        "warehouse": warehouse,
        "zones": [(z, _count_label(counts.get(z.pk, 0))) for z in zones],
        "zone": zone,
        "waiting": waiting,
        "waiting_label": f"{waiting}+" if capped else str(waiting),
        "in_hand": list(selectors.pick_tasks_in_hand(picker=request.user, warehouse=warehouse))
        if warehouse
        else [],
    }
    return render(request, "tasking/queue.html", context)


def _count_label(n: int) -> str:
    return f"{n}+" if n >= selectors.QUEUE_COUNT_CAP else str(n)


def _qty_form(task, location: str, item: str) -> PickQtyForm:
    return PickQtyForm(
        initial={
            "location": location,
            "item": item,
            "client_key": uuid.uuid4().hex,
            "qty": qty_text(task.qty_open),
        }
    )


def _render_step(request, task, step, *, status=200, **extra):
    context = {
        "task": task,
        "step": step,
        "form": ScanForm(),
        **extra,
    }
    return render(request, "tasking/task.html", context, status=status)


@_pick_required
def pick_task(request, pk):
    """One task, step by step: location → item → quantity → confirm."""
    task = _my_task_or_404(request, pk)
    action = request.POST.get("action") if request.method == "POST" else None
    if action in ("confirm", "short"):
        # Also for a closed task: a resubmitted or replayed form is answered by the
        # service (the first confirmation, or task_not_open).
        return _confirm(request, task, short=action == "short")
    if task.status not in (PickTaskStatus.ASSIGNED, PickTaskStatus.IN_PROGRESS):
        messages.info(request, _("Task %(task)s is closed.") % {"task": task.label})
        return redirect("handheld-pick")
    if action is None:
        return _render_step(request, task, "location")

    if action == "location":
        code = request.POST.get("code", "")
        try:
            check_location_scan(task=task, code=code)
            task = pick_task_start(task_id=task.pk, picker=request.user)
        except DomainError as exc:
            return _render_step(request, task, "location", status=REFUSED, error=exc.detail)
        task = _task_or_404(request, pk)
        return _render_step(request, task, "item", location=code.strip())

    location = request.POST.get("location", "")
    try:
        check_location_scan(task=task, code=location)
    except DomainError as exc:
        return _render_step(request, task, "location", status=REFUSED, error=exc.detail)

    if action == "item":
        code = request.POST.get("code", "")
        try:
            check_item_scan(task=task, code=code)
        except DomainError as exc:
            return _render_step(
                request, task, "item", status=REFUSED, error=exc.detail, location=location
            )
        return _render_step(request, task, "qty", qty_form=_qty_form(task, location, code.strip()))

    return _render_step(request, task, "location")


def _refuse(request, task, form, message):
    if _wants_json(request):
        return JsonResponse({"ok": False, "message": str(message)}, status=REFUSED)
    return _render_step(request, task, "qty", status=REFUSED, error=message, qty_form=form)


def _confirm(request, task, *, short: bool):
    form = PickQtyForm(request.POST)
    if not form.is_valid():
        return _refuse(request, task, form, _("Enter the quantity you picked."))
    data = form.cleaned_data
    qty = data["qty"]
    still_open = task.status in (PickTaskStatus.ASSIGNED, PickTaskStatus.IN_PROGRESS)
    if still_open and not short and qty < task.qty_open:
        return _refuse(
            request,
            task,
            form,
            _("You picked less than %(open)s: use Short pick if the rest is not there.")
            % {"open": qty_text(task.qty_open)},
        )
    if still_open and short and qty >= task.qty_open:
        return _refuse(request, task, form, _("Nothing is missing: use Confirm."))
    try:
        result = pick_confirm(
            task_id=task.pk,
            qty=qty,
            request_key=f"user:{request.user.pk}:{data['client_key']}",
            actor=request.user,
            location_code=data["location"],
            item_code=data["item"],
        )
    except ConfirmationKeyReused:
        message = _("This form was already sent; nothing was changed.")
        if _wants_json(request):
            return JsonResponse({"ok": True, "message": str(message), "redirect": _queue_url()})
        messages.info(request, message)
        return redirect("handheld-pick")
    except DomainError as exc:
        return _refuse(request, task, form, exc.detail)
    message = _report(request, result)
    if _wants_json(request):
        return JsonResponse(
            {
                "ok": True,
                "replayed": result.replayed,
                "taskStatus": result.task.status,
                "message": str(message),
                "redirect": _queue_url(),
            }
        )
    return redirect("handheld-pick")


def _queue_url() -> str:
    return reverse("handheld-pick")


def _report(request, result) -> str:
    task = result.task
    if result.replayed:
        message = _("Already confirmed: this pick was sent before.")
        messages.info(request, message)
        return message
    confirmation = result.confirmation
    message = _("Picked %(qty)s %(uom)s of %(sku)s from %(location)s → %(to)s.") % {
        "qty": qty_text(confirmation.qty_picked),
        "uom": task.item.base_uom.code,
        "sku": task.item.sku,
        "location": task.from_location.code,
        "to": confirmation.to_location.code if confirmation.to_location else "?",
    }
    messages.success(request, message)
    if result.exception_case is not None:
        messages.warning(
            request,
            _("Short pick: %(missing)s missing. Exception %(case)s opened for the supervisor.")
            % {
                "missing": qty_text(result.exception_case.qty_missing),
                "case": result.exception_case.label,
            },
        )
    return message


@_pick_required
def pick_problem(request, pk):
    """Report what prevents the pick (location empty, damaged, wrong item, other)."""
    task = _my_task_or_404(request, pk)
    if task.status not in (PickTaskStatus.ASSIGNED, PickTaskStatus.IN_PROGRESS):
        return redirect("handheld-pick")
    if request.method != "POST":
        form = ProblemForm(initial={"client_key": uuid.uuid4().hex, "qty": 0})
        return render(request, "tasking/problem.html", {"task": task, "form": form})
    form = ProblemForm(request.POST)
    context = {"task": task, "form": form}
    if not form.is_valid():
        return render(request, "tasking/problem.html", context, status=REFUSED)
    data = form.cleaned_data
    try:
        result = pick_task_report_exception(
            task_id=task.pk,
            type=data["type"],
            qty_picked=data["qty"],
            request_key=f"user:{request.user.pk}:{data['client_key']}",
            picker=request.user,
            note=data["note"],
        )
    except ConfirmationKeyReused:
        messages.info(request, _("This form was already sent; nothing was changed."))
        return redirect("handheld-pick")
    except DomainError as exc:
        context["error"] = exc.detail
        return render(request, "tasking/problem.html", context, status=REFUSED)
    case = result.exception_case
    if result.replayed:
        messages.info(request, _("Already reported."))
    else:
        messages.warning(
            request,
            _("Problem reported: %(type)s. Exception %(case)s opened for the supervisor.")
            % {"type": case.get_type_display(), "case": case.label},
        )
    return redirect("handheld-pick")


# --- Packing -------------------------------------------------------------------

PACK = "tasking.change_packtask"
_SESSION_PACKAGE_TYPE = "packing.package_type"


def _pack_required(view):
    return login_required(permission_required(PACK, raise_exception=True)(view))


def floor_warehouse(request):
    """(the user's warehouses, the one they work in): the one chosen on a floor page
    (picking, packing, the dock), kept in the session; the only one if they have one."""
    warehouses = list(selectors.picking_warehouses(actor=request.user))
    if "warehouse" in request.GET and not request.GET["warehouse"]:
        request.session.pop(_SESSION_WAREHOUSE, None)  # "Change warehouse"
    code = request.POST.get("warehouse") or request.GET.get("warehouse")
    code = code or request.session.get(_SESSION_WAREHOUSE)
    warehouse = next((w for w in warehouses if w.code == code), None)
    if warehouse is None and len(warehouses) == 1:
        warehouse = warehouses[0]
    if warehouse is not None:
        request.session[_SESSION_WAREHOUSE] = warehouse.code
    return warehouses, warehouse


@_pack_required
def pack_start(request):
    """Scan the order to pack (its order number); the orders waiting are listed."""
    warehouses, warehouse = floor_warehouse(request)
    context = {"warehouses": warehouses, "warehouse": warehouse, "form": ScanForm()}
    if warehouse is not None:
        context["waiting"] = selectors.pack_tasks_waiting(warehouse=warehouse)
    if request.method != "POST" or warehouse is None:
        return render(request, "tasking/pack_start.html", context)
    form = ScanForm(request.POST)
    if not form.is_valid():
        context["error"] = _("Scan the order number.")
        return render(request, "tasking/pack_start.html", context, status=REFUSED)
    try:
        order = order_for_pack_scan(warehouse=warehouse, code=form.cleaned_data["code"])
        view = selectors.pack_order_view(actor=request.user, order_id=order.pk)
    except DomainError as exc:
        context["error"] = exc.detail
        return render(request, "tasking/pack_start.html", context, status=REFUSED)
    if not view.packable:
        context["error"] = _("Order %(order)s is %(status)s: there is nothing to pack.") % {
            "order": order.external_order_id,
            "status": order.get_status_display().lower(),
        }
        return render(request, "tasking/pack_start.html", context, status=REFUSED)
    return redirect("handheld-pack-order", pk=order.pk)


def _pack_view_or_404(request, pk):
    try:
        return selectors.pack_order_view(actor=request.user, order_id=pk)
    except NotFoundError as exc:
        raise Http404(exc.detail) from exc


def _package_type_code(request, view, types) -> str:
    """The type a new package gets: the last one chosen, else the first active one."""
    if view.open_package is not None:
        return view.open_package.package.package_type.code
    codes = [t.code for t in types]
    chosen = request.session.get(_SESSION_PACKAGE_TYPE)
    return chosen if chosen in codes else (codes[0] if codes else "")


def _render_pack(request, view, *, status=200, qty=None, **extra):
    types = list(selectors.package_types_active())
    package_type = _package_type_code(request, view, types)
    scan_form = PackScanForm(
        initial={
            "client_key": uuid.uuid4().hex,
            "package_type": package_type,
            "qty": qty_text(qty or Decimal("1")),
        }
    )
    open_package = view.open_package.package if view.open_package else None
    context = {
        "view": view,
        "order": view.order,
        "package_types": types,
        "package_type": package_type,
        "scan_form": scan_form,
        "close_form": PackCloseForm(initial={"package": open_package.pk}) if open_package else None,
        "next_form": ScanForm(),
        **extra,
    }
    return render(request, "tasking/pack_order.html", context, status=status)


@_pack_required
def pack_order(request, pk):
    """One order at the pack station: scan items into packages, close, reopen."""
    view = _pack_view_or_404(request, pk)
    action = request.POST.get("action") if request.method == "POST" else None
    if action == "scan":
        return _pack_scan(request, view)
    if action == "close":
        return _pack_close(request, view)
    if action == "reopen":
        return _pack_reopen(request, view)
    return _render_pack(request, view)


def _pack_scan(request, view):
    form = PackScanForm(request.POST)
    if not form.is_valid():
        return _render_pack(
            request, view, status=REFUSED, error=_("Scan an item and enter a quantity.")
        )
    data = form.cleaned_data
    request.session[_SESSION_PACKAGE_TYPE] = data["package_type"]
    try:
        package, entry, replayed = pack_scan_item(
            order_id=view.order.pk,
            package_type_code=data["package_type"],
            item_code=data["code"],
            qty=data["qty"],
            entry_key=f"user:{request.user.pk}:{data['client_key']}",
            actor=request.user,
        )
    except DomainError as exc:
        return _render_pack(request, view, status=REFUSED, error=exc.detail, qty=data["qty"])
    if replayed:
        messages.info(request, _("Already packed: this scan was sent before."))
    else:
        item = entry.order_line.item
        messages.success(
            request,
            _("Packed %(qty)s %(uom)s of %(sku)s into package %(sscc)s.")
            % {
                "qty": qty_text(entry.qty),
                "uom": item.base_uom.code,
                "sku": item.sku,
                "sscc": package.sscc,
            },
        )
    return redirect("handheld-pack-order", pk=view.order.pk)


def _package_of_order(view, package_id):
    packages = [p.package for p in view.closed_packages]
    if view.open_package is not None:
        packages.append(view.open_package.package)
    package = next((p for p in packages if p.pk == package_id), None)
    if package is None:
        raise Http404(_("This package is not on the order."))
    return package


def _pack_close(request, view):
    form = PackCloseForm(request.POST)
    if not form.is_valid():
        return _render_pack(
            request,
            view,
            status=REFUSED,
            error=_("Enter the package's gross weight in kg."),
            close_form=form,
        )
    package = _package_of_order(view, form.cleaned_data["package"])
    try:
        package, order_packed = pack_close_package(
            package_id=package.pk, weight_kg=form.cleaned_data["weight_kg"], actor=request.user
        )
    except DomainError as exc:
        return _render_pack(request, view, status=REFUSED, error=exc.detail)
    messages.success(
        request,
        _("Package %(sscc)s closed (%(weight)s kg): print its label.")
        % {"sscc": package.sscc, "weight": qty_text(package.weight_kg)},
    )
    if order_packed:
        messages.success(
            request,
            _("Order %(order)s is packed.") % {"order": view.order.external_order_id},
        )
    return redirect("handheld-pack-order", pk=view.order.pk)


def _pack_reopen(request, view):
    form = PackageChoiceForm(request.POST)
    if not form.is_valid():
        raise Http404(_("This package is not on the order."))
    package = _package_of_order(view, form.cleaned_data["package"])
    try:
        package = pack_reopen_package(package_id=package.pk, actor=request.user)
    except DomainError as exc:
        return _render_pack(request, view, status=REFUSED, error=exc.detail)
    messages.info(
        request,
        _("Package %(sscc)s is open again: scan into it, then close it.") % {"sscc": package.sscc},
    )
    return redirect("handheld-pack-order", pk=view.order.pk)
