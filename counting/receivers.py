"""Counting's receivers of inventory's signals (connected in ``CountingConfig.ready``).

Inventory decides adjustments and cannot import counting (``docs/architecture.md``);
it announces a decision with ``inventory.signals``, inside the decision's transaction.
A count line's adjustment decided settles the line's count in that transaction.
"""

from . import services


def adjustment_deciding(sender, *, adjustment_id, source, request_key, **kwargs):
    """Before inventory locks the adjustment: lock the count of its line, if it has one."""
    services.count_lock_for_adjustment(source=source, request_key=request_key)


def adjustment_decided(sender, *, adjustment, decision, actor, **kwargs):
    """Approved or rejected: settle the count of its line, if it has one."""
    services.count_settle_for_adjustment(adjustment=adjustment, actor=actor)
