"""Every lock counting takes (STYLE.md: one module, primary-key order).

Order: the count row, then its lines (primary-key order), then the balances
(``inventory.selectors.count_sheet`` / ``balance_marks``, FOR SHARE in
primary-key order, which is inventory's own lock order). Recording results
takes the count row FOR SHARE, so counters do not wait for each other;
closing takes it FOR UPDATE, so a close waits for results in flight and no
result slips in after it. Postings never lock counting rows: no cycle.
"""

from .models import CountLine, InventoryCount


def count_lock(*, count_id: int, shared: bool = False) -> InventoryCount:
    """The count row, locked (FOR SHARE when ``shared``: Django's ORM has no FOR SHARE)."""
    if shared:
        table = InventoryCount._meta.db_table
        count = next(
            iter(
                InventoryCount.objects.raw(
                    f"SELECT * FROM {table} WHERE id = %s FOR SHARE", [count_id]
                )
            ),
            None,
        )
    else:
        count = InventoryCount.objects.select_for_update(of=("self",)).filter(pk=count_id).first()
    if count is None:
        raise InventoryCount.DoesNotExist(count_id)
    return count


def count_lines_lock(*, count_id: int, location_ids) -> list[CountLine]:
    """The lines of a count at ``location_ids``, locked in primary-key order."""
    return list(
        CountLine.objects.filter(count_id=count_id, location_id__in=list(location_ids))
        .select_for_update(of=("self",))
        .order_by("pk")
    )
