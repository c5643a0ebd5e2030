"""End to end: the vagrant backend pointed at the embedded lab's hosts over SSH.

The embedded lab exposes every host's sshd on a loopback port and writes
`/run/kanslab/<prefix>/ssh_config` in `vagrant ssh-config`'s format, so
`kanslab.connect("vagrant", ssh_config=...)` drives it exactly as it drives the Vagrant VMs:
paramiko connections, kubectl/calicoctl on k8s-m, tcpdump on the router, `kubectl exec` into pods.
The last test runs chapter 01's notebook on that backend: every check cell must hold."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import kanslab
from kanslab import parse

pytestmark = pytest.mark.lab
CHAPTER_01 = Path(__file__).resolve().parents[2] / "notebooks" / "01-modes.ipynb"


@pytest.fixture(scope="module")
def embedded():
    """An embedded lab of this module's own (chapter 01 changes the pool; other lab tests share theirs)."""
    if os.geteuid() != 0:
        pytest.skip("the embedded lab needs root (network namespaces)")
    lab = kanslab.connect("local", prefix=f"kv{os.getpid() % 10000}")
    try:
        lab.up(progress=False)
        yield lab
    finally:
        lab.down()


@pytest.fixture(scope="module")
def ssh_config(embedded) -> Path:
    cfg = embedded.backend.names.dir / "ssh_config"
    assert cfg.exists(), "the embedded lab wrote no ssh_config"
    return cfg


@pytest.fixture
def vlab(ssh_config):
    lab = kanslab.connect("vagrant", ssh_config=ssh_config)
    try:
        yield lab
    finally:
        lab.backend.close()


def test_hosts_from_the_labs_ssh_config(vlab, embedded):
    assert vlab.hosts == embedded.hosts
    assert vlab.topology.control_plane == "k8s-m"
    st = vlab.status()
    assert st["running"].all()
    addrs = dict(zip(st.host, st.addresses, strict=True))
    assert "192.168.10.101/24" in addrs["k8s-w1"] and "192.168.20.254/24" in addrs["router"]


def test_calicoctl_node_status_parses(vlab):
    df = parse.calico_node_status(vlab.calicoctl("node status"))
    v4 = df[df.ip_version == 4]
    assert set(v4.peer_address) == {"192.168.10.101", "192.168.10.102", "192.168.20.100"}
    assert set(v4["info"]) == {"Established"}


def test_route_n_on_k8s_w1_has_tunl0_routes(vlab):
    routes = parse.route_n(vlab.sh("k8s-w1", "route -n"))
    tun = routes[routes.iface == "tunl0"]
    assert sorted(tun.gateway) == ["192.168.10.10", "192.168.10.102", "192.168.20.100"]


def test_fan_out_over_every_host(vlab, embedded):
    out = vlab.backend.sh_all("ip -br -4 addr show enp0s8")
    assert set(out) == set(embedded.hosts)
    assert "192.168.20.100/24" in out["k8s-w0"] and "192.168.10.10/24" in out["k8s-m"]


def test_pods_exec_and_a_capture_on_the_router(vlab):
    manifest = Path(__file__).resolve().parents[2] / "vagrant" / "manifests" / "pod3-traefik.yaml"
    vlab.apply(manifest.read_text())
    try:
        pods = vlab.pods().set_index("name")
        assert pods.loc["webpod3", "node"] == "k8s-w0" and pods.loc["webpod1", "phase"] == "Running"
        ip1 = vlab.pod_ip("webpod1")
        assert "Hostname: webpod1" in vlab.exec("webpod3", f"curl -s --max-time 3 http://{ip1}/")
        with vlab.capture("router", bpf="ip proto 4", count=50, seconds=20) as cap:
            vlab.exec("webpod3", f"ping -c 2 -W 2 {ip1}")
        pk = cap.packets
        assert set(pk.encap) == {"ipip"} and len(pk) >= 4
        assert set(pk.outer_src) | set(pk.outer_dst) == {"192.168.10.101", "192.168.20.100"}
        assert cap.path.exists() and not Path(cap.remote_path).exists()
        nodes = vlab.backend.nodes()
        assert set(nodes.name) == {"k8s-m", "k8s-w1", "k8s-w2", "k8s-w0"} and nodes.ready.all()
    finally:
        vlab.delete(manifest.read_text())


def test_reachability_probes_from_the_client_pods_namespace(vlab, embedded):
    """The vagrant backend probes from each client pod's namespace on its node (the pods have no
    shell): its matrix is the embedded lab's own, before and after a policy, TCP and UDP."""
    pods = {"echo1": "k8s-w1", "echo2": "k8s-w2", "echo3": "k8s-w0"}
    manifest = "---\n".join(
        f"apiVersion: v1\nkind: Pod\nmetadata: {{name: {p}, labels: {{app: echo}}}}\nspec:\n  nodeName: {n}\n"
        "  containers: [{name: c, image: registry.k8s.io/e2e-test-images/agnhost:2.47, "
        "ports: [{containerPort: 80}, {containerPort: 81, protocol: UDP}]}]\n" for p, n in pods.items())
    only_echo_in = ("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: only-echo-in}\n"
                    "spec:\n  podSelector: {matchExpressions: [{key: app, operator: Exists}]}\n"
                    "  ingress: [{from: [{podSelector: {matchLabels: {app: echo}}}]}]\n")
    vlab.apply(manifest)
    try:
        assert vlab.reachability(pods=list(pods)).values.all()
        assert vlab.reachability(pods=list(pods), port=81, protocol="UDP").values.all()
        vlab.kubectl("label pod echo1 app=lonely --overwrite")  # still selected, no longer an allowed peer
        vlab.apply(only_echo_in)
        for port, proto in ((80, "TCP"), (81, "UDP")):
            remote = vlab.reachability(pods=list(pods), port=port, protocol=proto)
            local = embedded.reachability(pods=list(pods), port=port, protocol=proto)
            assert remote.equals(local), f"{proto}: vagrant backend\n{remote}\nembedded\n{local}"
            assert not remote.loc["default/echo1", "default/echo2"] and not remote.loc["default/echo1", "default/echo3"]
            assert remote.loc["default/echo2", "default/echo1"] and remote.loc["default/echo3", "default/echo2"]
    finally:
        vlab.kubectl("delete networkpolicy only-echo-in --ignore-not-found")
        vlab.delete(manifest)


@pytest.mark.parametrize("chapter", ["01-modes.ipynb", "03-policy.ipynb"])
def test_chapter_runs_on_the_vagrant_backend(chapter, ssh_config, monkeypatch):
    """The chapter, unchanged, with KANSLAB_BACKEND=vagrant: every check cell holds (01 switches
    modes and captures on the router; 03 measures reachability matrices from the pods)."""
    import nbformat
    from nbclient import NotebookClient

    path = CHAPTER_01.parent / chapter
    monkeypatch.setenv("KANSLAB_BACKEND", "vagrant")
    monkeypatch.setenv("KANSLAB_SSH_CONFIG", str(ssh_config))
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
                   ).execute()
    first = next(c for c in nb.cells if c.cell_type == "code")
    assert "kanslab.connect()" in first.source
    checks = [c for c in nb.cells if c.cell_type == "code" and "assert" in c.source]
    assert len(checks) >= 5
