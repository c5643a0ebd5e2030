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


def _alive(pid: int) -> bool:
    """Running and not a zombie; False also when it exits while we look (the agent runs short-lived helpers)."""
    try:
        return ") Z" not in Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False


def lab_processes(prefix: str) -> list[int]:
    """Pids of live processes inside any of the lab's recorded namespaces, or naming its state dir."""
    from kanslab.backends.local.record import Record, _ns_inode, _pids_in_netns

    inodes = {i for i in (_ns_inode(n) for n in Record(prefix).netns()) if i is not None}
    out = [p for p in _pids_in_netns(inodes) if _alive(p)]
    sd = str(state_dir(prefix))
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) in out:
            continue
        cmd = cmdline(int(d.name))
        if (sd in cmd or f"--prefix {prefix}" in cmd or f"-N {prefix}-router" in cmd) and _alive(int(d.name)):
            out.append(int(d.name))
    return out


def cmdline(pid: int) -> str:
    """A process's command line, or "" when it has already exited (the agent runs short-lived helpers)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


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
        pids = [p for p in lab_processes(prefix) if victim in cmdline(p)]
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


@pytest.mark.parametrize("stage", ["namespaces and wires", "FRR on the router", "Calico datastore",
                                   "calico-node on every node", "waiting for the BGP mesh"])
def test_down_after_up_itself_is_killed(stage, root_before):
    """SIGKILL `kanslab up` as it reaches each stage; `kanslab down` still leaves nothing."""
    import sys

    if os.geteuid() != 0:
        pytest.skip("needs root")
    prefix = f"ku{os.getpid() % 1000}{len(stage) % 100}"
    p = subprocess.Popen([sys.executable, "-m", "kanslab.cli", "--prefix", prefix, "up"],
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        for line in p.stderr:
            if stage in line:
                os.killpg(p.pid, signal.SIGKILL)
                break
        p.wait(timeout=30)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        down = subprocess.run([sys.executable, "-m", "kanslab.cli", "--prefix", prefix, "down"],
                              capture_output=True, text=True, timeout=60)
    assert down.returncode == 0, down.stderr
    assert_nothing_left(prefix)
    from tests.lab.conftest import root_ns_snapshot

    assert root_ns_snapshot() == root_before


def test_down_kills_a_process_spawned_but_never_recorded():
    """The window between fork and recording the pid: a crash there must not leave the process behind."""
    from kanslab.backends.local.record import Record, teardown

    if os.geteuid() != 0:
        pytest.skip("needs root")
    prefix = f"kr{os.getpid() % 10000}"
    rec = Record(prefix)
    env = dict(os.environ) | rec.env_tag()  # what `up` does before it spawns the agent
    child = subprocess.Popen(["sleep", "600"], env=env, start_new_session=True)
    try:
        teardown(prefix)  # the pid itself was never recorded
        assert child.wait(timeout=5) == -signal.SIGKILL
        assert not state_dir(prefix).exists()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_a_hundred_pods_cost_no_processes(lab):
    """Pods are namespaces and sockets served by the agent, not a process each."""
    before = len(lab_processes(lab.backend.prefix))
    pods = "\n---\n".join(
        f"apiVersion: v1\nkind: Pod\nmetadata: {{name: cheap{i}}}\n"
        f"spec: {{nodeName: k8s-w{1 + i % 2}, containers: [{{name: c, image: x}}]}}\n" for i in range(100))
    lab.apply(pods)
    try:
        assert len(lab_processes(lab.backend.prefix)) <= before
        ip = lab.pod_ip("cheap99")
        assert "Hostname: cheap99" in lab.exec("cheap0", f"curl -s --max-time 3 http://{ip}/")
    finally:
        lab.delete(pods)
