"""Logged in as a non-root user with passwordless sudo, as `vagrant` on the boxes (and `ubuntu` on AWS).

The pool runs every command under `sudo -n` for such a user; these tests check that what root
gets holds there too: root's view, commands killed on timeout (sudo's `use_pty` puts them in a
session of their own), streams stopped, files written where only root may write, the kubeconfig
read with sudo."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from kanslab import CommandError
from kanslab.backends.ssh import SSHPool, read_ssh_config
from kanslab.backends.vagrant import VagrantBackend

from .servers import Cluster


@pytest.fixture(scope="module")
def as_user(tmp_path_factory, sudo_user):
    import pwd

    root = tmp_path_factory.mktemp("sudo-vms")
    c = Cluster(root, ["k8s-m", "k8s-w1"], user=sudo_user)
    # sshd reads authorized keys as the user, who cannot enter root's temp dir: the user's own
    # ~/.ssh/authorized_keys, as on a box
    pw = pwd.getpwnam(sudo_user)
    ssh_dir = Path(pw.pw_dir) / ".ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    (ssh_dir / "authorized_keys").write_text((root / "private_key.pub").read_text())
    for p in (ssh_dir, ssh_dir / "authorized_keys"):
        os.chown(p, pw.pw_uid, pw.pw_gid)
    for s in c.servers.values():
        s.config.write_text(s.config.read_text().replace("/authorized_keys\n", "/authorized_keys .ssh/authorized_keys\n"))
    with c:
        yield c


@pytest.fixture
def upool(as_user):
    with SSHPool(read_ssh_config(as_user.ssh_config)) as p:
        yield p


def _procs(text: str) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if text.encode() in Path(f"/proc/{d}/cmdline").read_bytes().replace(b"\0", b" "):
                    out.append(int(d))
            except OSError:
                pass
    return out


def _gone(text: str, timeout: float = 8) -> bool:
    deadline = time.monotonic() + timeout
    while _procs(text):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_the_login_is_the_user_and_commands_run_as_root(upool, sudo_user):
    assert upool.sh("k8s-m", "id -un", sudo=False) == f"{sudo_user}\n"
    assert upool.host("k8s-m").sudo  # not root: sudo by default
    assert upool.sh("k8s-m", "id -u; echo $HOME") == "0\n/root\n"
    with pytest.raises(CommandError) as ei:
        upool.sh("k8s-w1", "exit 6")
    assert ei.value.exit_status == 6


def test_a_timed_out_command_dies_under_sudo(upool):
    """Ignoring TERM, and one part in a session of its own: KILL still reaches every process."""
    t0 = time.monotonic()
    with pytest.raises(CommandError) as ei:
        upool.sh("k8s-m", "trap '' TERM INT HUP; setsid sleep 3101 & sleep 3102; wait", timeout=1)
    assert ei.value.exit_status == -1 and "timed out after 1 s" in ei.value.stderr
    assert time.monotonic() - t0 < 10
    assert _gone("sleep 3101") and _gone("sleep 3102"), "the timed-out command still runs"
    assert upool.sh("k8s-m", "echo usable") == "usable\n"


def test_a_stream_is_stopped_under_sudo(upool):
    p = upool.stream("k8s-w1", "trap '' INT TERM; echo up; exec sleep 3103")
    assert next(p.lines(timeout=10)) == "up" and _procs("sleep 3103")
    p.stop("INT", timeout=1)  # ignored: escalates to KILL
    assert not p.running and _gone("sleep 3103")


def test_files_where_only_root_may_write(upool, tmp_path):
    d = tmp_path / "root-only"
    d.mkdir(mode=0o700)  # the user cannot write here over SFTP: the pool falls back to sudo
    data = os.urandom(50_000)
    upool.upload("k8s-m", data, str(d / "f.bin"), mode=0o600)
    assert (d / "f.bin").read_bytes() == data and (d / "f.bin").stat().st_uid == 0
    assert upool.download("k8s-m", str(d / "f.bin"), tmp_path / "back.bin").read_bytes() == data


def test_the_vagrant_backend_reads_the_root_only_kubeconfig_with_sudo(as_user, tmp_path):
    kc = tmp_path / "etc-kubernetes"
    kc.mkdir(mode=0o700)
    (kc / "admin.conf").write_text("apiVersion: v1\nkind: Config\nclusters:\n- name: k\n  cluster: {server: x}\n")
    b = VagrantBackend(ssh_config=as_user.ssh_config, kubeconfig_path=str(kc / "admin.conf"))
    try:
        assert b.kube.kubeconfig()["clusters"][0]["name"] == "k"
    finally:
        b.close()
