"""The lab API's TLS server without a lab: its PKI, its kubeconfig, and a real HTTPS round trip with the
kubernetes Python client (client certificate required, as with kubeadm's admin.conf)."""

from __future__ import annotations

import socket
import ssl
import threading

import pytest
import yaml

from kanslab.backends.local import kubeapi_certs, kubeapi_server, record
from kanslab.backends.local.names import Names
from kanslab.emulator.kubeapi import KubeAPI

from .fixtures import cli_lab


@pytest.fixture
def served(tmp_path, monkeypatch):
    monkeypatch.setattr(record, "STATE_ROOT", tmp_path / "state")
    names = Names("t1")
    kubeapi_certs.make_pki(names, "k8s-m", "192.168.10.10", "10.200.1.1")
    ctx = cli_lab(tmp_path)
    api = KubeAPI(ctx.ds, ctx.topology)
    srv = kubeapi_server._Server(("127.0.0.1", 0), kubeapi_server._handler_class(api, names),
                                 kubeapi_server._tls_context(names))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    port = srv.server_address[1]
    cfg = kubeapi_certs.write_kubeconfig(names, f"https://127.0.0.1:{port}")
    try:
        yield names, cfg, port
    finally:
        srv.shutdown()
        srv.server_close()


def test_pki_names_every_address_clients_use(served):
    from cryptography import x509

    names, _, _ = served
    d = kubeapi_certs.pki_dir(names)
    cert = x509.load_pem_x509_certificate((d / "apiserver.crt").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"kubernetes", "kubernetes.default.svc.cluster.local", "k8s-m"} <= set(san.get_values_for_type(x509.DNSName))
    assert {str(a) for a in san.get_values_for_type(x509.IPAddress)} >= {"10.200.1.1", "192.168.10.10", "127.0.0.1"}
    ca = x509.load_pem_x509_certificate((d / "ca.crt").read_bytes())
    cert.verify_directly_issued_by(ca)
    assert (d / "admin.key").stat().st_mode & 0o077 == 0


def test_kubeconfig_is_kubeadms_admin_conf_shape(served):
    _, cfg, port = served
    doc = yaml.safe_load(cfg.read_text())
    assert doc["current-context"] == "kubernetes-admin@kubernetes"
    assert doc["clusters"][0]["cluster"]["server"] == f"https://127.0.0.1:{port}"
    assert cfg.stat().st_mode & 0o077 == 0


def test_python_client_over_tls(served):
    kubernetes = pytest.importorskip("kubernetes")
    _, cfg, _ = served
    api = kubernetes.config.new_client_from_config(config_file=str(cfg))
    assert kubernetes.client.VersionApi(api).get_code().git_version == "v1.30.5"
    nodes = kubernetes.client.CoreV1Api(api).list_node().items
    assert sorted(n.metadata.name for n in nodes) == ["k8s-m", "k8s-w0", "k8s-w1", "k8s-w2"]


def test_no_client_certificate_no_api(served):
    names, _, port = served
    ctx = ssl.create_default_context(cafile=str(kubeapi_certs.pki_dir(names) / "ca.crt"))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
            with ctx.wrap_socket(raw, server_hostname="kubernetes") as s:
                s.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n")
                if not s.recv(100):
                    raise ConnectionResetError("closed")
