"""prom/prometheus pods run Debian's prometheus in the pod's network and UTS namespaces (its hostname).

The config is the one the pod's container would read (emulator/prom_pod.py: the mounted ConfigMap,
or the image's own), with each `kubernetes_sd_configs` rewritten into `http_sd_configs`
(emulator/k8s_sd.py): Debian's prometheus 2.42 has no Kubernetes SD. The HTTP SD endpoint listens on
the pod's own loopback (127.0.0.1:SD_PORT, a socket made in the pod's namespace and served by the
agent's metrics thread) and answers from the lab's API objects at each refresh. Config and TSDB live
under /run/kanslab/<prefix>/pods/<namespace>/<pod>/. The process is recorded for teardown (and
killed with its namespace's other processes by `kanslab down`), and stopped when the pod goes.
"""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import signal
import subprocess
from urllib.parse import parse_qs, urlsplit

import yaml

from ...emulator import k8s_sd, prom_pod
from ...emulator.datastore import KINDS
from ...errors import InvalidInput, LabError
from . import mntns
from .metrics import MetricsServer
from .record import is_mountpoint

SD_PORT = 19090  # on the pod's loopback only


def in_pod_argv(names, netns: str) -> list[str]:
    """Prometheus in the pod's network and UTS namespaces. The UTS one gives it the pod's hostname, as in
    a container: Prometheus's default --web.external-url is http://<os.Hostname()>:<port>/
    (cmd/prometheus/main.go computeExternalURL), which /api/v1/targets shows as the `globalUrl` of a
    localhost target (http://prometheus-pod:9090/metrics, not the machine's name). Not the pod's mount
    namespace: the config and TSDB it reads live in the lab's state dir, which the pod's /run hides.
    A pod without a UTS namespace file (a lab made before them): the network namespace alone."""
    _, uts = mntns.ns_files(names, netns)
    if is_mountpoint(uts):
        return ["nsenter", f"--net=/run/netns/{netns}", f"--uts={uts}", "--"]
    return ["ip", "netns", "exec", netns]


def show_config_in_pod(names, netns: str, path: str, text: str) -> bool:
    """The container's config file as kubelet mounts it: TEXT (the ConfigMap key, verbatim) at PATH in the pod's mount namespace, so `kubectl exec ... -- cat` shows it, not Debian's
    /etc/prometheus/prometheus.yml. Written through the pod's /etc overlay (its upper layer is in the
    state dir); a path outside /etc, or a pod without a mount namespace, would reach the machine's own
    files, so it is left alone (False)."""
    mnt, _ = mntns.ns_files(names, netns)
    path = posixpath.normpath(path)
    if not path.startswith("/etc/") or not is_mountpoint(mnt):
        return False
    subprocess.run([*mntns.enter_argv(names, netns, netns), "sh", "-ec", 'mkdir -p "${1%/*}" && cat > "$1"',
                    "sh", path], input=text, text=True, capture_output=True, check=True)
    return True


class PrometheusPods:
    def __init__(self, lab, names, rec, server: MetricsServer):
        self.lab, self.names, self.rec, self.server = lab, names, rec, server
        self.procs: dict[str, subprocess.Popen] = {}

    @staticmethod
    def wants(pod: dict | None) -> bool:
        return pod is not None and prom_pod.prometheus_container(pod) is not None

    def _configmap(self, namespace: str, name: str) -> dict | None:
        if "ConfigMap" not in KINDS:  # this datastore does not store ConfigMaps yet
            return None
        return self.lab.datastore().get("ConfigMap", name, namespace)

    def start(self, key: str, pod: dict, netns: str) -> None:
        exe = shutil.which("prometheus")
        if exe is None:
            raise LabError("Prometheus is not installed: apt-get install prometheus (scripts/install.sh does)")
        ns, name = pod["metadata"].get("namespace") or "default", pod["metadata"]["name"]
        d = self.names.dir / "pods" / ns / name
        self.rec.add("dir", path=str(d))
        (d / "data").mkdir(parents=True, exist_ok=True)
        container = prom_pod.prometheus_container(pod)
        config_path, passed = prom_pod.flags(container)
        text = prom_pod.config_text(pod, self._configmap)
        try:
            cfg = yaml.safe_load(text) or {}
        except yaml.YAMLError as e:
            raise InvalidInput(f"pod {ns}/{name}: prometheus.yml is not YAML: {e}") from None
        cfg = k8s_sd.rewrite(cfg, f"http://127.0.0.1:{SD_PORT}/sd", default_namespace=ns)
        (d / "prometheus.yml").write_text(yaml.safe_dump(cfg, sort_keys=False))
        if prom_pod.config_source(pod, container, config_path) is not None:  # the image's own: not known verbatim
            show_config_in_pod(self.names, netns, config_path, text)
        sd_key = f"prom-sd {key}"
        self.server.extra[sd_key] = (netns, self._sd)
        self.server.sync({sd_key: ("127.0.0.1", SD_PORT)})
        if not any(f.startswith("--web.listen-address") for f in passed):
            passed.append(f"--web.listen-address={prom_pod.DEFAULT_LISTEN}")
        argv = [*in_pod_argv(self.names, netns), exe, f"--config.file={d / 'prometheus.yml'}",
                f"--storage.tsdb.path={d / 'data'}", *passed]
        log = open(d / "prometheus.log", "w")
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ), start_new_session=True,
                             cwd=str(d))
        log.close()
        self.rec.add_pid(p.pid, f"prometheus {key}")
        self.procs[key] = p

    def _sd(self, target: str) -> tuple[str, bytes] | None:
        url = urlsplit(target)
        parts = url.path.strip("/").split("/")
        if len(parts) != 2 or parts[0] != "sd" or parts[1] not in k8s_sd.ROLES:
            return None
        namespaces = parse_qs(url.query).get("namespace")
        with self.lab.datastore().snapshot() as tx:
            groups = k8s_sd.discover(tx, parts[1], namespaces)
        return "application/json", json.dumps(groups).encode()

    def stop(self, key: str) -> None:
        p = self.procs.pop(key, None)
        sd_key = f"prom-sd {key}"
        if sd_key in self.server.extra:
            self.server.sync({sd_key: None})
            self.server.extra.pop(sd_key, None)
        if p is None:
            return
        try:
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(timeout=5)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=5)

    def stop_all(self) -> None:
        for key in list(self.procs):
            self.stop(key)
