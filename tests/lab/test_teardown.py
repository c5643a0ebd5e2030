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
    assert not Path(f"/var/run/frr/{prefix}-router").exists()
    mounts = subprocess.run(["findmnt", "-rn", "-o", "TARGET"], capture_output=True, text=True).stdout
    assert [m for m in mounts.splitlines() if m.startswith(f"{state_dir(prefix)}/")] == []  # mount/UTS ns files


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


@pytest.mark.parametrize("stage", ["namespaces and wires", "mount and UTS namespaces", "FRR on the router", "Calico datastore",
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
        assert child.poll() == -signal.SIGTERM  # stopped (SIGTERM first) before teardown returned
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


DAEMONS = ("bird", "zebra", "bgpd", "staticd", "watchfrr", "prometheus")


def _start_time(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except OSError:
        return None


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def test_no_daemon_of_the_lab_runs_once_down_returns(root_before):
    """`down` waits for the lab's processes to exit: the moment it returns, not one routing daemon
    or Prometheus of the lab runs (a `kanslab up` right after, or a process count, sees none)."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    prefix = f"kw{os.getpid() % 10000}"
    lab = kanslab.connect("local", prefix=prefix)
    try:
        lab.up(progress=False)
        lab.prometheus()
        mine = {p: (_comm(p), _start_time(p)) for p in lab_processes(prefix)}
        daemons = {p: v for p, v in mine.items() if v[0] in DAEMONS}
        assert {c for c, _ in daemons.values()} == {"bird", "zebra", "bgpd", "staticd", "prometheus"}, mine
        assert sum(c == "bird" for c, _ in daemons.values()) == 4  # one per node
    finally:
        lab.down()
    still = [f"{comm} {p}" for p, (comm, start) in daemons.items() if _start_time(p) == start and _alive(p)]
    assert still == [], f"running after down returned: {still}"
    assert lab_processes(prefix) == []  # and none found by command line either
    assert_nothing_left(prefix)


def test_down_stops_with_sigterm_and_kills_what_ignores_it():
    """SIGTERM first (the daemons clean up on it); what ignores it gets SIGKILL once the grace second
    is over; either way it has exited when `down` returns."""
    from kanslab.backends.local.record import Record, teardown

    if os.geteuid() != 0:
        pytest.skip("needs root")
    prefix = f"kg{os.getpid() % 10000}"
    rec = Record(prefix)
    env = dict(os.environ) | rec.env_tag()
    polite = subprocess.Popen(["sleep", "600"], env=env, start_new_session=True)
    stubborn = subprocess.Popen(["bash", "-c", "trap '' TERM; echo ready; while :; do sleep 0.1; done"], env=env,
                                start_new_session=True, stdout=subprocess.PIPE, text=True)
    try:
        assert stubborn.stdout.readline().strip() == "ready"  # its trap is set
        for p in (polite, stubborn):
            rec.add_pid(p.pid, "test")
        log = teardown(prefix)
        assert polite.poll() == -signal.SIGTERM and stubborn.poll() == -signal.SIGKILL
        assert f"stopped test pid {stubborn.pid} (SIGKILL)" in log and f"stopped test pid {polite.pid}" in log
    finally:
        for p in (polite, stubborn):
            if p.poll() is None:
                p.kill()
                p.wait()
