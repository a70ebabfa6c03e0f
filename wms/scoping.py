"""The one selector that scopes every list, page and API by warehouse.

People get access to a warehouse through a django-guardian object permission
(``inventory.access_warehouse``); external systems through the warehouses
granted to their record. Superusers see every warehouse.
"""

from django.apps import apps
from django.db.models import QuerySet
from guardian.shortcuts import get_objects_for_user
from rest_framework.exceptions import PermissionDenied

WAREHOUSE_PERMISSION = "inventory.access_warehouse"


def _warehouse_model():
    return apps.get_model("inventory", "Warehouse")


def warehouses_visible_to(actor) -> QuerySet:
    Warehouse = _warehouse_model()
    if actor is None or not getattr(actor, "is_authenticated", False):
        return Warehouse.objects.none()
    system = getattr(actor, "system", None)
    if system is not None:
        return Warehouse.objects.filter(pk__in=actor.warehouse_ids)
    if actor.is_superuser:
        return Warehouse.objects.all()
    if not actor.is_active:
        return Warehouse.objects.none()
    return get_objects_for_user(
        actor, WAREHOUSE_PERMISSION, klass=Warehouse, accept_global_perms=False
    )


def scope_by_warehouse(queryset: QuerySet, actor, *, lookup: str = "warehouse") -> QuerySet:
    """``queryset`` limited to rows of warehouses ``actor`` may see."""
    return queryset.filter(**{f"{lookup}__in": warehouses_visible_to(actor).values("pk")})


def warehouse_for_actor(actor, code: str):
    """The warehouse ``code`` if ``actor`` may use it; 403 otherwise (also if unknown,
    so a caller learns nothing about warehouses it was not granted)."""
    warehouse = warehouses_visible_to(actor).filter(code=code).first()
    if warehouse is None:
        raise PermissionDenied(f"No access to warehouse '{code}'.")
    return warehouse


def actor_may_use_warehouse(actor, warehouse) -> bool:
    return warehouses_visible_to(actor).filter(pk=warehouse.pk).exists()
