"""The lab's Kubernetes API without sockets: routing, selectors, Tables, patches, events, watch."""

from __future__ import annotations

import json
import queue
import threading
from datetime import datetime, timedelta, timezone

import pytest

from kanslab.emulator.kubeapi import KubeAPI, catalog, fields, patching, tables
from kanslab.emulator.kubeapi.events import container_log, pod_events
from kanslab.errors import InvalidInput

from .fixtures import cli_lab

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io"
POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web1", "labels": {"app": "web"}},
       "spec": {"nodeName": "k8s-w1", "containers": [{"name": "whoami", "image": "traefik/whoami",
                                                       "ports": [{"containerPort": 80}]}]}}


@pytest.fixture
def api(tmp_path):
    ctx = cli_lab(tmp_path)
    changes = []
    a = KubeAPI(ctx.ds, ctx.topology, on_change=lambda: changes.append(1), poll_s=0.01)
    a.changes = changes
    return a


def call(api, method, path, query="", body=None, accept="application/json", ctype="application/json"):
    data = json.dumps(body).encode() if body is not None else b""
    return api.handle(method, path, query, {"accept": accept, "content-type": ctype}, data)


def test_version_and_discovery(api):
    assert call(api, "GET", "/version").body["gitVersion"] == "v1.30.5"
    assert call(api, "GET", "/api").body["versions"] == ["v1"]
    core = {r["name"]: r for r in call(api, "GET", "/api/v1").body["resources"]}
    assert core["pods"]["shortNames"] == ["po"] and core["pods"]["namespaced"] is True
    assert "pods/log" in core and core["nodes"]["namespaced"] is False
    groups = [g["name"] for g in call(api, "GET", "/apis").body["groups"]]
    assert "networking.k8s.io" in groups
    assert call(api, "GET", "/apis/nosuch.io/v1").code == 404


def test_create_goes_through_the_labs_apply_path(api):
    r = call(api, "POST", "/api/v1/namespaces/default/pods", body=POD)
    assert r.code == 201 and r.body["status"]["phase"] == "Running" and r.body["status"]["podIP"].startswith("172.16.")
    assert api.changes == [1]  # the dataplane is asked to follow
    again = call(api, "POST", "/api/v1/namespaces/default/pods", body=POD)
    assert again.code == 409 and again.body["reason"] == "AlreadyExists"
    assert again.body["message"] == 'pods "web1" already exists'
    bad = dict(POD, metadata={"name": "Bad_Name"})
    r = call(api, "POST", "/api/v1/namespaces/default/pods", body=bad)
    assert r.code == 422 and "RFC 1123" in r.body["message"]
    assert call(api, "GET", "/api/v1/namespaces/default/pods/Bad_Name").code == 404


def test_list_with_label_and_field_selectors(api):
    call(api, "POST", "/api/v1/namespaces/default/pods", body=POD)
    other = json.loads(json.dumps(POD))
    other["metadata"] = {"name": "web2", "labels": {"app": "db"}}
    other["spec"]["nodeName"] = "k8s-w2"
    call(api, "POST", "/api/v1/namespaces/default/pods", body=other)
    names = lambda r: [o["metadata"]["name"] for o in r.body["items"]]  # noqa: E731
    assert names(call(api, "GET", "/api/v1/pods", "labelSelector=app%3Dweb")) == ["web1"]
    assert names(call(api, "GET", "/api/v1/namespaces/default/pods", "fieldSelector=spec.nodeName%3Dk8s-w2")) == ["web2"]
    # kube-system has its calico-node and kube-proxy there too
    assert "web2" in names(call(api, "GET", "/api/v1/pods", "fieldSelector=spec.nodeName%3Dk8s-w2"))
    assert names(call(api, "GET", "/api/v1/pods", "fieldSelector=status.phase!%3DFailed,metadata.name%3Dweb1")) \
        == ["web1"]
    r = call(api, "GET", "/api/v1/pods", "fieldSelector=spec.bogus%3Dx")
    assert r.code == 400 and r.body["message"] == "field label not supported: spec.bogus"
    assert call(api, "GET", "/api/v1/namespaces/nosuch/pods").body["items"] == []


def test_field_selector_grammar():
    assert fields.parse(r"a=b,c!=d,e==f\,g") == [("a", "=", "b"), ("c", "!=", "d"), ("e", "=", "f,g")]
    with pytest.raises(InvalidInput):
        fields.parse("justaword")


def test_pod_table_has_the_apiservers_columns_and_cells(api):
    call(api, "POST", "/api/v1/namespaces/default/pods", body=POD)
    t = call(api, "GET", "/api/v1/namespaces/default/pods", accept=TABLE).body
    assert t["kind"] == "Table"
    assert [(c["name"], c["priority"]) for c in t["columnDefinitions"]] == [
        ("Name", 0), ("Ready", 0), ("Status", 0), ("Restarts", 0), ("Age", 0), ("IP", 1), ("Node", 1),
        ("Nominated Node", 1), ("Readiness Gates", 1)]
    cells = t["rows"][0]["cells"]
    assert cells[:4] == ["web1", "1/1", "Running", "0"] and cells[6:] == ["k8s-w1", "<none>", "<none>"]
    assert t["rows"][0]["object"]["kind"] == "PartialObjectMetadata"


def test_table_cells_for_waiting_and_nodes():
    now = datetime(2024, 9, 25, 12, 0, 0, tzinfo=timezone.utc)
    pod = {"metadata": {"name": "p", "creationTimestamp": "2024-09-25T11:57:00Z"},
           "spec": {"containers": [{"name": "c"}]},
           "status": {"phase": "Pending", "containerStatuses": [{"name": "c", "ready": False, "restartCount": 0,
                                                                 "state": {"waiting": {"reason": "ContainerCreating"}}}]}}
    assert tables.cells("Pod", pod, now)[:5] == ["p", "0/1", "ContainerCreating", "0", "3m"]
    node = {"metadata": {"name": "n", "creationTimestamp": "2024-09-24T12:00:00Z",
                         "labels": {"node-role.kubernetes.io/control-plane": ""}},
            "status": {"conditions": [{"type": "Ready", "status": "False"}], "nodeInfo": {"kubeletVersion": "v1.30.5"},
                       "addresses": [{"type": "InternalIP", "address": "192.168.10.10"}]},
            "spec": {"unschedulable": True}}
    assert tables.cells("Node", node, now)[:6] == ["n", "NotReady,SchedulingDisabled", "control-plane", "24h",
                                                   "v1.30.5", "192.168.10.10"]


def test_events_of_a_running_pod_and_of_an_unschedulable_one(api):
    pod = call(api, "POST", "/api/v1/namespaces/default/pods", body=POD).body
    evs = pod_events(pod)
    assert [e["reason"] for e in evs] == ["Scheduled", "Pulling", "Pulled", "Created", "Started"]
    assert evs[0]["message"] == "Successfully assigned default/web1 to k8s-w1"
    assert evs[0]["reportingComponent"] == "default-scheduler" and evs[3]["source"] == {"component": "kubelet",
                                                                                        "host": "k8s-w1"}
    assert evs[3]["involvedObject"]["fieldPath"] == "spec.containers{whoami}"
    listed = call(api, "GET", "/api/v1/namespaces/default/events",
                  "fieldSelector=involvedObject.name%3Dweb1,involvedObject.namespace%3Ddefault").body["items"]
    assert len(listed) == 5
    t = call(api, "GET", "/api/v1/events", accept=TABLE).body
    assert t["rows"][0]["cells"][1:4] == ["Normal", "Scheduled", "pod/web1"]
    pending = {"metadata": {"name": "p", "namespace": "default", "creationTimestamp": "2024-09-25T11:57:00Z"},
               "spec": {"containers": [{"name": "c", "image": "x"}]},
               "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
                                                              "message": "0/4 nodes are available"}]}}
    (ev,) = pod_events(pending)
    assert (ev["type"], ev["reason"], ev["message"]) == ("Warning", "FailedScheduling", "0/4 nodes are available")


def test_logs_are_whoamis_startup_line(api):
    pod = call(api, "POST", "/api/v1/namespaces/default/pods", body=POD).body
    r = call(api, "GET", "/api/v1/namespaces/default/pods/web1/log")
    assert r.content_type == "text/plain" and r.body.endswith(" Starting up on port 80\n")
    assert container_log(pod, "whoami") == r.body
    assert call(api, "GET", "/api/v1/namespaces/default/pods/web1/log", "container=nosuch").code == 400


def test_strategic_merge_keeps_what_the_patch_does_not_name():
    cur = {"spec": {"containers": [{"name": "a", "image": "x:1", "ports": [{"containerPort": 80}]},
                                   {"name": "b", "image": "y"}]}, "metadata": {"labels": {"k": "v", "o": "1"}}}
    patch = {"$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
             "spec": {"containers": [{"name": "a", "image": "x:2"}]}, "metadata": {"labels": {"o": None}}}
    out = patching.strategic_merge(cur, {"metadata": patch["metadata"], "spec": patch["spec"]})
    assert out["spec"]["containers"][0] == {"name": "a", "image": "x:2", "ports": [{"containerPort": 80}]}
    assert out["spec"]["containers"][1] == {"name": "b", "image": "y"} and out["metadata"]["labels"] == {"k": "v"}
    deleted = patching.strategic_merge(cur, {"spec": {"containers": [{"name": "b", "$patch": "delete"}]}})
    assert [c["name"] for c in deleted["spec"]["containers"]] == ["a"]
    assert patching.json_merge(cur, {"spec": {"containers": []}})["spec"]["containers"] == []
    assert patching.json_patch({"a": [1]}, [{"op": "add", "path": "/a/-", "value": 2}]) == {"a": [1, 2]}


def test_patch_and_delete(api):
    call(api, "POST", "/api/v1/namespaces/default/pods", body=POD)
    r = call(api, "PATCH", "/api/v1/namespaces/default/pods/web1", body={"metadata": {"labels": {"tier": "web"}}},
             ctype="application/strategic-merge-patch+json")
    assert r.code == 200 and r.body["metadata"]["labels"] == {"app": "web", "tier": "web"}
    r = call(api, "PATCH", "/api/v1/namespaces/default/pods/web1",
             body={"spec": {"containers": [{"name": "whoami", "image": "traefik/whoami:v1.10"}]}},
             ctype="application/strategic-merge-patch+json")
    assert r.code == 200 and r.body["spec"]["containers"][0]["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    r = call(api, "PATCH", "/api/v1/namespaces/default/pods/web1", body={"spec": {"nodeName": "k8s-w2"}},
             ctype="application/merge-patch+json")
    assert r.code == 422 and "Forbidden: pod updates may not change fields" in r.body["message"]
    ssa = call(api, "PATCH", "/api/v1/namespaces/default/pods/other", body={}, ctype="application/apply-patch+yaml")
    assert ssa.code == 415 and "server-side apply" in ssa.body["message"]
    assert call(api, "DELETE", "/api/v1/namespaces/default/pods/web1").code == 200
    assert call(api, "GET", "/api/v1/namespaces/default/pods/web1").code == 404
    assert call(api, "DELETE", "/api/v1/namespaces/default/pods/web1").code == 404


def test_watch_streams_added_modified_deleted(api):
    r = call(api, "GET", "/api/v1/namespaces/default/pods", "watch=true&timeoutSeconds=10")
    got: queue.Queue = queue.Queue()

    def consume():
        for ev in r.stream:
            if ev is not None:
                got.put((ev["type"], ev["object"]["metadata"]["name"], ev["object"]["metadata"].get("labels")))
                if ev["type"] == "DELETED":
                    return

    threading.Thread(target=consume, daemon=True).start()
    call(api, "POST", "/api/v1/namespaces/default/pods", body=POD)
    assert got.get(timeout=5)[:2] == ("ADDED", "web1")
    call(api, "PATCH", "/api/v1/namespaces/default/pods/web1", body={"metadata": {"labels": {"x": "y"}}},
         ctype="application/merge-patch+json")
    assert got.get(timeout=5) == ("MODIFIED", "web1", {"app": "web", "x": "y"})
    call(api, "DELETE", "/api/v1/namespaces/default/pods/web1")
    assert got.get(timeout=5)[:2] == ("DELETED", "web1")


def test_openapi_v3_tells_kubectl_the_server_validates_fields(api):
    index = call(api, "GET", "/openapi/v3").body["paths"]
    url = index["api/v1"]["serverRelativeURL"]
    path, _, query = url.partition("?")
    doc = call(api, "GET", path, query).body
    patches = [p["patch"] for p in doc["paths"].values() if p["patch"]["x-kubernetes-group-version-kind"]["kind"]
               == "Pod"]
    assert any(prm["name"] == "fieldValidation" for prm in patches[0]["parameters"])


def test_unknown_paths_are_404_status_objects(api):
    r = call(api, "GET", "/api/v1/widgets")
    assert r.code == 404 and r.body["kind"] == "Status"
    assert catalog.find("", "v1", "pods").kind == "Pod"


def test_ages_use_human_duration():
    now = datetime(2024, 1, 1, tzinfo=timezone.utc)
    ts = (now - timedelta(minutes=5, seconds=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert tables.since(ts, now) == "5m3s" and tables.since(None, now) == "<unknown>"


def test_logs_follow_ends_when_the_pod_goes(api):
    call(api, "POST", "/api/v1/namespaces/default/pods", body=POD)
    r = call(api, "GET", "/api/v1/namespaces/default/pods/web1/log", "follow=true&timestamps=true")
    first = next(r.stream)
    assert first.endswith(" Starting up on port 80\n") and first[:32].endswith(".000000000Z 2")
    call(api, "DELETE", "/api/v1/namespaces/default/pods/web1")
    assert [x for x in r.stream if x] == []  # the stream ends


def test_rbac_and_apps_objects_through_the_api(api):
    groups = [g["name"] for g in call(api, "GET", "/apis").body["groups"]]
    assert "apps" in groups and "rbac.authorization.k8s.io" in groups
    rbac = {r["name"] for r in call(api, "GET", "/apis/rbac.authorization.k8s.io/v1").body["resources"]}
    assert rbac == {"roles", "rolebindings", "clusterroles", "clusterrolebindings"}
    bad = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "r"},
           "rules": [{"apiGroups": [""], "resources": ["pods"]}]}
    r = call(api, "POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles", body=bad)
    # kubectl prints `The ClusterRole "r" is invalid: rules[0].verbs: ...` from the details' kind and causes
    assert r.code == 422 and r.body["details"]["kind"] == "ClusterRole"
    assert r.body["details"]["causes"] == [{"reason": "FieldValueInvalid", "field": "rules[0].verbs",
                                            "message": "Required value: verbs must contain at least one value"}]
    assert r.body["message"].startswith('ClusterRole.rbac.authorization.k8s.io "r" is invalid: rules[0].verbs')
    good = dict(bad, rules=[{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}])
    assert call(api, "POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles", body=good).code == 201
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "b"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "r"},
               "subjects": [{"kind": "User", "name": "alice"}, {"kind": "ServiceAccount", "name": "default"}]}
    assert call(api, "POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings",
                body=binding).code == 201
    t = call(api, "GET", "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings", accept=TABLE).body
    assert [c["name"] for c in t["columnDefinitions"]] == ["Name", "Role", "Age", "Users", "Groups",
                                                            "ServiceAccounts"]
    assert t["rows"][0]["cells"][:2] == ["b", "ClusterRole/r"] and t["rows"][0]["cells"][3:] == \
        ["alice", "", "default/default"]
    ds = call(api, "GET", "/apis/apps/v1/namespaces/kube-system/daemonsets", accept=TABLE).body
    assert [r["cells"][:4] for r in ds["rows"]] == [["calico-node", 4, 4, 4], ["kube-proxy", 4, 4, 4]]


def test_scale_subresource_changes_the_pod_count(api):
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
           "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}},
                                 "spec": {"containers": [{"name": "w", "image": "traefik/whoami"}]}}}}
    assert call(api, "POST", "/apis/apps/v1/namespaces/default/deployments", body=dep).code == 201
    path = "/apis/apps/v1/namespaces/default/deployments/web/scale"
    assert call(api, "GET", path).body["spec"] == {"replicas": 1}
    r = call(api, "PATCH", path, body={"spec": {"replicas": 3}}, ctype="application/merge-patch+json")
    assert r.code == 200 and r.body["spec"]["replicas"] == 3 and r.body["status"]["selector"] == "app=web"
    pods = call(api, "GET", "/api/v1/namespaces/default/pods", "labelSelector=app%3Dweb").body["items"]
    assert len(pods) == 3
    assert call(api, "PATCH", path, body={"spec": {"replicas": -1}},
                ctype="application/merge-patch+json").code == 422


def test_each_node_has_the_kubelets_lease_for_describe_node(api):
    """`kubectl describe node` reads GET .../kube-node-lease/leases/<node> for its Lease section."""
    assert "coordination.k8s.io" in [g["name"] for g in call(api, "GET", "/apis").body["groups"]]
    base = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
    lease = call(api, "GET", f"{base}/k8s-w1").body
    assert lease["spec"]["holderIdentity"] == "k8s-w1" and lease["spec"]["leaseDurationSeconds"] == 40
    assert lease["metadata"]["ownerReferences"][0]["kind"] == "Node"
    renewed = datetime.strptime(lease["spec"]["renewTime"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    assert timedelta(0) <= datetime.now(timezone.utc) - renewed <= timedelta(seconds=11)  # kubelet renews every 10 s
    names = [i["metadata"]["name"] for i in call(api, "GET", base).body["items"]]
    assert sorted(names) == ["k8s-m", "k8s-w0", "k8s-w1", "k8s-w2"]
    assert call(api, "GET", "/apis/coordination.k8s.io/v1/namespaces/default/leases").body["items"] == []
    table = call(api, "GET", base, accept=TABLE).body
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Holder", "Age"]
    assert call(api, "PUT", f"{base}/k8s-w1", body=lease).code == 405
