"""Run and administer the test OpenID provider (tests/oidc_provider/settings.py).

    python -m tests.oidc_provider.run init --client-id ID --client-secret S --redirect-uri U
    python -m tests.oidc_provider.run user alice pw picker wh:MAD1   # (re)sets the groups
    python -m tests.oidc_provider.run serve 127.0.0.1:PORT

Environment: OIDC_PROVIDER_DATABASE_URL (PostgreSQL), OIDC_PROVIDER_KEY_FILE (RSA key, PEM).
"""

import argparse
import os
import sys


def main(argv: list[str]) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.oidc_provider.settings"
    import django

    django.setup()
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from oauth2_provider.models import Application

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    init = sub.add_parser("init")
    init.add_argument("--client-id", required=True)
    init.add_argument("--client-secret", required=True)
    init.add_argument("--redirect-uri", required=True)
    init.add_argument("--post-logout-redirect-uri", default="")
    user = sub.add_parser("user")
    user.add_argument("username")
    user.add_argument("password")
    user.add_argument("groups", nargs="*")
    serve = sub.add_parser("serve")
    serve.add_argument("address")
    args = parser.parse_args(argv)

    if args.command == "init":
        call_command("migrate", verbosity=0)
        Application.objects.update_or_create(
            client_id=args.client_id,
            defaults={
                "name": "WMS",
                "client_secret": args.client_secret,
                "client_type": Application.CLIENT_CONFIDENTIAL,
                "authorization_grant_type": Application.GRANT_AUTHORIZATION_CODE,
                "redirect_uris": args.redirect_uri,
                "post_logout_redirect_uris": args.post_logout_redirect_uri,
                "algorithm": Application.RS256_ALGORITHM,
                "skip_authorization": True,
            },
        )
    elif args.command == "user":
        account, _ = User.objects.get_or_create(username=args.username)
        account.email = f"{args.username}@corp.example"
        account.set_password(args.password)
        account.save()
        account.groups.set([Group.objects.get_or_create(name=g)[0] for g in args.groups])
    elif args.command == "serve":
        call_command("runserver", args.address, use_reloader=False, use_threading=True)


if __name__ == "__main__":
    main(sys.argv[1:])
