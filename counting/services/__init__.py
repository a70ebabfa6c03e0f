"""Counts without a freeze: cycle, full and spot counts, recounts, reconciliation.

Owns ``InventoryCount``, ``CountLine``, ``CountSettings`` and ``CountSubmission``.
Stock is changed only through ``inventory.services.adjustment_request`` (which
posts through the one posting service, or waits for a second person's approval).

**The rule that makes a freeze unnecessary.** Picking, receiving and moves go on
while a count runs. Every line remembers where the ledger stood for its balance:

1. *Opening* (``count_open``): the balances of the scope are locked FOR SHARE in
   primary-key order; then, in a new statement (so every posting that committed
   while we waited is visible, and none of these balances has one in flight),
   each line gets ``qty_expected`` = on hand and ``opened_ledger_mark`` = the id
   of the balance's last ledger entry. A posting on a balance takes the
   balance's row lock before its ledger entry gets its id, so every entry of
   that balance committed later has a larger id than the mark.
2. *Scan* (``count_result_record``): under the same lock, ``scanned_ledger_mark``
   = the balance's last entry id now. The counter saw the shelf as the books
   stood at that mark.
3. *Reconciliation* (``count_close``): expected at the scan = ``qty_expected`` +
   Σ on-hand change of the balance's ledger entries with ``opened_mark < id ≤
   scanned_mark``; variance = counted - expected at the scan. Only non-zero
   variances become adjustments, posted at close against the current balance
   (which already includes what moved after the scan): the books end where the
   shelf is, plus what happened since.

A line found at the scan (stock the books did not expect there) opens at its
scan: expected = on hand then, both marks the same.

Recounts: a variance above the warehouse's tolerance (``CountSettings``) puts the
line in RECOUNT_REQUIRED; the recount (another person: service and a database
check) replaces the count, with its own mark. Nothing is adjusted before.

Lock order (``counting.locks``): count row → its lines (pk order) → balances
(inventory's order). ``count_close`` then runs ``adjustment_request`` per line,
each taking inventory's own locks.

Settling. A count with an adjustment waiting for approval, or a BLOCKED line (its
adjustment refused), closes PENDING_APPROVAL. Inventory's decision on such an
adjustment settles the count in the decision's transaction (``counting.receivers``
on ``inventory.signals``: the count row locked before the adjustment, settled after
the decision). A supervisor retries a blocked line's adjustment or closes the line
without one (``blocked``), which settles the count too.
"""

from .blocked import RetriedLines, count_lines_blocked_resolve, count_lines_blocked_retry
from .closing import (
    ClosedCount,
    count_cancel,
    count_close,
    count_lines_recount_request,
    count_lines_variance_accept,
    count_lock_for_adjustment,
    count_reason_code,
    count_settle,
    count_settle_for_adjustment,
)
from .opening import count_open
from .results import RecordedResults, count_result_record, result_entries

__all__ = [
    "ClosedCount",
    "RecordedResults",
    "RetriedLines",
    "count_cancel",
    "count_close",
    "count_lines_blocked_resolve",
    "count_lines_blocked_retry",
    "count_lines_recount_request",
    "count_lines_variance_accept",
    "count_lock_for_adjustment",
    "count_open",
    "count_reason_code",
    "count_result_record",
    "count_settle",
    "count_settle_for_adjustment",
    "result_entries",
]
