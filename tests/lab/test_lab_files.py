"""Files live inside the lab: each host and pod has its own mount and UTS namespace with the files a
real node or pod has, and nothing of it reaches the machine's own /etc, /var or /root."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path

import pytest

import kanslab
from kanslab.backends.local.daemons import tools_missing
from kanslab.backends.local.labfiles import conflist
from kanslab.errors import CommandError

pytestmark = pytest.mark.lab

HOSTS = ("router", "k8s-m", "k8s-w1", "k8s-w2", "k8s-w0")


def _snapshot(top: str, depth: int) -> dict[str, tuple[int, int]]:
    """Every path under TOP (DEPTH levels down) with its size and mtime."""
    snap = {}
    for root, dirs, files in os.walk(top):
        if root.count("/") - top.count("/") >= depth:
            dirs[:] = []
        for name in dirs + files:
            p = os.path.join(root, name)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            snap[p] = (st.st_size, st.st_mtime_ns)
    return snap


MACHINE = {"/etc": ("overlay-etc/upper", 9), "/var/lib": ("overlay-var-lib/upper", 3), "/root": ("root", 3)}


def _mounts_of(prefix: str) -> list[str]:
    out = subprocess.run(["findmnt", "-rn", "-o", "TARGET"], capture_output=True, text=True).stdout
    return [ln for ln in out.splitlines() if f"/kanslab/{prefix}/" in ln + "/"]


@pytest.fixture(scope="module")
def flab():
    if os.geteuid() != 0:
        pytest.skip("lab tests need root (network namespaces)")
    if tools_missing():
        pytest.fail(f"lab tests need these packages: {tools_missing()}")
    prefix = f"kf{os.getpid() % 10000}"
    before = {top: _snapshot(top, depth) for top, (_, depth) in MACHINE.items()}
    lab = kanslab.connect("local", prefix=prefix)
    try:
        lab.up(progress=False)
        lab.prefix_, lab.before_ = prefix, before
        yield lab
    finally:
        lab.down()


def test_each_host_has_its_own_hostname(flab):
    for host in HOSTS:
        assert flab.sh(host, "hostname; cat /etc/hostname").split() == [host, host]
    assert "hostname router" in flab.sh("router", "vtysh -c 'show running-config'").splitlines()
    assert "192.168.20.100 k8s-w0" in flab.sh("k8s-m", "cat /etc/hosts").splitlines()  # KANS init_cfg.sh's
    assert "k8s-w0" in flab.sh("k8s-m", "ping -c 1 -W 2 k8s-w0")


def test_node_files_as_calico_writes_them(flab):
    text = flab.sh("k8s-w1", "cat /etc/cni/net.d/10-calico.conflist")
    assert text == conflist("k8s-w1")
    conf = json.loads(text)
    assert [p["type"] for p in conf["plugins"]] == ["calico", "portmap", "bandwidth"]
    assert conf["plugins"][0]["mtu"] == 0 and conf["plugins"][0]["nodename"] == "k8s-w1"
    assert conf["plugins"][0]["kubernetes"]["kubeconfig"] == "/etc/cni/net.d/calico-kubeconfig"
    assert flab.sh("k8s-w1", "stat -c %a /etc/cni/net.d/calico-kubeconfig").strip() == "600"
    assert flab.sh("k8s-w2", "cat /var/lib/calico/nodename") == "k8s-w2"
    assert flab.sh("k8s-w2", "cat /var/lib/calico/mtu") == "1480"  # the default pool is IPIP Always
    assert flab.sh("router", "test -e /etc/cni/net.d && echo yes || echo no").strip() == "no"  # no node


def test_manifests_on_the_control_plane_only(flab):
    names = flab.sh("k8s-m", "ls ~/manifests").split()
    assert {"node3-pod3.yaml", "pod3-traefik.yaml", "bgppeer-router.yaml", "felix-metrics-svc.yaml",
            "prometheus-pod.yaml", "prometheus-config.yaml"} <= set(names)
    assert "manifests" not in flab.sh("k8s-w1", "ls -A ~").split()


def test_no_internet_names_the_local_copy(flab):
    url = "https://raw.githubusercontent.com/gasida/NDKS/main/5/node3-pod3.yaml"
    with pytest.raises(CommandError) as e:
        flab.sh("k8s-m", f"cd /tmp && curl -s -O {url}")
    assert e.value.exit_status == 6
    assert "/root/manifests/node3-pod3.yaml" in e.value.stderr
    with pytest.raises(CommandError) as e:
        flab.sh("k8s-m", "kubectl apply -f https://raw.githubusercontent.com/gasida/KANS/main/kans3/pod3-traefik.yaml")
    assert "kubectl apply -f /root/manifests/pod3-traefik.yaml" in e.value.stderr
    assert "webpod1" not in flab.kubectl("get pod")


@pytest.fixture(scope="module")
def netshoot(flab):
    flab.sh("k8s-m", "kubectl apply -f ~/manifests/node3-pod3.yaml && "
                     "kubectl wait --for=condition=Ready pod/pod1 pod/pod2 pod/pod3 --timeout=60s")
    return flab.pod_ip("default/pod1")


def test_pod_files_as_kubelet_writes_them(flab, netshoot):
    ex = "kubectl exec pod1 -- "
    assert flab.sh("k8s-m", ex + "cat /etc/resolv.conf") == (
        "search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.200.1.10\n"
        "options ndots:5\n")
    hosts = flab.sh("k8s-m", ex + "cat /etc/hosts").splitlines()
    assert hosts[0] == "# Kubernetes-managed hosts file."
    assert hosts[-1] == f"{netshoot}\tpod1"
    assert flab.sh("k8s-m", ex + "cat /etc/hostname") == "pod1\n"
    sa = "/var/run/secrets/kubernetes.io/serviceaccount"
    assert flab.sh("k8s-m", ex + f"cat {sa}/namespace") == "default"
    pki = Path(f"/run/kanslab/{flab.prefix_}/pki")
    assert flab.sh("k8s-m", ex + f"cat {sa}/ca.crt") == (pki / "ca.crt").read_text()
    token = flab.sh("k8s-m", ex + f"cat {sa}/token")
    head, body, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    assert claims["sub"] == "system:serviceaccount:default:default"
    assert claims["kubernetes.io"]["pod"]["name"] == "pod1"
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    raw = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    pub = x509.load_pem_x509_certificate((pki / "apiserver.crt").read_bytes()).public_key()
    pub.verify(der, f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256()))  # raises when not the lab's


def test_netshoot_is_a_shell(flab, netshoot):
    assert flab.sh("k8s-m", "kubectl exec pod1 -- zsh -c 'hostname; echo $ZSH_VERSION'").split()[0] == "pod1"
    assert netshoot in flab.sh("k8s-m", "kubectl exec pod1 -- ip -br addr show eth0")
    assert flab.sh("k8s-m", "kubectl exec pod1 -- bash -c 'echo $HOSTNAME'").strip() == "pod1"
    with pytest.raises(CommandError) as e:
        flab.sh("k8s-m", "kubectl exec pod1 -- no-such-program")
    assert e.value.exit_status == 126 and "executable file not found in $PATH" in e.value.stderr


def test_interactive_zsh_in_a_pod_from_a_node_shell(flab, netshoot):
    """`kubectl exec -it pod1 -- zsh` typed in `kanslab ssh k8s-m`, on a terminal (script(1) gives one)."""
    import shlex
    import sys

    cli = f"{shlex.quote(sys.executable)} -m kanslab.cli --prefix {flab.prefix_} ssh k8s-m 'kubectl exec -it pod1 -- zsh'"
    p = subprocess.run(["script", "-qec", cli, "/dev/null"], input="hostname\nexit\n", capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "pod1" in [ln.strip() for ln in p.stdout.splitlines()]


def test_machine_untouched_and_teardown_leaves_no_mounts(flab):
    prefix = flab.prefix_
    for p in ("/etc/cni", "/var/lib/calico", "/root/manifests", f"/etc/frr/{prefix}-router",
              f"/var/run/frr/{prefix}-router"):
        assert not os.path.exists(p), p
    assert _mounts_of(prefix), "the lab's namespace files are mounted while it is up"
    # what the lab wrote into its hosts' and pods' /etc, /var/lib and /root (the machine is shared: other
    # programs may change other paths meanwhile)
    written = {top: set() for top in MACHINE}
    for d in Path(f"/run/kanslab/{prefix}/files").iterdir():
        for top, (sub, _) in MACHINE.items():
            written[top] |= {os.path.join(top, os.path.relpath(os.path.join(r, n), d / sub))
                             for r, ds, fs in os.walk(d / sub) for n in ds + fs}
    assert {"/etc/hostname", "/etc/resolv.conf", "/etc/hosts", "/etc/cni/net.d", "/root/manifests",
            "/root/.history_frr"} <= set.union(*written.values())
    flab.down()
    assert _mounts_of(prefix) == []
    assert not Path(f"/run/kanslab/{prefix}").exists()
    for top, (_, depth) in MACHINE.items():
        after = _snapshot(top, depth)
        # vtysh's history: the lab's own is in the router's /root (asserted above); labs of older code
        # running on this shared machine meanwhile still write the machine's
        changed = {p for p in written[top] - {"/root/.history_frr"} if flab.before_[top].get(p) != after.get(p)}
        assert changed == set(), f"the lab changed the machine's {sorted(changed)}"
