"""The real Prometheus (Debian's `prometheus` package) inside the control plane's namespace.

Like the write-up's `prometheus-pod`, it scrapes every node's Felix on <node IP>:9091 every 5 s,
calico-kube-controllers on <its pod IP>:9094, and itself on localhost:9090. The emulated cluster has no Kubernetes API server to discover
endpoints from (`kubernetes_sd_configs`), so the targets are a `static_configs` list written to
the lab's state directory, each with a `node` label. Its data directory is in the state directory
too. The agent starts it on first use: the process inherits the lab's environment tag (recorded
before the fork) and its pid is recorded right after, so `kanslab down` removes it even after a
crash; it listens only inside the namespace.
"""

from __future__ import annotations

import http.client
import shutil
import socket
import subprocess
import time
from pathlib import Path

import yaml

from ...emulator import felix_metrics, kube_controllers_metrics
from ...errors import LabError
from .netns import InNetns

PORT = 9090
SCRAPE_INTERVAL = "5s"


def binary() -> str | None:
    return shutil.which("prometheus")


def config(targets: list[tuple[str, str, int]], kube_controllers: str | None = None) -> dict:
    """prometheus.yml for (node, ip, port) Felix targets and calico-kube-controllers' `ip:port`:
    the write-up's jobs (felix_metrics, kube_controllers_metrics) with static targets."""
    cfg = {
        "global": {"scrape_interval": "15s", "external_labels": {"monitor": "tutorial-monitor"}},
        "scrape_configs": [
            {"job_name": "prometheus", "scrape_interval": SCRAPE_INTERVAL,
             "static_configs": [{"targets": [f"localhost:{PORT}"]}]},
            {"job_name": "felix_metrics", "scrape_interval": SCRAPE_INTERVAL, "scheme": "http",
             "static_configs": [{"targets": [f"{ip}:{port}"], "labels": {"node": node}}
                                for node, ip, port in targets]},
        ],
    }
    if kube_controllers:
        cfg["scrape_configs"].append({"job_name": "kube_controllers_metrics", "scrape_interval": SCRAPE_INTERVAL,
                                      "scheme": "http", "static_configs": [{"targets": [kube_controllers]}]})
    return cfg


def kube_controllers_target(views: dict) -> str | None:
    """calico-kube-controllers' `<pod IP>:9094` from the nodes' views (the port its endpoint opens by default)."""
    for view in views.values():
        for p in view.get("pods") or []:
            if p["namespace"] == "kube-system" and p["name"].startswith("calico-kube-controllers-") and p.get("ip"):
                return f"{p['ip']}:{kube_controllers_metrics.DEFAULT_PORT}"
    return None


def http_get(netns: str, path: str, host: str = "127.0.0.1", port: int = PORT, timeout: float = 2.0) -> tuple[int, bytes]:
    """GET from inside a namespace: the socket is made there, the request is driven from here."""
    with InNetns(netns):
        s = socket.create_connection((host, port), timeout=timeout)
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    conn.sock = s
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def start(names, rec, netns: str, views: dict[str, dict], topo, env: dict) -> subprocess.Popen:
    exe = binary()
    if exe is None:
        raise LabError("Prometheus is not installed: apt-get install prometheus (scripts/install.sh does)")
    d = names.dir / "prometheus"
    rec.add("dir", path=str(d))
    (d / "data").mkdir(parents=True, exist_ok=True)
    targets = []
    for n in topo.nodes:
        addr = felix_metrics.listen_address({**(views.get(n.name, {}).get("felix") or {}),
                                             "prometheusMetricsEnabled": True})
        targets.append((n.name, n.ip, addr[1] if addr else felix_metrics.DEFAULT_PORT))
    cfg = d / "prometheus.yml"
    cfg.write_text(yaml.safe_dump(config(targets, kube_controllers_target(views)), sort_keys=False))
    log = open(d / "prometheus.log", "w")
    argv = ["ip", "netns", "exec", netns, exe, f"--config.file={cfg}", f"--storage.tsdb.path={d / 'data'}",
            f"--web.listen-address=0.0.0.0:{PORT}", "--storage.tsdb.retention.time=1d"]
    p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    rec.add_pid(p.pid, "prometheus")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if p.poll() is not None:
            raise LabError("Prometheus exited at start:\n" + Path(d / "prometheus.log").read_text()[-2000:])
        try:
            if http_get(netns, "/-/ready")[0] == 200:
                return p
        except OSError:
            pass
        time.sleep(0.05)
    p.kill()
    raise LabError("Prometheus did not become ready in 30 s:\n" + Path(d / "prometheus.log").read_text()[-2000:])
