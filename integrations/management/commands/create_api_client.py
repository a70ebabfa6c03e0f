"""``manage.py create_api_client``: create (or show) an external system and its API token.

    manage.py create_api_client --type store --code S042 --warehouse MAD1
    manage.py create_api_client --type automation --code AUTO1 --rotate

The token is printed once, when it is issued: only its hash is stored. Run
again for the same system, it shows the system and says the token exists;
``--rotate`` revokes it and prints a new one. Bad input ends with one line on
stderr and a non-zero exit status (also ``--token-only`` without a token to print).
"""

from django.core.management.base import BaseCommand, CommandError

from integrations.models import SystemType
from integrations.services import external_system_ensure
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
                rotate=options["rotate"],
            )
        except DomainError as exc:
            raise CommandError(exc.detail) from exc
        rotated = options["rotate"] and not created

        if options["token_only"]:
            if key is None:
                raise CommandError(
                    f"{code} has a token already and it cannot be shown again: "
                    "add --rotate to replace it with a new one."
                )
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
        if key is None:
            token = system.tokens.filter(revoked_at__isnull=True).get()
            self.stdout.write(
                f"API token: {token.prefix}… exists (issued {token.created_at:%Y-%m-%d}, "
                f"expires {f'{token.expires_at:%Y-%m-%d}' if token.expires_at else 'never'}). "
                "It was shown once, when issued; --rotate replaces it and shows the new one."
            )
            return
        self.stdout.write(f"API token: {key}")
        self.stdout.write("Shown only now: it is stored as a hash and cannot be shown again.")
        self.stdout.write(f"Use it as the header  Authorization: Token {key}")
