"""Kubernetes objects as DataFrames: the kubernetes Python client where the API server is reachable,
`kubectl -o json` on the control plane otherwise.

The client uses the kubeconfig fetched from the control plane (`/etc/kubernetes/admin.conf`
on a kubeadm cluster), reached through an SSH tunnel from k8s-m (so neither the host-only
network nor an open port 6443 is needed). The certificate is checked against the name
`kubernetes`, which kubeadm always puts in the API server's certificate."""

from __future__ import annotations

import json
import logging
from urllib.parse import urlsplit

import pandas as pd
import yaml

from ..ssh import scrub

log = logging.getLogger("kanslab.kube")

POD_COLUMNS = ["namespace", "name", "node", "ip", "phase", "labels"]
NODE_COLUMNS = ["name", "internal_ip", "pod_cidr", "ready", "roles", "kubelet_version"]
POLICY_COLUMNS = ["namespace", "name", "pod_selector", "policy_types", "ingress_rules", "egress_rules"]

KINDS = {  # kind -> (kubectl resource, kubernetes client call)
    "pods": ("pods -A", ("CoreV1Api", "list_pod_for_all_namespaces")),
    "nodes": ("nodes", ("CoreV1Api", "list_node")),
    "networkpolicies": ("networkpolicies -A", ("NetworkingV1Api", "list_network_policy_for_all_namespaces")),
}


def pods_frame(items: list[dict]) -> pd.DataFrame:
    rows = [{"namespace": p["metadata"].get("namespace"), "name": p["metadata"]["name"],
             "node": (p.get("spec") or {}).get("nodeName"), "ip": (p.get("status") or {}).get("podIP"),
             "phase": (p.get("status") or {}).get("phase"), "labels": p["metadata"].get("labels") or {}}
            for p in items]
    return pd.DataFrame(rows, columns=POD_COLUMNS)


def nodes_frame(items: list[dict]) -> pd.DataFrame:
    rows = []
    for n in items:
        st = n.get("status") or {}
        addrs = {a.get("type"): a.get("address") for a in st.get("addresses") or []}
        conds = {c.get("type"): c.get("status") for c in st.get("conditions") or []}
        labels = n["metadata"].get("labels") or {}
        roles = sorted(k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/"))
        rows.append({"name": n["metadata"]["name"], "internal_ip": addrs.get("InternalIP"),
                     "pod_cidr": (n.get("spec") or {}).get("podCIDR"), "ready": conds.get("Ready") == "True",
                     "roles": ",".join(roles), "kubelet_version": (st.get("nodeInfo") or {}).get("kubeletVersion")})
    return pd.DataFrame(rows, columns=NODE_COLUMNS)


def policies_frame(items: list[dict]) -> pd.DataFrame:
    rows = []
    for p in items:
        spec = p.get("spec") or {}
        rows.append({"namespace": p["metadata"].get("namespace"), "name": p["metadata"]["name"],
                     "pod_selector": spec.get("podSelector") or {}, "policy_types": spec.get("policyTypes") or [],
                     "ingress_rules": len(spec.get("ingress") or []), "egress_rules": len(spec.get("egress") or [])})
    return pd.DataFrame(rows, columns=POLICY_COLUMNS)


FRAMES = {"pods": pods_frame, "nodes": nodes_frame, "networkpolicies": policies_frame}


class KubeAccess:
    """Lists Kubernetes objects for a backend: API client through a tunnel, else kubectl over SSH."""

    def __init__(self, backend, kubeconfig_path: str = "/etc/kubernetes/admin.conf", tls_server_name: str = "kubernetes"):
        self.backend = backend
        self.kubeconfig_path = kubeconfig_path
        self.tls_server_name = tls_server_name
        self._api = None
        self._api_failed: str | None = None
        self._forward = None
        self.source = None  # "api" or "kubectl", whichever served the last list

    def kubeconfig(self) -> dict:
        """The control plane's kubeconfig (read with sudo where the login user is not root)."""
        host = self.backend.pool.host(self.backend.control_plane)
        text = host.read_bytes(self.kubeconfig_path, sudo=host.sudo).decode()
        cfg = yaml.safe_load(text)
        if not isinstance(cfg, dict) or not cfg.get("clusters"):
            raise ValueError(f"{self.kubeconfig_path} on {host.name} is not a kubeconfig")
        return cfg

    def api_client(self):
        """A kubernetes.client.ApiClient talking to the API server through SSH, or None (reason logged)."""
        if self._api is not None or self._api_failed is not None:
            return self._api
        try:
            from kubernetes import client, config

            cfg = self.kubeconfig()
            ctx_name = cfg.get("current-context")
            ctx = next((c["context"] for c in cfg.get("contexts", []) if c.get("name") == ctx_name), None)
            cluster_name = ctx["cluster"] if ctx else cfg["clusters"][0]["name"]
            cluster = next(c["cluster"] for c in cfg["clusters"] if c["name"] == cluster_name)
            url = urlsplit(cluster["server"])
            port = url.port or (443 if url.scheme == "https" else 80)
            host = self.backend.pool.host(self.backend.control_plane)
            self._forward = host.forward(url.hostname, port)
            conf = client.Configuration()
            config.load_kube_config_from_dict(cfg, client_configuration=conf)
            conf.host = f"{url.scheme}://127.0.0.1:{self._forward.port}"
            if url.scheme == "https" and conf.verify_ssl:
                conf.tls_server_name = self.tls_server_name
            api = client.ApiClient(conf)
            client.VersionApi(api).get_code(_request_timeout=10, _preload_content=False)
            self._api = api
        except Exception as e:
            self._api_failed = scrub(f"{type(e).__name__}: {e}")[:300]  # may quote the kubeconfig
            log.info("kubernetes API not reachable (%s); using kubectl on %s", self._api_failed,
                     self.backend.control_plane)
            if self._forward is not None:
                self._forward.close()
                self._forward = None
        return self._api

    def items(self, kind: str) -> list[dict]:
        resource, (api_cls, method) = KINDS[kind]
        api = self.api_client()
        if api is not None:
            from kubernetes import client

            try:
                # raw JSON, not the client's models: the same dicts as `kubectl -o json`, whatever the versions
                resp = getattr(getattr(client, api_cls)(api), method)(_request_timeout=30, _preload_content=False)
                items = json.loads(resp.data).get("items") or []
                self.source = "api"
                return items
            except Exception as e:
                log.info("kubernetes API call %s failed (%s); falling back to kubectl", method, scrub(str(e)))
        self.source = "kubectl"
        out = self.backend.kubectl(f"get {resource} -o json")
        return json.loads(out).get("items") or [] if out.strip() else []

    def frame(self, kind: str) -> pd.DataFrame:
        return FRAMES[kind](self.items(kind))

    def close(self) -> None:
        if self._forward is not None:
            self._forward.close()
            self._forward = None
        if self._api is not None:
            try:
                self._api.close()
            except Exception:
                pass
            self._api = None
