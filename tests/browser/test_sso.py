"""Single sign-on through a real OpenID Connect provider (tests/oidc_provider: a
django-oauth-toolkit project in its own process, RS256 keys made here), in Chromium.

Roles and warehouse grants come from the provider's claims and follow them at the
next login; every failure (a forged token, a wrong state, an unknown warehouse)
ends on the refusal page with no user created."""

import copy
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.contrib.auth import get_user_model
from django.db import connection

from tests.factories import WarehouseFactory
from wms.scoping import warehouses_visible_to

ROOT = Path(__file__).resolve().parents[2]
CLIENT_ID = "wms-test-client"
CLIENT_SECRET = "wms-test-secret-7c1f"  # the test provider's client  # nosec B105


def _rsa_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_url(database: str) -> str:
    """A URL for ``database`` on the test database's server."""
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{database}"


class Provider:
    def __init__(self, tmp: Path, live_url: str):
        key_file = tmp / "provider-key.pem"
        key_file.write_bytes(_rsa_pem())
        # The provider's own database on the same server, unique to this run.
        self.database = f"oidc_provider_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(_server_url("postgres"), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{self.database}"')
        self.env = {
            **os.environ,
            "OIDC_PROVIDER_DATABASE_URL": _server_url(self.database),
            "OIDC_PROVIDER_KEY_FILE": str(key_file),
        }
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.run(
            "init",
            "--client-id",
            CLIENT_ID,
            "--client-secret",
            CLIENT_SECRET,
            "--redirect-uri",
            f"{live_url}/oidc/callback/",
            "--post-logout-redirect-uri",
            f"{live_url}/handheld/login/",
        )
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.oidc_provider.run", "serve", f"127.0.0.1:{self.port}"],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("the OpenID provider did not start") from None
                time.sleep(0.2)

    def run(self, *args: str) -> None:
        subprocess.run(
            [sys.executable, "-m", "tests.oidc_provider.run", *args],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
            timeout=120,
        )

    def user(self, username: str, password: str, *groups: str) -> None:
        """Create the account at the provider, or set its groups (roles, wh:<code>)."""
        self.run("user", username, password, *groups)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)
        with psycopg.connect(_server_url("postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')


@pytest.fixture(scope="module")
def provider(live_server, tmp_path_factory):
    provider = Provider(tmp_path_factory.mktemp("oidc"), live_server.url)
    yield provider
    provider.stop()


@pytest.fixture
def sso(settings, provider):
    """The WMS configured for the provider, as the WMS_OIDC_* variables would."""
    settings.WMS_OIDC_ENABLED = True
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = f"{provider.url}/o/authorize/"
    settings.OIDC_OP_TOKEN_ENDPOINT = f"{provider.url}/o/token/"
    settings.OIDC_OP_USER_ENDPOINT = f"{provider.url}/o/userinfo/"
    settings.OIDC_OP_JWKS_ENDPOINT = f"{provider.url}/o/.well-known/jwks.json"
    settings.WMS_OIDC_END_SESSION_ENDPOINT = f"{provider.url}/o/logout/"
    settings.AUTHENTICATION_BACKENDS = [
        "axes.backends.AxesStandaloneBackend",
        "wms.sso.WmsOidcBackend",
        "django.contrib.auth.backends.ModelBackend",
        "guardian.backends.ObjectPermissionBackend",
    ]
    policy = copy.deepcopy(settings.CONTENT_SECURITY_POLICY)
    policy["DIRECTIVES"]["form-action"].append(provider.url)
    settings.CONTENT_SECURITY_POLICY = policy
    WarehouseFactory(code="MAD1", name="Madrid DC")
    WarehouseFactory(code="BCN1", name="Barcelona DC")
    return provider


def _sso_login(page, live_url, username, password, start="/handheld/login/"):
    page.goto(f"{live_url}{start}")
    page.get_by_test_id("sso-login").click()
    page.fill("#provider-username", username)
    page.fill("#provider-password", password)
    page.click("#provider-submit")


@pytest.mark.django_db(transaction=True)
def test_sso_picker_of_one_warehouse_then_role_follows_the_provider(live_server, page, sso):
    """A picker of MAD1 at the provider: handheld works, admin refused, BCN1 invisible;
    made a supervisor there, the next login brings the admin."""
    sso.user("alice", "provider-pw-1", "picker", "wh:MAD1")
    _sso_login(page, live_server.url, "alice", "provider-pw-1")
    page.wait_for_url(f"{live_server.url}/handheld/")
    assert page.get_by_test_id("user").inner_text() == "alice"
    assert page.get_by_role("link", name="Pick").count() == 1

    alice = get_user_model().objects.get(username="alice")
    assert list(alice.groups.values_list("name", flat=True)) == ["picker"]
    assert not alice.is_staff and not alice.has_usable_password()
    assert [w.code for w in warehouses_visible_to(alice)] == ["MAD1"]

    page.goto(f"{live_server.url}/admin/")
    assert "/admin/login/" in page.url
    assert "not authorized to access this page" in page.content()

    # Logging out ends the provider's session too: the next login asks for the password.
    page.goto(f"{live_server.url}/handheld/")
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{live_server.url}/handheld/login/")

    sso.user("alice", "provider-pw-1", "supervisor", "wh:MAD1", "wh:BCN1")
    _sso_login(page, live_server.url, "alice", "provider-pw-1", start="/admin/login/?next=/admin/")
    page.wait_for_url(f"{live_server.url}/admin/")
    assert "alice" in page.locator("#user-tools").inner_text().lower()
    alice.refresh_from_db()
    assert list(alice.groups.values_list("name", flat=True)) == ["supervisor"]
    assert alice.is_staff
    assert sorted(w.code for w in warehouses_visible_to(alice)) == ["BCN1", "MAD1"]
    assert get_user_model().objects.filter(username="alice").count() == 1

    # The admin's log out ends the provider's session too: single sign-on asks again.
    page.locator("#logout-form button").click()
    page.wait_for_url(f"{live_server.url}/handheld/login/")
    page.get_by_test_id("sso-login").click()
    page.locator("#provider-username").wait_for()


@pytest.mark.django_db(transaction=True)
def test_sso_unknown_warehouse_claim_is_refused_and_creates_nobody(live_server, page, sso):
    """A warehouses claim naming a warehouse that does not exist: refusal page, no user."""
    sso.user("bob", "provider-pw-2", "picker", "wh:NOPE")
    _sso_login(page, live_server.url, "bob", "provider-pw-2")
    page.get_by_test_id("sso-refused").wait_for()
    assert not get_user_model().objects.filter(username="bob").exists()


@pytest.mark.django_db(transaction=True)
def test_sso_forged_token_is_refused_and_creates_nobody(live_server, page, sso, settings):
    """An ID token not signed by the key the WMS trusts is refused: refusal page, no user."""
    other = serialization.load_pem_private_key(_rsa_pem(), password=None)
    settings.OIDC_RP_IDP_SIGN_KEY = (
        other.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    sso.user("carol", "provider-pw-3", "picker", "wh:MAD1")
    _sso_login(page, live_server.url, "carol", "provider-pw-3")
    page.get_by_test_id("sso-refused").wait_for()
    assert not get_user_model().objects.filter(username="carol").exists()


@pytest.mark.django_db(transaction=True)
def test_sso_wrong_state_is_refused(live_server, page, sso):
    """A callback whose state this browser never sent is refused with the clear page."""
    page.goto(f"{live_server.url}/handheld/login/")
    page.goto(f"{live_server.url}/oidc/callback/?code=stolen&state=forged-state")
    assert page.get_by_test_id("sso-refused").count() == 1
    assert get_user_model().objects.count() == 0
