"""Core objects (ConfigMap, Secret, ServiceAccount, RBAC) and the apps/v1 controllers, through the
lab's kubectl and `resources.apply` against a bootstrapped datastore (no namespaces, no root)."""

import base64
import ipaddress
import json

import pytest

from kanslab.emulator import resources as res
from kanslab.emulator.k8s_objects import wep_name
from kanslab.emulator.kube_system import NAME_ALPHABET

from .fixtures import cli_lab, kctl

DEPLOY = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: %d
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: whoami, image: traefik/whoami}]
"""
RBAC = """apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: prometheus}
rules:
- apiGroups: [""]
  resources: [nodes, services, endpoints, pods]
  verbs: [get, list, watch]
- nonResourceURLs: ["/metrics"]
  verbs: [get]
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: prometheus, namespace: default}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: prometheus}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: prometheus}
subjects:
- {kind: ServiceAccount, name: prometheus, namespace: default}
"""


def _json(lab, line):
    rc, out, err = kctl(lab, line)
    assert rc == 0, err
    return json.loads(out)


def _pods(lab, ns="default"):
    return _json(lab, f"get pods -n {ns} -o json")["items"]


def test_configmap_secret_and_rbac_are_stored_and_listed(tmp_path):
    lab = cli_lab(tmp_path)
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {a: '1', b.yml: 'x: 1'}\n"
    secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {password: hunter2}\n"
    rc, out, err = kctl(lab, "apply -f -", "---\n".join([cm, secret, RBAC]))
    assert rc == 0, err
    assert out.splitlines() == ["configmap/cfg created", "secret/s created",
                                "clusterrole.rbac.authorization.k8s.io/prometheus created",
                                "serviceaccount/prometheus created",
                                "clusterrolebinding.rbac.authorization.k8s.io/prometheus created"]
    assert kctl(lab, "get cm cfg")[1].split()[:5] == ["NAME", "DATA", "AGE", "cfg", "2"]
    stored = _json(lab, "get secret s -o json")
    assert stored["type"] == "Opaque" and "stringData" not in stored
    assert base64.b64decode(stored["data"]["password"]) == b"hunter2"
    assert kctl(lab, "get clusterrole prometheus")[1].splitlines()[0].split() == ["NAME", "CREATED", "AT"]
    wide = kctl(lab, "get clusterrolebinding prometheus -o wide")[1].splitlines()
    assert wide[0].split() == ["NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"]
    row = wide[1].split()
    assert row[:2] == ["prometheus", "ClusterRole/prometheus"] and row[3:] == ["default/prometheus"]
    assert kctl(lab, "apply -f -", cm)[1] == "configmap/cfg unchanged\n"
    assert kctl(lab, "delete clusterrole prometheus")[1] == \
        'clusterrole.rbac.authorization.k8s.io "prometheus" deleted\n'


def test_every_namespace_has_a_default_service_account(tmp_path):
    lab = cli_lab(tmp_path)
    kctl(lab, "apply -f -", "apiVersion: v1\nkind: Namespace\nmetadata: {name: calico-monitoring}\n")
    names = {(o["metadata"]["namespace"], o["metadata"]["name"]) for o in _json(lab, "get sa -A -o json")["items"]}
    assert ("calico-monitoring", "default") in names and ("kube-system", "default") in names


@pytest.mark.parametrize("doc, message", [
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {'bad key': x}\n",
     'The ConfigMap "c" is invalid: data[bad key]: Invalid value: "bad key": a valid config key'),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {n: 5}\n",
     'ConfigMap in version "v1" cannot be handled as a ConfigMap: json: cannot unmarshal number'),
    ("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {k: 'not base64!'}\n",
     "illegal base64 data at input byte 3"),
    ("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r}\n"
     "rules: [{apiGroups: [''], resources: [pods]}]\n",
     'The ClusterRole "r" is invalid: rules[0].verbs: Required value: verbs must contain at least one value'),
    ("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: b}\n"
     "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: r}\n",
     'roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole"'),
    ("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: b}\n"
     "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: r}\n"
     "subjects: [{kind: ServiceAccount, name: x}]\n", "subjects[0].namespace: Required value"),
    (DEPLOY.replace("{labels: {app: web}}", "{labels: {app: other}}") % 1,
     "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"other\"}: `selector` does not "
     "match template `labels`"),
    (DEPLOY.replace("image: traefik/whoami", "image: ''") % 1,
     "spec.template.spec.containers[0].image: Required value"),
    (DEPLOY % -1, "spec.replicas: Invalid value: -1: must be greater than or equal to 0"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndatas: {a: b}\n",
     'ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "datas"'),
    ((DEPLOY % 1).replace("replicas:", "replica:"), 'strict decoding error: unknown field "spec.replica"'),
])
def test_bad_objects_are_refused_and_change_nothing(tmp_path, doc, message):
    lab = cli_lab(tmp_path)
    before = lab.ds.revision()
    rc, out, err = kctl(lab, "apply -f -", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: first}\n---\n" + doc)
    assert rc == 1 and message in err and out == ""
    assert lab.ds.revision() == before and lab.ds.get("ConfigMap", "first", "default") is None


def test_deployment_makes_a_replicaset_and_pods_with_pool_ips_and_scales(tmp_path):
    lab = cli_lab(tmp_path)
    assert kctl(lab, "apply -f -", DEPLOY % 2)[1] == "deployment.apps/web created\n"
    rs = _json(lab, "get rs -o json")["items"]
    assert len(rs) == 1
    rs_name, h = rs[0]["metadata"]["name"], rs[0]["metadata"]["labels"]["pod-template-hash"]
    assert rs_name == f"web-{h}" and set(h) <= set(NAME_ALPHABET)
    assert rs[0]["metadata"]["ownerReferences"][0]["kind"] == "Deployment"
    pods = _pods(lab)
    assert len(pods) == 2
    for p in pods:
        suffix = p["metadata"]["name"][len(rs_name) + 1:]
        assert p["metadata"]["name"].startswith(rs_name + "-") and len(suffix) == 5
        ref = p["metadata"]["ownerReferences"][0]
        assert (ref["kind"], ref["name"], ref["uid"]) == ("ReplicaSet", rs_name, rs[0]["metadata"]["uid"])
        assert p["status"]["phase"] == "Running"
        assert ipaddress.ip_address(p["status"]["podIP"]) in ipaddress.ip_network("172.16.0.0/16")
        assert lab.ds.get("WorkloadEndpoint", wep_name(p["spec"]["nodeName"], p["metadata"]["name"]),
                          "default") is not None
    assert kctl(lab, "get deploy web")[1].splitlines()[1].split()[:4] == ["web", "2/2", "2", "2"]
    assert kctl(lab, "apply -f -", DEPLOY % 3)[1] == "deployment.apps/web configured\n"
    assert len(_pods(lab)) == 3
    assert _json(lab, "get deploy web -o json")["status"]["readyReplicas"] == 3
    kctl(lab, "apply -f -", DEPLOY % 1)
    assert len(_pods(lab)) == 1 and _json(lab, f"get rs {rs_name} -o json")["status"]["replicas"] == 1


def test_a_deleted_pod_is_replaced_and_deleting_the_deployment_cascades(tmp_path):
    lab = cli_lab(tmp_path)
    kctl(lab, "apply -f -", DEPLOY % 2)
    victim = _pods(lab)[0]["metadata"]["name"]
    assert kctl(lab, f"delete pod {victim}")[0] == 0
    names = {p["metadata"]["name"] for p in _pods(lab)}
    assert len(names) == 2 and victim not in names
    used = lab.ds.list("IPAMBlock")
    assert kctl(lab, "delete deployment web")[1] == 'deployment.apps "web" deleted\n'
    assert _pods(lab) == [] and _json(lab, "get rs -o json")["items"] == []
    assert lab.ds.list("WorkloadEndpoint", "default") == []
    assert sum(len([a for a in b["spec"]["allocations"] if a is not None]) for b in lab.ds.list("IPAMBlock")) < \
        sum(len([a for a in b["spec"]["allocations"] if a is not None]) for b in used)


def test_daemonset_runs_one_pod_per_selected_untainted_node(tmp_path):
    lab = cli_lab(tmp_path)
    ds = """apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers: [{name: whoami, image: traefik/whoami}]
"""
    assert kctl(lab, "apply -f -", ds)[1] == "daemonset.apps/agent created\n"
    assert sorted(p["spec"]["nodeName"] for p in _pods(lab)) == ["k8s-w0", "k8s-w1", "k8s-w2"]  # k8s-m is tainted
    row = kctl(lab, "get ds agent")[1].splitlines()[1].split()
    assert row[:6] == ["agent", "3", "3", "3", "3", "3"]
    tolerant = ds.replace("containers:", "tolerations: [{operator: Exists}]\n      containers:")
    kctl(lab, "apply -f -", tolerant)
    assert sorted(p["spec"]["nodeName"] for p in _pods(lab)) == ["k8s-m", "k8s-w0", "k8s-w1", "k8s-w2"]
    kctl(lab, "label node k8s-w0 zone=b")
    kctl(lab, "apply -f -", tolerant.replace("containers:", "nodeSelector: {zone: b}\n      containers:"))
    assert [p["spec"]["nodeName"] for p in _pods(lab)] == ["k8s-w0"]
    kctl(lab, "delete ds agent")
    assert _pods(lab) == []


def test_kube_system_owners_match_their_pods(tmp_path):
    lab = cli_lab(tmp_path)
    rc, out, _ = kctl(lab, "get ds,deploy,rs -n kube-system -o wide")
    assert rc == 0
    rows = {ln.split()[0]: ln.split() for ln in out.splitlines() if ln and "/" in ln.split()[0]}
    assert rows["daemonset.apps/calico-node"][1:7] == ["4", "4", "4", "4", "4", "kubernetes.io/os=linux"]
    assert rows["daemonset.apps/kube-proxy"][9] == "registry.k8s.io/kube-proxy:v1.30.5"
    assert rows["deployment.apps/coredns"][1:4] == ["2/2", "2", "2"]
    assert rows["deployment.apps/calico-kube-controllers"][6] == "docker.io/calico/kube-controllers:v3.28.1"
    assert rows["replicaset.apps/coredns-55cb58b774"][1:4] == ["2", "2", "2"]
    owners = {(o["kind"], o["metadata"]["name"]): o["metadata"]["uid"] for kind in ("DaemonSet", "ReplicaSet")
              for o in lab.ds.list(kind, "kube-system")}
    for p in _pods(lab, "kube-system"):
        ref = p["metadata"]["ownerReferences"][0]
        if ref["kind"] != "Node":
            assert owners[(ref["kind"], ref["name"])] == ref["uid"]
            assert p["metadata"]["name"].startswith(ref["name"] + "-")
    # a deleted calico-node pod comes back on its node, with the node's address
    victim = next(p for p in _pods(lab, "kube-system") if p["metadata"]["name"].startswith("calico-node-")
                  and p["spec"]["nodeName"] == "k8s-w1")
    kctl(lab, f"delete pod -n kube-system {victim['metadata']['name']}")
    again = [p for p in _pods(lab, "kube-system") if p["metadata"]["name"].startswith("calico-node-")
             and p["spec"]["nodeName"] == "k8s-w1"]
    assert len(again) == 1 and again[0]["status"]["podIP"] == "192.168.10.101"


def test_node_capacity_is_the_kans_vms(tmp_path):
    lab = cli_lab(tmp_path)
    m = _json(lab, "get node k8s-m -o json")["status"]
    w = _json(lab, "get node k8s-w1 -o json")["status"]
    assert m["capacity"]["cpu"] == "4" and m["capacity"]["memory"] == "4194304Ki" and m["capacity"]["pods"] == "110"
    assert w["capacity"]["memory"] == "2097152Ki" and w["allocatable"]["memory"] == "1994752Ki"


def test_namespace_deletion_takes_its_workloads(tmp_path):
    lab = cli_lab(tmp_path)
    kctl(lab, "apply -f -", "apiVersion: v1\nkind: Namespace\nmetadata: {name: apps}\n")
    kctl(lab, "apply -f -", (DEPLOY % 2).replace("metadata: {name: web}", "metadata: {name: web, namespace: apps}"))
    assert len(_pods(lab, "apps")) == 2
    res.delete_object(lab.ds, lab.topology, "Namespace", "apps")
    assert lab.ds.list("Deployment", "apps") == [] and lab.ds.list("Pod", "apps") == []


def test_controllers_record_their_events(tmp_path):
    from kanslab.emulator.kubeapi import KubeAPI

    lab = cli_lab(tmp_path)
    kctl(lab, "apply -f -", DEPLOY % 2)
    kctl(lab, "apply -f -", DEPLOY % 1)
    api = KubeAPI(lab.ds, lab.topology)
    evs = api.handle("GET", "/api/v1/namespaces/default/events", "fieldSelector=involvedObject.kind%3DDeployment",
                     {"accept": "application/json"}, b"").body["items"]
    rs = lab.ds.list("ReplicaSet", "default")[0]["metadata"]["name"]
    assert [(e["reason"], e["message"], e["source"]["component"]) for e in evs] == [
        ("ScalingReplicaSet", f"Scaled up replica set {rs} to 2", "deployment-controller"),
        ("ScalingReplicaSet", f"Scaled down replica set {rs} to 1 from 2", "deployment-controller")]
    rs_events = [e["reason"] for e in lab.ds.list("Event", "default") if e["involvedObject"]["kind"] == "ReplicaSet"]
    assert rs_events == ["SuccessfulCreate", "SuccessfulCreate", "SuccessfulDelete"]
    assert {"calico-node", "coredns", "kube-proxy"} <= {o["metadata"]["name"]
                                                         for o in lab.ds.list("ServiceAccount", "kube-system")}


def test_status_follows_pods_that_start_later(tmp_path):
    from kanslab.emulator import pod_start

    lab = cli_lab(tmp_path)
    pod_start.set_delay(lab.ds, 5)
    kctl(lab, "apply -f -", DEPLOY % 2)
    assert kctl(lab, "get deploy web")[1].splitlines()[1].split()[1:4] == ["0/2", "2", "0"]
    for p in _pods(lab):
        assert pod_start.start(lab.ds, "default", p["metadata"]["name"], p["metadata"]["uid"]) is None
    assert kctl(lab, "get deploy web")[1].splitlines()[1].split()[1:4] == ["2/2", "2", "2"]
    assert _json(lab, "get rs -o json")["items"][0]["status"]["readyReplicas"] == 2


def test_a_pod_needs_its_service_account(tmp_path):
    lab = cli_lab(tmp_path)
    pod = ("apiVersion: v1\nkind: Pod\nmetadata: {name: prom}\nspec:\n  serviceAccountName: prometheus\n"
           "  containers: [{name: c, image: prom/prometheus}]\n")
    rc, _, err = kctl(lab, "apply -f -", pod)
    assert rc == 1 and 'error looking up service account default/prometheus: serviceaccount "prometheus" not found' in err
    assert lab.ds.get("Pod", "prom", "default") is None
    kctl(lab, "apply -f -", "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: prometheus}\n")
    assert kctl(lab, "apply -f -", pod)[1] == "pod/prom created\n"
