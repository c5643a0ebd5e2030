"""The lab's kube-apiserver: the emulator's Kubernetes REST API over HTTPS, in its own process.

`up` starts it (recorded for teardown like the agent). It listens on a loopback port of the host
(written to <state>/kubeapi.json and the kubeconfig beside ssh_config) and, inside the lab, on the
control plane's node IP :6443 (the `kubernetes` Service's endpoint), with the lab CA's certificate;
clients authenticate with a certificate the CA signed, as with kubeadm's admin.conf. Every
request reads the shared datastore itself (SQLite, WAL), so it sees what the lab's kubectl and
calicoctl wrote; after a write it asks the lab agent to reconcile the dataplane.
"""

from __future__ import annotations

import argparse
import json
import socket
import ssl
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from ...errors import LabError
from .agent_client import request as agent_request
from .kubeapi_certs import API_PORT, kubeconfig_path, make_pki, pki_dir, write_kubeconfig
from .kubeapi_exec import is_exec_upgrade, serve_exec
from .labinfo import load_lab
from .names import Names
from .netns import InNetns
from .network import host_env
from .record import Record
from .sshdoor import free_loopback_ports


def state_file(names: Names) -> Path:
    return names.dir / "kubeapi.json"


def _handler_class(api, names: Names):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "kanslab-kube-apiserver"

        def log_message(self, fmt, *args):  # quiet: one line per request would flood the log
            pass

        def _serve(self):
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            if is_exec_upgrade(parts.path, headers):
                serve_exec(self, names, api.ds, parts.path, parts.query, headers)
                return
            try:
                resp = api.handle(self.command, parts.path, parts.query, headers, body)
            except Exception as e:  # never leave kubectl hanging on a bug: a 500 Status says what failed
                from ...emulator.kubeapi.handler import status
                resp = status(500, "InternalError", f"the lab's API server failed: {type(e).__name__}: {e}")
            if resp.stream is not None:
                self._stream(resp)
                return
            if isinstance(resp.body, (dict, list)):
                data = json.dumps(resp.body).encode()
            else:
                data = (resp.body or "").encode()
            self.send_response(resp.code)
            self.send_header("Content-Type", resp.content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-cache, private")
            self.end_headers()
            self.wfile.write(data)

        def _stream(self, resp):
            self.send_response(200)
            self.send_header("Content-Type", resp.content_type)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for ev in resp.stream:
                    if ev is None:
                        continue
                    data = ev.encode() if isinstance(ev, str) else json.dumps(ev).encode() + b"\n"
                    if not data:
                        continue
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
                self.close_connection = True

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    return Handler


def _tls_context(names: Names) -> ssl.SSLContext:
    d = pki_dir(names)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(d / "apiserver.crt", d / "apiserver.key")
    ctx.load_verify_locations(d / "ca.crt")
    ctx.verify_mode = ssl.CERT_REQUIRED  # only holders of a lab-signed client certificate (the kubeconfig)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, addr, handler, ctx):
        super().__init__(addr, handler, bind_and_activate=False)
        self.allow_reuse_address = True
        self.ctx = ctx
        self.server_bind()
        self.server_activate()

    def get_request(self):
        sock, addr = self.socket.accept()
        # headers and body go out in separate writes: without NODELAY, Nagle + delayed ACK cost 40 ms each
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self.ctx.wrap_socket(sock, server_side=True), addr

    def handle_error(self, request, client_address):
        pass  # a client that drops its TLS handshake is not the server's problem


def serve(prefix: str) -> None:
    from ...emulator.kubeapi import KubeAPI

    lab = load_lab(prefix)
    names, topo = lab.names, lab.topology
    info = json.loads(state_file(names).read_text())

    def reconcile():
        try:
            agent_request(str(names.agent_socket), "reconcile", timeout=120)
        except OSError as e:
            print(f"reconcile failed: {e}", file=sys.stderr, flush=True)

    api = KubeAPI(lab.datastore(), topo, on_change=reconcile)
    handler = _handler_class(api, names)
    ctx = _tls_context(names)
    servers = [_Server(("127.0.0.1", info["port"]), handler, ctx)]
    cp = topo.control_plane
    with InNetns(names.host(cp)):  # a socket stays in the namespace it was made in
        servers.append(_Server((topo.node(cp).ip, API_PORT), handler, ctx))
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    print("ready", flush=True)
    threading.Event().wait()


def ensure_pki(names: Names, rec: Record, topo) -> Path:
    """The lab's CA and API certificates, made once (pods' service-account volumes need them early)."""
    d = pki_dir(names)
    if not (d / "ca.crt").exists():
        cp = topo.node(topo.control_plane)
        svc_ip = str(next(topo.cluster.service_cidr.hosts()))  # the `kubernetes` Service's address
        rec.add("dir", path=str(d))
        make_pki(names, cp.name, cp.ip, svc_ip)
    return d


def start(names: Names, rec: Record, topo) -> dict:
    """Make the PKI and kubeconfig, then start the server process; returns {port, kubeconfig}."""
    cp = topo.node(topo.control_plane)
    ensure_pki(names, rec, topo)
    # kube-controller-manager's root-ca-cert-publisher: kube-root-ca.crt in every namespace
    from ...emulator.core_objects import publish_root_ca
    publish_root_ca(load_lab(names.prefix).datastore(), (pki_dir(names) / "ca.crt").read_text())
    port = free_loopback_ports(1)[0]
    state_file(names).write_text(json.dumps({"port": port, "node_ip": cp.ip, "node_port": API_PORT}))
    write_kubeconfig(names, f"https://127.0.0.1:{port}")
    # kubeadm's /etc/kubernetes/admin.conf: the same credentials, for clients inside the lab
    write_kubeconfig(names, f"https://{cp.ip}:{API_PORT}", pki_dir(names) / "admin.conf", owner=False)
    log = open(names.dir / "kubeapi.log", "w")
    env = host_env(names, "kubeapi") | rec.env_tag()
    p = subprocess.Popen([sys.executable, "-m", "kanslab.backends.local.kubeapi_server", "--prefix", names.prefix],
                         stdout=subprocess.PIPE, stderr=log, env=env, start_new_session=True, text=True)
    rec.add_pid(p.pid, "kubeapi")
    if p.stdout.readline().strip() != "ready":
        p.kill()
        raise LabError("the lab's API server did not start:\n" + (names.dir / "kubeapi.log").read_text()[-3000:])
    return {"port": port, "kubeconfig": str(kubeconfig_path(names))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prefix", required=True)
    serve(ap.parse_args().prefix)


if __name__ == "__main__":
    main()
