"""Security hardening: `check --deploy` clean in production settings, the headers
every page carries (CSP with a nonce, frame and referrer policies) and login
throttling on the handheld and admin logins."""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parents[2]


def _manage(*args: str, **env_overrides) -> subprocess.CompletedProcess:
    # As a deployment's environment: no test-run switches (the browser tests set
    # DJANGO_ALLOW_ASYNC_UNSAFE for the session, which the deploy check refuses).
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("WMS_H", "DJANGO_DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE"))
    }
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_production_settings():
    """DEBUG off, a strong SECRET_KEY and WMS_HTTPS=1: `check --deploy --fail-level
    WARNING` reports nothing."""
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        SECRET_KEY=secrets.token_urlsafe(50),
        WMS_HTTPS="1",
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_names_what_is_missing_over_plain_http():
    """Without WMS_HTTPS the deploy check names the secure-cookie, HSTS and redirect settings."""
    result = _manage("check", "--deploy", SECRET_KEY=secrets.token_urlsafe(50))
    for check_id in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check_id in result.stderr


@pytest.mark.django_db
def test_pages_carry_csp_with_nonce_frame_and_referrer_policies():
    """The handheld login page sends a CSP whose scripts need this origin or the
    nonce, DENY framing, a same-origin referrer policy, and no inline script."""
    response = Client().get("/handheld/login/")
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "object-src 'none'" in policy
    assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
    html = response.content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)(?![^>]*\bnonce=)", html), "inline script"
    assert not re.search(r"\son[a-z]+=\"", html), "inline event handler"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "fields"),
    [
        ("/handheld/login/", {}),
        ("/admin/login/?next=/admin/", {"this_is_the_login_form": "1", "next": "/admin/"}),
    ],
)
def test_login_throttling_locks_out_after_repeated_failures(settings, url, fields):
    """After WMS_LOGIN_FAILURE_LIMIT wrong passwords the right one is refused too (429),
    for that user only; another user still logs in."""
    settings.AXES_FAILURE_LIMIT = 3
    UserFactory(username="ana", password="right-password-1", is_staff=True)
    UserFactory(username="bea", password="right-password-2", is_staff=True)
    client = Client()
    for _ in range(3):
        response = client.post(url, {"username": "ana", "password": "wrong", **fields})
    assert response.status_code == 429
    response = client.post(url, {"username": "ana", "password": "right-password-1", **fields})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    response = client.post(url, {"username": "bea", "password": "right-password-2", **fields})
    assert response.status_code == 302
    assert client.session["_auth_user_id"]


@pytest.mark.django_db
def test_api_docs_page_loads_swagger_from_this_origin_and_no_inline_script():
    """The Swagger UI page takes its bundle (drf-spectacular-sidecar) and its start
    script from this origin: no CDN in the page or the CSP, nothing inline."""
    response = Client().get("/api/v1/docs/")
    assert response.status_code == 200
    script_src = response["Content-Security-Policy"].split("script-src")[1].split(";")[0]
    assert "http" not in script_src and "'unsafe-inline'" not in script_src
    html = response.content.decode()
    assert "cdn." not in html and "/static/drf_spectacular_sidecar/" in html
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "inline script"


@pytest.mark.django_db
def test_local_passwords_off_log_nobody_in(settings):
    """WMS_LOCAL_PASSWORDS=0 (as settings make it: no ModelBackend): the right password
    logs nobody in, and the login pages show no password form."""
    settings.WMS_LOCAL_PASSWORDS = False
    settings.AUTHENTICATION_BACKENDS = [
        b for b in settings.AUTHENTICATION_BACKENDS if not b.endswith("ModelBackend")
    ]
    UserFactory(username="dora", password="right-password-3")
    client = Client()
    response = client.post("/handheld/login/", {"username": "dora", "password": "right-password-3"})
    assert "_auth_user_id" not in client.session
    assert 'type="password"' not in client.get("/handheld/login/").content.decode()
    assert 'type="password"' not in client.get("/admin/login/").content.decode()
    assert response.status_code == 200
