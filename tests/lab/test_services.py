"""Services on the embedded lab: kube-proxy's DNAT, NodePort masquerade, and the cluster DNS, with real
connections from pods and from the router."""

from __future__ import annotations

import json

import pytest

from kanslab.waiting import wait_for

WEB = """apiVersion: v1
kind: Pod
metadata: {name: svcweb%d, labels: {app: svcweb}}
spec:
  nodeName: %s
  containers: [{name: whoami, image: traefik/whoami, ports: [{containerPort: 80, name: http}]}]
  terminationGracePeriodSeconds: 0
"""
SVC = """apiVersion: v1
kind: Service
metadata: {name: svcweb}
spec:
  type: NodePort
  selector: {app: svcweb}
  ports: [{port: 80, targetPort: http, nodePort: 30007}]
"""
CLIENT = """apiVersion: v1
kind: Pod
metadata: {name: svcclient}
spec:
  nodeName: k8s-w0
  containers: [{name: shell, image: nicolaka/netshoot}]
  terminationGracePeriodSeconds: 0
"""


@pytest.fixture(scope="module")
def web_service(lab):
    manifest = "---\n".join([WEB % (1, "k8s-w1"), WEB % (2, "k8s-w2"), CLIENT, SVC])
    lab.apply(manifest)
    try:
        lab.wait_ready(["default/svcweb1", "default/svcweb2", "default/svcclient"])
        yield json.loads(lab.kubectl("get svc svcweb -o json"))["spec"]["clusterIP"]
    finally:
        lab.delete(manifest)


def _hostnames(answers: list[str]) -> set[str]:
    return {ln.split(": ", 1)[1] for a in answers for ln in a.splitlines() if ln.startswith("Hostname: ")}


def test_cluster_ip_balances_over_both_pods_from_a_pod(lab, web_service):
    seen: list[str] = []

    def both_answered() -> bool:
        seen.append(lab.exec("default/svcclient", f"curl -s -m 3 http://{web_service}/"))
        return _hostnames(seen) == {"svcweb1", "svcweb2"}

    assert wait_for(both_answered, timeout=30), _hostnames(seen)   # statistic --mode random spreads them


def test_the_service_name_resolves_through_kube_dns_and_answers(lab, web_service):
    name = "svcweb.default.svc.cluster.local"
    assert lab.exec("default/svcclient", f"dig +short @10.200.1.10 {name}").split() == [web_service]
    assert lab.exec("default/svcclient", "dig +short @10.200.1.10 kubernetes.default.svc.cluster.local").split() \
        == ["10.200.1.1"]
    ip = lab.pod_ip("default/svcweb1")
    dashed = ip.replace(".", "-")
    assert lab.exec("default/svcclient", f"dig +short @10.200.1.10 {dashed}.default.pod.cluster.local").split() == [ip]
    # by name alone: the pod's resolv.conf (kubelet's search list, nameserver 10.200.1.10) finds it
    seen = [lab.exec("default/svcclient", f"curl -s -m 3 http://{name}/") for _ in range(6)]
    assert _hostnames(seen) <= {"svcweb1", "svcweb2"} and all(a.startswith("Hostname: svcweb") for a in seen)
    out = lab.exec("default/svcclient", f"curl -s -m 3 --resolve {name}:80:{web_service} http://{name}/")
    assert _hostnames([out]) <= {"svcweb1", "svcweb2"} and "Host: svcweb.default.svc.cluster.local" in out


def test_nodeport_answers_the_router_and_is_masqueraded(lab, web_service):
    out = lab.sh("router", "curl -s -m 3 http://192.168.10.101:30007/")
    assert _hostnames([out]) <= {"svcweb1", "svcweb2"}
    # kube-proxy masquerades NodePort traffic: the pod sees a node address, never the router's
    remote = [ln for ln in out.splitlines() if ln.startswith("RemoteAddr: ")][0]
    assert not remote.startswith("RemoteAddr: 192.168.10.254")


def test_kubectl_shows_kubeadms_services_and_their_endpoints(lab, web_service):
    svc = lab.kubectl("get svc -A")
    assert "kubernetes   ClusterIP   10.200.1.1" in svc and "kube-dns     ClusterIP   10.200.1.10" in svc
    assert "80:30007/TCP" in svc
    assert "192.168.10.10:6443" in lab.kubectl("get endpoints -A")


def test_kube_proxy_and_felix_chains_survive_each_others_restores(lab, web_service):
    policy = """apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: svc-felix-reconciles}
spec: {podSelector: {matchLabels: {app: svcweb}}, ingress: [{}]}
"""
    lab.apply(policy)   # Felix restores its filter table on every node
    try:
        save = lab.sh("k8s-w1", "iptables-save")
        for chain in (":KUBE-SERVICES", ":KUBE-NODEPORTS", ":KUBE-POSTROUTING", ":cali-FORWARD", ":cali-PREROUTING"):
            assert chain in save
        assert f'-A KUBE-SERVICES -d {web_service}/32 -p tcp -m comment --comment "default/svcweb cluster IP"' in save
        nat = lab.sh("k8s-w1", "iptables-save -t nat")
        # Felix's jump first, kube-proxy's after it, each once (as on a Calico node)
        assert [ln for ln in nat.splitlines() if ln.startswith("-A PREROUTING")] == [
            '-A PREROUTING -m comment --comment "cali:6gwbT8clXdHdC1b1" -j cali-PREROUTING',
            '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES']
        assert lab.sh("router", "curl -s -m 3 http://192.168.10.101:30007/").startswith("Hostname: svcweb")
    finally:
        lab.delete(policy)
