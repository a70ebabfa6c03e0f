"""Admin for warehouse layout, items, units, statuses and reason codes."""
