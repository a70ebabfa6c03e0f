"""Counts: what was counted where, by whom, against which state of the ledger.

A count (``InventoryCount``) has one line (``CountLine``) per balance in its
scope (item, location, inventory status), and one line with no item for a
location of the scope that held nothing when the count opened. Lines found at
the scan (an item the books did not expect) are added then.

Counting freezes nothing: each line keeps the ledger position of its balance
when it was opened (``opened_ledger_mark``) and when it was scanned
(``scanned_ledger_mark``); reconciliation adds what was posted between the two
to ``qty_expected`` (``counting.services`` explains the rule). Written only by
``counting.services``.
"""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from wms.history import history_user

QTY_DIGITS = 18
QTY_DECIMALS = 3


def _qty_field(verbose_name, **kwargs):
    return models.DecimalField(
        verbose_name, max_digits=QTY_DIGITS, decimal_places=QTY_DECIMALS, **kwargs
    )


class CountType(models.TextChoices):
    CYCLE = "CYCLE", _("Cycle count")
    FULL = "FULL", _("Full physical count")
    SPOT = "SPOT", _("Spot count")


class CountStatus(models.TextChoices):
    OPEN = "OPEN", _("Open")
    COUNTING = "COUNTING", _("Counting")
    PENDING_APPROVAL = "PENDING_APPROVAL", _("Pending approval")
    RECONCILED = "RECONCILED", _("Reconciled")
    CANCELLED = "CANCELLED", _("Cancelled")


#: A count that still takes results.
ACTIVE_COUNT_STATUSES = (CountStatus.OPEN, CountStatus.COUNTING)


class InventoryCount(models.Model):
    count_number = models.CharField(_("count number"), max_length=32, unique=True)
    warehouse = models.ForeignKey(
        "inventory.Warehouse",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("warehouse"),
    )
    type = models.CharField(_("type"), max_length=8, choices=CountType.choices)
    blind = models.BooleanField(
        _("blind"), default=True, help_text=_("Counters do not see the expected quantity.")
    )
    status = models.CharField(
        _("status"), max_length=16, choices=CountStatus.choices, default=CountStatus.OPEN
    )
    zone = models.ForeignKey(
        "inventory.Zone",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        verbose_name=_("zone"),
    )
    #: What was asked for: {"locations": [...], "skus": [...], "zone": ..., "abcClass": ...,
    #: "notCountedDays": ...}; the lines are the scope as it was resolved.
    scope = models.JSONField(_("scope"), default=dict, blank=True)
    item_ids = models.JSONField(
        _("items in scope"),
        default=list,
        blank=True,
        help_text=_("Empty: every item at the counted locations."),
    )
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("assigned to"),
        help_text=_("Empty: any counter of the warehouse."),
    )
    source_ref = models.CharField(
        _("source"), max_length=128, blank=True, help_text=_("What asked for it (a count request).")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        verbose_name=_("created by"),
    )
    created_by_label = models.CharField(_("created by (name)"), max_length=150, blank=True)
    created_at = models.DateTimeField(_("created at"), db_default=Now())
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    closed_by_label = models.CharField(_("closed by"), max_length=150, blank=True)
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("inventory count")
        verbose_name_plural = _("inventory counts")
        indexes = [
            models.Index(fields=["warehouse", "status", "id"], name="count_wh_status_idx"),
        ]

    def __str__(self):
        return self.count_number

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_COUNT_STATUSES


class CountLineState(models.TextChoices):
    OPEN = "OPEN", _("To count")
    COUNTED = "COUNTED", _("Counted")
    RECOUNT_REQUIRED = "RECOUNT_REQUIRED", _("Recount required")
    RECONCILED = "RECONCILED", _("Reconciled")
    BLOCKED = "BLOCKED", _("Adjustment refused")
    NOT_COUNTED = "NOT_COUNTED", _("Not counted")


class CountLine(models.Model):
    """One balance (or one empty location) of a count; see the module docstring.

    ``opened_ledger_mark``: the id of the balance's last ledger entry when the
    line was opened (0: none), read under the balance's row lock together with
    ``qty_expected``. ``scanned_ledger_mark`` (``recount_ledger_mark``): the same
    when the count (the recount) was recorded.
    """

    count = models.ForeignKey(
        InventoryCount, on_delete=models.CASCADE, related_name="lines", verbose_name=_("count")
    )
    location = models.ForeignKey(
        "inventory.Location",
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        verbose_name=_("location"),
    )
    item = models.ForeignKey(
        "inventory.Item",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        verbose_name=_("item"),
        help_text=_("Empty: the location held nothing when the count opened."),
    )
    status = models.ForeignKey(
        "inventory.InventoryStatus",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        verbose_name=_("inventory status"),
    )
    state = models.CharField(
        _("state"), max_length=16, choices=CountLineState.choices, default=CountLineState.OPEN
    )
    qty_expected = _qty_field(_("expected at opening"), default=Decimal("0"))
    opened_ledger_mark = models.BigIntegerField(_("ledger position at opening"), default=0)
    opened_at = models.DateTimeField(_("opened at"), db_default=Now())
    added_at_scan = models.BooleanField(
        _("found at the scan"), default=False, help_text=_("Not expected when the count opened.")
    )
    qty_counted = _qty_field(_("counted"), null=True, blank=True)
    scanned_ledger_mark = models.BigIntegerField(_("ledger position at the scan"), null=True)
    counted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        verbose_name=_("counted by"),
    )
    counted_by_label = models.CharField(_("counted by (name)"), max_length=150, blank=True)
    counted_at = models.DateTimeField(_("counted at"), null=True, blank=True)
    recount_qty = _qty_field(_("recounted"), null=True, blank=True)
    recount_ledger_mark = models.BigIntegerField(_("ledger position at the recount"), null=True)
    recount_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        verbose_name=_("recounted by"),
    )
    recount_by_label = models.CharField(_("recounted by (name)"), max_length=150, blank=True)
    recounted_at = models.DateTimeField(_("recounted at"), null=True, blank=True)
    reviewed_by_label = models.CharField(
        _("variance accepted by"),
        max_length=150,
        blank=True,
        help_text=_("Who accepted a variance above tolerance without a recount."),
    )
    qty_moved = _qty_field(_("posted between opening and scan"), null=True, blank=True)
    variance = _qty_field(_("variance"), null=True, blank=True)
    adjustment = models.ForeignKey(
        "inventory.InventoryAdjustment",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
        verbose_name=_("adjustment"),
    )
    note = models.CharField(_("note"), max_length=500, blank=True)

    class Meta:
        ordering = ["count", "id"]
        verbose_name = _("count line")
        verbose_name_plural = _("count lines")
        constraints = [
            models.UniqueConstraint(
                fields=["count", "location", "item", "status"],
                name="count_line_balance_uniq",
                nulls_distinct=False,
            ),
            models.CheckConstraint(
                condition=Q(item__isnull=True, status__isnull=True)
                | Q(item__isnull=False, status__isnull=False),
                name="count_line_item_has_status",
            ),
            models.CheckConstraint(
                condition=(Q(qty_counted__isnull=True) | Q(qty_counted__gte=0))
                & (Q(recount_qty__isnull=True) | Q(recount_qty__gte=0)),
                name="count_line_counted_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(qty_counted__isnull=True) | Q(scanned_ledger_mark__isnull=False),
                name="count_line_counted_has_mark",
            ),
            # A recount is a second, different person's count (users and systems alike).
            models.CheckConstraint(
                condition=Q(recount_qty__isnull=True)
                | (
                    Q(recount_ledger_mark__isnull=False)
                    & ~Q(recount_by_label=F("counted_by_label"))
                    & (
                        Q(recount_by__isnull=True)
                        | Q(counted_by__isnull=True)
                        | ~Q(recount_by=F("counted_by"))
                    )
                ),
                name="count_line_recount_other_person",
            ),
        ]
        # Lines of a count (by location, or to filter by state) are found through the
        # unique index (count, location, item, status); an index on state would make
        # every result and the reconciliation of 100,000 lines update one more index.
        indexes = [
            models.Index(
                fields=["location", "counted_at"],
                condition=Q(counted_at__isnull=False),
                name="count_line_last_counted_idx",
            ),
        ]

    def __str__(self):
        return f"{self.count_id}/{self.location_id}/{self.item_id or '-'}"

    @property
    def key(self) -> tuple:
        """The balance counted: (item, location, status), as ``inventory`` keys balances."""
        return (self.item_id, self.location_id, self.status_id)

    @property
    def final_qty(self) -> Decimal | None:
        """The quantity reconciliation uses: the recount when there is one."""
        return self.recount_qty if self.recount_qty is not None else self.qty_counted

    @property
    def final_mark(self) -> int | None:
        if self.recount_qty is not None:
            return self.recount_ledger_mark
        return self.scanned_ledger_mark


class CountSettings(models.Model):
    """When a count's variance needs a second person's recount, per warehouse.

    A line whose variance (counted - expected at the scan) exceeds either
    tolerance waits for a recount by another person before anything is
    adjusted. Empty means no limit of that kind; a warehouse without settings
    asks for no recounts.
    """

    warehouse = models.OneToOneField(
        "inventory.Warehouse",
        on_delete=models.PROTECT,
        related_name="count_settings",
        verbose_name=_("warehouse"),
    )
    recount_tolerance_qty = _qty_field(
        _("recount above (quantity)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("Absolute variance in base units. Empty: no limit."),
    )
    recount_tolerance_pct = models.DecimalField(
        _("recount above (percent)"),
        max_digits=6,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("1000"))],
        help_text=_("Variance as a percentage of the expected quantity. Empty: no limit."),
    )
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        verbose_name = _("count settings")
        verbose_name_plural = _("count settings")
        constraints = [
            models.CheckConstraint(
                condition=(Q(recount_tolerance_qty__isnull=True) | Q(recount_tolerance_qty__gte=0))
                & (Q(recount_tolerance_pct__isnull=True) | Q(recount_tolerance_pct__gte=0)),
                name="count_settings_tolerance_non_negative",
            ),
        ]

    def __str__(self):
        qty, pct = self.recount_tolerance_qty, self.recount_tolerance_pct
        return f"{self.warehouse.code}: ± {qty} / {pct} %"

    def needs_recount(self, *, variance: Decimal, expected: Decimal) -> bool:
        if variance == 0:
            return False
        if self.recount_tolerance_qty is not None and abs(variance) > self.recount_tolerance_qty:
            return True
        if self.recount_tolerance_pct is not None:
            if expected == 0:
                return True
            return abs(variance) * 100 / abs(expected) > self.recount_tolerance_pct
        return False


class CountSubmission(models.Model):
    """One recorded batch of results: makes ``count_result_record`` idempotent by its key."""

    count = models.ForeignKey(
        InventoryCount, on_delete=models.CASCADE, related_name="submissions", db_index=False
    )
    request_key = models.CharField(_("request key"), max_length=255)
    fingerprint = models.CharField(_("content fingerprint"), max_length=64)
    line_ids = models.JSONField(_("lines recorded"), default=list)
    actor_label = models.CharField(_("actor"), max_length=150, blank=True)
    created_at = models.DateTimeField(_("recorded at"), db_default=Now())

    class Meta:
        ordering = ["-id"]
        verbose_name = _("count submission")
        verbose_name_plural = _("count submissions")
        constraints = [
            models.UniqueConstraint(fields=["request_key"], name="count_submission_key_uniq"),
        ]

    def __str__(self):
        return f"{self.count_id}: {self.request_key}"
