"""Warehouse scoping for the Django admin and its CSV import/export.

A supervisor sees, picks and saves only data of the warehouses they were
granted (``wms.scoping.warehouses_visible_to``: a django-guardian grant per
user and warehouse; superusers see all). Reuse this in every admin of a model
that belongs to a warehouse::

    from wms.admin_scoping import WarehouseScopedAdminMixin, WarehouseScopedInlineMixin

    @admin.register(ReplenishmentOrder)
    class ReplenishmentOrderAdmin(WarehouseScopedAdminMixin, SimpleHistoryAdmin):
        warehouse_lookup = "warehouse"          # the ORM path to the warehouse
        list_filter = ["status", "warehouse"]  # related filters list visible rows only
        inlines = [OrderLineInline]

    class OrderLineInline(WarehouseScopedInlineMixin, admin.TabularInline):
        model = ReplenishmentOrderLine          # its ``item`` choices get scoped

    @admin.register(CountLine)
    class CountLineAdmin(WarehouseScopedAdminMixin, admin.ModelAdmin):
        warehouse_lookup = "count__warehouse"   # any path, as in a queryset filter

What the mixin does:

- ``get_queryset`` keeps rows whose ``warehouse_lookup`` is a visible warehouse,
  so changelists, change/delete views, bulk actions, history views, exports and
  autocomplete all stop at the grant;
- foreign-key and many-to-many choices are limited to visible warehouses when
  the related model is ``Warehouse`` or has a ``warehouse`` foreign key; other
  paths are declared in ``warehouse_scoped_fields`` (``{"receipt_line":
  "receipt__warehouse"}``);
- related ``list_filter`` entries only offer values present in visible rows
  (``ScopedRelatedFieldListFilter``), so other warehouses' names do not leak
  through the sidebar;
- ``"warehouse_code"`` can go in ``list_display``: the warehouse's code under a
  translated header, sortable;
- ``save_model`` refuses an object whose warehouse was not granted (the form
  already refuses the choice; this is the last guard);
- an action posted with ids the user may not see (another warehouse's rows, a
  crafted POST) runs on nothing: an error message, every row left as it was,
  instead of the action running on the visible part of the selection; and the
  history pages of a row the user may not see are a 404 (django-simple-history
  would otherwise show the history of any existing row by id). Both come from
  ``ScopedRowsMixin``, which ``WarehouseScopedAdminMixin`` includes; admins
  scoped otherwise (by system, by owner) put it first in their bases;
- with django-import-export, resources receive ``actor=request.user``; a
  ``WarehouseScopedResource`` then imports only into granted warehouses, and an
  import with any bad row imports nothing.
"""

from django.apps import apps
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.http import Http404, HttpResponseRedirect
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.utils.translation import ngettext
from import_export import resources, widgets

from .scoping import scope_by_warehouse, warehouses_visible_to

__all__ = [
    "ScopedRelatedFieldListFilter",
    "ScopedRowsMixin",
    "WarehouseCodeWidget",
    "WarehouseScopedAdminMixin",
    "WarehouseScopedForeignKeyWidget",
    "WarehouseScopedInlineMixin",
    "WarehouseScopedResource",
    "warehouse_of",
]


def _warehouse_model():
    return apps.get_model("inventory", "Warehouse")


def warehouse_of(obj, lookup: str):
    """The warehouse ``obj`` belongs to, following ``lookup`` ("warehouse",
    "item__warehouse"; "pk" when ``obj`` is a warehouse). None when unset."""
    if lookup == "pk":
        return obj
    value = obj
    for part in lookup.split("__"):
        try:
            value = getattr(value, part, None)
        except ObjectDoesNotExist:
            return None
        if value is None:
            return None
    return value


def _warehouse_lookup_for_model(model) -> str | None:
    """The path from ``model`` to its warehouse, if it has an obvious one."""
    if model is _warehouse_model():
        return "pk"
    try:
        field = model._meta.get_field("warehouse")
    except Exception:
        return None
    if field.is_relation and field.related_model is _warehouse_model():
        return "warehouse"
    return None


def _has_default_verbose_name(field) -> bool:
    """True for a relation declared without ``verbose_name`` (its label would be
    the untranslatable field name; the related model's verbose name is used)."""
    return field.is_relation and str(field.verbose_name) == field.name.replace("_", " ")


class ScopedRelatedFieldListFilter(admin.RelatedOnlyFieldListFilter):
    """Offers only values present in the rows the user may see (the admin's
    ``get_queryset``), titled with the related model's translated name."""

    def __init__(self, field, request, params, model, model_admin, field_path):
        super().__init__(field, request, params, model, model_admin, field_path)
        if _has_default_verbose_name(field):
            self.title = field.related_model._meta.verbose_name


class _ScopedChoicesMixin:
    """Limits relation choices in forms to rows of the user's warehouses."""

    #: field name → ORM path from the *related* model to its warehouse, for
    #: relations the mixin cannot guess (related model without a ``warehouse``).
    warehouse_scoped_fields: dict[str, str] = {}

    def _scope_relation_queryset(self, db_field, queryset, request):
        lookup = self.warehouse_scoped_fields.get(db_field.name) or _warehouse_lookup_for_model(
            db_field.related_model
        )
        if lookup is None:
            return queryset
        return scope_by_warehouse(queryset, request.user, lookup=lookup)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
        return self._scope_formfield(db_field, formfield, request)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        formfield = super().formfield_for_manytomany(db_field, request, **kwargs)
        return self._scope_formfield(db_field, formfield, request)

    def _scope_formfield(self, db_field, formfield, request):
        if formfield is None:
            return formfield
        if hasattr(formfield, "queryset"):
            formfield.queryset = self._scope_relation_queryset(
                db_field, formfield.queryset, request
            )
        if _has_default_verbose_name(db_field):
            formfield.label = capfirst(db_field.related_model._meta.verbose_name)
        return formfield


class ScopedRowsMixin:
    """Actions and history pages stop where the admin's ``get_queryset`` stops.

    Django runs an action on ``get_queryset(request).filter(pk__in=selected)``: ids
    of rows outside the user's scope silently drop out, and the action reports
    "0 done" or works on the rest. Here such a selection changes nothing and says
    why, whatever the action (a new one included). django-simple-history's
    history pages look a row up by id in its history when ``get_queryset`` misses
    it, which would show any row's history: here that is a 404, unless
    ``deleted_row_visible`` accepts the last record of a deleted row."""

    def response_action(self, request, queryset):
        selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
        if selected and request.POST.get("select_across") != "1":
            outside = len(set(selected)) - self._visible_count(request, selected)
            if outside:
                self.message_user(
                    request,
                    ngettext(
                        "%(count)d selected row is not in your warehouses or no longer "
                        "exists: nothing was changed.",
                        "%(count)d selected rows are not in your warehouses or no longer "
                        "exist: nothing was changed.",
                        outside,
                    )
                    % {"count": outside},
                    messages.ERROR,
                )
                return HttpResponseRedirect(request.get_full_path())
        return super().response_action(request, queryset)

    def _visible_count(self, request, selected: list[str]) -> int:
        try:
            return self.get_queryset(request).filter(pk__in=set(selected)).count()
        except (ValueError, ValidationError):  # not even an id of this model
            return 0

    # --- history (django-simple-history) ---------------------------------------
    def deleted_row_visible(self, request, record) -> bool:
        """May ``request.user`` read the history of a deleted row (its last record)?"""
        return request.user.is_superuser

    def _ensure_visible(self, request, object_id):
        pk_name = self.model._meta.pk.attname
        try:
            if self.get_queryset(request).filter(**{pk_name: object_id}).exists():
                return
            if self.model._default_manager.filter(**{pk_name: object_id}).exists():
                raise Http404
        except (ValueError, ValidationError) as exc:
            raise Http404 from exc
        # A deleted object: judge by its last historical record.
        history = getattr(self.model, "history", None)
        record = history.filter(**{pk_name: object_id}).first() if history is not None else None
        if record is None or not self.deleted_row_visible(request, record):
            raise Http404

    def history_view(self, request, object_id, extra_context=None):
        self._ensure_visible(request, object_id)
        return super().history_view(request, object_id, extra_context=extra_context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        self._ensure_visible(request, object_id)
        return super().history_form_view(
            request, object_id, version_id, extra_context=extra_context
        )


class WarehouseScopedInlineMixin(_ScopedChoicesMixin):
    """For inlines: their rows follow the parent; their relation choices are scoped."""


class WarehouseScopedAdminMixin(ScopedRowsMixin, _ScopedChoicesMixin):
    """Put it first in the bases of a ``ModelAdmin`` (before SimpleHistoryAdmin,
    TranslationAdmin and import-export's mixins) so its overrides wrap theirs."""

    #: ORM path from this admin's model to its warehouse; "pk" for Warehouse itself.
    warehouse_lookup = "warehouse"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not hasattr(type(self), "warehouse_code"):  # an admin's own column wins
            self.warehouse_code = self._warehouse_code_column(self.warehouse_lookup)

    @staticmethod
    def _warehouse_code_column(lookup):
        """The list_display column "warehouse_code": the warehouse's code under a
        translated header, sortable whatever the lookup path is."""

        def warehouse_code(obj):
            warehouse = warehouse_of(obj, lookup)
            return warehouse.code if warehouse is not None else "—"

        warehouse_code.short_description = _lazy("warehouse")
        warehouse_code.admin_order_field = "code" if lookup == "pk" else f"{lookup}__code"
        return warehouse_code

    # --- rows -----------------------------------------------------------------
    def get_queryset(self, request):
        return scope_by_warehouse(
            super().get_queryset(request), request.user, lookup=self.warehouse_lookup
        )

    def warehouse_allowed(self, request, obj) -> bool:
        """True when ``obj`` belongs to a warehouse ``request.user`` was granted."""
        warehouse = warehouse_of(obj, self.warehouse_lookup)
        if warehouse is None:
            return False
        return warehouses_visible_to(request.user).filter(pk=warehouse.pk).exists()

    def save_model(self, request, obj, form, change):
        # The form only offers granted warehouses; this refuses anything that
        # slipped past it (a crafted POST, a custom form) before it is written.
        if not (self.warehouse_lookup == "pk" and not change) and not self.warehouse_allowed(
            request, obj
        ):
            raise PermissionDenied(_("You have no access to this warehouse."))
        super().save_model(request, obj, form, change)

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        if self.warehouse_lookup == "warehouse" and "warehouse" not in initial:
            visible = list(warehouses_visible_to(request.user).values_list("pk", flat=True)[:2])
            if len(visible) == 1:
                initial["warehouse"] = visible[0]
        return initial

    # --- sidebar filters ------------------------------------------------------
    def get_list_filter(self, request):
        scoped = []
        for entry in super().get_list_filter(request):
            if isinstance(entry, str) and self._is_relation_path(entry):
                scoped.append((entry, ScopedRelatedFieldListFilter))
            else:
                scoped.append(entry)
        return scoped

    def _is_relation_path(self, path: str) -> bool:
        model = self.model
        field = None
        for part in path.split("__"):
            try:
                field = model._meta.get_field(part)
            except Exception:
                return False
            if not field.is_relation:
                return False
            model = field.related_model
        return field is not None

    # --- history (django-simple-history): ScopedRowsMixin ------------------------
    def deleted_row_visible(self, request, record) -> bool:
        return self.warehouse_allowed(request, record.instance)

    # --- import/export (django-import-export) -----------------------------------
    def get_resource_kwargs(self, request, *args, **kwargs):
        kwargs = super().get_resource_kwargs(request, *args, **kwargs)
        kwargs["actor"] = request.user
        return kwargs

    def get_import_data_kwargs(self, *args, **kwargs):
        kwargs = super().get_import_data_kwargs(*args, **kwargs)
        # Any invalid row rolls the whole file back, also at the confirm step.
        kwargs.setdefault("rollback_on_validation_errors", True)
        return kwargs


# --- import-export building blocks ---------------------------------------------


class WarehouseScopedForeignKeyWidget(widgets.ForeignKeyWidget):
    """A related row by a natural key (``field``), found only in the importing
    user's warehouses and, when ``row_warehouse_column`` is set, in the warehouse
    named in that column of the same row (a zone code is unique per warehouse)."""

    def __init__(
        self,
        model,
        field: str,
        *,
        warehouse_lookup: str = "warehouse",
        row_warehouse_column: str | None = "warehouse",
        **kwargs,
    ):
        super().__init__(model, field, **kwargs)
        self.warehouse_lookup = warehouse_lookup
        self.row_warehouse_column = row_warehouse_column
        self.actor = None  # set by WarehouseScopedResource

    def get_queryset(self, value, row, *args, **kwargs):
        qs = scope_by_warehouse(
            self.model._default_manager.all(), self.actor, lookup=self.warehouse_lookup
        )
        if self.row_warehouse_column and row is not None:
            code = (row.get(self.row_warehouse_column) or "").strip()
            qs = qs.filter(**{f"{self.warehouse_lookup}__code": code})
        return qs

    def clean(self, value, row=None, **kwargs):
        value = value.strip() if isinstance(value, str) else value
        try:
            return super().clean(value, row=row, **kwargs)
        except self.model.DoesNotExist as exc:
            raise ValueError(self.not_found_message(value, row)) from exc

    def not_found_message(self, value, row) -> str:
        name = self.model._meta.verbose_name
        if self.row_warehouse_column and row is not None:
            return _("Unknown %(name)s “%(value)s” in warehouse “%(warehouse)s”.") % {
                "name": name,
                "value": value,
                "warehouse": row.get(self.row_warehouse_column) or "",
            }
        return _("Unknown %(name)s “%(value)s”.") % {"name": name, "value": value}


class WarehouseCodeWidget(WarehouseScopedForeignKeyWidget):
    """A warehouse by its code, among the warehouses granted to the importing user."""

    def __init__(self, **kwargs):
        super().__init__(
            _warehouse_model(), "code", warehouse_lookup="pk", row_warehouse_column=None, **kwargs
        )

    def not_found_message(self, value, row) -> str:
        return _("Unknown warehouse “%(code)s”, or you have no access to it.") % {"code": value}


class WarehouseScopedResource(resources.ModelResource):
    """A ModelResource that reads and writes only the ``actor``'s warehouses.

    The admin mixin passes ``actor=request.user``; call it yourself as
    ``ItemResource(actor=user).import_data(dataset, dry_run=False)``. Rows of
    other warehouses are neither exported nor matched for update, warehouse
    codes outside the grant are row errors, and any row error rolls back the
    whole import.
    """

    warehouse_lookup = "warehouse"

    def __init__(self, *, actor=None, **kwargs):
        super().__init__(**kwargs)
        self.actor = actor
        for field in self.fields.values():
            if isinstance(field.widget, WarehouseScopedForeignKeyWidget):
                field.widget.actor = actor

    def get_queryset(self):
        return scope_by_warehouse(super().get_queryset(), self.actor, lookup=self.warehouse_lookup)

    def get_instance(self, instance_loader, row):
        try:
            return super().get_instance(instance_loader, row)
        except ValueError:
            # An unknown warehouse (or zone…) in the key: no existing row; the
            # field's own error is reported when the row is imported.
            return None

    def before_save_instance(self, instance, row, **kwargs):
        super().before_save_instance(instance, row, **kwargs)
        warehouse = warehouse_of(instance, self.warehouse_lookup)
        visible = warehouses_visible_to(self.actor)
        if warehouse is None or not visible.filter(pk=warehouse.pk).exists():
            raise ValidationError(_("You have no access to this warehouse."))

    def import_data(self, dataset, rollback_on_validation_errors=True, **kwargs):
        return super().import_data(
            dataset, rollback_on_validation_errors=rollback_on_validation_errors, **kwargs
        )
