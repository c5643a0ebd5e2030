"""What a prom/prometheus pod runs: config from the mounted ConfigMap, flags from its args."""

import pytest
import yaml

from kanslab.emulator import prom_pod
from kanslab.errors import InvalidInput

WRITEUP_POD = yaml.safe_load("""
apiVersion: v1
kind: Pod
metadata: {name: prometheus-pod, namespace: calico-monitoring, labels: {app: prometheus-pod, role: monitoring}}
spec:
  serviceAccountName: calico-prometheus-user
  containers:
  - name: prometheus-pod
    image: prom/prometheus
    volumeMounts:
    - {name: config-volume, mountPath: /etc/prometheus/prometheus.yml, subPath: prometheus.yml}
    ports: [{containerPort: 9090}]
  volumes:
  - {name: config-volume, configMap: {name: prometheus-config}}
""")
CM = {"metadata": {"name": "prometheus-config", "namespace": "calico-monitoring"},
      "data": {"prometheus.yml": "scrape_configs: []\n"}}


def cms(ns, name):
    return CM if (ns, name) == ("calico-monitoring", "prometheus-config") else None


def test_the_writeup_pod_reads_its_configmap_key_at_the_default_path():
    c = prom_pod.prometheus_container(WRITEUP_POD)
    assert prom_pod.flags(c) == ("/etc/prometheus/prometheus.yml", [])
    assert prom_pod.config_source(WRITEUP_POD, c, "/etc/prometheus/prometheus.yml") == ("prometheus-config", "prometheus.yml")
    assert prom_pod.config_text(WRITEUP_POD, cms) == "scrape_configs: []\n"


def test_args_directory_mounts_and_items():
    pod = yaml.safe_load(yaml.safe_dump(WRITEUP_POD))
    c = pod["spec"]["containers"][0]
    c["image"] = "docker.io/prom/prometheus:v2.53.0"
    c["args"] = ["--config.file", "/cfg/p.yml", "--web.listen-address=:9091", "--web.enable-lifecycle",
                 "--web.console.templates=/usr/share/prometheus/consoles"]
    c["volumeMounts"] = [{"name": "config-volume", "mountPath": "/cfg"}]
    pod["spec"]["volumes"][0]["configMap"]["items"] = [{"key": "prometheus.yml", "path": "p.yml"}]
    assert prom_pod.flags(c) == ("/cfg/p.yml", ["--web.listen-address=:9091", "--web.enable-lifecycle"])
    assert prom_pod.config_text(pod, cms) == "scrape_configs: []\n"


def test_without_a_mount_the_image_config_and_errors_for_a_missing_configmap():
    pod = yaml.safe_load(yaml.safe_dump(WRITEUP_POD))
    del pod["spec"]["containers"][0]["volumeMounts"]
    assert "localhost:9090" in prom_pod.config_text(pod, cms)
    with pytest.raises(InvalidInput, match='configmap "prometheus-config" not found'):
        prom_pod.config_text(WRITEUP_POD, lambda ns, name: None)
    with pytest.raises(InvalidInput, match='has no key "prometheus.yml"'):
        prom_pod.config_text(WRITEUP_POD, lambda ns, name: {"data": {}})
    assert prom_pod.prometheus_container({"spec": {"containers": [{"image": "traefik/whoami"}]}}) is None
