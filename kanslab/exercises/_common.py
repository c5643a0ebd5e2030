"""Small readers the chapter checks share: the pool's modes, a node's pod routes, pods by label."""

from __future__ import annotations

import json

from ..errors import CommandError

POOL = "default-ipv4-ippool"


def pool(lab) -> dict:
    """The default pool's spec ({} when it is gone)."""
    try:
        return json.loads(lab.calicoctl(f"get ippool {POOL} -o json")).get("spec", {})
    except CommandError:
        return {}


def modes(lab) -> tuple[str, str]:
    spec = pool(lab)
    return spec.get("ipipMode") or "Never", spec.get("vxlanMode") or "Never"


def running_pods(lab, namespace: str | None = None):
    pods = lab.pods()
    pods = pods[pods.phase == "Running"]
    return pods if namespace is None else pods[pods.namespace == namespace]


def node_ip(lab) -> dict[str, str]:
    return {n.name: n.ip for n in lab.topology.nodes}
