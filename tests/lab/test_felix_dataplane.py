"""Felix's dataplane on a live lab node, as issue 11 accepts it: pod MTU, iptables layout, ipsets."""

from __future__ import annotations

import json
import re

POD = """apiVersion: v1
kind: Pod
metadata: {{name: {name}, labels: {{app: {name}}}}}
spec: {{nodeName: k8s-w1, containers: [{{name: c, image: traefik/whoami}}], terminationGracePeriodSeconds: 0}}
"""


def _mtu(lab, pod: str) -> int:
    return json.loads(lab.exec(f"default/{pod}", "ip -j link show dev eth0"))[0]["mtu"]


def test_felix_leaves_other_chains_alone(lab):
    lab.sh("k8s-w1", "iptables -t nat -N KUBE-TEST && iptables -t nat -A PREROUTING -j KUBE-TEST")
    try:
        lab.apply(POD.format(name="mtu-b"))  # a new pod: Felix rewrites its chains on k8s-w1
        save = lab.sh("k8s-w1", "iptables-save -t nat")
        assert "-A PREROUTING -j KUBE-TEST" in save
        assert save.count("-j cali-PREROUTING") == 1  # Felix's hook replaced, not added again
    finally:
        lab.sh("k8s-w1", "iptables -t nat -D PREROUTING -j KUBE-TEST; iptables -t nat -X KUBE-TEST")


def test_pod_mtu_1480_under_ipip_then_1450_for_new_pods_under_vxlan(lab):
    lab.apply(POD.format(name="mtu-c"))
    assert _mtu(lab, "mtu-c") == 1480
    lab.sh("k8s-w1", "calicoctl patch ippool default-ipv4-ippool -p "
           "'{\"spec\":{\"ipipMode\":\"Never\",\"vxlanMode\":\"Always\"}}'")
    try:
        lab.apply(POD.format(name="mtu-d"))
        assert _mtu(lab, "mtu-d") == 1450
        assert _mtu(lab, "mtu-c") == 1480  # existing pods keep theirs
        assert "mtu 1450" in lab.sh("k8s-w1", "ip link show vxlan.calico")
        routes = lab.sh("k8s-w1", "ip route")
        remote = [ln for ln in routes.splitlines() if "dev vxlan.calico" in ln]
        assert remote and all("onlink" in ln and "proto" not in ln for ln in remote)
        assert re.search(r"^blackhole \S+ proto 80", routes, re.M)
    finally:
        lab.sh("k8s-w1", "calicoctl patch ippool default-ipv4-ippool -p "
               "'{\"spec\":{\"ipipMode\":\"Always\",\"vxlanMode\":\"Never\"}}'")
        lab.delete(POD.format(name="mtu-d"))
