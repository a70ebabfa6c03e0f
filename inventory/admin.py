"""Admin of the inventory context: master data, stock (read-only), inventory control."""

from . import admin_adjustments, admin_masterdata, admin_stock  # noqa: F401  (registers the ModelAdmins)
