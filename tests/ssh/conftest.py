"""Real OpenSSH servers on loopback for the SSH tests; every server is stopped, even when a test fails."""

from __future__ import annotations

import os
import pwd
import subprocess
from pathlib import Path

import pytest

from kanslab.backends.ssh import SSHPool, read_ssh_config

from .servers import SSHD, Cluster, why_not_runnable

SSHD_MISSING = f"{SSHD} is missing"

VMS = ["router", "k8s-m", "k8s-w1", "k8s-w2"]


def _need_sshd():
    reason = why_not_runnable()
    if reason and SSHD_MISSING in reason:  # `make test` installs openssh-server: a missing one is a failure
        pytest.fail(reason)
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Four sshd servers standing for the VMs (the router's host key is RSA, like older boxes)."""
    _need_sshd()
    with Cluster(tmp_path_factory.mktemp("vms"), VMS, {"router": "rsa"}) as c:
        yield c


@pytest.fixture
def pool(cluster):
    with SSHPool(read_ssh_config(cluster.ssh_config)) as p:
        yield p


@pytest.fixture
def lone(tmp_path):
    """One server of its own, for tests that kill and restart it."""
    _need_sshd()
    with Cluster(tmp_path, ["k8s-w1"]) as c:
        yield c


@pytest.fixture(autouse=True)
def kanslab_known_hosts(tmp_path, monkeypatch) -> Path:
    """kanslab's own known_hosts (trust on first use) in the test's temp dir, never the user's."""
    path = tmp_path / "kanslab-known_hosts"
    monkeypatch.setenv("KANSLAB_KNOWN_HOSTS", str(path))
    return path


@pytest.fixture(scope="session")
def sudo_user():
    """A non-root login with passwordless sudo, as `vagrant` is on the boxes; removed afterwards."""
    _need_sshd()
    if not os.path.exists("/usr/bin/sudo") or not os.path.exists("/usr/sbin/useradd"):
        pytest.fail("the SSH tests need sudo and useradd (scripts/install.sh --test installs sudo)")
    name = f"klssh{os.getpid() % 100000}"
    sudoers = Path(f"/etc/sudoers.d/kanslab-test-{name}")
    subprocess.run(["useradd", "-m", "-s", "/bin/bash", name], check=True, capture_output=True)
    try:
        # `*`: no password, but not locked (sshd without PAM refuses a locked account's keys too)
        subprocess.run(["usermod", "-p", "*", name], check=True, capture_output=True)
        # as Ubuntu's vagrant user; use_pty as Debian's and Ubuntu's sudoers set it for everyone
        sudoers.write_text(f"{name} ALL=(ALL) NOPASSWD:ALL\nDefaults:{name} use_pty\n")
        sudoers.chmod(0o440)
        subprocess.run(["visudo", "-cqf", str(sudoers)], check=True)
        yield name
    finally:
        sudoers.unlink(missing_ok=True)
        _kill_user_processes(pwd.getpwnam(name).pw_uid)
        subprocess.run(["userdel", "-r", "-f", name], capture_output=True)


def _kill_user_processes(uid: int) -> None:
    """Whatever the test user still runs (its sessions end with their servers; this is the backstop)."""
    import signal

    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if os.stat(f"/proc/{d}").st_uid == uid:
                    os.kill(int(d), signal.SIGKILL)
            except (OSError, ProcessLookupError):
                pass
