"""Handheld pages and endpoints of disconnected operations (issue 16), under
``/handheld/offline/`` (mounted by ``wms.handheld_urls``).

- ``sw.js``: the service worker. Served here (not from /static/) with
  ``Service-Worker-Allowed: /handheld/`` so its scope covers every handheld
  page; it caches the shell, styles, scripts and translations, and the pages
  it has seen, so a handheld restarted without network still opens.
- ``manifest.webmanifest``: makes the handheld pages an installable app.
- ``i18n.js``: the device's words (English or Spanish, the session's
  language), cached by the worker like any script.
- ``work.json``: GET what the device keeps for offline work; POST claims the
  picker's next tasks first (``pick_tasks_claim_ahead``).
- ``sync/``: POST a batch of queued actions (``handheld_sync``), session auth
  and CSRF; each entry answered on its own. A malformed or too large batch →
  400, another user's → 403, as problem details, nothing applied.
- ``""``: the offline work page (downloaded picks and put-aways, scanned and
  checked on the device, queued in IndexedDB).

Thin: parse, call ``tasking.offline_sync``, answer.
"""

import json

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from wms.exceptions import DomainError
from wms.problems import PROBLEM_CONTENT_TYPE, problem_body

from .forms import REPORTABLE
from .offline_sync import (
    download_limit,
    handheld_sync,
    handheld_work_download,
    pick_tasks_claim_ahead,
    sync_batch_parse,
)
from .selectors import picking_warehouses

#: Bump to make every device drop its cached shell (the worker's cache name).
SHELL_VERSION = "v1"
MAX_BODY_BYTES = 1_000_000


def _problem(exc: DomainError) -> JsonResponse:
    body = problem_body(
        status=exc.status,
        code=exc.code,
        title=type(exc).title,
        detail=str(exc.detail),
        errors=getattr(exc, "errors", None) or None,
    )
    return JsonResponse(body, status=exc.status, content_type=PROBLEM_CONTENT_TYPE)


def _json_login_required(view):
    """401 problem details (not a redirect to the login page) for fetches."""

    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            exc = DomainError(_("Log in again."), code="not_authenticated", status=401)
            return _problem(exc)
        return view(request, *args, **kwargs)

    return wrapped


def _shell_urls() -> list[str]:
    """What the worker caches when it installs (no page: those need a login and
    are cached as they are visited)."""
    return [
        static("tasking/handheld/offline.js"),
        static("tasking/handheld/offline_work.js"),
        static("tasking/handheld/icon.svg"),
        reverse("handheld-offline-manifest"),
    ]


@require_GET
def service_worker(request):
    body = render(
        request,
        "tasking/offline/sw.js",
        {
            "version": SHELL_VERSION,
            "precache": json.dumps(_shell_urls()),
            "scope": reverse("handheld-home"),
            "offline_page": reverse("handheld-offline"),
            "no_cache": json.dumps(
                [
                    reverse("handheld-offline-sync"),
                    reverse("handheld-offline-work"),
                    reverse("handheld-offline-events"),
                ]
            ),
        },
        content_type="application/javascript",
    )
    body["Service-Worker-Allowed"] = reverse("handheld-home")
    body["Cache-Control"] = "no-cache"
    return body


@require_GET
def manifest(request):
    data = {
        "name": "WMS handheld",
        "short_name": "WMS",
        "start_url": reverse("handheld-home"),
        "scope": reverse("handheld-home"),
        "display": "standalone",
        "background_color": "#f4f5f7",
        "theme_color": "#14456e",
        "icons": [
            {"src": static("tasking/handheld/icon.svg"), "sizes": "any", "type": "image/svg+xml"}
        ],
    }
    return JsonResponse(data, content_type="application/manifest+json")


def _words() -> dict:
    """Every sentence the device says by itself (offline), in the active language."""
    return {
        "pendingOne": _("1 action saved on this device: it will be sent when the network is back."),
        "pendingMany": _(
            "%(n)s actions saved on this device: they will be sent when the network is back."
        ),
        "syncing": _("Sending %(n)s saved actions…"),
        "sent": _("Sent: %(n)s actions arrived."),
        "alreadySent": _("%(n)s actions had arrived before."),
        "refused": _("Refused: %(n)s actions. See below."),
        "refusedOne": _("Refused: %(what)s: %(why)s"),
        "conflict": _("Your supervisor was told."),
        "offline": _("No network: working on this device."),
        "online": _("Network back."),
        "downloaded": _("%(n)s tasks kept on this device for offline work."),
        "wrongLocation": _("Wrong location: you scanned %(scanned)s, the task is at %(location)s."),
        "wrongItem": _("Wrong item: you scanned %(scanned)s, the task is for %(sku)s."),
        "tooMuch": _("%(qty)s is more than the %(open)s still open on the task."),
        "notANumber": _("Enter the quantity you picked."),
        "useShort": _("You picked less than %(open)s: use Short pick if the rest is not there."),
        "nothingMissing": _("Nothing is missing: use Confirm."),
        "savedPick": _("Saved on this device: %(qty)s %(uom)s of %(sku)s from %(location)s."),
        "savedPutaway": _("Saved on this device: %(sku)s put away at %(location)s."),
        "noTasks": _("No tasks on this device. Download work while the network is there."),
        "loggedOut": _("Log in again to send the saved actions."),
        "kind.pick.confirm": _("pick"),
        "kind.pick.short": _("short pick"),
        "kind.pick.problem": _("problem report"),
        "kind.putaway.confirm": _("put-away"),
        "kind.receipt.asn": _("receipt"),
        "kind.receipt.blind": _("receipt"),
        "kind.pack.scan": _("pack scan"),
        "kind.count.result": _("count result"),
    }


@require_GET
def words(request):
    body = "window.WMS_WORDS = " + json.dumps(_words(), ensure_ascii=False) + ";\n"
    response = HttpResponse(body, content_type="application/javascript; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    return response


@login_required
def offline_page(request):
    """The offline work page: everything on it comes from the device (IndexedDB)."""
    return render(
        request,
        "tasking/offline/work.html",
        {
            "limit": download_limit(),
            "warehouses": picking_warehouses(actor=request.user),
            "problem_types": REPORTABLE,
        },
    )


@never_cache
@require_http_methods(["GET", "POST"])
@_json_login_required
def work(request):
    """GET: what the device keeps; POST (``warehouse``, ``zone``): claim the
    picker's next tasks first, then the same."""
    if request.method == "POST" and request.user.has_perm("tasking.change_picktask"):
        warehouses = list(picking_warehouses(actor=request.user))
        code = request.POST.get("warehouse")
        warehouse = next((w for w in warehouses if w.code == code), None)
        if warehouse is None and len(warehouses) == 1:
            warehouse = warehouses[0]
        if warehouse is not None:
            pick_tasks_claim_ahead(picker=request.user, warehouse=warehouse)
    return JsonResponse(handheld_work_download(user=request.user))


@never_cache
@require_POST
@_json_login_required
def sync(request):
    """A batch of the device's queued actions, each answered on its own."""
    if len(request.body) > MAX_BODY_BYTES:
        return _problem(
            DomainError(_("The sync batch is too large."), code="sync_batch_too_large", status=400)
        )
    try:
        body = json.loads(request.body)
        device_key, pending, entries = sync_batch_parse(body=body, user=request.user)
    except ValueError:
        return _problem(
            DomainError(_("The sync batch is not JSON."), code="malformed_request", status=400)
        )
    except DomainError as exc:
        return _problem(exc)
    results = handheld_sync(
        user=request.user,
        device_key=device_key,
        entries=entries,
        pending=pending,
        user_agent=request.headers.get("User-Agent", ""),
    )
    return JsonResponse(
        {
            "results": [r.as_json() for r in results],
            "serverTime": timezone.now().isoformat(),
        }
    )
