"""A throwaway redis-server on a free loopback port (tests, benchmarks): no persistence."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

INSTALL_HINT = "redis-server is needed: run scripts/install-system-deps.sh as root"


class RedisUnavailable(RuntimeError):
    """The redis-server binary is not installed."""


@dataclass(frozen=True)
class RedisServer:
    """A running throwaway server, loopback only."""

    port: int
    directory: Path

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def throwaway_redis() -> Iterator[RedisServer]:
    """Start redis-server in a temporary directory (no RDB, no AOF); stop and remove it on exit.

    Raises
    ------
    RedisUnavailable
        When ``redis-server`` is not on the PATH.
    """
    binary = shutil.which("redis-server")
    if binary is None:
        raise RedisUnavailable(f"no redis-server on the PATH. {INSTALL_HINT}")
    directory = Path(tempfile.mkdtemp(prefix="hexdispatch-redis-"))
    port = _free_port()
    # A parent-death signal: a killed test run takes its server with it.
    cmd = ["setpriv", "--pdeathsig", "TERM", "--", binary, "--port", str(port)]
    cmd += ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    cmd += ["--dir", str(directory), "--daemonize", "no", "--loglevel", "warning"]
    server: subprocess.Popen[bytes] | None = None
    try:
        with open(directory / "server.log", "wb") as log:
            server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        _wait_ready(port, server, directory, timeout_s=20.0)
        yield RedisServer(port=port, directory=directory)
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        shutil.rmtree(directory, ignore_errors=True)


def _wait_ready(
    port: int, server: subprocess.Popen[bytes], directory: Path, timeout_s: float
) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if server.poll() is not None:
            log = (directory / "server.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"redis-server exited with {server.returncode}:\n{log}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1) as s:
            s.sendall(b"PING\r\n")
            if s.recv(16).startswith(b"+PONG"):
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"redis-server did not answer on port {port}")
        time.sleep(0.02)
