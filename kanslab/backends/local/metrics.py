"""Felix's metrics endpoint on every node (`<node IP>:9091/metrics`), served by the agent.

A socket belongs to the namespace it was created in, so each node's listening socket is opened
inside that node's namespace (as the pods' sockets are) and one thread accepts on all of them;
each scrape is answered from a short-lived thread that reads the node's real state (interfaces,
`iptables-save`) and the datastore view the agent last programmed it from. `sync()` opens and
closes listeners as FelixConfiguration's prometheusMetricsEnabled/Host/Port say.
"""

from __future__ import annotations

import json
import selectors
import socket
import threading
import time
from typing import Callable

from ...emulator import felix_metrics, kube_controllers_metrics
from .netns import InNetns, run


class MetricsServer(threading.Thread):
    def __init__(self, stop: threading.Event, node_ns: Callable[[str], str], view_of: Callable[[str], dict | None],
                 counters: Callable[[str], "felix_metrics.FelixCounters"],
                 extra: dict[str, tuple[str, Callable[[], str]]] | None = None):
        super().__init__(daemon=True, name="felix-metrics")
        self.stop = stop
        self.node_ns, self.view_of, self.counters = node_ns, view_of, counters
        # other endpoints served the same way: key -> (namespace, handler(request target) -> (content type,
        # body) or None for 404); kube-controllers' :9094, the HTTP SD a prom/prometheus pod reads
        self.extra = extra if extra is not None else {}
        self.sel = selectors.DefaultSelector()
        self.lock = threading.Lock()
        self.listeners: dict[str, tuple[tuple[str, int], socket.socket]] = {}

    # -- called from the agent's reconcile ------------------------------------------------------
    def sync(self, wanted: dict[str, tuple[str, int] | None]) -> None:
        """Make each node's listener match `wanted[node]` ((host, port) or None)."""
        with self.lock:
            for node, addr in wanted.items():
                have = self.listeners.get(node)
                if have and have[0] == addr:
                    continue
                if have:
                    self._close(node)
                if addr is not None:
                    with InNetns(self.extra[node][0] if node in self.extra else self.node_ns(node)):
                        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    s.bind(addr)
                    s.listen(16)
                    s.setblocking(False)
                    self.sel.register(s, selectors.EVENT_READ, node)
                    self.listeners[node] = (addr, s)

    def _close(self, node: str) -> None:
        _, s = self.listeners.pop(node)
        try:
            self.sel.unregister(s)
        except (KeyError, ValueError):
            pass
        s.close()

    def open_ports(self) -> dict[str, tuple[str, int]]:
        with self.lock:
            return {n: a for n, (a, _) in self.listeners.items()}

    # -- the loop ------------------------------------------------------------------------------
    def run(self) -> None:
        while not self.stop.is_set():
            with self.lock:
                empty = not self.listeners
            if empty:
                self.stop.wait(0.2)
                continue
            try:
                events = self.sel.select(timeout=0.2)
            except OSError:
                continue
            for key, _ in events:
                try:
                    conn, _addr = key.fileobj.accept()  # type: ignore[union-attr]
                except OSError:
                    continue
                threading.Thread(target=self._serve, args=(conn, key.data), daemon=True).start()

    def _serve(self, conn: socket.socket, node: str) -> None:
        conn.settimeout(5)
        try:
            req = b""
            while b"\r\n\r\n" not in req and b"\n\n" not in req and len(req) < 16384:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                req += chunk
            first = req.split(b"\n", 1)[0].decode("latin-1").split()
            target = first[1] if len(first) >= 2 else ""
            path = target.split("?", 1)[0]
            if len(first) < 2 or first[0] not in ("GET", "HEAD"):
                status, body, ctype = "405 Method Not Allowed", b"only GET\n", "text/plain"
            elif node in self.extra:  # another endpoint served this way answers its own paths
                got = self.extra[node][1](target)
                status, ctype, body = ("200 OK", got[0], got[1]) if got else \
                    ("404 Not Found", "text/plain; charset=utf-8", b"404 page not found\n")
            elif path != "/metrics":
                status, body, ctype = "404 Not Found", b"404 page not found\n", "text/plain; charset=utf-8"
            else:
                status, ctype = "200 OK", "text/plain; version=0.0.4; charset=utf-8"
                body = self.render(node).encode()
            head = (f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                    "Connection: close\r\n\r\n").encode()
            conn.sendall(head + (b"" if first[:1] == ["HEAD"] else body))
        except OSError:
            pass
        finally:
            conn.close()

    def render(self, node: str) -> str:
        view = self.view_of(node) or {}
        ns = self.node_ns(node)
        counters = self.counters(node)
        counters.scrapes += 1
        t0 = time.monotonic()
        links = {ln["ifname"] for ln in json.loads(run(["ip", "-n", ns, "-j", "link"], check=False).stdout or "[]")}
        counters.route_list_time.observe(time.monotonic() - t0)  # a real listing of the node's links
        save = run(["ip", "netns", "exec", ns, "iptables-save"], check=False).stdout
        sets = run(["ip", "netns", "exec", ns, "ipset", "list", "-n"], check=False).stdout.split()
        return felix_metrics.exposition(felix_metrics.all_samples(view, links, save, sets, counters, node))


class KubeControllersEndpoint:
    """calico-kube-controllers' :9094 inside its pod's namespace, on while its pod runs and
    KubeControllersConfiguration's prometheusMetricsPort is not 0 (on by default, as in Calico)."""

    def __init__(self, lab, server: MetricsServer):
        self.lab, self.server = lab, server
        self.started = time.time()
        self.scrapes = 0

    def sync(self, applied_pods: dict[str, dict], ds) -> None:
        port = kube_controllers_metrics.metrics_port(ds.get("KubeControllersConfiguration", "default"))
        key = next((k for k in sorted(applied_pods) if k.startswith("kube-system/calico-kube-controllers-")), None)
        netns = applied_pods[key]["netns"] if key else None
        want = f"kube-controllers {netns}" if netns and port else None
        for old in [k for k in self.server.extra if k.startswith("kube-controllers ") and k != want]:
            self.server.sync({old: None})
            self.server.extra.pop(old, None)
        if want:
            self.server.extra[want] = (netns, self.handle)
            self.server.sync({want: ("0.0.0.0", port)})

    def handle(self, target: str) -> tuple[str, bytes] | None:
        if target.split("?", 1)[0] != "/metrics":
            return None
        return "text/plain; version=0.0.4; charset=utf-8", self.render().encode()

    def render(self) -> str:
        self.scrapes += 1
        with self.lab.datastore().snapshot() as tx:
            return kube_controllers_metrics.exposition_from(tx, self.started, self.scrapes)
