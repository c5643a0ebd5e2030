"""What a prom/prometheus pod runs: its config file (from the mounted ConfigMap) and its flags.

The image's entrypoint is /bin/prometheus with CMD `--config.file=/etc/prometheus/prometheus.yml
--storage.tsdb.path=/prometheus` (prometheus's Dockerfile); a container's `args` replace the CMD,
as in Kubernetes. The config file is what the kubelet mounts at that path: a volumeMount whose
mountPath is the file (with subPath: that key of the volume's ConfigMap) or a directory holding it
(then the key is the file's name). Without such a mount the image's own config is used: the
upstream documentation/examples/prometheus.yml the image ships, which scrapes Prometheus itself.
"""

from __future__ import annotations

import posixpath

from ..errors import InvalidInput
from .images import image_name

IMAGE = "prom/prometheus"
DEFAULT_CONFIG_PATH = "/etc/prometheus/prometheus.yml"
DEFAULT_LISTEN = "0.0.0.0:9090"
# prom/prometheus's /etc/prometheus/prometheus.yml (documentation/examples/prometheus.yml), comments left out
IMAGE_CONFIG = """global:
  scrape_interval: 15s
  evaluation_interval: 15s
alerting:
  alertmanagers:
    - static_configs:
        - targets:
rule_files:
scrape_configs:
  - job_name: "prometheus"
    static_configs:
      - targets: ["localhost:9090"]
"""
# flags the lab passes on to Debian's prometheus 2.42 (others name paths inside the image, or may not exist in 2.42)
BOOLEAN_FLAGS = {"--web.enable-lifecycle", "--web.enable-admin-api"}
PASSED_FLAGS = ("--web.listen-address", "--storage.tsdb.retention.time", "--web.enable-lifecycle",
                "--web.enable-admin-api", "--web.external-url", "--web.route-prefix", "--log.level")


def prometheus_container(pod: dict) -> dict | None:
    """The pod's container running prom/prometheus, or None."""
    for c in (pod.get("spec") or {}).get("containers") or []:
        if image_name(c.get("image") or "") == IMAGE:
            return c
    return None


def flags(container: dict) -> tuple[str, list[str]]:
    """(config file path inside the container, the flags passed on) from the container's args."""
    args = container.get("args")
    if args is None:
        args = [f"--config.file={DEFAULT_CONFIG_PATH}", "--storage.tsdb.path=/prometheus"]
    config, out = DEFAULT_CONFIG_PATH, []
    it = iter(str(a) for a in args)
    for a in it:
        name, eq, value = a.partition("=")
        if not eq and name not in BOOLEAN_FLAGS and (name == "--config.file" or name in PASSED_FLAGS):
            value = next(it, "")  # the `--flag value` form kingpin also accepts
        if name == "--config.file":
            config = value
        elif name in PASSED_FLAGS:
            out.append(f"{name}={value}" if value else name)
    return config, out


def config_source(pod: dict, container: dict, config_path: str) -> tuple[str, str] | None:
    """(ConfigMap name, key) mounted at `config_path`, or None when no ConfigMap volume holds it."""
    volumes = {v["name"]: v for v in (pod.get("spec") or {}).get("volumes") or []}
    for m in container.get("volumeMounts") or []:
        vol = volumes.get(m.get("name"))
        if vol is None or "configMap" not in vol:
            continue
        mount = posixpath.normpath(m["mountPath"])
        if m.get("subPath") and mount == posixpath.normpath(config_path):
            key = m["subPath"]
        elif not m.get("subPath") and posixpath.dirname(posixpath.normpath(config_path)) == mount:
            key = posixpath.basename(config_path)
        else:
            continue
        items = vol["configMap"].get("items")
        if items:  # items map keys to paths inside the volume
            key = next((i["key"] for i in items if i.get("path") == key), None)
            if key is None:
                continue
        return vol["configMap"]["name"], key
    return None


def config_text(pod: dict, get_configmap) -> str:
    """The prometheus.yml the pod's container reads. `get_configmap(namespace, name)` -> ConfigMap or None."""
    c = prometheus_container(pod)
    if c is None:
        raise InvalidInput(f"pod {pod['metadata']['name']} has no {IMAGE} container")
    path, _ = flags(c)
    src = config_source(pod, c, path)
    if src is None:
        return IMAGE_CONFIG
    ns = pod["metadata"].get("namespace") or "default"
    cm = get_configmap(ns, src[0])
    data = (cm or {}).get("data") or {}
    if src[1] not in data:
        what = f'configmap "{src[0]}" not found' if cm is None else f'configmap "{src[0]}" has no key "{src[1]}"'
        raise InvalidInput(f"pod {ns}/{pod['metadata']['name']}: {what}")
    return data[src[1]]
