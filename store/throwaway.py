"""A throwaway PostgreSQL + PostGIS cluster started from the system binaries (tests, benchmarks)."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PG_MAJOR = "15"
DEFAULT_BINDIR = Path(f"/usr/lib/postgresql/{PG_MAJOR}/bin")
RUN_AS = "postgres"
"""The unprivileged system user the cluster runs as when the caller is root."""

INSTALL_HINT = (
    "PostgreSQL 15 + PostGIS 3 are needed: run scripts/install-system-deps.sh as root "
    "(apt-get install postgresql-15 postgresql-15-postgis-3)"
)


class ClusterUnavailable(RuntimeError):
    """The server binaries or the PostGIS extension are not installed."""


@dataclass(frozen=True)
class Cluster:
    """A running throwaway cluster: superuser ``postgres``, trust auth, loopback only."""

    port: int
    directory: Path

    def url(self, database: str = "postgres") -> str:
        """SQLAlchemy URL (psycopg 3 driver) of ``database`` on this cluster."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def conninfo(self, database: str = "postgres") -> str:
        """libpq connection string of ``database`` on this cluster."""
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={database}"


def find_bindir() -> Path:
    """The PostgreSQL server binaries: ``HEXDISPATCH_PG_BINDIR`` or the Debian location."""
    bindir = Path(os.environ.get("HEXDISPATCH_PG_BINDIR", DEFAULT_BINDIR))
    if not (bindir / "initdb").exists() or not (bindir / "pg_ctl").exists():
        raise ClusterUnavailable(f"no initdb/pg_ctl in {bindir}. {INSTALL_HINT}")
    sharedir = subprocess.run(
        [str(bindir / "pg_config"), "--sharedir"], check=True, capture_output=True, text=True
    ).stdout.strip()
    if not (Path(sharedir) / "extension" / "postgis.control").exists():
        raise ClusterUnavailable(f"PostGIS is not installed for {bindir}. {INSTALL_HINT}")
    return bindir


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ensure_user(name: str) -> pwd.struct_passwd:
    """The system user to run the server as, created (``useradd --system``) when missing."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(name)


def _run(cmd: list[str], *, as_user: str | None) -> None:
    # PostgreSQL refuses to run as root: drop to an unprivileged user for every server binary.
    full = ["runuser", "-u", as_user, "--", *cmd] if as_user else cmd
    proc = subprocess.run(full, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}")


@contextlib.contextmanager
def throwaway_cluster(*, durable: bool = False) -> Iterator[Cluster]:
    """Start a cluster in a temporary directory; stop and remove it on exit.

    Parameters
    ----------
    durable
        Keep fsync and synchronous commit on (benchmarks). Tests turn them off: the cluster is
        thrown away anyway.

    Raises
    ------
    ClusterUnavailable
        When the server binaries or PostGIS are missing.
    """
    bindir = find_bindir()
    as_user = None
    if os.geteuid() == 0:
        user = _ensure_user(RUN_AS)
        as_user = user.pw_name
    directory = Path(tempfile.mkdtemp(prefix="hexdispatch-pg-"))
    if as_user:
        os.chown(directory, user.pw_uid, user.pw_gid)
    directory.chmod(0o700)
    data = directory / "data"
    port = _free_port()
    settings = {
        "listen_addresses": "127.0.0.1",
        "unix_socket_directories": str(directory),
        "max_connections": "50",
        "shared_buffers": "128MB",
    }
    if not durable:
        settings |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
    server: subprocess.Popen[bytes] | None = None
    try:
        initdb = [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"]
        _run([*initdb, "-E", "UTF8", "--locale=C", "--no-sync"], as_user=as_user)
        # The server runs as our child with a parent-death signal (not daemonized by pg_ctl):
        # a test run that is killed takes its cluster with it instead of leaving an orphan.
        priv = ["setpriv", "--pdeathsig", "QUIT"]
        if as_user:
            priv += ["--reuid", as_user, "--regid", str(user.pw_gid), "--init-groups"]
        cmd = [*priv, "--", str(bindir / "postgres"), "-D", str(data), "-p", str(port)]
        for key, value in settings.items():
            cmd += ["-c", f"{key}={value}"]
        with open(directory / "server.log", "wb") as log:
            server = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        cluster = Cluster(port=port, directory=directory)
        _wait_ready(cluster, server, timeout_s=60.0)
        yield cluster
    finally:
        if server is not None:
            server.send_signal(signal.SIGINT)  # fast shutdown
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        shutil.rmtree(directory, ignore_errors=True)


def _wait_ready(cluster: Cluster, server: subprocess.Popen[bytes], timeout_s: float) -> None:
    import psycopg

    deadline = time.monotonic() + timeout_s
    while True:
        if server.poll() is not None:
            log = (cluster.directory / "server.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"postgres exited with {server.returncode}; server log:\n{log}")
        try:
            with psycopg.connect(cluster.conninfo(), connect_timeout=2):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def create_postgis_database(cluster: Cluster, name: str) -> str:
    """Create database ``name`` with the PostGIS extension; return its SQLAlchemy URL."""
    import psycopg

    with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(cluster.conninfo(name), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    return cluster.url(name)
