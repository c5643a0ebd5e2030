"""A real embedded lab for the lab tests: built once per session, always torn down."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

import kanslab
from kanslab.backends.local.daemons import tools_missing


def root_ns_snapshot() -> dict[str, str]:
    """What a user would see of the host's own network: links, addresses, routes, netns-free."""
    def out(*cmd):
        return subprocess.run(cmd, capture_output=True, text=True).stdout

    links = "\n".join(sorted(ln.split(":")[1].strip() for ln in out("ip", "-o", "link").splitlines()))
    return {"links": links, "addrs": out("ip", "-o", "addr"), "routes": out("ip", "route", "show", "table", "all")}


def _need_root():
    if os.geteuid() != 0:
        pytest.skip("lab tests need root (network namespaces)")
    missing = tools_missing()
    if missing:
        pytest.fail(f"lab tests need these packages: {missing}; .ci/run installs them")


@pytest.fixture(scope="session")
def root_before():
    return root_ns_snapshot()


@pytest.fixture(scope="session")
def lab(root_before):
    _need_root()
    prefix = f"kt{os.getpid() % 10000}"
    lab = kanslab.connect("local", prefix=prefix)
    try:
        lab.up(progress=False)
        yield lab
    finally:
        lab.down()


@pytest.fixture(scope="session")
def web_pods(lab):
    """The course's pod3-traefik manifest: one whoami pod on each of w1, w2 and w0."""
    docs = []
    for i, node in ((1, "k8s-w1"), (2, "k8s-w2"), (3, "k8s-w0")):
        docs.append(f"""apiVersion: v1
kind: Pod
metadata:
  name: webpod{i}
  labels: {{app: webpod}}
spec:
  nodeName: {node}
  containers:
  - name: container
    image: traefik/whoami
  terminationGracePeriodSeconds: 0
""")
    lab.apply("---\n".join(docs))
    return {f"webpod{i}": lab.pod_ip(f"default/webpod{i}") for i in (1, 2, 3)}


@pytest.fixture(scope="session")
def kubeconfig(lab):
    """The kubeconfig `up` wrote, for the real kubectl (/usr/bin/kubectl dispatches to the server's 1.30)."""
    path = lab.backend.names.dir / "kubeconfig"
    assert path.exists()
    if shutil.which("kubectl") is None:
        pytest.skip("no kubectl on this machine")
    return str(path)


def real_kubectl(kubeconfig, *args, input=None, check=True, timeout=90) -> subprocess.CompletedProcess:
    p = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, *args], capture_output=True, text=True,
                       input=input, timeout=timeout)
    if check:
        assert p.returncode == 0, p.stderr
    return p
