"""``manage.py create_api_client``: create (or show) an external system and its API token.

    manage.py create_api_client --type store --code S042 --warehouse MAD1
    manage.py create_api_client --type automation --code AUTO1 --rotate

Running it again for the same system shows the same token (keys derive from
``SECRET_KEY``); ``--rotate`` revokes it and issues a new one. Bad input ends
with one line on stderr and a non-zero exit status.
"""

from django.core.management.base import BaseCommand, CommandError

from integrations.models import SystemType
from integrations.services import api_token_rotate, external_system_ensure
from wms.exceptions import DomainError


class Command(BaseCommand):
    help = "Create (or show) an external system (store, automation, finance) and print its token."

    def add_arguments(self, parser):
        # Checked in handle() rather than by argparse, so a mistake reads as
        # one clear line instead of a usage block.
        parser.add_argument("--type", dest="system_type", help="store, automation or finance")
        parser.add_argument("--code", help="the system's code, e.g. S042")
        parser.add_argument(
            "--warehouse",
            action="append",
            default=[],
            metavar="CODE",
            help="grant this warehouse (repeat for several)",
        )
        parser.add_argument("--name", default="", help="display name (when created)")
        parser.add_argument(
            "--endpoint-url", default=None, help="push endpoint (automation, webhooks)"
        )
        parser.add_argument(
            "--rotate", action="store_true", help="revoke the current token and issue a new one"
        )
        parser.add_argument(
            "--token-only", action="store_true", help="print only the token (for scripts)"
        )

    def handle(self, *args, **options):
        system_type = (options["system_type"] or "").strip().lower()
        code = (options["code"] or "").strip()
        if system_type not in SystemType.values:
            raise CommandError(
                f"--type must be one of {', '.join(SystemType.values)}"
                + (f" (got '{options['system_type']}')." if options["system_type"] else ".")
            )
        if not code:
            raise CommandError("--code is required, e.g. --code S042.")
        try:
            system, key, created = external_system_ensure(
                system_type=system_type,
                code=code,
                name=options["name"],
                warehouse_codes=[c.strip() for c in options["warehouse"] if c.strip()],
                endpoint_url=options["endpoint_url"],
            )
            rotated = False
            if options["rotate"] and not created:
                key = api_token_rotate(system=system)
                rotated = True
        except DomainError as exc:
            raise CommandError(exc.detail) from exc

        if options["token_only"]:
            self.stdout.write(key)
            return
        verb = "Created" if created else "Found"
        warehouses = ", ".join(system.warehouses.order_by("code").values_list("code", flat=True))
        self.stdout.write(
            f"{verb} {system.type} system {system.code}"
            f" (warehouses: {warehouses or 'none granted yet'})."
        )
        if rotated:
            self.stdout.write("Rotated: the previous token no longer works.")
        self.stdout.write(f"API token: {key}")
        self.stdout.write(f"Use it as the header  Authorization: Token {key}")
