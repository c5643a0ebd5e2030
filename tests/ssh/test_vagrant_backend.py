"""`kanslab.connect("vagrant", ...)` against real sshd servers standing for the VMs.

k8s-m here is this machine reached over SSH, so it has no real kubectl: a small stand-in script
on k8s-m's PATH answers the few kubectl calls these tests make (`exec`, `apply -f -`, `get -o json`)
the way kubectl does. The end-to-end run with the lab's own kubectl/calicoctl is
tests/lab/test_vagrant_backend_on_embedded.py."""

from __future__ import annotations

import base64
import http.server
import json
import os
import ssl
import textwrap
import threading
from pathlib import Path

import pytest

import kanslab
from kanslab import CommandError, InvalidInput, LabError
from kanslab.backends.vagrant import VagrantBackend

from .conftest import _need_sshd
from .servers import Cluster

KUBECTL = textwrap.dedent("""\
    #!/bin/sh
    # stands in for kubectl on the test k8s-m (see the module docstring)
    case "$1" in
      exec) shift; while [ "$1" != "--" ]; do printf "%s\\n" "$1" >> "$STUB_DIR/exec-args"; shift; done; shift; exec "$@" ;;
      apply) cat > "$STUB_DIR/applied.yaml"; echo "pod/webpod1 created"; exit 0 ;;
      get) f="$STUB_DIR/$2.json"; [ -e "$f" ] && exec cat "$f"; echo "error: the server doesn't have a resource type \\"$2\\"" >&2; exit 1 ;;
    esac
    echo "error: unknown command \\"$1\\" for \\"kubectl\\"" >&2; exit 1
    """)

PODS = {"apiVersion": "v1", "kind": "List", "items": [
    {"metadata": {"name": "webpod1", "namespace": "default", "labels": {"app": "webpod"}},
     "spec": {"nodeName": "k8s-w1"}, "status": {"phase": "Running", "podIP": "172.16.158.2"}}]}
NODES = {"apiVersion": "v1", "kind": "List", "items": [
    {"metadata": {"name": "k8s-m", "labels": {"node-role.kubernetes.io/control-plane": ""}},
     "spec": {"podCIDR": "172.16.0.0/24"},
     "status": {"addresses": [{"type": "InternalIP", "address": "192.168.10.10"}],
                "conditions": [{"type": "Ready", "status": "True"}], "nodeInfo": {"kubeletVersion": "v1.30.5"}}}]}


@pytest.fixture(scope="module")
def vms(tmp_path_factory):
    _need_sshd()
    root = tmp_path_factory.mktemp("vagrant")
    stub = root / "stub"
    (stub / "bin").mkdir(parents=True)
    (stub / "bin" / "kubectl").write_text(KUBECTL)
    os.chmod(stub / "bin" / "kubectl", 0o755)
    (stub / "pods.json").write_text(json.dumps(PODS))
    (stub / "nodes.json").write_text(json.dumps(NODES))
    (stub / "networkpolicies.json").write_text(json.dumps({"items": []}))
    env = {"k8s-m": {"PATH": f"{stub / 'bin'}:/usr/sbin:/usr/bin:/sbin:/bin", "STUB_DIR": str(stub)}}
    c = Cluster(root, ["router", "k8s-m", "k8s-w1", "k8s-w2"], env=env)
    c.stub = stub
    try:
        c.start()
        yield c
    finally:
        c.stop()


@pytest.fixture
def lab(vms):
    lab = kanslab.connect("vagrant", ssh_config=vms.ssh_config)
    try:
        yield lab
    finally:
        lab.backend.close()


def test_hosts_topology_and_status(lab):
    assert lab.hosts == ["router", "k8s-m", "k8s-w1", "k8s-w2"]  # the topology's order; no k8s-w0 VM here
    assert [n.name for n in lab.topology.nodes] == ["k8s-m", "k8s-w1", "k8s-w2"]
    assert lab.backend.control_plane == "k8s-m"
    st = lab.status()
    assert list(st["host"]) == lab.hosts and st["running"].all()
    assert set(st["role"]) == {"router", "control-plane", "worker"}


def test_sh_and_fan_out_through_the_facade(lab, vms):
    assert lab.sh("k8s-w1", "echo $SSH_CONNECTION").split()[3] == str(vms["k8s-w1"].port)
    out = lab.backend.sh_all("echo $SSH_CONNECTION")
    assert {h: v.split()[3] for h, v in out.items()} == {h: str(s.port) for h, s in vms.servers.items()}
    with pytest.raises(CommandError) as ei:
        lab.sh("router", "exit 3")
    assert (ei.value.host, ei.value.exit_status) == ("router", 3)


def test_kubectl_and_apply_run_on_the_control_plane(lab, vms):
    out = lab.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "webpod1"},
                     "spec": {"nodeName": "k8s-w1", "containers": [{"name": "c", "image": "traefik/whoami"}]}})
    assert out == "pod/webpod1 created\n"
    assert "name: webpod1" in (vms.stub / "applied.yaml").read_text()
    pods = lab.pods()
    assert pods.loc[0, "name"] == "webpod1" and pods.loc[0, "ip"] == "172.16.158.2"


def test_exec_pod_uses_kubectl_exec(lab, vms):
    (vms.stub / "exec-args").unlink(missing_ok=True)
    assert lab.exec("webpod1", "echo hello from the pod") == "hello from the pod\n"
    assert (vms.stub / "exec-args").read_text().split() == ["-n", "default", "webpod1"]
    # shell syntax goes through sh -c; plain argv does not need a shell in the image
    assert lab.exec("kube-system/x", "echo a | tr a b") == "b\n"
    with pytest.raises(CommandError) as ei:
        lab.exec("default/webpod1", "sh -c 'exit 4'")
    assert ei.value.host == "default/webpod1" and ei.value.exit_status == 4


def test_dataframes_from_kubectl_json(lab):
    nodes = lab.backend.nodes()
    assert nodes.to_dict("records") == [{"name": "k8s-m", "internal_ip": "192.168.10.10", "pod_cidr": "172.16.0.0/24",
                                         "ready": True, "roles": "control-plane", "kubelet_version": "v1.30.5"}]
    assert lab.backend.policies().empty and lab.backend.kube.source == "kubectl"


def test_capture_runs_tcpdump_on_the_host_and_downloads_the_pcap(lab, vms):
    port = vms["k8s-w1"].port
    with lab.capture("router", bpf=f"tcp port {port}", iface="lo", count=200, seconds=30) as cap:
        for _ in range(3):
            lab.sh("k8s-w1", "true")
    assert cap.path.exists() and cap.path.stat().st_size > 24
    pk = cap.packets
    assert len(pk) > 0
    assert not Path(cap.remote_path).exists()  # removed from the host afterwards
    assert str(port) in " ".join(map(str, pk.iloc[0].tolist()))
    cap.path.unlink()


def test_capture_that_cannot_start_says_why(lab):
    with pytest.raises(LabError, match="tcpdump on router did not start"):
        with lab.capture("router", iface="nonexistent0"):
            pass


def test_vagrant_dir_runs_vagrant_ssh_config(vms, tmp_path, monkeypatch):
    """connect("vagrant", vagrant_dir=...) runs `vagrant ssh-config` there (a stand-in vagrant on PATH)."""
    (tmp_path / "Vagrantfile").write_text("# the course's Vagrantfile\n")
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "vagrant").write_text(f"#!/bin/sh\n[ \"$1\" = ssh-config ] && [ -e Vagrantfile ] && exec cat {vms.ssh_config}\n"
                                  "exit 1\n")
    os.chmod(fake / "vagrant", 0o755)
    monkeypatch.setenv("PATH", f"{fake}:{os.environ['PATH']}")
    lab = kanslab.connect("vagrant", vagrant_dir=tmp_path)
    try:
        assert lab.hosts == ["router", "k8s-m", "k8s-w1", "k8s-w2"]
        assert lab.sh("k8s-w2", "echo up") == "up\n"
    finally:
        lab.backend.close()
    (fake / "vagrant").write_text("#!/bin/sh\necho 'The machine is not running' >&2\nexit 1\n")
    with pytest.raises(LabError, match="names no running machine"):
        _ = kanslab.connect("vagrant", vagrant_dir=tmp_path).hosts


def test_hosts_yaml_any_cluster(vms, tmp_path):
    hosts = {n: {"host": "127.0.0.1", "port": s.port, "role": "worker"} for n, s in vms.servers.items()}
    hosts["k8s-m"]["role"] = "control-plane"
    hosts["router"]["role"] = "router"
    y = tmp_path / "hosts.yaml"
    y.write_text(json.dumps({"defaults": {"user": "root", "identity_file": str(vms.client_key)}, "hosts": hosts}))
    lab = kanslab.connect("vagrant", hosts_yaml=y)
    try:
        assert lab.backend.control_plane == "k8s-m"
        assert lab.kubectl("get nodes -o json").startswith("{")
        assert lab.sh("router", "echo r") == "r\n"
    finally:
        lab.backend.close()
    # with a known_hosts file the keys must be in it
    kh = tmp_path / "known_hosts"
    kh.write_text("")
    y.write_text(json.dumps({"defaults": {"user": "root", "identity_file": str(vms.client_key),
                                          "known_hosts": str(kh)}, "hosts": hosts}))
    lab = kanslab.connect("vagrant", hosts_yaml=y)
    with pytest.raises(LabError, match="unknown host key"):
        lab.sh("router", "true")


class _FakeAPI(http.server.BaseHTTPRequestHandler):
    """Answers the two requests the client makes, like an API server would (JSON bodies)."""

    def do_GET(self):  # noqa: N802
        body = {"/version": {"major": "1", "minor": "30", "gitVersion": "v1.30.5", "gitCommit": "74e84a9",
                             "gitTreeState": "clean", "buildDate": "2024-09-12T00:11:15Z", "goVersion": "go1.22.6",
                             "compiler": "gc", "platform": "linux/amd64"},
                "/api/v1/pods": {**PODS, "kind": "PodList", "metadata": {}}}.get(self.path.split("?")[0].rstrip("/"))
        data = json.dumps(body).encode()
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *a):
        pass


@pytest.fixture
def api_server(tmp_path):
    """An HTTPS server answering like the API server; `start(names)` presents a certificate for NAMES."""
    from .tls import TestCA

    ca = TestCA(tmp_path)
    servers = []

    def start(names: list[str]) -> int:
        cert, key = ca.server_files(names)
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeAPI)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return srv.server_port
    start.ca = ca
    try:
        yield start
    finally:
        for srv in servers:
            srv.shutdown()
            srv.server_close()


def _kubeconfig(path: Path, port: int, ca) -> dict:
    """kubeadm's admin.conf shape: the CA, a client certificate and its key; the server by IP."""
    cert, key = ca.issue("kubernetes-admin", [])
    b64 = lambda data: base64.b64encode(data).decode()  # noqa: E731
    cfg = {"apiVersion": "v1", "kind": "Config", "current-context": "kubernetes-admin@kubernetes",
           "clusters": [{"name": "kubernetes", "cluster": {"server": f"https://127.0.0.1:{port}",
                                                           "certificate-authority-data": b64(ca.pem)}}],
           "contexts": [{"name": "kubernetes-admin@kubernetes",
                         "context": {"cluster": "kubernetes", "user": "kubernetes-admin"}}],
           "users": [{"name": "kubernetes-admin",
                      "user": {"client-certificate-data": b64(cert), "client-key-data": b64(key)}}]}
    path.write_text(json.dumps(cfg))
    return cfg


def test_kubernetes_client_through_an_ssh_tunnel_checks_the_servers_name(vms, tmp_path, api_server):
    """pods() uses the kubernetes client with the kubeconfig fetched from k8s-m, through a tunnel via k8s-m.

    TLS is verified against the name `kubernetes` (in every kubeadm API server certificate), not the
    tunnel's 127.0.0.1: a certificate for that name is accepted, one for another name is refused."""
    kc = tmp_path / "admin.conf"
    _kubeconfig(kc, api_server(["kubernetes", "192.168.10.10"]), api_server.ca)
    b = VagrantBackend(ssh_config=vms.ssh_config, kubeconfig_path=str(kc))
    try:
        pods = b.pods()
        assert b.kube.source == "api"
        assert pods.to_dict("records")[0]["ip"] == "172.16.158.2"
        assert b.api_client() is not None
    finally:
        b.close()


def test_a_certificate_for_another_name_is_refused_and_no_key_is_logged(vms, tmp_path, api_server, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    kc = tmp_path / "admin.conf"
    cfg = _kubeconfig(kc, api_server(["impostor.example", "127.0.0.1"]), api_server.ca)
    b = VagrantBackend(ssh_config=vms.ssh_config, kubeconfig_path=str(kc))
    try:
        assert b.api_client() is None  # TLS refused: the certificate does not name `kubernetes`
        assert b.pods().loc[0, "name"] == "webpod1" and b.kube.source == "kubectl"
        assert "CERTIFICATE_VERIFY_FAILED" in b.kube._api_failed or "certificate" in b.kube._api_failed.lower()
    finally:
        b.close()
    key = cfg["users"][0]["user"]["client-key-data"]
    assert key not in caplog.text and base64.b64decode(key).decode().splitlines()[1] not in caplog.text


def test_no_api_server_falls_back_to_kubectl(vms):
    b = VagrantBackend(ssh_config=vms.ssh_config, kubeconfig_path="/nonexistent/admin.conf")
    try:
        assert b.pods().loc[0, "name"] == "webpod1" and b.kube.source == "kubectl"
        assert b.api_client() is None
    finally:
        b.close()


def test_connect_needs_a_source(monkeypatch, tmp_path):
    for var in ("KANSLAB_VAGRANT_DIR", "KANSLAB_SSH_CONFIG", "KANSLAB_HOSTS_YAML"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    lab = kanslab.connect("vagrant", ssh_config=tmp_path / "missing")
    with pytest.raises(InvalidInput, match="cannot read ssh-config"):
        _ = lab.hosts
