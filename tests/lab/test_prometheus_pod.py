"""A prom/prometheus pod runs Debian's prometheus in its own network namespace, for as long as the pod lives."""

from __future__ import annotations

import json
import subprocess

import pytest

from kanslab import CommandError, wait_for

pytestmark = pytest.mark.lab

POD = """apiVersion: v1
kind: Pod
metadata:
  name: prom-test
  namespace: default
  labels: {app: prom-test}
spec:
  nodeName: k8s-w1
  containers:
  - name: prometheus
    image: prom/prometheus
    ports:
    - containerPort: 9090
"""


def _targets(lab, ip):
    try:
        return json.loads(lab.sh("k8s-m", f"curl -sS --max-time 3 http://{ip}:9090/api/v1/targets"))
    except (CommandError, json.JSONDecodeError):
        return None


def _prometheus_pids(lab) -> list[str]:
    ns = lab.backend.names.pod("default", "prom-test")
    p = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
    return [pid for pid in p.stdout.split() if "prometheus" in open(f"/proc/{pid}/cmdline").read()] \
        if p.returncode == 0 else []


def test_prometheus_pod_answers_targets_and_goes_with_the_pod(lab):
    lab.apply(POD)
    try:
        ip = wait_for(lambda: next(iter(lab.pods().query("name == 'prom-test'").ip.dropna()), None), timeout=30)
        got = wait_for(lambda: (lambda t: t if t and t["data"]["activeTargets"]
                                and t["data"]["activeTargets"][0]["health"] == "up" else None)(_targets(lab, ip)),
                       timeout=60, interval=0.5)
        assert got["status"] == "success"
        # the image's own config: Prometheus scraping itself
        assert [(t["labels"]["job"], t["scrapeUrl"]) for t in got["data"]["activeTargets"]] == \
            [("prometheus", "http://localhost:9090/metrics")]
        assert len(_prometheus_pids(lab)) == 1
        # the same through Lab's API, as chapter 05 asks the write-up's Prometheus
        t = lab.prometheus_targets(server=f"{ip}:9090")
        assert t[["job", "instance", "health"]].values.tolist() == [["prometheus", "localhost:9090", "up"]]
        assert lab.prometheus_query('up{job="prometheus"}', server=f"{ip}:9090").value.tolist() == [1.0]
        # not whoami on 9090
        assert "Hostname:" not in lab.sh("k8s-m", f"curl -sS --max-time 3 http://{ip}:9090/")
    finally:
        lab.delete(POD)
    assert wait_for(lambda: not _prometheus_pids(lab), timeout=20)


CM_POD = """apiVersion: v1
kind: ConfigMap
metadata: {name: prom-sd-test, namespace: default}
data:
  prometheus.yml: |-
    global: {scrape_interval: 5s}
    scrape_configs:
    - job_name: kube_controllers_by_pod_sd
      kubernetes_sd_configs:
      - role: pod
        namespaces: {names: [kube-system]}
      relabel_configs:
      - source_labels: [__meta_kubernetes_pod_name]
        regex: calico-kube-controllers-.*
        action: keep
      - source_labels: [__meta_kubernetes_pod_ip]
        target_label: __address__
        replacement: $1:9094
---
apiVersion: v1
kind: Pod
metadata: {name: prom-sd-test, namespace: default}
spec:
  containers:
  - name: prometheus
    image: prom/prometheus
    args: [--config.file=/etc/prometheus/prometheus.yml]
    volumeMounts:
    - {name: cfg, mountPath: /etc/prometheus/prometheus.yml, subPath: prometheus.yml}
  volumes:
  - {name: cfg, configMap: {name: prom-sd-test}}
"""


def test_configmap_config_with_kubernetes_sd_discovers_through_the_lab(lab):
    """Runs once ConfigMaps are stored (the objects work): pod SD rewritten to the lab's HTTP SD."""
    from kanslab.emulator.datastore import KINDS

    if "ConfigMap" not in KINDS:
        pytest.skip("this datastore stores no ConfigMap yet")
    lab.apply(CM_POD)
    try:
        ip = wait_for(lambda: next(iter(lab.pods().query("name == 'prom-sd-test'").ip.dropna()), None), timeout=30)
        got = wait_for(lambda: (lambda t: t if t and t["data"]["activeTargets"]
                                and t["data"]["activeTargets"][0]["health"] == "up" else None)(_targets(lab, ip)),
                       timeout=60, interval=0.5)
        (t,) = got["data"]["activeTargets"]
        assert t["labels"]["job"] == "kube_controllers_by_pod_sd" and t["scrapeUrl"].endswith(":9094/metrics")
        assert t["discoveredLabels"]["__meta_kubernetes_namespace"] == "kube-system"
    finally:
        lab.delete(CM_POD)
