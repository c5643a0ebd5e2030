"""A created pod carries what kube-apiserver's admission plugins and kubelet's status add, as on a
kubeadm 1.30 cluster: the kube-api-access volume, default tolerations, priority, five conditions."""

import re

import yaml

from .fixtures import cli_lab, kctl

POD = """apiVersion: v1
kind: Pod
metadata: {name: pod1}
spec:
  nodeName: k8s-w1
  containers: [{name: pod1, image: nicolaka/netshoot}]
"""
TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"


def _get(ctx, name, ns="default"):
    rc, out, err = kctl(ctx, f"get pod {name} -n {ns} -o yaml")
    assert rc == 0, err
    return yaml.safe_load(out)


def test_a_new_pod_gets_the_token_volume_tolerations_and_priority(tmp_path):
    ctx = cli_lab(tmp_path)
    assert kctl(ctx, "apply -f -", POD)[0] == 0
    spec = _get(ctx, "pod1")["spec"]
    (vol,) = spec["volumes"]
    assert re.fullmatch(r"kube-api-access-[bcdfghjklmnpqrstvwxz2456789]{5}", vol["name"])
    assert vol["projected"] == {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"items": [{"key": "ca.crt", "path": "ca.crt"}], "name": "kube-root-ca.crt"}},
        {"downwardAPI": {"items": [{"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                                    "path": "namespace"}]}}]}
    (c,) = spec["containers"]
    assert c["volumeMounts"] == [{"mountPath": TOKEN_PATH, "name": vol["name"], "readOnly": True}]
    assert c["resources"] == {} and spec["securityContext"] == {}
    assert spec["tolerations"] == [
        {"effect": "NoExecute", "key": f"node.kubernetes.io/{k}", "operator": "Exists", "tolerationSeconds": 300}
        for k in ("not-ready", "unreachable")]
    assert spec["priority"] == 0 and spec["preemptionPolicy"] == "PreemptLowerPriority"
    # applying the same manifest again changes nothing: admission ran once, at creation
    assert kctl(ctx, "apply -f -", POD)[1] == "pod/pod1 unchanged\n"


def test_the_status_kubelet_writes(tmp_path):
    ctx = cli_lab(tmp_path)
    kctl(ctx, "apply -f -", POD)
    st = _get(ctx, "pod1")["status"]
    assert [c["type"] for c in st["conditions"]] == [
        "PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"]
    assert all(c["status"] == "True" and c["lastProbeTime"] is None and c["lastTransitionTime"]
               for c in st["conditions"])
    (cs,) = st["containerStatuses"]
    assert re.fullmatch(r"containerd://[0-9a-f]{64}", cs["containerID"])
    assert cs["image"] == "docker.io/nicolaka/netshoot:latest" and cs["lastState"] == {}


def test_no_token_when_the_pod_or_its_service_account_opts_out(tmp_path):
    ctx = cli_lab(tmp_path)
    off = POD.replace("spec:\n", "spec:\n  automountServiceAccountToken: false\n")
    kctl(ctx, "apply -f -", off)
    spec = _get(ctx, "pod1")["spec"]
    assert "volumes" not in spec and "volumeMounts" not in spec["containers"][0]
    sa = "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: quiet}\nautomountServiceAccountToken: false\n"
    assert kctl(ctx, "apply -f -", sa)[0] == 0
    kctl(ctx, "apply -f -", POD.replace("pod1", "pod2").replace("spec:\n", "spec:\n  serviceAccountName: quiet\n"))
    assert "volumes" not in _get(ctx, "pod2")["spec"]
    # a pod that tolerates everything gets no default tolerations
    kctl(ctx, "apply -f -", POD.replace("pod1", "pod3").replace("spec:\n", "spec:\n  tolerations: [{operator: Exists}]\n"))
    assert _get(ctx, "pod3")["spec"]["tolerations"] == [{"operator": "Exists"}]


def test_kube_system_static_pods_are_mirror_pods_without_a_token(tmp_path):
    ctx = cli_lab(tmp_path)
    etcd = _get(ctx, "etcd-k8s-m", "kube-system")["spec"]
    assert "volumes" not in etcd and etcd["priority"] == 2000001000
    names = kctl(ctx, "get pod -n kube-system -o name")[1].split()
    node = _get(ctx, next(n for n in names if "calico-node-" in n).split("/")[1], "kube-system")["spec"]
    assert node["priority"] == 2000001000 and node["volumes"][0]["name"].startswith("kube-api-access-")
    # the DaemonSet controller's tolerations, network-unavailable too for a hostNetwork pod
    keys = [t.get("key") for t in node["tolerations"]]
    assert "node.kubernetes.io/unschedulable" in keys and "node.kubernetes.io/network-unavailable" in keys
    dns = _get(ctx, next(n for n in names if "coredns-" in n).split("/")[1], "kube-system")["spec"]
    assert dns["priority"] == 2000000000


def test_kube_system_pods_carry_their_manifests_resources_and_qos(tmp_path):
    ctx = cli_lab(tmp_path)
    names = [n.split("/")[1] for n in kctl(ctx, "get pod -n kube-system -o name")[1].split()]
    pods = {n: _get(ctx, n, "kube-system") for n in names}
    qos = {n.rsplit("-", 2)[0] if n.startswith(("coredns", "calico-kube")) else n.rsplit("-", 1)[0]:
           p["status"]["qosClass"] for n, p in pods.items()}
    # requests only: Burstable; nothing: BestEffort (kubectl describe's "QoS Class")
    assert qos == {"etcd-k8s": "Burstable", "kube-apiserver-k8s": "Burstable", "kube-controller-manager-k8s": "Burstable",
                   "kube-scheduler-k8s": "Burstable", "calico-node": "Burstable", "kube-proxy": "BestEffort",
                   "coredns": "Burstable", "calico-kube-controllers": "BestEffort"}
    dns = next(p for n, p in pods.items() if n.startswith("coredns-"))
    (c,) = dns["spec"]["containers"]
    assert c["args"] == ["-conf", "/etc/coredns/Corefile"] and c["readinessProbe"]["httpGet"]["port"] == 8181
    assert [m["mountPath"] for m in c["volumeMounts"]] == ["/etc/coredns", TOKEN_PATH]
    assert [v["name"] for v in dns["spec"]["volumes"]][0] == "config-volume" and dns["spec"]["dnsPolicy"] == "Default"
    # the Deployment's template says the same as its pods
    dep = yaml.safe_load(kctl(ctx, "get deploy coredns -n kube-system -o yaml")[1])
    assert dep["spec"]["template"]["spec"]["containers"][0]["resources"] == c["resources"]
