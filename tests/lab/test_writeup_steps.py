"""Issue 17's first acceptance list: the write-up's own commands, typed in its order on a fresh lab.

Each step is the text of ../shared/course/seed-calico-networking-modes.txt, run on the host the
write-up runs it on (k8s-m unless its prompt says otherwise; vtysh and the router's checks on the
router). Each must exit 0 and never say "does not emulate". The tests run in file order on a lab of
this module's own, because the write-up's steps build on each other (the pool's mode, the pods, the
peer, Prometheus) and leave the cluster changed, which no other test may inherit.
Where the write-up's text has an error, the corrected command is used and a comment says why.
"""

from __future__ import annotations

import json
import os

import pytest

import kanslab
from kanslab import CommandError, wait_for

from .conftest import _need_root

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def lab(root_before):
    """A fresh lab for the write-up's steps, torn down after the last of them."""
    _need_root()
    lab = kanslab.connect("local", prefix=f"kw{os.getpid() % 10000}")
    try:
        lab.up(progress=False)
        yield lab
    finally:
        lab.down()

NOT_EMULATED = "does not emulate"


def _shell(cmd: str, merge: bool) -> str:
    # pipefail: every command of a pipeline must succeed, not only the last one (a failing
    # `calicoctl get` in front of `sed | calicoctl apply` counts)
    return "set -o pipefail\n" + ("exec 2>&1\n" if merge else "") + cmd


def run(lab, host: str, cmd: str, timeout: float = 90, merge: bool = True) -> str:
    """The command on HOST as a student types it; its stdout and stderr together (2>&1, so a
    "does not emulate" on stderr shows), or stdout alone with merge=False (for curl, whose
    progress meter on stderr would cut into the JSON)."""
    try:
        out = lab.sh(host, _shell(cmd, merge), timeout=timeout)
    except CommandError as e:
        pytest.fail(f"[{host}] exited {e.exit_status}:\n$ {cmd}\n{e.stdout}{e.stderr}", pytrace=False)
    assert NOT_EMULATED not in out, f"[{host}]\n$ {cmd}\n{out}"
    return out


def pool_row(out: str) -> list[str]:
    """The default pool's row of `calicoctl get ippool -o wide`. calicoctl v3.28 prints a DISABLEBGPEXPORT
    column the write-up's (older) output has not: NAT IPIPMODE VXLANMODE DISABLED DISABLEBGPEXPORT SELECTOR."""
    header, row = out.splitlines()[:2]
    assert header.split() == ["NAME", "CIDR", "NAT", "IPIPMODE", "VXLANMODE", "DISABLED", "DISABLEBGPEXPORT",
                              "SELECTOR"], out
    return row.split()


def exits_0(lab, host: str, cmd: str, merge: bool = True) -> str | None:
    """The command's output once it exits 0 (for wait_for), else None."""
    try:
        return lab.sh(host, _shell(cmd, merge), timeout=30)
    except CommandError:
        return None


# ---- IPIP mode ---------------------------------------------------------------------------------

def test_ipip_mode_checks(lab):
    assert pool_row(run(lab, "k8s-m", "calicoctl get ippool -o wide")) == [
        "default-ipv4-ippool", "172.16.0.0/16", "true", "Always", "Never", "false", "false", "all()"]
    assert "node-to-node mesh" in run(lab, "k8s-m", "calicoctl node status")
    # the write-up's output here (gateways .20.100, .10.102, .10.101) is k8s-m's view; the Direct
    # section below runs the same check on k8s-w1. Both show the other nodes' blocks via tunl0.
    for host in ("k8s-m", "k8s-w1"):
        out = run(lab, host, "route -n | egrep '(Destination|tunl0)'")
        assert sum(line.endswith("tunl0") for line in out.splitlines()) == 3, out
    assert "| IP Pool  | 172.16.0.0/16   |" in run(lab, "k8s-m", "calicoctl ipam show --show-blocks")


def test_pod_cidrs_and_cni_config(lab):
    out = run(lab, "k8s-m", "kubectl get nodes -o jsonpath='{.items[*].spec.podCIDR}'")
    assert "172.16.0.0/24" in out.split()
    assert run(lab, "k8s-m", "kubectl get node k8s-m -o json | jq '.spec.podCIDR'") == '"172.16.0.0/24"\n'
    assert run(lab, "k8s-m", "kubectl get node k8s-w1 -o json | jq '.spec.podCIDR'") == '"172.16.1.0/24"\n'
    for host in ("k8s-m", "k8s-w1"):
        conf = json.loads(run(lab, host, "cat /etc/cni/net.d/10-calico.conflist"))
        assert conf["plugins"][0]["ipam"] == {"type": "calico-ipam"}


# ---- Direct mode -------------------------------------------------------------------------------

def test_direct_mode_pipeline(lab):
    run(lab, "k8s-m", "calicoctl get ippool -o wide")
    assert "ipipMode: Always" in run(lab, "k8s-m", "calicoctl get ippool default-ipv4-ippool -o yaml")
    run(lab, "k8s-m", 'calicoctl get ippool default-ipv4-ippool -o yaml | sed -e "s/ipipMode: Always/ipipMode: Never/"'
                      ' | calicoctl apply -f -')
    assert pool_row(run(lab, "k8s-m", "calicoctl get ippool -o wide"))[2:5] == ["true", "Never", "Never"]
    # Felix moves the routes off tunl0: wait for that state, then the write-up's check on k8s-w1
    assert wait_for(lambda: (lambda o: o and "tunl0" not in o and " UG " in o)(
        exits_0(lab, "k8s-w1", "route -n | egrep '(Destination|UG)'")), timeout=30)
    run(lab, "k8s-w1", "route -n | egrep '(Destination|UG)'")


def _node3_pod3_text() -> str:
    from kanslab.backends.local.labfiles import course_manifests
    return next(p for p in course_manifests() if p.name == "node3-pod3.yaml").read_text()


def test_no_internet_names_the_local_copy(lab):
    """Issue 17 item 3: the write-up's downloads fail as on a host without internet, naming ~/manifests."""
    url = "https://raw.githubusercontent.com/gasida/NDKS/main/5/node3-pod3.yaml"
    with pytest.raises(CommandError) as e:
        lab.sh("k8s-m", f"curl -s -O {url}")
    assert e.value.exit_status == 6 and "/root/manifests/node3-pod3.yaml" in e.value.stderr
    assert lab.sh("k8s-m", "test -e node3-pod3.yaml || echo absent") == "absent\n"  # nothing half-downloaded
    before = lab.kubectl("get pod -A -o name")  # the lab is shared: other tests may have made webpods
    with pytest.raises(CommandError) as e:
        lab.sh("k8s-m", "kubectl apply -f https://raw.githubusercontent.com/gasida/KANS/main/kans3/pod3-traefik.yaml")
    assert "/root/manifests/pod3-traefik.yaml" in e.value.stderr
    assert lab.kubectl("get pod -A -o name") == before  # it created nothing


def test_node3_pod3_from_a_here_document_then_wait(lab):
    # the write-up downloads node3-pod3.yaml with curl; a lab host has no internet, so its text
    # (NDKS 5/node3-pod3.yaml, the lab's ~/manifests copy) goes in a here-document
    run(lab, "k8s-m", f"kubectl apply -f - <<EOF\n{_node3_pod3_text()}EOF")
    # not in the write-up, which assumes instant pods: wait for them before pinging them
    run(lab, "k8s-m", "kubectl wait --for=condition=Ready pod/pod1 pod/pod2 pod/pod3 --timeout=60s")
    # the router's view (`router -n` in the write-up is a typo for `route -n`)
    run(lab, "router", "ip -c route")
    run(lab, "router", "route -n")


# ---- CrossSubnet mode --------------------------------------------------------------------------

def test_crosssubnet_patch_wep_and_ping(lab):
    run(lab, "k8s-m", """calicoctl patch ippool default-ipv4-ippool -p '{"spec":{"ipipMode":"CrossSubnet"}}'""")
    assert pool_row(run(lab, "k8s-m", "calicoctl get ippool -o wide"))[2:5] == ["true", "CrossSubnet", "Never"]
    wep = run(lab, "k8s-m", "calicoctl get wep")
    # WORKLOAD NODE NETWORKS INTERFACE (no NAMESPACE column without -A)
    assert {"pod1", "pod2", "pod3"} <= {line.split()[0] for line in wep.splitlines()[1:] if line.strip()}
    # k8s-w1 reaches k8s-w0 (the other subnet) through tunl0, k8s-w2 directly
    assert wait_for(lambda: (lambda o: o and "tunl0" in o)(exits_0(lab, "k8s-w1", "route -n | grep UG")), timeout=30)
    routes = [line.split() for line in run(lab, "k8s-w1", "route -n | grep UG").splitlines()]
    via = {r[1]: r[-1] for r in routes if r[1].startswith("192.168.")}
    assert via["192.168.20.100"] == "tunl0" and via["192.168.10.102"] != "tunl0", routes
    # the write-up opens `kubectl exec -it pod1 -- zsh` and types `ping <pod3 IP>` there; the same
    # without a terminal (and -c 1, or ping runs until interrupted)
    pod3 = lab.pod_ip("default/pod3")
    out = run(lab, "k8s-m", f"kubectl exec pod1 -- ping -c 1 {pod3}")
    assert "1 packets transmitted, 1 received" in out


# ---- BGP with the router -----------------------------------------------------------------------

def test_router_vtysh(lab):
    assert "10.1.1.0/24" in run(lab, "router", "vtysh -c 'show ip route'")
    run(lab, "router", "vtysh -c 'show bgp ipv4 unicast summary'")  # the write-up's words
    run(lab, "router", "vtysh -c 'show bgp summary'")               # the issue's
    assert "router bgp 64512" in run(lab, "router", "vtysh -c 'show running-config'")


def test_nat_outgoing_pipeline(lab):
    run(lab, "k8s-m", 'calicoctl get ippool default-ipv4-ippool -o yaml | sed -e "s/natOutgoing: true/natOutgoing: false/"'
                      ' | calicoctl apply -f -')
    assert pool_row(run(lab, "k8s-m", "calicoctl get ippool -o wide"))[2:4] == ["false", "CrossSubnet"]


def test_web_pods_reached_by_their_wep_addresses(lab):
    """The write-up's pod3-traefik check: WPODn from `calicoctl get workloadEndpoint`, ping and curl each."""
    # the write-up's `kubectl apply -f https://.../pod3-traefik.yaml` names the local copy (see above)
    run(lab, "k8s-m", "kubectl apply -f ~/manifests/pod3-traefik.yaml")
    run(lab, "k8s-m", "kubectl wait --for=condition=Ready pod/webpod1 pod/webpod2 pod/webpod3 --timeout=60s")
    # the write-up greps pod1..3 (its own pod names); pod3-traefik's pods are webpod1..3, and
    # `grep pod1` would match both pod1 and webpod1: grep the web pods' names
    for i in (1, 2, 3):
        ip = run(lab, "k8s-m", f"""WPOD{i}=$(calicoctl get workloadEndpoint | grep webpod{i} | awk '{{print $3}}' | cut -d "/" -f 1)
echo $WPOD{i}""").strip()
        assert ip == lab.pod_ip(f"default/webpod{i}")
        run(lab, "k8s-m", f"ping -i 1 -W 1 -c 1 {ip}")
        assert f"Hostname: webpod{i}" in run(lab, "k8s-m", f"curl -s --connect-timeout 1 {ip} | grep Hostname")


BGPPEER = """cat <<EOF | calicoctl apply -f -
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata:
  name: bgppeer-rtr
spec:
  peerIP: 192.168.10.254
  asNumber: 64512
EOF"""


def test_bgppeer_routes_and_ping(lab):
    run(lab, "k8s-m", BGPPEER)
    out = run(lab, "k8s-m", "calicoctl get bgppeer")
    assert out.splitlines()[1].split() == ["bgppeer-rtr", "192.168.10.254", "(global)", "64512"]
    assert wait_for(lambda: (lambda o: o and "| 192.168.10.254 | global            | up    |" in o)(
        exits_0(lab, "k8s-m", "calicoctl node status")), timeout=60)
    run(lab, "k8s-m", "calicoctl node status")
    for host in ("k8s-m", "k8s-w1"):
        assert wait_for(lambda host=host: (lambda o: o and "10.1.2.0/24" in o)(exits_0(lab, host, "ip -c route | grep bird")),
                        timeout=60)
        out = run(lab, host, "ip -c route | grep bird")
        assert "10.1.1.0/24" in out and "proto bird" in out
        run(lab, host, "ping -c 1 10.1.1.254")
        run(lab, host, "ping -c 1 10.1.2.254")


# ---- Monitoring (Grafana left out) -------------------------------------------------------------

def test_felix_configuration(lab):
    run(lab, "k8s-m", "calicoctl get felixconfiguration -o yaml")
    run(lab, "k8s-m", """calicoctl patch felixconfiguration default  --patch '{"spec":{"prometheusMetricsEnabled": true}}'""")
    assert "prometheusMetricsEnabled: true" in run(lab, "k8s-m", "calicoctl get felixconfiguration default -o yaml")


# The write-up's monitoring commands, verbatim, in its order
MONITORING = [
    """kubectl apply -f - <<EOF
apiVersion: v1
kind: Service
metadata:
  name: felix-metrics-svc
  namespace: kube-system
spec:
  clusterIP: None
  selector:
    k8s-app: calico-node
  ports:
  - port: 9091
    targetPort: 9091
EOF""",
    "calicoctl get kubecontrollersconfiguration default -o yaml",
    """kubectl apply -f - <<EOF
apiVersion: v1
kind: Service
metadata:
  name: kube-controllers-metrics-svc
  namespace: kube-system
spec:
  clusterIP: None
  selector:
    k8s-app: calico-kube-controllers
  ports:
  - port: 9094
    targetPort: 9094
EOF""",
    """kubectl create -f -<<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: calico-monitoring
  labels:
    app:  ns-calico-monitoring
    role: monitoring
EOF""",
    "kubectl get ns",
    """kubectl apply -f - <<EOF
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: calico-prometheus-user
rules:
- apiGroups: [""]
  resources:
  - endpoints
  - services
  - pods
  verbs: ["get", "list", "watch"]
- nonResourceURLs: ["/metrics"]
  verbs: ["get"]
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: calico-prometheus-user
  namespace: calico-monitoring
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: calico-prometheus-user
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: calico-prometheus-user
subjects:
- kind: ServiceAccount
  name: calico-prometheus-user
  namespace: calico-monitoring
EOF""",
    # (an unquoted EOF: bash turns `replacement: $1` into `replacement: `, as on a real cluster;
    # with action: keep the replacement is not used)
    """kubectl apply -f - <<EOF
apiVersion: v1
kind: ConfigMap
metadata:
  name: prometheus-config
  namespace: calico-monitoring
data:
  prometheus.yml: |-
    global:
      scrape_interval:   15s
      external_labels:
        monitor: 'tutorial-monitor'
    scrape_configs:
    - job_name: 'prometheus'
      scrape_interval: 5s
      static_configs:
      - targets: ['localhost:9090']
    - job_name: 'felix_metrics'
      scrape_interval: 5s
      scheme: http
      kubernetes_sd_configs:
      - role: endpoints
      relabel_configs:
      - source_labels: [__meta_kubernetes_service_name]
        regex: felix-metrics-svc
        replacement: $1
        action: keep
    - job_name: 'felix_windows_metrics'
      scrape_interval: 5s
      scheme: http
      kubernetes_sd_configs:
      - role: endpoints
      relabel_configs:
      - source_labels: [__meta_kubernetes_service_name]
        regex: felix-windows-metrics-svc
        replacement: $1
        action: keep
    - job_name: 'typha_metrics'
      scrape_interval: 5s
      scheme: http
      kubernetes_sd_configs:
      - role: endpoints
      relabel_configs:
      - source_labels: [__meta_kubernetes_service_name]
        regex: typha-metrics-svc
        replacement: $1
        action: keep
    - job_name: 'kube_controllers_metrics'
      scrape_interval: 5s
      scheme: http
      kubernetes_sd_configs:
      - role: endpoints
      relabel_configs:
      - source_labels: [__meta_kubernetes_service_name]
        regex: kube-controllers-metrics-svc
        replacement: $1
        action: keep
EOF""",
    """kubectl apply -f - <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: prometheus-pod
  namespace: calico-monitoring
  labels:
    app: prometheus-pod
    role: monitoring
spec:
  nodeSelector:
    kubernetes.io/os: linux
  serviceAccountName: calico-prometheus-user
  containers:
  - name: prometheus-pod
    image: prom/prometheus
    resources:
      limits:
        memory: "128Mi"
        cpu: "500m"
    volumeMounts:
    - name: config-volume
      mountPath: /etc/prometheus/prometheus.yml
      subPath: prometheus.yml
    ports:
    - containerPort: 9090
  volumes:
  - name: config-volume
    configMap:
      name: prometheus-config
EOF""",
    """kubectl apply -f - <<EOF
apiVersion: v1
kind: Service
metadata:
  name: prometheus-dashboard-svc
  namespace: calico-monitoring
spec:
  type: NodePort
  selector:
    app: prometheus-pod
    role: monitoring
  ports:
    - protocol: TCP
      port: 9090
      targetPort: 9090
      nodePort: 30001 
EOF""",
]


def test_monitoring_manifests_apply_verbatim(lab):
    outs = [run(lab, "k8s-m", cmd) for cmd in MONITORING]
    assert outs[0] == "service/felix-metrics-svc created\n"
    assert outs[2] == "service/kube-controllers-metrics-svc created\n"
    assert outs[3] == "namespace/calico-monitoring created\n"
    assert "calico-monitoring" in outs[4]
    assert outs[5] == ("clusterrole.rbac.authorization.k8s.io/calico-prometheus-user created\n"
                       "serviceaccount/calico-prometheus-user created\n"
                       "clusterrolebinding.rbac.authorization.k8s.io/calico-prometheus-user created\n")
    assert outs[6] == "configmap/prometheus-config created\n"
    assert outs[7] == "pod/prometheus-pod created\n"
    assert outs[8] == "service/prometheus-dashboard-svc created\n"
    # not in the write-up: the pod must be Ready before its dashboard answers
    run(lab, "k8s-m", "kubectl wait --for=condition=Ready pod/prometheus-pod -n calico-monitoring --timeout=90s")
    # the container reads the ConfigMap's key at the volumeMount's path and subPath (bash turned the
    # unquoted here-document's `$1` into nothing, as on a real cluster)
    stored = lab.sh("k8s-m", "kubectl get cm prometheus-config -n calico-monitoring -o jsonpath='{.data.prometheus\\.yml}'")
    assert "    replacement: \n    action: keep" in stored
    assert lab.sh("k8s-m", "kubectl exec -n calico-monitoring prometheus-pod -- cat /etc/prometheus/prometheus.yml") \
        == stored


def _jobs_up(text: str | None) -> dict[str, set[str]] | None:
    try:
        targets = json.loads(text or "")["data"]["activeTargets"]
    except (ValueError, KeyError, TypeError):
        return None
    jobs: dict[str, set[str]] = {}
    for t in targets:
        jobs.setdefault(t["labels"]["job"], set()).add(t["health"])
    want = ("felix_metrics", "kube_controllers_metrics")
    return jobs if all(jobs.get(j) == {"up"} for j in want) else None


def test_router_sees_the_targets_up_through_the_nodeport(lab):
    cmd = "curl http://192.168.10.10:30001/api/v1/targets"
    # Prometheus discovers on its SD refresh and scrapes every 5 s: wait for both jobs up
    jobs = wait_for(lambda: _jobs_up(exits_0(lab, "router", cmd, merge=False)), timeout=90, interval=1)
    assert jobs, f"[router]\n$ {cmd}\n{exits_0(lab, 'router', cmd)}"
    out = run(lab, "router", cmd, merge=False)
    targets = json.loads(out)["data"]["activeTargets"]
    felix = sorted(t["labels"]["instance"] for t in targets if t["labels"]["job"] == "felix_metrics")
    # felix-metrics-svc is headless, selecting calico-node (hostNetwork): the nodes' IPs on :9091
    assert felix == sorted(f"{n.ip}:9091" for n in lab.topology.nodes)
    kc = [t["labels"]["instance"] for t in targets if t["labels"]["job"] == "kube_controllers_metrics"]
    assert len(kc) == 1 and kc[0].endswith(":9094")
    # Prometheus names a localhost target by its own hostname: the pod's, as in a container
    (own,) = [t for t in targets if t["labels"]["job"] == "prometheus"]
    assert own["globalUrl"] == "http://prometheus-pod:9090/metrics"
