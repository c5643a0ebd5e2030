"""The lab's Kubernetes API, through the real kubectl (/usr/bin/kubectl dispatches to the kubectl of the
server's minor version, 1.30) and the kubernetes Python client, with the kubeconfig `up` wrote."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from kanslab import CommandError
from tests.lab.conftest import real_kubectl

pytestmark = pytest.mark.lab

POD = """apiVersion: v1
kind: Pod
metadata:
  name: apipod1
  labels: {app: apipod}
spec:
  nodeName: k8s-w2
  containers:
  - name: whoami
    image: traefik/whoami
    ports: [{containerPort: 80}]
"""



kubectl = real_kubectl


@pytest.fixture(scope="module")
def apipod(lab, kubeconfig, tmp_path_factory):
    f = tmp_path_factory.mktemp("kubeapi") / "pod.yaml"
    f.write_text(POD)
    out = kubectl(kubeconfig, "apply", "-f", str(f)).stdout
    assert out == "pod/apipod1 created\n"
    try:
        yield f
    finally:
        kubectl(kubeconfig, "delete", "pod", "apipod1", "--ignore-not-found", check=False)


def test_version_is_the_kans_clusters(kubeconfig):
    out = kubectl(kubeconfig, "version", "-o", "json").stdout
    assert json.loads(out)["serverVersion"]["gitVersion"] == "v1.30.5"


def test_get_nodes_wide_prints_the_apiservers_columns(kubeconfig):
    out = kubectl(kubeconfig, "get", "nodes", "-o", "wide").stdout.splitlines()
    assert out[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE",
                              "KERNEL-VERSION", "CONTAINER-RUNTIME"]
    rows = {ln.split()[0]: ln.split() for ln in out[1:]}
    assert rows["k8s-m"][1:3] == ["Ready", "control-plane"] and rows["k8s-m"][5] == "192.168.10.10"
    assert rows["k8s-w0"][5] == "192.168.20.100"


def test_applied_pod_is_networked_and_listed(lab, kubeconfig, apipod):
    out = kubectl(kubeconfig, "wait", "--for=condition=Ready", "pod/apipod1", "--timeout=30s").stdout
    assert out == "pod/apipod1 condition met\n"
    wide = kubectl(kubeconfig, "get", "pods", "-A", "-o", "wide").stdout.splitlines()
    assert wide[0].split() == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE",
                               "NOMINATED", "NODE", "READINESS", "GATES"]
    row = next(ln.split() for ln in wide if " apipod1 " in ln)
    assert row[2:4] == ["1/1", "Running"] and row[7] == "k8s-w2"
    ip = kubectl(kubeconfig, "get", "pod", "apipod1", "-o", "jsonpath={.status.podIP}").stdout
    assert ip == lab.pod_ip("default/apipod1")
    # the pod answers: the write went through the lab's own apply path and the dataplane followed
    answer = lab.sh("k8s-m", f"curl -s --max-time 5 http://{ip}/")
    assert answer.startswith(f"Hostname: apipod1\nIP: 127.0.0.1\nIP: ::1\nIP: {ip}\nIP: fe80::")  # as whoami lists them
    assert "\nUser-Agent: curl/" in answer
    # the echoed request keeps its CRLF ends (request line, Host, User-Agent, Accept, empty line)
    assert lab.sh("k8s-m", f"curl -s --max-time 5 http://{ip}/ | tr -dc '\\r' | wc -c").strip() == "5"
    items = json.loads(kubectl(kubeconfig, "get", "pods", "-A", "-o", "json").stdout)["items"]
    assert any(p["metadata"]["name"] == "apipod1" and p["spec"]["nodeName"] == "k8s-w2" for p in items)


def test_describe_events_and_logs(kubeconfig, apipod):
    kubectl(kubeconfig, "wait", "--for=condition=Ready", "pod/apipod1", "--timeout=30s")
    desc = kubectl(kubeconfig, "describe", "pod", "apipod1").stdout
    assert "Node:             k8s-w2/192.168.10.102" in desc
    assert "Successfully assigned default/apipod1 to k8s-w2" in desc
    ev = kubectl(kubeconfig, "get", "events", "--field-selector", "involvedObject.name=apipod1").stdout
    assert ev.splitlines()[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert [ln.split()[2] for ln in ev.splitlines()[1:]] == ["Scheduled", "Pulling", "Pulled", "Created", "Started"]
    other = kubectl(kubeconfig, "get", "events", "--field-selector", "involvedObject.name=nosuchpod").stdout
    assert other == ""
    assert kubectl(kubeconfig, "logs", "apipod1").stdout.endswith(" Starting up on port 80\n")
    node = kubectl(kubeconfig, "describe", "node", "k8s-w2").stdout
    assert "apipod1" in node and "InternalIP:  192.168.10.102" in node


def test_the_labs_own_kubectl_describes_waits_and_shows_logs_and_events(lab, apipod):
    """The same commands through the lab's kubectl (on k8s-m, as `lab.kubectl` runs it)."""
    assert lab.kubectl("wait --for=condition=Ready pod/apipod1 --timeout=30s") == "pod/apipod1 condition met\n"
    desc = lab.kubectl("describe pod apipod1")
    assert "Node:             k8s-w2/192.168.10.102" in desc
    assert "Successfully assigned default/apipod1 to k8s-w2" in desc
    ev = lab.kubectl("get events --field-selector involvedObject.name=apipod1")
    assert [ln.split()[2] for ln in ev.splitlines()[1:]] == ["Scheduled", "Pulling", "Pulled", "Created", "Started"]
    assert lab.kubectl("logs apipod1").endswith(" Starting up on port 80\n")
    node = lab.kubectl("describe node k8s-w2")
    assert "apipod1" in node and "InternalIP:  192.168.10.102" in node

    # on a machine without kubectl of its own, the lab's kubectl says what to install (not "does not emulate")
    bindir = lab.backend.names.host_dir("k8s-m") / "bin"
    with pytest.raises(CommandError) as e:
        lab.sh("k8s-m", f"PATH={bindir}:/usr/sbin:/sbin kubectl describe pod apipod1")
    assert "is kubectl's own code" in e.value.stderr and "install-kubectl-linux" in e.value.stderr


def test_python_client_lists_the_labs_pods(lab, kubeconfig, apipod):
    kubernetes = pytest.importorskip("kubernetes")
    kubernetes.config.load_kube_config(config_file=kubeconfig)
    pods = kubernetes.client.CoreV1Api().list_pod_for_all_namespaces().items
    names = {(p.metadata.namespace, p.metadata.name) for p in pods}
    stored = {(p["metadata"]["namespace"], p["metadata"]["name"]) for p in
              json.loads(kubectl(kubeconfig, "get", "pods", "-A", "-o", "json").stdout)["items"]}
    assert ("default", "apipod1") in names and names == stored


def test_exec_over_websocket(lab, kubeconfig, apipod):
    shell = POD.replace("apipod1", "apishell").replace("traefik/whoami", "nicolaka/netshoot")
    kubectl(kubeconfig, "apply", "-f", "-", input=shell)
    try:
        ip = kubectl(kubeconfig, "get", "pod", "apishell", "-o", "jsonpath={.status.podIP}").stdout
        out = kubectl(kubeconfig, "exec", "apishell", "--", "ip", "-4", "-br", "addr", "show", "eth0").stdout
        assert f" {ip}/32" in out  # ran inside the pod
        failed = kubectl(kubeconfig, "exec", "apishell", "--", "sh", "-c", "echo oops >&2; exit 3", check=False)
        assert failed.returncode == 3 and "oops" in failed.stderr
        assert "command terminated with exit code 3" in failed.stderr
        assert kubectl(kubeconfig, "exec", "-i", "apishell", "--", "cat", input="hello\n").stdout == "hello\n"
    finally:
        kubectl(kubeconfig, "delete", "pod", "apishell", check=False)
    refused = kubectl(kubeconfig, "exec", "apipod1", "--", "ping", "-c1", "192.168.10.10", check=False)
    assert refused.returncode == 126  # traefik/whoami holds no ping, as on a cluster
    assert 'exec: "ping": executable file not found in $PATH' in refused.stdout
    assert "command terminated with exit code 126" in refused.stderr


def test_inside_the_lab_on_6443_and_only_with_a_lab_certificate(lab, kubeconfig):
    pki = lab.backend.names.dir / "pki"
    out = lab.sh("k8s-m", f"curl -s --cacert {pki}/ca.crt --cert {pki}/admin.crt --key {pki}/admin.key "
                 "https://192.168.10.10:6443/api/v1/namespaces/default")
    assert json.loads(out)["metadata"]["name"] == "default"
    real = shutil.which("kubectl")
    nodes = lab.sh("k8s-w1", f"{real} --kubeconfig {pki}/admin.conf get nodes -o name")
    assert nodes.split() == ["node/k8s-m", "node/k8s-w0", "node/k8s-w1", "node/k8s-w2"]
    port = json.loads((lab.backend.names.dir / "kubeapi.json").read_text())["port"]
    anon = subprocess.run(["curl", "-s", "--cacert", str(pki / "ca.crt"), f"https://127.0.0.1:{port}/api"],
                          capture_output=True, text=True, timeout=20)
    assert anon.returncode != 0  # no client certificate, no API


def test_vagrant_backends_api_path_reads_the_lab(lab, apipod):
    """The vagrant backend's kubernetes-client path (kubeconfig read over SSH, API reached through an SSH
    tunnel to k8s-m, TLS name `kubernetes`) works against the lab's API as against kubeadm's."""
    import kanslab

    kubectl(str(lab.backend.names.dir / "kubeconfig"), "wait", "--for=condition=Ready", "pod/apipod1",
            "--timeout=30s")
    vlab = kanslab.connect("vagrant", ssh_config=lab.backend.names.dir / "ssh_config",
                           kubeconfig_path=str(lab.backend.names.dir / "pki" / "admin.conf"))
    try:
        names = {p["metadata"]["name"] for p in vlab.backend.kube.items("pods")}
        assert vlab.backend.kube.source == "api", vlab.backend.kube._api_failed
        assert "apipod1" in names
        assert {n["metadata"]["name"] for n in vlab.backend.kube.items("nodes")} == \
            {"k8s-m", "k8s-w1", "k8s-w2", "k8s-w0"}
    finally:
        vlab.backend.close()


def test_apply_again_patches_and_delete_removes(lab, kubeconfig, apipod):
    apipod.write_text(POD.replace("app: apipod}", "app: apipod, tier: web}"))
    assert kubectl(kubeconfig, "apply", "-f", str(apipod)).stdout == "pod/apipod1 configured\n"
    out = kubectl(kubeconfig, "get", "pods", "-l", "tier=web", "-o", "name").stdout
    assert out == "pod/apipod1\n"
    assert kubectl(kubeconfig, "apply", "-f", str(apipod)).stdout == "pod/apipod1 unchanged\n"
    bad = kubectl(kubeconfig, "get", "pods", "--field-selector", "spec.nosuch=x", check=False)
    assert bad.returncode == 1 and "field label not supported: spec.nosuch" in bad.stderr
    assert kubectl(kubeconfig, "delete", "pod", "apipod1").stdout == 'pod "apipod1" deleted\n'
    assert "default/apipod1" not in lab.backend.pod_ips()
    gone = kubectl(kubeconfig, "get", "pod", "apipod1", check=False)
    assert gone.returncode == 1 and 'pods "apipod1" not found' in gone.stderr


def test_a_pod_the_cni_refuses_shows_its_event_in_describe(lab, kubeconfig, tmp_path):
    f = tmp_path / "outsider.yaml"
    f.write_text(POD.replace("apipod1", "outsider").replace("labels: {app: apipod}",
                 "annotations: {cni.projectcalico.org/ipAddrs: '[\"10.99.0.5\"]'}"))
    assert kubectl(kubeconfig, "apply", "-f", str(f)).stdout == "pod/outsider created\n"
    try:
        pod = json.loads(kubectl(kubeconfig, "get", "pod", "outsider", "-o", "json").stdout)
        assert pod["status"]["phase"] == "Pending"
        assert pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "ContainerCreating"
        events = kubectl(kubeconfig, "get", "events", "--field-selector", "involvedObject.name=outsider").stdout
        assert "FailedCreatePodSandBox" in events
        described = kubectl(kubeconfig, "describe", "pod", "outsider").stdout
        assert "Warning  FailedCreatePodSandBox" in described
        assert 'plugin type="calico" failed (add): The provided IP address is not in a configured pool' in described
    finally:
        kubectl(kubeconfig, "delete", "pod", "outsider", "--ignore-not-found", check=False)


def test_describe_node_shows_the_kubelets_lease(lab, kubeconfig):
    lease = kubectl(kubeconfig, "describe", "node", "k8s-w1").stdout.split("Lease:\n", 1)[1].splitlines()[:3]
    assert [ln.split(":", 1)[0].strip() for ln in lease] == ["HolderIdentity", "AcquireTime", "RenewTime"]
    assert lease[0].split() == ["HolderIdentity:", "k8s-w1"] and lease[1].split() == ["AcquireTime:", "<unset>"]
