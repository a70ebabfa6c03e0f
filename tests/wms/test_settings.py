"""SECRET_KEY is required to serve when DEBUG is off; offline commands need none.
DATABASE_URL is required and names PostgreSQL."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str, **env_overrides) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DJANGO_DEBUG")}
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_settings_web_process_refuses_to_start_without_secret_key():
    """Loading the WSGI application without SECRET_KEY (DEBUG off) fails with one clear line."""
    result = _run("import wms.wsgi")
    assert result.returncode != 0
    assert "SECRET_KEY is required when DJANGO_DEBUG is off" in result.stderr


def test_settings_check_reports_missing_secret_key():
    """`manage.py check --deploy` reports wms.E001."""
    result = _run(
        "import sys; from django.core.management import execute_from_command_line;"
        "sys.argv=['manage.py','check','--deploy']; execute_from_command_line(sys.argv)",
        DJANGO_SETTINGS_MODULE="wms.settings",
    )
    assert result.returncode != 0
    assert "wms.E001" in result.stderr


def test_settings_offline_command_runs_without_secret_key():
    """makemigrations --check needs no secret; DEBUG gives a development key."""
    result = _run(
        "import sys; from django.core.management import execute_from_command_line;"
        "sys.argv=['manage.py','makemigrations','--check','--dry-run'];"
        "execute_from_command_line(sys.argv)",
        DJANGO_SETTINGS_MODULE="wms.settings",
    )
    assert result.returncode == 0, result.stderr
    debug = _run("import wms.wsgi; print('ok')", DJANGO_DEBUG="1")
    assert debug.returncode == 0 and "ok" in debug.stdout, debug.stderr


def test_settings_worker_refuses_to_start_without_secret_key(tmp_path):
    """A Celery worker without SECRET_KEY (DEBUG off) exits non-zero with one clear line."""
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DJANGO_DEBUG")}
    env.update(
        WMS_VAR_DIR=str(tmp_path),
        CELERY_BROKER_URL="filesystem://",
    )
    result = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "wms", "worker", "--pool=solo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "SECRET_KEY is required when DJANGO_DEBUG is off" in result.stderr


def test_settings_without_database_url_fail_with_one_clear_line():
    """Without DATABASE_URL, settings refuse to load and say to set it or run scripts/demo."""
    result = _run(
        "import django; django.setup()",
        DATABASE_URL="",
        DJANGO_DEBUG="1",
        DJANGO_SETTINGS_MODULE="wms.settings",
    )
    assert result.returncode != 0
    assert "DATABASE_URL is not set" in result.stderr.splitlines()[-1]
    assert "scripts/demo" in result.stderr.splitlines()[-1]


def test_settings_refuse_a_database_other_than_postgresql(tmp_path):
    """A SQLite DATABASE_URL is refused: PostgreSQL is the only engine."""
    result = _run(
        "import django; django.setup()",
        DATABASE_URL=f"sqlite:///{tmp_path}/w.sqlite3",
        DJANGO_DEBUG="1",
        DJANGO_SETTINGS_MODULE="wms.settings",
    )
    assert result.returncode != 0
    assert "must name a PostgreSQL database" in result.stderr.splitlines()[-1]
