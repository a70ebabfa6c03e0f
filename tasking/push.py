"""Server push to handheld and supervisor pages (issue 16): server-sent events fed
from the outbox.

``GET /handheld/offline/events/`` streams, as ``text/event-stream``, the outbox
events that change what a picker's queue shows (waves released, picks
confirmed, exceptions, cancellations) for the warehouses the user was granted.
The source is the outbox table, read by id: a row exists only once the change
it reports committed, so what is pushed is what was committed.

Why server-sent events and not Channels: the pages only listen (the device
sends over plain POSTs), SSE is served by the same Django stack (no ASGI
server, no channel layer to run), and ``EventSource`` reconnects by itself,
resuming after ``Last-Event-ID``. The cost: each open stream holds a worker
(a sync gunicorn worker, a thread of a threaded one) for at most
``STREAM_SECONDS``, after which the browser reconnects; size the workers (or
run gthread/gevent workers) for the pages kept open. Known gap: an outbox
row whose id was taken before a higher one committed may commit after the
stream passed it; pages reload on the next event anyway.
"""

import json
import time

from django.contrib.auth.decorators import login_required
from django.http import StreamingHttpResponse
from django.views.decorators.http import require_GET

from wms.models import OutboxEvent
from wms.scoping import warehouses_visible_to

#: The events that change what a queue or task list shows.
PUSHED = (
    "wave.released",
    "pick.confirmed",
    "exception.opened",
    "exception.resolved",
    "order.cancelled",
    "pick_tasks.dispatched",
    "handheld.sync_conflict",
)
STREAM_SECONDS = 25
POLL_SECONDS = 0.3
#: Also how soon a closed page frees its worker: a write to it fails.
KEEPALIVE_SECONDS = 1


def outbox_events_after(*, after_id: int, limit: int = 200) -> list[OutboxEvent]:
    """Committed outbox events of the pushed types after ``after_id``, oldest first."""
    return list(
        OutboxEvent.objects.filter(id__gt=after_id, event_type__in=PUSHED)
        .only("id", "event_type", "aggregate_type", "aggregate_id", "data")
        .order_by("id")[:limit]
    )


def outbox_last_id() -> int:
    return OutboxEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def _visible(event: OutboxEvent, ids: set[int], codes: set[str]) -> bool:
    data = event.data or {}
    if "warehouseId" in data:
        return data["warehouseId"] in ids
    if "warehouse" in data:
        return data["warehouse"] in codes
    return False


def _stream(user, after_id: int):
    warehouses = list(warehouses_visible_to(user).values_list("pk", "code"))
    ids, codes = {pk for pk, _ in warehouses}, {code for _, code in warehouses}
    yield "retry: 1000\n\n"
    began = last_write = time.monotonic()
    while time.monotonic() - began < STREAM_SECONDS:
        events = outbox_events_after(after_id=after_id)
        for event in events:
            after_id = event.pk
            if _visible(event, ids, codes):
                payload = {
                    "type": event.event_type,
                    "aggregate": event.aggregate_type,
                    "id": event.aggregate_id,
                }
                yield f"id: {event.pk}\nevent: change\ndata: {json.dumps(payload)}\n\n"
                last_write = time.monotonic()
        if not events and time.monotonic() - last_write > KEEPALIVE_SECONDS:
            yield ": keep-alive\n\n"
            last_write = time.monotonic()
        time.sleep(POLL_SECONDS)


@require_GET
@login_required
def events(request):
    """The event stream (resumes after ``Last-Event-ID``; new listeners start now)."""
    resume = request.headers.get("Last-Event-ID", "")
    after_id = int(resume) if resume.isdigit() else outbox_last_id()
    response = StreamingHttpResponse(
        _stream(request.user, after_id), content_type="text/event-stream"
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # a proxy must not hold the events back
    return response
