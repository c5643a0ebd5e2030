"""The emulated control plane's entry points, re-exported from the modules that hold them.

- `transactions`: apply, apply_changes, delete, delete_changes, delete_object(s), patch, set_labels
  (one datastore transaction per call; a failed call changes nothing);
- `kinds`: the kinds the lab emulates (`K8S_KINDS`, `CALICO_KINDS`) and those it refuses;
- `k8s_apply` / `calico_apply`: applying one Kubernetes / Calico object; `calico_node(s)`;
- `bootstrap`: what kubeadm and Calico's manifest leave in the datastore;
- `felix.node_view`: one node's view of the datastore (typed records), for the dataplane.
"""

from __future__ import annotations

from .bootstrap import bootstrap
from .calico_apply import calico_node, calico_nodes
from .felix import node_view
from .kinds import CALICO_CANONICAL, CALICO_KINDS, K8S_KINDS, KNOWN_ELSEWHERE
from .manifests import load_manifest
from .outcomes import ApplyError, Change
from .selectors import calico_selector
from .transactions import (
    apply,
    apply_changes,
    delete,
    delete_changes,
    delete_object,
    delete_objects,
    patch,
    set_labels,
)

__all__ = ["load_manifest", "apply", "apply_changes", "delete", "delete_changes", "delete_object",
           "delete_objects", "patch", "set_labels", "bootstrap", "node_view", "calico_selector", "calico_node",
           "calico_nodes", "ApplyError", "Change", "K8S_KINDS", "CALICO_KINDS", "CALICO_CANONICAL",
           "KNOWN_ELSEWHERE"]
