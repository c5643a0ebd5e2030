"""Kubernetes SD rewritten to HTTP SD: the config Debian's prometheus accepts, the targets it gets."""

import subprocess
from pathlib import Path

import pytest
import yaml

from kanslab.emulator import k8s_sd
from kanslab.errors import InvalidInput
from tests.tools import need_tool

WRITEUP = yaml.safe_load((Path(__file__).parents[1] / "fixtures" / "writeup_prometheus.yml").read_text())
SD = "http://127.0.0.1:9999/sd"


def test_rewrite_turns_every_kubernetes_sd_into_http_sd_and_keeps_the_rest():
    out = k8s_sd.rewrite(WRITEUP, SD)
    jobs = {j["job_name"]: j for j in out["scrape_configs"]}
    assert "kubernetes_sd_configs" not in str(out)
    assert jobs["felix_metrics"]["http_sd_configs"] == [{"url": f"{SD}/endpoints", "refresh_interval": "5s"}]
    assert jobs["felix_metrics"]["relabel_configs"] == WRITEUP["scrape_configs"][1]["relabel_configs"]
    assert jobs["prometheus"] == WRITEUP["scrape_configs"][0] and out["global"] == WRITEUP["global"]
    assert "kubernetes_sd_configs" in str(WRITEUP)  # the input is left as it was
    ns = k8s_sd.rewrite({"scrape_configs": [{"job_name": "x", "kubernetes_sd_configs": [
        {"role": "pod", "namespaces": {"names": ["a", "b"], "own_namespace": True}, "refresh_interval": "30s"}]}]},
        SD, default_namespace="calico-monitoring")
    assert ns["scrape_configs"][0]["http_sd_configs"] == [
        {"url": f"{SD}/pod?namespace=a&namespace=b&namespace=calico-monitoring", "refresh_interval": "30s"}]
    with pytest.raises(InvalidInput, match="role 'ingress'"):
        k8s_sd.rewrite({"scrape_configs": [{"job_name": "x", "kubernetes_sd_configs": [{"role": "ingress"}]}]}, SD)


def test_debian_promtool_rejects_the_writeup_and_accepts_the_rewrite(tmp_path):
    need_tool("promtool")  # Debian's prometheus package: scripts/install.sh installs it, a missing one fails
    for name, cfg, ok in (("orig.yml", WRITEUP, False), ("new.yml", k8s_sd.rewrite(WRITEUP, SD), True)):
        (tmp_path / name).write_text(yaml.safe_dump(cfg))
        p = subprocess.run(["promtool", "check", "config", str(tmp_path / name)], capture_output=True, text=True)
        assert (p.returncode == 0) == ok, p.stdout + p.stderr


NODES = {"k8s-m": "192.168.10.10", "k8s-w1": "192.168.10.101"}


def _calico_node(node):
    return {"metadata": {"name": f"calico-node-{node[-2:]}", "namespace": "kube-system", "uid": f"u-{node}",
                         "labels": {"k8s-app": "calico-node", "controller-revision-hash": "abc"},
                         "ownerReferences": [{"kind": "DaemonSet", "name": "calico-node", "controller": True}]},
            "spec": {"nodeName": node, "hostNetwork": True, "containers": [{"name": "calico-node"}]},
            "status": {"phase": "Running", "podIP": NODES[node], "hostIP": NODES[node],
                       "conditions": [{"type": "Ready", "status": "True"}]}}


SVC = {"metadata": {"name": "felix-metrics-svc", "namespace": "kube-system"},
       "spec": {"clusterIP": "None", "selector": {"k8s-app": "calico-node"}, "ports": [{"port": 9091, "targetPort": 9091,
                                                                                          "protocol": "TCP"}]}}
EPS = {"metadata": {"name": "felix-metrics-svc", "namespace": "kube-system",
                    "labels": {"service.kubernetes.io/headless": ""}},
       "subsets": [{"addresses": [{"ip": NODES[n], "nodeName": n, "targetRef": {
           "kind": "Pod", "namespace": "kube-system", "name": f"calico-node-{n[-2:]}"}} for n in NODES],
           "ports": [{"port": 9091, "protocol": "TCP"}]}]}
PROM = {"metadata": {"name": "prometheus-pod", "namespace": "calico-monitoring", "uid": "p1",
                     "labels": {"app": "prometheus-pod", "role": "monitoring"}},
        "spec": {"nodeName": "k8s-w1", "containers": [{"name": "prometheus-pod", "ports": [{"containerPort": 9090}]}]},
        "status": {"phase": "Running", "podIP": "172.16.158.5", "hostIP": NODES["k8s-w1"]}}


def test_endpoints_role_carries_prometheus_labels_so_the_writeup_relabel_keeps_felix():
    groups = k8s_sd.endpoints_groups([EPS], [SVC], [_calico_node(n) for n in NODES] + [PROM])
    assert sorted(g["targets"][0] for g in groups) == ["192.168.10.101:9091", "192.168.10.10:9091"]
    lab = next(g["labels"] for g in groups if g["targets"] == ["192.168.10.10:9091"])
    M = "__meta_kubernetes_"
    assert lab[M + "service_name"] == "felix-metrics-svc" and lab[M + "namespace"] == "kube-system"
    assert lab[M + "endpoints_name"] == "felix-metrics-svc" and lab[M + "endpoint_ready"] == "true"
    assert lab[M + "endpoint_port_name"] == "" and lab[M + "endpoint_port_protocol"] == "TCP"
    assert lab[M + "endpoint_node_name"] == "k8s-m" and lab[M + "endpoint_address_target_kind"] == "Pod"
    assert lab[M + "pod_name"] == "calico-node--m" and lab[M + "pod_node_name"] == "k8s-m"
    assert lab[M + "pod_label_k8s_app"] == "calico-node" and lab[M + "pod_labelpresent_k8s_app"] == "true"
    assert lab[M + "pod_controller_kind"] == "DaemonSet" and lab[M + "pod_ready"] == "true"
    assert lab[M + "endpoints_label_service_kubernetes_io_headless"] == ""
    # the write-up's relabel rule (keep where service name matches) selects these and nothing else
    keep = [g for g in groups if g["labels"].get(M + "service_name") == "felix-metrics-svc"]
    assert keep == groups


def test_not_ready_addresses_and_uncovered_container_ports():
    eps = {"metadata": {"name": "prom", "namespace": "calico-monitoring"},
           "subsets": [{"notReadyAddresses": [{"ip": "172.16.158.5", "targetRef": {
               "kind": "Pod", "namespace": "calico-monitoring", "name": "prometheus-pod"}}],
               "ports": [{"port": 8080, "name": "other", "protocol": "TCP"}]}]}
    groups = k8s_sd.endpoints_groups([eps], [], [PROM])
    by = {g["targets"][0]: g["labels"] for g in groups}
    assert by["172.16.158.5:8080"]["__meta_kubernetes_endpoint_ready"] == "false"
    assert "__meta_kubernetes_service_name" not in by["172.16.158.5:8080"]  # no Service of that name
    assert by["172.16.158.5:9090"]["__meta_kubernetes_pod_container_port_number"] == "9090"  # a port no endpoint covered


def test_pod_and_service_roles():
    pods = k8s_sd.pod_groups([PROM, _calico_node("k8s-m")])
    assert [g["targets"] for g in pods] == [["172.16.158.5:9090"], ["192.168.10.10"]]
    assert pods[0]["labels"]["__meta_kubernetes_pod_container_init"] == "false"
    svcs = k8s_sd.service_groups([SVC])
    assert svcs == [{"targets": ["felix-metrics-svc.kube-system.svc:9091"], "labels": {
        "__meta_kubernetes_service_name": "felix-metrics-svc", "__meta_kubernetes_namespace": "kube-system",
        "__meta_kubernetes_service_port_name": "", "__meta_kubernetes_service_port_number": "9091",
        "__meta_kubernetes_service_port_protocol": "TCP", "__meta_kubernetes_service_type": "ClusterIP",
        "__meta_kubernetes_service_cluster_ip": "None"}}]


def test_discover_reads_the_datastore_and_filters_namespaces():
    class DS:
        def list(self, kind):
            return {"Endpoints": [EPS], "Service": [SVC], "Pod": [_calico_node("k8s-m"), PROM]}[kind]
    import kanslab.emulator.k8s_sd as mod
    kinds = mod.KINDS
    try:
        mod.KINDS = tuple(kinds) + ("Endpoints", "Service")
        assert len(mod.discover(DS(), "endpoints")) == 2
        assert mod.discover(DS(), "endpoints", ["default"]) == []
        assert [g["targets"] for g in mod.discover(DS(), "pod", ["calico-monitoring"])] == [["172.16.158.5:9090"]]
    finally:
        mod.KINDS = kinds
    with pytest.raises(InvalidInput):
        mod.discover(DS(), "ingress")


def test_debian_prometheus_discovers_and_scrapes_through_the_rewrite(tmp_path):
    """The rewritten write-up config in the real prometheus 2.42, everything on 127.0.0.1: the HTTP SD
    payload for felix-metrics-svc's Endpoints, kept by the write-up's relabel rule, scraped up."""
    need_tool("prometheus")
    import json
    import socket
    import threading
    import time
    import urllib.request
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    state = {}

    class H(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path.startswith("/sd/endpoints"):
                body, ctype = json.dumps(state["groups"]).encode(), "application/json"
            elif self.path == "/metrics":
                body, ctype = b"# TYPE felix_active_local_endpoints gauge\nfelix_active_local_endpoints 1\n", "text/plain"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    port = srv.server_address[1]
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    eps = {"metadata": EPS["metadata"], "subsets": [{"addresses": [{"ip": "127.0.0.1", "nodeName": "k8s-m"}],
                                                     "ports": [{"port": port, "protocol": "TCP"}]}]}
    other = {"metadata": {"name": "kube-dns", "namespace": "kube-system"},
             "subsets": [{"addresses": [{"ip": "127.0.0.1"}], "ports": [{"port": 1, "protocol": "UDP"}]}]}
    state["groups"] = k8s_sd.endpoints_groups([eps, other], [SVC], [])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        web = s.getsockname()[1]
    cfg = k8s_sd.rewrite(WRITEUP, f"http://127.0.0.1:{port}/sd")
    cfg["scrape_configs"] = [j for j in cfg["scrape_configs"] if j["job_name"] == "felix_metrics"]
    (tmp_path / "p.yml").write_text(yaml.safe_dump(cfg))
    p = subprocess.Popen(["prometheus", f"--config.file={tmp_path / 'p.yml'}", f"--storage.tsdb.path={tmp_path / 'd'}",
                          f"--web.listen-address=127.0.0.1:{web}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline, active = time.monotonic() + 30, []
        while time.monotonic() < deadline:
            try:
                got = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{web}/api/v1/targets", timeout=2).read())
                active = got["data"]["activeTargets"]
                if active and active[0]["health"] == "up":
                    break
            except OSError:
                pass
            time.sleep(0.2)
        assert [(t["labels"]["job"], t["health"]) for t in active] == [("felix_metrics", "up")]
        assert active[0]["discoveredLabels"]["__meta_kubernetes_service_name"] == "felix-metrics-svc"
        assert active[0]["discoveredLabels"]["__meta_kubernetes_endpoint_node_name"] == "k8s-m"
    finally:
        p.terminate()
        p.wait(10)
        srv.shutdown()
