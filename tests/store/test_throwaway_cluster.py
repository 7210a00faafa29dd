import shutil
import subprocess
import sys
import time

import psycopg
import pytest

from store.throwaway import Cluster

pytestmark = pytest.mark.postgis


def test_cluster_serves_postgis(postgis_url: str) -> None:
    conninfo = postgis_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo) as conn:
        version = conn.execute("SELECT postgis_lib_version()").fetchone()
        user = conn.execute("SELECT current_user").fetchone()
    assert version is not None and version[0].startswith("3.")
    assert user == ("postgres",)


def test_a_killed_test_run_takes_its_cluster_with_it(postgis_cluster: Cluster) -> None:
    # postgis_cluster only proves the binaries exist; the child below starts its own cluster.
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    with child.stdout:
        port_text, directory = child.stdout.readline().split()
    port = int(port_text)
    with psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=postgres"):
        pass
    child.kill()  # SIGKILL: no teardown runs in the child
    child.wait()
    shutil.rmtree(directory, ignore_errors=True)  # the one thing the child could not clean
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            psycopg.connect(
                f"host=127.0.0.1 port={port} user=postgres dbname=postgres", connect_timeout=1
            ).close()
        except psycopg.OperationalError:
            return
        time.sleep(0.1)
    pytest.fail(f"the cluster on port {port} outlived the process that started it")


CHILD = """
import time
from store.throwaway import throwaway_cluster
with throwaway_cluster() as c:
    print(c.port, c.directory, flush=True)
    time.sleep(600)
"""
