"""Real OpenSSH servers on loopback for the SSH tests; every server is stopped, even when a test fails."""

from __future__ import annotations

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
    c = Cluster(tmp_path_factory.mktemp("vms"), VMS, {"router": "rsa"})
    try:
        c.start()
        yield c
    finally:
        c.stop()


@pytest.fixture
def pool(cluster):
    p = SSHPool(read_ssh_config(cluster.ssh_config))
    try:
        yield p
    finally:
        p.close()


@pytest.fixture
def lone(tmp_path):
    """One server of its own, for tests that kill and restart it."""
    _need_sshd()
    c = Cluster(tmp_path, ["k8s-w1"])
    try:
        c.start()
        yield c
    finally:
        c.stop()
