"""Admin for balances, ledger and reservations: read-only, no one edits a quantity by hand."""
