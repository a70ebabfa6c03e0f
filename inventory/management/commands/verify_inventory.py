"""``manage.py verify_inventory``: recompute balances from the ledger and check every invariant.

Exit status 0 only when nothing drifts; otherwise every drift is printed and
the command fails with one summary line.
"""

from django.core.management.base import BaseCommand, CommandError

from inventory.selectors import inventory_verify


class Command(BaseCommand):
    help = (
        "Recompute every inventory balance from the ledger, check every invariant and "
        "reservation; exit 0 only when nothing drifts."
    )

    def handle(self, *args, **options):
        report = inventory_verify()
        counts = ", ".join(f"{number} {name}" for name, number in report.counts.items())
        self.stdout.write(f"Checked {counts}.")
        for note in report.notes:
            self.stdout.write(f"note: {note}")
        for problem in report.problems:
            self.stdout.write(self.style.ERROR(f"DRIFT {problem}"))
        if report.problems:
            raise CommandError(
                f"verify_inventory: {len(report.problems)} drift(s) found; inventory is NOT "
                "consistent with its ledger."
            )
        self.stdout.write(self.style.SUCCESS("verify_inventory: OK, no drift."))
