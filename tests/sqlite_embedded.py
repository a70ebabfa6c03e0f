"""Runs code against a fresh embedded SQLite database (the README's default), in a
subprocess so the test run's PostgreSQL settings stay out of it."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class EmbeddedSQLite:
    """A migrated SQLite database in ``folder``; ``run`` runs a Python script or
    ``manage.py`` command on it and returns the finished process."""

    def __init__(self, folder: Path):
        self.env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{folder / 'wms.sqlite3'}",
            "WMS_VAR_DIR": str(folder),
            "SECRET_KEY": "test-sqlite",
            "CELERY_BROKER_URL": "memory://",
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "DJANGO_SETTINGS_MODULE": "wms.settings",
        }
        migrate = self.manage("migrate", "-v0")
        assert migrate.returncode == 0, migrate.stderr[-3000:]

    def _run(self, *args) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    def manage(self, *command) -> subprocess.CompletedProcess:
        return self._run("manage.py", *command)

    def script(self, source: str) -> list[str]:
        """Run ``source`` (it calls ``django.setup()`` itself); its output lines."""
        finished = self._run("-c", source)
        assert finished.returncode == 0, finished.stderr[-3000:]
        return finished.stdout.splitlines()
