"""What counting announces to the apps above it (it imports none of them)."""

from django.dispatch import Signal

#: Sent inside the transaction that closes a count (reconciled, pending approval or
#: cancelled), so a receiver's writes commit or roll back with it.
#: kwargs: ``count`` (the ``InventoryCount``), ``cancelled`` (bool).
count_closed = Signal()
