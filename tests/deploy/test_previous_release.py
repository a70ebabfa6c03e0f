"""The previous release's code serves the main flows on the new schema (rolling upgrade).

During a rolling upgrade the migrations run first, then the old pods keep
serving until replaced. This test checks out the previous release in a git
worktree (installed nowhere: the same .venv, PYTHONPATH at the worktree),
migrates a fresh database with THIS code, and runs the previous release's own
tests of order intake, planning and pick confirmation on that database.
The previous release is WMS_PREVIOUS_RELEASE (a tag or commit) or, by default,
the commit before the newest one that added a migration.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
MAIN_FLOW_TESTS = [
    "tests/outbound/test_intake_api.py",
    "tests/outbound/test_planning.py",
    "tests/tasking/test_confirm.py",
]

pytestmark = pytest.mark.slow


def _git(*args, cwd=ROOT) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout.strip()


def _previous_release() -> str:
    if shutil.which("git") is None:
        pytest.skip("git is not installed: no history to take the previous release from")
    try:
        _git("rev-parse", "--git-dir")
    except subprocess.CalledProcessError:
        pytest.skip("not a git checkout (e.g. an image build): no previous release to run")
    wanted = os.environ.get("WMS_PREVIOUS_RELEASE")
    if wanted:
        return _git("rev-parse", "--verify", f"{wanted}^{{commit}}")
    newest = _git("log", "-1", "--format=%H", "--diff-filter=A", "--", "*/migrations/0*.py")
    try:
        return _git("rev-parse", "--verify", f"{newest}^")
    except subprocess.CalledProcessError:
        pytest.skip("shallow clone: the commit before the newest migration is not fetched")


@pytest.fixture
def previous_release_worktree(tmp_path):
    commit = _previous_release()
    path = tmp_path / "previous"
    _git("worktree", "add", "--detach", str(path), commit)
    yield commit, path
    _git("worktree", "remove", "--force", str(path))


@pytest.fixture
def new_schema_database():
    """A database migrated by this release; yields the DATABASE_URL base pytest-django prefixes."""
    db = settings.DATABASES["default"]
    base = db["NAME"].removeprefix("test_") + "_prevrel"
    name = f"test_{base}"  # what the previous release's pytest-django will (re)use
    server = f"postgresql://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    env = {**os.environ, "DATABASE_URL": f"{server}/{name}", "SECRET_KEY": "x"}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=600,
    )
    yield f"{server}/{base}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_previous_release_main_flows_pass_on_the_new_schema(
    previous_release_worktree, new_schema_database
):
    """Intake, planning and pick confirmation tests of the previous release pass on this schema."""
    commit, worktree = previous_release_worktree
    env = {
        **os.environ,
        "PYTHONPATH": str(worktree),
        "DATABASE_URL": new_schema_database,
        "SECRET_KEY": "x",
    }
    where = subprocess.run(
        [sys.executable, "-c", "import wms; print(wms.__file__)"],
        cwd=worktree,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.startswith(str(worktree)), f"not the previous release's code: {where}"
    files = [name for name in MAIN_FLOW_TESTS if (worktree / name).exists()]
    assert files, f"{commit[:8]} has none of {MAIN_FLOW_TESTS}"
    # --reuse-db: pytest-django keeps the database this release migrated; the old
    # code's migrate finds nothing of its own to apply and ignores the newer ones.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--reuse-db",
            "-m",
            "not slow and not browser",
            *files,
        ],
        cwd=worktree,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    tail = "\n".join(result.stdout.splitlines()[-30:])
    assert result.returncode == 0, f"previous release {commit[:8]} on the new schema:\n{tail}"
    assert " passed" in tail
