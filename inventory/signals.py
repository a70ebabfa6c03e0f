"""What inventory announces to the apps above it (it imports none of them).

A decision on an adjustment (``inventory.services.adjustment_approve`` /
``adjustment_reject``) may finish the work of the document that asked for it (a
count waits for its adjustments' approvals). The apps above connect receivers; the
signals are sent inside the decision's transaction, so a receiver's writes commit or
roll back with the decision, and a receiver that raises undoes the decision.

Two signals because of the lock order (``docs/architecture.md``): a count row comes
before an adjustment row, and the finance counter last of all. ``adjustment_deciding``
comes before the adjustment is locked (a receiver takes its earlier locks there);
``adjustment_decided`` once the decision is written and posted, before the finance
event (so the counter's lock is still the last one taken).
"""

from django.dispatch import Signal

#: Before the adjustment row is locked. kwargs: ``adjustment_id``, ``source`` (``api``,
#: ``admin``, ``count``) and ``request_key`` (the requester's key, e.g. ``count-line:7``),
#: read without a lock: a receiver uses them to find and lock its own rows, nothing more.
adjustment_deciding = Signal()

#: The decision is written: the adjustment is APPLIED (and posted) or REJECTED.
#: kwargs: ``adjustment`` (``InventoryAdjustment``), ``decision`` (``ApprovalDecision``),
#: ``actor`` (the approver).
adjustment_decided = Signal()
