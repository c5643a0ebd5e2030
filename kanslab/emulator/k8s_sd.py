"""Prometheus's Kubernetes service discovery, served as HTTP SD from the lab's own API objects.

Debian's prometheus 2.42 is built without Kubernetes SD (`promtool check config` rejects
`kubernetes_sd_configs`), so the lab rewrites each `kubernetes_sd_configs` entry of a pod's
prometheus.yml into an `http_sd_configs` entry whose URL the lab answers with the targets
Kubernetes SD would find. Each target carries the `__meta_kubernetes_*` labels of Prometheus's
discovery/kubernetes/{endpoints,pod,service}.go, so relabel_configs select them unchanged.

Roles: endpoints, service and pod. Objects are the datastore's Kubernetes shapes (Endpoints,
Service, Pod). Label names are sanitized as strutil.SanitizeLabelName does ([^a-zA-Z0-9_] -> _).
"""

from __future__ import annotations

import copy
import re
from urllib.parse import urlencode

from ..errors import InvalidInput
from .datastore import KINDS

META = "__meta_kubernetes_"
ROLES = ("endpoints", "service", "pod")
SD_ONLY_KEYS = {"api_server", "kubeconfig_file", "tls_config", "bearer_token", "bearer_token_file", "authorization",
                "basic_auth", "oauth2", "proxy_url", "follow_redirects", "enable_http2", "selectors",
                "attach_metadata", "namespaces", "role"}


def _sanitize(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def _meta_map(prefix: str, items: dict | None) -> dict[str, str]:
    out = {}
    for k, v in (items or {}).items():
        out[f"{META}{prefix}_{_sanitize(k)}"] = str(v)
    return out


def _labels_and_present(kind: str, meta: dict) -> dict[str, str]:
    out = {}
    for what, items in (("label", meta.get("labels")), ("annotation", meta.get("annotations"))):
        for k, v in (items or {}).items():
            out[f"{META}{kind}_{what}_{_sanitize(k)}"] = str(v)
            out[f"{META}{kind}_{what}present_{_sanitize(k)}"] = "true"
    return out


def rewrite(config: dict, sd_url: str, default_namespace: str = "default") -> dict:
    """A copy of a parsed prometheus.yml with every kubernetes_sd_configs entry as http_sd_configs.

    `sd_url` is the base URL the lab serves (e.g. http://127.0.0.1:PORT/sd); each entry becomes
    `<sd_url>/<role>?namespace=...` (no namespace: all, as Kubernetes SD without `namespaces`)."""
    if not isinstance(config, dict):
        raise InvalidInput("prometheus.yml: the top level is not a mapping")
    out = copy.deepcopy(config)
    for job in out.get("scrape_configs") or []:
        entries = job.pop("kubernetes_sd_configs", None)
        if entries is None:
            continue
        http = job.setdefault("http_sd_configs", [])
        for entry in entries:
            role = (entry or {}).get("role")
            if role not in ROLES:
                raise InvalidInput(f"job {job.get('job_name')!r}: kubernetes_sd_configs role {role!r} is not one the "
                                   f"lab discovers ({', '.join(ROLES)})")
            ns = (entry.get("namespaces") or {})
            names = list(ns.get("names") or [])
            if ns.get("own_namespace"):
                names.append(default_namespace)
            query = urlencode([("namespace", n) for n in names])
            item = {"url": f"{sd_url}/{role}" + (f"?{query}" if query else "")}
            if entry.get("refresh_interval"):
                item["refresh_interval"] = entry["refresh_interval"]
            else:
                item["refresh_interval"] = "5s"  # Kubernetes SD watches; poll often so new endpoints show soon
            http.append(item)
    return out


def pod_labels(pod: dict) -> dict[str, str]:
    """pod.go's podLabels."""
    meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    ready = next((c.get("status") for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    out = {META + "pod_name": meta["name"], META + "pod_ip": status.get("podIP") or "",
           META + "pod_ready": (ready or "unknown").lower(), META + "pod_phase": status.get("phase") or "",
           META + "pod_node_name": spec.get("nodeName") or "", META + "pod_host_ip": status.get("hostIP") or "",
           META + "pod_uid": meta.get("uid") or ""}
    owner = next((o for o in meta.get("ownerReferences") or [] if o.get("controller")), None)
    if owner:
        out[META + "pod_controller_kind"] = owner.get("kind", "")
        out[META + "pod_controller_name"] = owner.get("name", "")
    out.update(_labels_and_present("pod", meta))
    return out


def service_labels(svc: dict) -> dict[str, str]:
    """service.go's serviceLabels."""
    meta = svc["metadata"]
    out = {META + "service_name": meta["name"], META + "namespace": meta.get("namespace") or "default"}
    out.update(_labels_and_present("service", meta))
    return out


def _container_port(pod: dict, port: int) -> tuple[dict, dict] | None:
    for c in (pod.get("spec") or {}).get("containers") or []:
        for cp in c.get("ports") or []:
            if int(cp.get("containerPort", -1)) == port:
                return c, cp
    return None


def endpoints_groups(endpoints: list[dict], services: list[dict], pods: list[dict]) -> list[dict]:
    """endpoints.go's buildEndpoints for each Endpoints object, one HTTP SD group per target."""
    svc_by = {(s["metadata"].get("namespace") or "default", s["metadata"]["name"]): s for s in services}
    pod_by = {(p["metadata"].get("namespace") or "default", p["metadata"]["name"]): p for p in pods}
    groups = []
    for eps in endpoints:
        meta = eps["metadata"]
        ns = meta.get("namespace") or "default"
        common = {META + "namespace": ns, META + "endpoints_name": meta["name"]}
        if (ns, meta["name"]) in svc_by:
            common.update(service_labels(svc_by[(ns, meta["name"])]))
        for k, v in (meta.get("labels") or {}).items():
            common[f"{META}endpoints_label_{_sanitize(k)}"] = str(v)
            common[f"{META}endpoints_labelpresent_{_sanitize(k)}"] = "true"
        targets: dict[str, dict] = {}
        seen: dict[tuple, set[int]] = {}
        for subset in eps.get("subsets") or []:
            for port in subset.get("ports") or []:
                for addrs, ready in ((subset.get("addresses") or [], "true"), (subset.get("notReadyAddresses") or [], "false")):
                    for addr in addrs:
                        t = {"__address__": f"{addr['ip']}:{port['port']}",
                             META + "endpoint_port_name": port.get("name") or "",
                             META + "endpoint_port_protocol": port.get("protocol") or "TCP",
                             META + "endpoint_ready": ready}
                        ref = addr.get("targetRef") or {}
                        if ref:
                            t[META + "endpoint_address_target_kind"] = ref.get("kind", "")
                            t[META + "endpoint_address_target_name"] = ref.get("name", "")
                        if addr.get("nodeName"):
                            t[META + "endpoint_node_name"] = addr["nodeName"]
                        if addr.get("hostname"):
                            t[META + "endpoint_hostname"] = addr["hostname"]
                        pod = pod_by.get((ref.get("namespace") or ns, ref.get("name"))) if ref.get("kind") == "Pod" else None
                        if pod is not None:
                            t.update(pod_labels(pod))
                            cp = _container_port(pod, int(port["port"]))
                            if cp:
                                t.update({META + "pod_container_name": cp[0]["name"],
                                          META + "pod_container_port_name": cp[1].get("name") or "",
                                          META + "pod_container_port_number": str(port["port"]),
                                          META + "pod_container_port_protocol": port.get("protocol") or "TCP"})
                            seen.setdefault((ns, ref["name"]), set()).add(int(port["port"]))
                        targets[t["__address__"] + "|" + (port.get("name") or "")] = t  # not-ready overrides ready
        # container ports of the seen pods that no endpoint port covered
        for key, ports in seen.items():
            pod = pod_by[key]
            for c in pod["spec"].get("containers") or []:
                for cp in c.get("ports") or []:
                    if int(cp["containerPort"]) in ports:
                        continue
                    t = {"__address__": f"{pod['status'].get('podIP')}:{cp['containerPort']}",
                         META + "pod_container_name": c["name"], META + "pod_container_port_name": cp.get("name") or "",
                         META + "pod_container_port_number": str(cp["containerPort"]),
                         META + "pod_container_port_protocol": cp.get("protocol") or "TCP", **pod_labels(pod)}
                    targets[t["__address__"] + "|pod"] = t
        for t in targets.values():
            addr = t.pop("__address__")
            groups.append({"targets": [addr], "labels": {**common, **t}})
    return groups


def service_groups(services: list[dict]) -> list[dict]:
    """service.go's buildService: one target per port, `<name>.<namespace>.svc:<port>`."""
    groups = []
    for svc in services:
        meta, spec = svc["metadata"], svc.get("spec") or {}
        ns = meta.get("namespace") or "default"
        for port in spec.get("ports") or []:
            labels = {**service_labels(svc), META + "service_port_name": port.get("name") or "",
                      META + "service_port_number": str(port["port"]),
                      META + "service_port_protocol": port.get("protocol") or "TCP",
                      META + "service_type": spec.get("type") or "ClusterIP"}
            if spec.get("type") != "ExternalName":
                labels[META + "service_cluster_ip"] = spec.get("clusterIP") or ""
            groups.append({"targets": [f"{meta['name']}.{ns}.svc:{port['port']}"], "labels": labels})
    return groups


def pod_groups(pods: list[dict]) -> list[dict]:
    """pod.go's buildPod: one target per container port (a pod without ports: its IP alone)."""
    groups = []
    for pod in pods:
        ip = (pod.get("status") or {}).get("podIP")
        if not ip:
            continue
        base = {**pod_labels(pod), META + "namespace": pod["metadata"].get("namespace") or "default"}
        ports = [(c, cp) for c in pod["spec"].get("containers") or [] for cp in c.get("ports") or []]
        if not ports:
            groups.append({"targets": [ip], "labels": base})
        for c, cp in ports:
            groups.append({"targets": [f"{ip}:{cp['containerPort']}"], "labels": {
                **base, META + "pod_container_name": c["name"], META + "pod_container_port_name": cp.get("name") or "",
                META + "pod_container_port_number": str(cp["containerPort"]),
                META + "pod_container_port_protocol": cp.get("protocol") or "TCP", META + "pod_container_init": "false"}})
    return groups


def discover(ds, role: str, namespaces: list[str] | None = None) -> list[dict]:
    """The HTTP SD payload for one role from the datastore (kinds Endpoints, Service, Pod)."""
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}")

    def objs(kind):
        if kind not in KINDS:  # a datastore without that kind yet holds none of it
            return []
        items = ds.list(kind)
        return [o for o in items if not namespaces or (o["metadata"].get("namespace") or "default") in namespaces]
    if role == "endpoints":
        return endpoints_groups(objs("Endpoints"), objs("Service"), objs("Pod"))
    if role == "service":
        return service_groups(objs("Service"))
    return pod_groups(objs("Pod"))
