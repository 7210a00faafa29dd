"""scripts/install-system-deps.sh against fake dpkg-query, id and apt-get (nothing installed)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "install-system-deps.sh"


def _fake_bin(tmp_path: Path, *, installed: bool, uid: int) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    status = "install ok installed" if installed else ""
    tools = {
        "dpkg-query": f"printf '{status}'",
        "id": f"echo {uid}",
        "apt-get": f'echo "apt-get $*" >> {tmp_path}/apt.log',
    }
    for name, body in tools.items():
        path = bin_dir / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)
    return bin_dir


def _run(tmp_path: Path, *, installed: bool, uid: int, ci: str) -> subprocess.CompletedProcess[str]:
    bin_dir = _fake_bin(tmp_path, installed=installed, uid=uid)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "CI": ci}
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True)


def test_nothing_to_do_when_installed(tmp_path: Path) -> None:
    done = _run(tmp_path, installed=True, uid=0, ci="")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert not (tmp_path / "apt.log").exists()


def test_root_installs_missing_packages_non_interactively(tmp_path: Path) -> None:
    done = _run(tmp_path, installed=False, uid=0, ci="")
    assert done.returncode == 0, done.stderr
    calls = (tmp_path / "apt.log").read_text().splitlines()
    assert calls[0].startswith("apt-get update")
    assert "install -y" in calls[1]
    assert calls[1].endswith("postgresql-15 postgresql-15-postgis-3 chromium redis-server")


@pytest.mark.parametrize(("ci", "code"), [("true", 1), ("", 0)])
def test_non_root_is_told_exactly_what_to_install(tmp_path: Path, ci: str, code: int) -> None:
    done = _run(tmp_path, installed=False, uid=1000, ci=ci)
    assert done.returncode == code
    assert (
        "apt-get install -y --no-install-recommends postgresql-15 postgresql-15-postgis-3 chromium "
        "redis-server" in done.stderr
    )
    assert not (tmp_path / "apt.log").exists()
