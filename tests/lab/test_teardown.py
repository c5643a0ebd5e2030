"""`down` works from the record after any lab process is killed; two labs coexist."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

import kanslab
from kanslab.backends.local.record import state_dir

pytestmark = pytest.mark.lab


def lab_processes(prefix: str) -> list[int]:
    """Pids of processes inside any of the lab's recorded namespaces, or naming its state dir."""
    out = []
    sd = str(state_dir(prefix))
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            stat = (d / "stat").read_text()
        except OSError:
            continue
        if ") Z" in stat:
            continue
        if sd in cmd or f"--prefix {prefix}" in cmd or f"-N {prefix}-router" in cmd:
            out.append(int(d.name))
    return out


def assert_nothing_left(prefix: str):
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not [ln for ln in netns.splitlines() if ln.startswith(prefix + "-")]
    assert lab_processes(prefix) == []
    assert not state_dir(prefix).exists()
    assert not Path(f"/etc/frr/{prefix}-router").exists()


@pytest.mark.parametrize("victim", ["agent", "bird", "bgpd"])
def test_down_after_sigkill(victim, root_before):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    prefix = f"kd{os.getpid() % 1000}{victim[:2]}"
    lab = kanslab.connect("local", prefix=prefix)
    try:
        lab.up(progress=False)
        pids = [p for p in lab_processes(prefix)
                if victim in Path(f"/proc/{p}/cmdline").read_bytes().decode(errors="replace")]
        assert pids, f"no {victim} process found"
        for p in pids:
            os.kill(p, signal.SIGKILL)
    finally:
        lab.down()
    assert_nothing_left(prefix)
    from tests.lab.conftest import root_ns_snapshot

    assert root_ns_snapshot() == root_before


def test_two_labs_coexist(lab):
    other = kanslab.connect("local", prefix=f"ko{os.getpid() % 1000}")
    try:
        other.up(progress=False)
        assert "Established" in other.calicoctl("node status")
        assert "Established" in lab.calicoctl("node status")
    finally:
        other.down()
    assert_nothing_left(other.backend.prefix)
