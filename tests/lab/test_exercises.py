"""Chapters 01-05's exercises on the embedded lab: on a fresh lab no check passes; each check passes
once the chapter's solution is applied, and a typical wrong attempt gets the hint meant for it.
One test per chapter, each leaving the lab as it found it (the chapters' own clean-up, in `finally`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import kanslab
from kanslab import wait_for
from kanslab.lessons import free_ip, pod_manifest

pytestmark = pytest.mark.lab

POOL = "default-ipv4-ippool"


def check(lab, id_):
    return kanslab.exercises.check(id_, lab=lab)


def passes(lab, id_, timeout=20.0):
    r = wait_for(lambda: check(lab, id_).passed, timeout=timeout)
    assert r, check(lab, id_).message


def patch_pool(lab, spec: dict):
    lab.calicoctl(f"patch ippool {POOL} -p '{json.dumps({'spec': spec})}'")


def test_fresh_lab_passes_no_check(lab):
    # chapters 06 (faults) and 07 (a scale lab of its own) check other labs than this fresh one
    ids = [i for i in kanslab.exercises.list().id if not i.startswith(("06", "07"))]
    assert len(kanslab.exercises.list()) >= 15 and len(ids) == 15
    passed = [i for i in ids if check(lab, i).passed]
    assert passed == []


def test_ch01_modes(lab):
    pods = [pod_manifest("ex1-a", "k8s-w1"), pod_manifest("ex1-b", "k8s-w0")]
    added = []
    try:
        lab.apply(pods)
        lab.wait_ready(["ex1-a", "ex1-b"])
        # CrossSubnet: Direct everywhere is the typical wrong answer
        patch_pool(lab, {"ipipMode": "Never"})
        r = check(lab, "01-crosssubnet")
        assert not r.passed and "Direct mode" in r.message
        # Direct mode: a route pointing at the wrong node, then only k8s-w0's block
        blocks = {r.owner: r.block for r in lab.pod_routes("k8s-w1").itertuples()}
        ips = {n.name: n.ip for n in lab.topology.nodes}
        lab.sh("router", f"ip route replace {blocks['k8s-w0']} via {ips['k8s-w1']}")
        added.append(blocks["k8s-w0"])
        r = check(lab, "01-direct-router")
        assert not r.passed and "points at 192.168.10.101" in r.message
        lab.sh("router", f"ip route replace {blocks['k8s-w0']} via {ips['k8s-w0']}")
        r = check(lab, "01-direct-router")
        assert not r.passed and "k8s-w1's block" in r.message and "reply" in r.message
        for node, block in blocks.items():
            lab.sh("router", f"ip route replace {block} via {ips[node]}")
            added.append(block)
        r = check(lab, "01-direct-router")
        assert r.passed and "pings" in r.message, r.message
        # CrossSubnet right; VXLAN only across subnets is not what the exercise asks
        patch_pool(lab, {"ipipMode": "CrossSubnet"})
        passes(lab, "01-crosssubnet")
        patch_pool(lab, {"ipipMode": "Never", "vxlanMode": "CrossSubnet"})
        r = check(lab, "01-vxlan")
        assert not r.passed and "only across subnets" in r.message
        patch_pool(lab, {"ipipMode": "Never", "vxlanMode": "Always"})
        passes(lab, "01-vxlan")
    finally:
        for block in set(added):
            lab.sh("router", f"ip route del {block}", check=False)
        patch_pool(lab, {"vxlanMode": "Never", "ipipMode": "Always"})
        lab.delete(pods)
        assert wait_for(lambda: (lab.pod_routes("k8s-w1").kind == "ipip").sum() == 3)


ROUTER_PEER = {"apiVersion": "projectcalico.org/v3", "kind": "BGPPeer", "metadata": {"name": "ex-rtr"},
               "spec": {"peerIP": "192.168.10.254", "asNumber": 64512}}


def test_ch02_bgp(lab):
    pods = [pod_manifest("ex2-a", "k8s-w1")]
    try:
        lab.apply(pods)
        lab.wait_ready(["ex2-a"])
        lab.apply({**ROUTER_PEER, "spec": {**ROUTER_PEER["spec"], "asNumber": 65000}})
        r = check(lab, "02-peer-router")
        assert not r.passed and "AS 65000" in r.message
        lab.apply({**ROUTER_PEER, "spec": {**ROUTER_PEER["spec"], "node": "k8s-w1"}})
        assert wait_for(lambda: "not with" in check(lab, "02-peer-router").message, timeout=30)
        lab.apply(ROUTER_PEER)
        passes(lab, "02-peer-router", timeout=30)
        r = check(lab, "02-idc-sees-pods")  # peered, but natOutgoing still on
        assert not r.passed and "natOutgoing is on" in r.message
        patch_pool(lab, {"natOutgoing": False})
        passes(lab, "02-nat-off")
        passes(lab, "02-idc-sees-pods")
    finally:
        lab.calicoctl("delete bgppeer ex-rtr", check=False)
        patch_pool(lab, {"natOutgoing": True})
        lab.delete(pods)


SCENARIO = {"shop/frontend": "k8s-w1", "shop/backend": "k8s-w2", "shop/db": "k8s-w0", "ops/monitor": "k8s-w1",
            "ops/debug": "k8s-w2", "guest/visitor": "k8s-w0"}
AND = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: backend-from-monitor, namespace: shop}
spec:
  podSelector: {matchLabels: {app: backend}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {team: ops}}
      podSelector: {matchLabels: {app: monitor}}
"""
OR = AND.replace("      podSelector:", "    - podSelector:")
DENY = """
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: default-app-policy}
spec:
  namespaceSelector: SEL
  types: [Ingress, Egress]
"""
APP_NS = "has(projectcalico.org/name) && projectcalico.org/name not in {'kube-system', 'calico-system'}"
MONITOR_OUT = """
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: monitor-to-shop}
spec:
  order: 100
  namespaceSelector: projectcalico.org/name == 'ops'
  selector: app == 'monitor'
  types: [Egress]
  egress:
  - action: Allow
    protocol: TCP
    destination: {namespaceSelector: projectcalico.org/name == 'shop', ports: [80]}
"""
SHOP_IN = """
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: shop-from-monitor}
spec:
  order: 100
  namespaceSelector: projectcalico.org/name == 'shop'
  types: [Ingress]
  ingress:
  - action: Allow
    protocol: TCP
    source: {namespaceSelector: projectcalico.org/name == 'ops', selector: app == 'monitor'}
"""


def test_ch03_policy(lab):
    docs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {"team": ns}}}
            for ns in ("shop", "ops", "guest")]
    for key, node in SCENARIO.items():
        ns, name = key.split("/")
        docs.append(pod_manifest(name, node, labels={"app": name}, namespace=ns))
    try:
        lab.apply(docs)
        lab.wait_ready(list(SCENARIO))
        assert wait_for(lambda: lab.reachability(pods=list(SCENARIO)).values.all(), timeout=30)
        lab.apply("""
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: ingress-deny, namespace: shop}
spec: {podSelector: {}, policyTypes: [Ingress]}
""")
        lab.apply(OR)
        r = check(lab, "03-monitor-only")
        assert not r.passed and "ops/debug" in r.message and "one more dash" in r.message
        lab.apply(AND)
        passes(lab, "03-monitor-only")
        for ns in ("shop", "ops", "guest"):
            lab.kubectl(f"delete networkpolicy --all -n {ns}")
        lab.apply(DENY.replace("SEL", "all()"))
        r = check(lab, "03-calico-default-deny")
        assert not r.passed and "kube-system" in r.message
        lab.apply(DENY.replace("SEL", f"\"{APP_NS}\""))
        passes(lab, "03-calico-default-deny")
        lab.apply(SHOP_IN)  # half an exception: the monitor's egress is still denied
        r = check(lab, "03-calico-exception")
        assert not r.passed and "both directions" in r.message
        lab.apply(MONITOR_OUT)
        passes(lab, "03-calico-exception")
    finally:
        for name in ("default-app-policy", "monitor-to-shop", "shop-from-monitor"):
            lab.calicoctl(f"delete globalnetworkpolicy {name}", check=False)
        for ns in ("shop", "ops", "guest"):
            lab.kubectl(f"delete namespace {ns} --ignore-not-found", check=False)


def test_ch04_ipam(lab):
    blocks = {r.owner: r.block for r in lab.pod_routes("k8s-w1").itertuples()}
    reserved = blocks["k8s-w1"].rsplit(".", 1)[0] + ".0/26"
    try:
        lab.apply({"apiVersion": "projectcalico.org/v3", "kind": "IPReservation", "metadata": {"name": "ex-res"},
                   "spec": {"reservedCIDRs": [reserved]}})
        outside = free_ip(lab, blocks["k8s-w1"], 100)
        lab.apply(pod_manifest("ex4-out", "k8s-w1", ip=outside, labels={"chapter": "ex4"}))
        r = check(lab, "04-pin-reserved")
        assert not r.passed and "outside every reserved CIDR" in r.message
        lab.apply(pod_manifest("ex4-in", "k8s-w1", ip=free_ip(lab, reserved, 10), labels={"chapter": "ex4"}))
        lab.wait_ready(["ex4-in"])
        passes(lab, "04-pin-reserved")
        # borrowing from the wrong block
        lab.apply(pod_manifest("ex4-b1", "k8s-w0", ip=free_ip(lab, blocks["k8s-w1"], 150), labels={"chapter": "ex4"}))
        lab.wait_ready(["ex4-b1"])
        r = check(lab, "04-borrow")
        assert not r.passed and "k8s-w0" in r.message and "k8s-w2's block" in r.message
        lab.apply(pod_manifest("ex4-b2", "k8s-w0", ip=free_ip(lab, blocks["k8s-w2"], 150), labels={"chapter": "ex4"}))
        lab.wait_ready(["ex4-b2"])
        passes(lab, "04-borrow", timeout=30)
        # the write-up's MAC annotation
        seed = pod_manifest("ex4-seed", "k8s-w2", ip=free_ip(lab, blocks["k8s-w2"], 60), labels={"chapter": "ex4"})
        seed["metadata"]["annotations"]["cni.projectcalico.org/mac"] = "1c:0c:0a:c0:ff:02"
        lab.apply(seed)
        lab.wait_ready(["ex4-seed"])
        r = check(lab, "04-static-mac")
        assert not r.passed and "nothing reads" in r.message
        lab.apply(pod_manifest("ex4-mac", "k8s-w2", ip=free_ip(lab, blocks["k8s-w2"], 61), mac="1c:0c:0a:c0:ff:03",
                               labels={"chapter": "ex4"}))
        lab.wait_ready(["ex4-mac"])
        passes(lab, "04-static-mac")
    finally:
        lab.kubectl("delete pod -l chapter=ex4 --ignore-not-found", check=False)
        lab.calicoctl("delete ipreservation ex-res --skip-not-exists", check=False)


MON_INGRESS = (Path(__file__).parent.parent / "fixtures" / "mon-ingress.yaml").read_text()


def test_ch05_monitoring(lab):
    before = json.loads(lab.calicoctl("get felixconfiguration default -o json"))
    pods = [pod_manifest("ex5-mon", "k8s-w1", labels={"app": "mon"})]
    wrong_svc = """apiVersion: v1
kind: Service
metadata: {name: kc-metrics, namespace: kube-system}
spec:
  clusterIP: None
  selector: {k8s-app: calico-kube-controllers}
  ports: [{port: 9094, targetPort: 9094}]
"""
    try:
        lab.calicoctl("""patch felixconfiguration default --patch '{"spec":{"prometheusMetricsEnabled": true}}'""")
        passes(lab, "05-enable-metrics")
        # the Service for kube-controllers: right selector under the wrong name, then the write-up's
        lab.apply(wrong_svc)
        r = check(lab, "05-kube-controllers-svc")
        assert not r.passed and "kube-system/kc-metrics selects kube-controllers" in r.message
        lab.sh("k8s-m", "kubectl apply -f ~/manifests/kube-controllers-metrics-svc.yaml")
        passes(lab, "05-kube-controllers-svc")
        lab.apply(pods)
        lab.wait_ready(["ex5-mon"])
        lab.apply(MON_INGRESS)
        r = check(lab, "05-policy-metric")  # the policy selects a pod on k8s-w1 only
        assert not r.passed and "k8s-w2" in r.message
        more = [pod_manifest("ex5-mon2", "k8s-w2", labels={"app": "mon"})]
        pods += more
        lab.apply(more)
        lab.wait_ready(["ex5-mon2"])
        passes(lab, "05-policy-metric")
    finally:
        lab.kubectl("delete networkpolicy mon-ingress --ignore-not-found", check=False)
        lab.kubectl("delete service kc-metrics kube-controllers-metrics-svc -n kube-system --ignore-not-found",
                    check=False)
        lab.delete(pods)
        lab.apply({"apiVersion": before["apiVersion"], "kind": "FelixConfiguration", "metadata": {"name": "default"},
                   "spec": before["spec"]})
