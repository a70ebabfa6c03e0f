"""``manage.py export_finance_events``: the finance feed to a file, for teams that pull files.

    python manage.py export_finance_events --after CURSOR --format csv > events.csv 2> next
    python manage.py export_finance_events --format json --output events.json

Everything committed after the cursor (no cursor: from the first event), or the
first ``--limit`` events of it, in sequence order: CSV as the API's ``text/csv``
(a header row, one row per event line), JSON as one API page
(``{"events": [...], "next": cursor}``). Streamed in chunks by sequence, so
the memory stays flat for any number of events. The next cursor is printed
alone on stderr at the end: pass it as ``--after`` next time (or to the API).
A cursor the feed did not give ends the command with one line and status 1.
"""

from django.core.management.base import BaseCommand, CommandError

from inventory.finance import (
    InvalidCursor,
    finance_cursor,
    finance_cursor_sequence,
    finance_feed_csv,
    finance_feed_end,
    finance_feed_json,
    finance_feed_rows,
)
from inventory.models import Warehouse


class Command(BaseCommand):
    help = (
        "Write the finance events after a cursor as CSV or JSON (stdout or --output); "
        "the next cursor goes to stderr."
    )

    def add_arguments(self, parser):
        parser.add_argument("--after", default="", help="Cursor (the last 'next'); none: start.")
        parser.add_argument("--format", choices=("csv", "json"), default="csv")
        parser.add_argument("--limit", type=int, help="At most this many events.")
        parser.add_argument(
            "--warehouse", action="append", default=[], help="Only this warehouse (repeatable)."
        )
        parser.add_argument("--output", help="Write to this file instead of stdout.")

    def handle(self, *args, **options):
        try:
            after = finance_cursor_sequence(options["after"])
        except InvalidCursor as exc:
            raise CommandError(f"export_finance_events: invalid cursor: {exc.detail}") from exc
        limit = options["limit"]
        if limit is not None and limit < 1:
            raise CommandError("export_finance_events: --limit must be at least 1.")
        warehouse_ids = self._warehouse_ids(options["warehouse"])
        end = finance_feed_end(after=after, limit=limit, warehouse_ids=warehouse_ids)
        next_cursor = finance_cursor(end)
        rows = finance_feed_rows(after=after, end=end, warehouse_ids=warehouse_ids)
        if options["format"] == "csv":
            pieces = finance_feed_csv(rows)
        else:
            pieces = finance_feed_json(rows, next_cursor=next_cursor)
        if options["output"]:
            with open(options["output"], "w", encoding="utf-8", newline="") as out:
                out.writelines(pieces)
        else:
            for piece in pieces:
                self.stdout.write(piece, ending="")
            self.stdout.flush()
        self.stderr.write(next_cursor, style_func=str)  # plain, even on a terminal

    def _warehouse_ids(self, codes: list[str]):
        if not codes:
            return None
        found = dict(Warehouse.objects.filter(code__in=codes).values_list("code", "pk"))
        unknown = sorted(set(codes) - set(found))
        if unknown:
            raise CommandError(f"export_finance_events: unknown warehouse {', '.join(unknown)}.")
        return list(found.values())
