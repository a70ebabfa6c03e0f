"""Admin of the inventory context: master data, and stock (read-only)."""

from . import admin_masterdata, admin_stock  # noqa: F401  (registers the ModelAdmins)
