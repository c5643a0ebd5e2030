"""What `kubeadm init/join` plus `kubectl apply -f calico-kans.yaml` leave in the datastore."""

from __future__ import annotations

import json
from typing import Any

from . import calico_objects as co
from . import ipam
from . import k8s_objects as k8s
from .cluster import cluster_spec
from .core_objects import ensure_namespace_defaults
from .datastore import Datastore
from .endpoints import ensure_services
from .kube_system import ensure_kube_system
from .kube_system_owners import ensure_owners


def bootstrap(ds: Datastore, topology: Any) -> list[str]:
    """What `kubeadm init/join` plus `kubectl apply -f calico-kans.yaml` leave behind; creates only what
    is missing, so it is safe to call on every `lab.up()`."""
    spec = cluster_spec(topology)
    made = []
    with ds.transaction() as tx:
        for ns in k8s.SYSTEM_NAMESPACES:
            if tx.get("Namespace", ns) is None:
                tx.put(k8s.build_namespace(ns))
                made.append(f"namespace/{ns} created")
        for i, facts in enumerate(spec.nodes):
            if tx.get("Node", facts.name) is None:
                tx.put(k8s.build_node(spec, facts, i))
                made.append(f"node/{facts.name} created")
        if tx.get("IPAMConfig", "default") is None:
            ipam.ensure_ipam_config(tx)
            made.append("ipamconfig/default created")
        if not tx.list("IPPool"):
            dp = spec.default_pool
            pool = {"apiVersion": "projectcalico.org/v3", "kind": "IPPool", "metadata": {"name": dp.name},
                    "spec": {"cidr": str(spec.pod_cidr), "blockSize": spec.block_size, "ipipMode": dp.ipip_mode,
                             "vxlanMode": dp.vxlan_mode, "natOutgoing": dp.nat_outgoing, "nodeSelector": "all()"}}
            tx.put(co.normalize_ippool(pool, None, []))
            made.append(f"ippool.projectcalico.org/{pool['metadata']['name']} created")
        if tx.get("FelixConfiguration", "default") is None:
            tx.put({"apiVersion": "projectcalico.org/v3", "kind": "FelixConfiguration",
                    "metadata": {"name": "default"}, "spec": dict(co.FELIX_DEFAULT_SPEC)})
            made.append("felixconfiguration.projectcalico.org/default created")
        if tx.get("KubeControllersConfiguration", "default") is None:
            tx.put({"apiVersion": "projectcalico.org/v3", "kind": "KubeControllersConfiguration",
                    "metadata": {"name": "default"}, "spec": json.loads(json.dumps(co.KUBE_CONTROLLERS_DEFAULT_SPEC))})
            made.append("kubecontrollersconfiguration.projectcalico.org/default created")
        ipam.reconcile_tunnel_addrs(tx, spec)
        made += ensure_kube_system(tx, spec)
        made += ensure_owners(tx, len(spec.nodes))
        for ns in tx.list("Namespace"):   # kube-controller-manager's serviceaccounts controller
            ensure_namespace_defaults(tx, ns["metadata"]["name"])
        made += ensure_services(tx, spec)
    return made

