"""Services, Endpoints and EndpointSlices as kube-apiserver and its controllers keep them."""

import json

from .fixtures import cli_lab, kctl

WHOAMI = """
apiVersion: v1
kind: Pod
metadata: {name: %s, labels: {app: web}}
spec:
  nodeName: %s
  containers: [{name: whoami, image: traefik/whoami, ports: [{containerPort: 80, name: http}]}]
"""
SVC = """
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: http, nodePort: 30001}]
"""


def _get(lab, what):
    return json.loads(kctl(lab, f"get {what} -o json")[1])


def test_kubeadms_services_and_their_endpoints(tmp_path):
    lab = cli_lab(tmp_path)
    rc, out, _ = kctl(lab, "get svc -A")
    assert rc == 0
    lines = out.splitlines()
    assert lines[0].split() == ["NAMESPACE", "NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert lines[1].split()[:6] == ["default", "kubernetes", "ClusterIP", "10.200.1.1", "<none>", "443/TCP"]
    assert lines[2].split()[:6] == ["kube-system", "kube-dns", "ClusterIP", "10.200.1.10", "<none>",
                                    "53/UDP,53/TCP,9153/TCP"]
    eps = kctl(lab, "get endpoints -A")[1]
    assert "192.168.10.10:6443" in eps
    dns = _get(lab, "endpoints kube-dns -n kube-system")
    ips = sorted(a["ip"] for s in dns["subsets"] for a in s["addresses"])
    assert len(ips) == 2 and all(ip.startswith("172.16.116.") for ip in ips)
    slices = _get(lab, "endpointslices -n kube-system")["items"]
    assert [s["metadata"]["labels"]["kubernetes.io/service-name"] for s in slices] == ["kube-dns"]


def test_a_nodeport_service_over_two_pods_and_its_endpoints_follow_the_pods(tmp_path):
    lab = cli_lab(tmp_path)
    assert kctl(lab, "apply -f -", stdin=WHOAMI % ("w1", "k8s-w1") + "---" + WHOAMI % ("w2", "k8s-w2"))[0] == 0
    rc, out, err = kctl(lab, "apply -f -", stdin=SVC)
    assert (rc, out) == (0, "service/web created\n"), err
    svc = _get(lab, "svc web")
    assert svc["spec"]["ports"][0]["nodePort"] == 30001
    ip = svc["spec"]["clusterIP"]
    assert ip.startswith("10.200.1.") and int(ip.rsplit(".", 1)[1]) > 16   # dynamic IPs from the upper band
    ep = _get(lab, "endpoints web")
    assert [p["port"] for p in ep["subsets"][0]["ports"]] == [80]          # named targetPort resolved
    assert len(ep["subsets"][0]["addresses"]) == 2
    assert kctl(lab, "get endpointslices")[1].split("\n")[0].split() == ["NAME", "ADDRESSTYPE", "PORTS",
                                                                         "ENDPOINTS", "AGE"]
    kctl(lab, "delete pod w2")
    assert len(_get(lab, "endpoints web")["subsets"][0]["addresses"]) == 1
    kctl(lab, "delete svc web")
    assert kctl(lab, "get endpoints web")[0] == 1 and "web" not in kctl(lab, "get endpointslices")[1]


def test_refusals_are_worded_as_the_api_server_words_them(tmp_path):
    lab = cli_lab(tmp_path)
    kctl(lab, "apply -f -", stdin=SVC)
    rc, _, err = kctl(lab, "apply -f -", stdin=SVC.replace("name: web", "name: web2"))
    assert rc == 1 and 'spec.ports[0].nodePort: Invalid value: 30001: provided port is already allocated' in err
    rc, _, err = kctl(lab, "apply -f -", stdin=SVC.replace("name: web", "name: web3").replace("30001", "40000"))
    assert "provided port is not in the valid range. The range of valid ports is 30000-32767" in err
    bad_ip = SVC.replace("name: web", "name: web4").replace("nodePort: 30001", "nodePort: 30002") \
        .replace("type: NodePort", "type: NodePort\n  clusterIP: 10.200.1.10")
    rc, _, err = kctl(lab, "apply -f -", stdin=bad_ip)
    assert rc == 1 and "failed to allocate IP 10.200.1.10: provided IP is already allocated" in err
    assert kctl(lab, "get svc web4")[0] == 1    # nothing changed


def test_headless_service_has_no_cluster_ip_and_lists_host_network_pods(tmp_path):
    lab = cli_lab(tmp_path)
    felix_svc = """
apiVersion: v1
kind: Service
metadata: {name: felix-metrics-svc, namespace: kube-system}
spec:
  clusterIP: None
  selector: {k8s-app: calico-node}
  ports: [{port: 9091, targetPort: 9091}]
"""
    assert kctl(lab, "apply -f -", stdin=felix_svc)[0] == 0
    assert _get(lab, "svc felix-metrics-svc -n kube-system")["spec"]["clusterIP"] == "None"
    ep = _get(lab, "endpoints felix-metrics-svc -n kube-system")
    assert sorted(a["ip"] for a in ep["subsets"][0]["addresses"]) == [
        "192.168.10.10", "192.168.10.101", "192.168.10.102", "192.168.20.100"]


def test_a_service_without_selector_keeps_the_endpoints_written_for_it(tmp_path):
    lab = cli_lab(tmp_path)
    manual = """
apiVersion: v1
kind: Service
metadata: {name: ext}
spec: {ports: [{port: 80}]}
---
apiVersion: v1
kind: Endpoints
metadata: {name: ext}
subsets: [{addresses: [{ip: 10.1.1.254}], ports: [{port: 80}]}]
"""
    assert kctl(lab, "create -f -", stdin=manual)[0] == 0
    kctl(lab, "apply -f -", stdin=WHOAMI % ("w1", "k8s-w1"))   # the controllers run again: ext is not theirs
    assert _get(lab, "endpoints ext")["subsets"][0]["addresses"] == [{"ip": "10.1.1.254"}]
    assert "endpoints.kubernetes.io/last-change-trigger-time" in \
        _get(lab, "endpoints kube-dns -n kube-system")["metadata"]["annotations"]


def test_deleting_a_namespace_deletes_its_services_and_endpoints(tmp_path):
    lab = cli_lab(tmp_path)
    kctl(lab, "apply -f -", stdin="apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n")
    assert kctl(lab, "apply -n shop -f -", stdin=SVC.replace("metadata: {name: web}",
                                                             "metadata: {name: web, namespace: shop}"))[0] == 0
    assert kctl(lab, "get ep -n shop")[1].startswith("NAME")
    assert kctl(lab, "delete namespace shop")[0] == 0
    for what in ("svc", "ep", "endpointslices"):
        assert kctl(lab, f"get {what} -n shop")[2] == "No resources found in shop namespace.\n"
