"""Every row lock the inbound context takes, in one place.

Lock order (always this way round, so two transactions never wait on each
other in a cycle):

1. the inbound shipment (receipts, completing, closing, checking in one ASN);
2. the dock door(s), in primary-key order (booking appointments on them);
3. the warehouse's inbound settings row: every receipt takes it before it
   posts, which serialises put-away placement (the capacity reads of
   concurrent receipts) and handheld replays (``client_key``) per warehouse;
4. put-away tasks and receiving exceptions, by primary key;
5. stock balances, taken by ``inventory.services`` during a posting.

Nothing here locks a row of a lower number while holding one of a higher.
"""

from django.db.models import QuerySet

from inventory.models import DockDoor

from .models import InboundSettings, InboundShipment, PutAwayTask, ReceivingException

_OF = {"of": ("self",)}


def lock_shipment(pk: int) -> InboundShipment:
    return InboundShipment.objects.select_for_update(**_OF).get(pk=pk)


def lock_dock_door(pk: int) -> DockDoor:
    return DockDoor.objects.select_for_update(**_OF).get(pk=pk)


def lock_inbound_settings(warehouse) -> InboundSettings:
    settings_row, _created = InboundSettings.objects.get_or_create(warehouse=warehouse)
    return InboundSettings.objects.select_for_update(**_OF).get(pk=settings_row.pk)


def lock_put_away_task(pk: int) -> PutAwayTask:
    return PutAwayTask.objects.select_for_update(**_OF).get(pk=pk)


def lock_exceptions(pks) -> QuerySet:
    return ReceivingException.objects.select_for_update(**_OF).filter(pk__in=pks).order_by("pk")
