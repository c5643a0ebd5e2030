"""The lab's calicoctl and kubectl: exact output formats and refusals that change nothing."""

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from kanslab.emulator.cli import kubectl

from .fixtures import assert_sandbox_refused, cctl, cli_lab, kctl, sample

NODE3_POD3 = """
apiVersion: v1
kind: Pod
metadata:
  name: pod1
spec:
  nodeName: k8s-w1
  containers:
  - name: pod1
    image: nicolaka/netshoot
    command: ["tail"]
    args: ["-f", "/dev/null"]
  terminationGracePeriodSeconds: 0
---
apiVersion: v1
kind: Pod
metadata:
  name: pod2
spec:
  nodeName: k8s-w2
  containers:
  - name: pod2
    image: nicolaka/netshoot
  terminationGracePeriodSeconds: 0
---
apiVersion: v1
kind: Pod
metadata:
  name: pod3
spec:
  nodeName: k8s-w0
  containers:
  - name: pod3
    image: nicolaka/netshoot
  terminationGracePeriodSeconds: 0
"""

# the seed's `calicoctl node status` on k8s-m (three mesh peers)
SEED_STATUS_TABLE = """\
+----------------+-------------------+-------+----------+-------------+
|  PEER ADDRESS  |     PEER TYPE     | STATE |  SINCE   |    INFO     |
+----------------+-------------------+-------+----------+-------------+
| 192.168.20.100 | node-to-node mesh | up    | 10:03:45 | Established |
| 192.168.10.101 | node-to-node mesh | up    | 10:05:26 | Established |
| 192.168.10.102 | node-to-node mesh | up    | 10:07:16 | Established |
+----------------+-------------------+-------+----------+-------------+
"""
BIRD_RAW_K8S_M = (
    "0001 BIRD v0.3.3+birdv1.6.8 ready.\n"
    "2002-name     proto    table    state  since       info\n"
    "1002-static1  Static   master   up     10:03:40    \n"
    " kernel1  Kernel   master   up     10:03:40    \n"
    " device1  Device   master   up     10:03:40    \n"
    " direct1  Direct   master   up     10:03:40    \n"
    " Mesh_192_168_20_100 BGP      master   up     10:03:45    Established   \n"
    " Mesh_192_168_10_101 BGP      master   up     10:05:26    Established   \n"
    " Mesh_192_168_10_102 BGP      master   up     10:07:16    Established   \n"
    "0000 \n")


@pytest.fixture()
def lab(tmp_path):
    return cli_lab(tmp_path)




# ---------------------------------------------------------------- calicoctl get

def test_get_ippool_wide_is_calicoctls_table(lab):
    rc, out, err = cctl(lab, "get ippool -o wide")
    assert (rc, err) == (0, "")
    assert out == (
        "NAME                  CIDR            NAT    IPIPMODE   VXLANMODE   DISABLED   DISABLEBGPEXPORT   SELECTOR   \n"
        "default-ipv4-ippool   172.16.0.0/16   true   Always     Never       false      false              all()      \n"
        "\n")
    assert out.splitlines()[1].rstrip() == \
        "default-ipv4-ippool   172.16.0.0/16   true   Always     Never       false      false              all()"
    assert cctl(lab, "get pools")[1] == cctl(lab, "get IPPool")[1] == (
        "NAME                  CIDR            SELECTOR   \n"
        "default-ipv4-ippool   172.16.0.0/16   all()      \n\n")


def test_get_nodes_wide_and_wep(lab):
    assert cctl(lab, "get nodes -o wide")[1] == (
        "NAME     ASN       IPV4                IPV6   \n"
        "k8s-m    (64512)   192.168.10.10/24           \n"
        "k8s-w0   (64512)   192.168.20.100/24          \n"
        "k8s-w1   (64512)   192.168.10.101/24          \n"
        "k8s-w2   (64512)   192.168.10.102/24          \n\n")
    kctl(lab, "apply -f -", NODE3_POD3)
    rc, out, _ = cctl(lab, "get workloadEndpoint")
    lines = out.splitlines()
    assert lines[0] == "WORKLOAD   NODE     NETWORKS          INTERFACE         "
    assert [line.split()[0] for line in lines[1:4]] == ["pod1", "pod2", "pod3"]
    # the seed's `calicoctl get workloadEndpoint | grep pod1 | awk '{print $3}' | cut -d/ -f1`
    pod1_ip = next(line for line in lines if "pod1" in line).split()[2].split("/")[0]
    assert pod1_ip == lab.ds.get("Pod", "pod1")["status"]["podIP"]
    assert "calice0906292e2" in out
    header = cctl(lab, "get wep -A")[1].splitlines()[0]
    assert header.split() == ["NAMESPACE", "WORKLOAD", "NODE", "NETWORKS", "INTERFACE"]


def test_get_yaml_round_trips_through_sed_and_apply(lab):
    rc, yaml_text, _ = cctl(lab, "get ippool default-ipv4-ippool -o yaml")
    assert rc == 0 and yaml_text.startswith("apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n")
    assert "  ipipMode: Always\n" in yaml_text and re.search(r'resourceVersion: "\d+"', yaml_text)
    edited = yaml_text.replace("ipipMode: Always", "ipipMode: Never")
    assert cctl(lab, "apply -f -", edited) == (0, "Successfully applied 1 'IPPool' resource(s)\n", "")
    assert "   Never      Never   " in cctl(lab, "get ippool -o wide")[1]
    # the same, now stale, YAML is a conflict and changes nothing
    rc, _, err = cctl(lab, "apply -f -", yaml_text)
    assert rc == 1 and "update conflict: IPPool(default-ipv4-ippool)" in err
    listing = cctl(lab, "get ippool -o yaml")[1]
    assert listing.startswith("apiVersion: projectcalico.org/v3\nitems:\n- apiVersion: projectcalico.org/v3\n")
    assert "kind: IPPoolList" in listing


def test_get_missing_and_unsupported(lab):
    rc, _, err = cctl(lab, "get ippool nope")
    assert rc == 1 and err.startswith("resource does not exist: IPPool(nope)")
    rc, _, err = cctl(lab, "get hostendpoint")
    assert rc == 1 and "does not emulate" in err and "ippool" in err
    rc, _, err = cctl(lab, "get ippool -o go-template={{.}}")
    assert rc == 1 and "does not emulate" in err
    rc, _, err = cctl(lab, "cluster diags")
    assert rc == 1 and "does not emulate 'calicoctl cluster'" in err and "node status" in err


# ---------------------------------------------------------------- calicoctl writes

def test_patch_ipipmode_crosssubnet_then_get_shows_it(lab):
    assert cctl(lab, 'patch ippool default-ipv4-ippool -p {"spec":{"ipipMode":"CrossSubnet"}}') == \
        (0, "Successfully patched 1 'IPPool' resource\n", "")
    assert "default-ipv4-ippool   172.16.0.0/16   true   CrossSubnet   Never       false" in \
        cctl(lab, "get ippool -o wide")[1]


def test_both_encapsulations_are_refused_and_nothing_changes(lab):
    before = lab.ds.revision()
    pool = ("apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: default-ipv4-ippool\n"
            "spec:\n  cidr: 172.16.0.0/16\n  blockSize: 24\n  ipipMode: Always\n  vxlanMode: Always\n")
    rc, out, err = cctl(lab, "apply -f -", pool)
    assert (rc, out) == (1, "")
    assert err == ("Failed to apply 'IPPool' resource: [error with field IPPool.Spec.VXLANMode = 'Always' "
                   "(Cannot enable both VXLAN and IPIP on the same IPPool)]\n")
    rc, _, err = cctl(lab, 'patch ippool default-ipv4-ippool -p {"spec":{"vxlanMode":"CrossSubnet"}}')
    assert rc == 1 and "Cannot enable both VXLAN and IPIP" in err
    assert lab.ds.revision() == before


def test_invalid_mode_lists_the_allowed_values(lab):
    rc, _, err = cctl(lab, 'patch ippool default-ipv4-ippool -p {"spec":{"ipipMode":"Sometimes"}}')
    assert rc == 1 and "IPIPMode = 'Sometimes'" in err and "Always, CrossSubnet, Never" in err


def test_bgppeer_create_get_delete(lab):
    peer = ("apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata:\n  name: bgppeer-rtr\n"
            "spec:\n  peerIP: 192.168.10.254\n  asNumber: 64512\n")
    assert cctl(lab, "create -f -", peer) == (0, "Successfully created 1 'BGPPeer' resource(s)\n", "")
    rc, _, err = cctl(lab, "create -f -", peer)
    assert rc == 1 and err == "Failed to create 'BGPPeer' resource: [resource already exists: BGPPeer(bgppeer-rtr)]\n"
    assert cctl(lab, "get bgppeer")[1] == (
        "NAME          PEERIP           NODE       ASN     \n"
        "bgppeer-rtr   192.168.10.254   (global)   64512   \n\n")
    assert cctl(lab, "delete bgppeer bgppeer-rtr") == (0, "Successfully deleted 1 'BGPPeer' resource(s)\n", "")
    rc, _, err = cctl(lab, "delete bgppeer bgppeer-rtr")
    assert rc == 1 and "resource does not exist: BGPPeer(bgppeer-rtr)" in err


def test_calicoctl_refuses_kubernetes_kinds_and_malformed_yaml(lab):
    rc, _, err = cctl(lab, "apply -f -", NODE3_POD3)
    assert rc == 1 and err == "Failed to execute command: Unknown resource type (Pod) and/or version (v1)\n"
    rc, _, err = cctl(lab, "apply -f -", "apiVersion: projectcalico.org/v3\nkind: IPPool\n metadata: x\n")
    assert rc == 1 and err.startswith("Failed to execute command: error converting YAML to JSON: yaml: line 3:")


def test_label_nodes_and_felix_patch(lab):
    assert cctl(lab, "label nodes k8s-w1 rack=rack1") == (0, "Successfully set label rack on nodes k8s-w1\n", "")
    rc, _, err = cctl(lab, "label nodes k8s-w1 rack=rack2")
    assert rc == 1 and "please use '--overwrite'" in err
    assert cctl(lab, "label nodes k8s-w1 rack=rack2 --overwrite")[1] == \
        "Successfully updated label rack on nodes k8s-w1\n"
    assert lab.ds.get("Node", "k8s-w1")["metadata"]["labels"]["rack"] == "rack2"
    assert cctl(lab, "patch felixconfiguration default --patch "
                     '{"spec":{"prometheusMetricsEnabled":true}}')[0] == 0
    assert lab.ds.get("FelixConfiguration", "default")["spec"]["prometheusMetricsEnabled"] is True


# ---------------------------------------------------------------- node status

def test_node_status_from_a_raw_bird_reply_is_the_seeds_table(lab):
    lab.bird_show_protocols = lambda: BIRD_RAW_K8S_M
    rc, out, err = cctl(lab, "node status")
    assert (rc, err) == (0, "")
    assert out == ("Calico process is running.\n\nIPv4 BGP status\n" + SEED_STATUS_TABLE +
                   "\nIPv6 BGP status\nNo IPv6 peers found.\n\n")


def test_node_status_from_real_bird_captures(lab):
    lab.bird_show_protocols = lambda: sample("bird_show_protocols__kans_w1_raw.txt")
    out = cctl(lab, "node status")[1]
    assert "| 192.168.20.100 | node-to-node mesh | up    | 06:02:22 | Established |" in out
    assert "| 192.168.10.254 | global            | up    | 06:02:22 | Established |" in out
    # birdc's human form (and a peer that is down, its INFO wrapped by tablewriter at 30 columns)
    lab.bird_show_protocols = lambda: sample("bird_show_protocols__kans_w1_peerdown.txt")
    out = cctl(lab, "node status")[1]
    assert "| 192.168.20.100 | node-to-node mesh | start | 06:02:41 | Active Socket: Connection |\n" \
           "|                |                   |       |          | refused                   |\n" in out


def test_node_status_without_peers_or_bird(lab):
    lab.bird_show_protocols = lambda: ("0001 BIRD 1.6.8 ready.\n2002-name     proto    table    state  since       "
                                       "info\n1002-kernel1  Kernel   master   up     06:02:21    \n0000 \n")
    assert cctl(lab, "node status")[1] == ("Calico process is running.\n\nIPv4 BGP status\nNo IPv4 peers found.\n"
                                           "\nIPv6 BGP status\nNo IPv6 peers found.\n\n")
    lab.bird_show_protocols = lambda: None
    assert cctl(lab, "node status")[1] == ("Calico process is running.\n\nINFO: BIRDv4 process: 'bird' is not running.\n"
                                          "\nIPv6 BGP status\nNo IPv6 peers found.\n\n")
    lab.node = "router"
    assert cctl(lab, "node status") == (1, "", "Calico process is not running.\n")


# ---------------------------------------------------------------- ipam

def test_ipam_show_blocks_after_three_pods(lab):
    kctl(lab, "apply -f -", NODE3_POD3)
    rc, out, _ = cctl(lab, "ipam show --show-blocks")
    lines = out.splitlines()
    assert lines[0] == lines[2] == lines[-1] == "+----------+-----------------+-----------+------------+--------------+"
    assert lines[1] == "| GROUPING |      CIDR       | IPS TOTAL | IPS IN USE |   IPS FREE   |"
    assert lines[3] == "| IP Pool  | 172.16.0.0/16   |     65536 | 10 (0%)    | 65526 (100%) |"
    blocks = [line for line in lines if line.startswith("| Block")]
    assert len(blocks) == 4
    in_use = sorted(int(line.split("|")[4].split()[0]) for line in blocks)
    assert in_use == [2, 2, 2, 4]  # k8s-m: tunnel, coredns x2, kube-controllers; each worker: tunnel + one pod
    assert all(re.fullmatch(r"\| Block    \| 172\.16\.\d+\.0/24 *\|       256 \| [124] \([012]%\) *\| 25[245] \((98|99|100)%\) *\|",
                            line) for line in blocks)
    assert cctl(lab, "ipam show")[1].count("\n") == 5  # pool row only


def test_ipam_show_ip_configuration_and_strict_affinity(lab):
    kctl(lab, "apply -f -", NODE3_POD3)
    ip = lab.ds.get("Pod", "pod1")["status"]["podIP"]
    out = cctl(lab, f"ipam show --ip={ip}")[1]
    assert out.startswith(f"IP {ip} is in use\nAttributes:\n  namespace: default\n  node: k8s-w1\n  pod: pod1\n")
    assert cctl(lab, "ipam show --ip=10.9.9.9")[1] == "10.9.9.9 is not assigned\n"
    assert cctl(lab, "ipam configure --strictaffinity=true") == (0, "Successfully set StrictAffinity to: true\n", "")
    assert "| StrictAffinity     | true  |" in cctl(lab, "ipam show --show-configuration")[1]
    other = ip.rsplit(".", 1)[0] + ".99"  # inside k8s-w1's block
    pinned = ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: pinned\n  annotations:\n"
              f"    cni.projectcalico.org/ipAddrs: '[\"{other}\"]'\nspec:\n  nodeName: k8s-w2\n"
              "  containers: [{name: c, image: nicolaka/netshoot}]\n")
    rc, out, _ = kctl(lab, "apply -f -", pinned)
    assert (rc, out) == (0, "pod/pinned created\n")
    assert_sandbox_refused(lab.ds, "pinned", "Block host affinity does not match")
    events = kctl(lab, "get events --field-selector involvedObject.name=pinned")[1]
    assert events.split("\n")[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert "Warning   FailedCreatePodSandBox   pod/pinned   Failed to create pod sandbox" in events
    cctl(lab, "ipam configure --strictaffinity=false")
    kctl(lab, "delete pod pinned")
    assert kctl(lab, "apply -f -", pinned)[0] == 0
    borrowed = cctl(lab, "ipam show --show-borrowed")[1]
    assert f"| {other} | k8s-w2         |" in borrowed and "| pod  | default/pinned |" in borrowed


# ---------------------------------------------------------------- kubectl

def test_kubectl_get_pods_wide_and_jsonpath(lab):
    assert kctl(lab, "apply -f -", NODE3_POD3)[1] == "pod/pod1 created\npod/pod2 created\npod/pod3 created\n"
    created = datetime.strptime(lab.ds.get("Pod", "pod1")["metadata"]["creationTimestamp"],
                                "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    lab.clock = lambda: created + timedelta(minutes=3, seconds=12)
    rc, out, _ = kctl(lab, "get pods -o wide")
    lines = out.splitlines()
    assert re.split(" {3,}", lines[0]) == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE",
                                    "READINESS GATES"]
    ip = lab.ds.get("Pod", "pod1")["status"]["podIP"]
    assert re.fullmatch(rf"pod1   1/1     Running   0          3m12s   {re.escape(ip)} +k8s-w1   <none>           <none>",
                        lines[1])
    assert kctl(lab, "get nodes -o jsonpath={.items[*].spec.podCIDR}")[1] == \
        "172.16.0.0/24 172.16.3.0/24 172.16.1.0/24 172.16.2.0/24"
    assert kctl(lab, "get node k8s-w1 -o jsonpath={.spec.podCIDR}")[1] == "172.16.1.0/24"
    template = '{range .items[*]}{.metadata.name}{"\\t"}{.status.hostIP}{"\\n"}{end}'
    out = kubectl(["get", "pods", "-o", f"jsonpath={template}"], lab)[1]
    assert out.splitlines()[0] == "pod1\t192.168.10.101"
    out = kctl(lab, 'get nodes -o jsonpath={.items[?(@.metadata.name=="k8s-w0")].status.addresses[0].address}')[1]
    assert out == "192.168.20.100"


def test_kubectl_labels_selectors_and_delete(lab):
    kctl(lab, "apply -f -", NODE3_POD3)
    assert kctl(lab, "label pod pod1 app=web") == (0, "pod/pod1 labeled\n", "")
    rc, _, err = kctl(lab, "label pod pod1 app=db")
    assert rc == 1 and err == "error: 'app' already has a value (web), and --overwrite is false\n"
    assert kctl(lab, "get pods -l app=web -o name")[1] == "pod/pod1\n"
    out = kctl(lab, "get pods pod1 --show-labels")[1]
    assert out.splitlines()[0].endswith("LABELS") and out.splitlines()[1].endswith("app=web")
    assert kctl(lab, "label pod pod1 app-")[1] == "pod/pod1 unlabeled\n"
    assert kctl(lab, "delete pod pod2") == (0, 'pod "pod2" deleted\n', "")
    rc, _, err = kctl(lab, "delete pod pod2")
    assert rc == 1 and err == 'Error from server (NotFound): pods "pod2" not found\n'
    assert kctl(lab, "delete -f -", NODE3_POD3.split("---")[0])[1] == 'pod "pod1" deleted\n'
    assert kctl(lab, "get pods")[2] == ""
    kctl(lab, "delete pod pod3")
    assert kctl(lab, "get pods") == (0, "", "No resources found in default namespace.\n")
    # structured output of nothing is an empty List, as kubectl prints it (scripts json.loads it)
    assert json.loads(kctl(lab, "get pods -n default -o json")[1])["items"] == []
    assert kctl(lab, "get pods -o yaml")[1].startswith("apiVersion: v1\nitems: []\nkind: List")


def test_kubectl_refusals(lab):
    before = lab.ds.revision()
    rc, _, err = kctl(lab, "apply -f -", NODE3_POD3.replace("nodeName: k8s-w2", "nodeName: k8s-w9"))
    assert rc == 1 and 'spec.nodeName: Not found: "k8s-w9"' in err
    rc, _, err = kctl(lab, "apply -f -", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n   bad: indent\n")
    assert rc == 1 and err.startswith("error: error parsing STDIN: error converting YAML to JSON: yaml: line 5:")
    pool = "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: p\nspec:\n  cidr: 10.1.0.0/16\n"
    rc, _, err = kctl(lab, "apply -f -", pool)
    assert rc == 1 and 'no matches for kind "IPPool" in version "projectcalico.org/v3"' in err
    rc, _, err = kctl(lab, "apply -f https://raw.githubusercontent.com/gasida/KANS/main/kans3/pod3-traefik.yaml")
    assert rc == 1 and "no internet access" in err
    assert lab.ds.revision() == before
    rc, _, err = kctl(lab, "exec pod1 -- ip -c addr")
    assert rc == 1 and "lab.exec" in err
    rc, _, err = kctl(lab, "get ingress")
    assert rc == 1 and "does not emulate" in err
    rc, _, err = kctl(lab, "get pods --watch")
    assert rc == 1 and "--watch" in err
    rc, _, err = kctl(lab, "get frobs")
    assert rc == 1 and err == 'error: the server doesn\'t have a resource type "frobs"\n'


def test_kubectl_apply_from_a_file_and_pod_update_rules(lab):
    (Path(lab.cwd) / "node3-pod3.yaml").write_text(NODE3_POD3)
    assert kctl(lab, "apply -f node3-pod3.yaml")[0] == 0
    assert kctl(lab, "apply -f node3-pod3.yaml")[1] == "pod/pod1 unchanged\npod/pod2 unchanged\npod/pod3 unchanged\n"
    moved = NODE3_POD3.replace("nodeName: k8s-w1", "nodeName: k8s-w2")
    rc, _, err = kctl(lab, "apply -f -", moved)
    assert rc == 1 and err.startswith('The Pod "pod1" is invalid: spec: Forbidden: pod updates may not change')
    assert kctl(lab, "create -f node3-pod3.yaml")[2].startswith(
        'Error from server (AlreadyExists): error when creating "node3-pod3.yaml": pods "pod1" already exists')


def test_kubectl_takes_several_files_as_kubectl_does(lab):
    """`-f a -f b` acts on both files in order; --ignore-not-found skips what is already gone."""
    docs = NODE3_POD3.split("---\n")
    (Path(lab.cwd) / "a.yaml").write_text(docs[0])
    (Path(lab.cwd) / "b.yaml").write_text(docs[1] + "---\n" + docs[2])
    assert kctl(lab, "apply -f a.yaml -f b.yaml") == (0, "pod/pod1 created\npod/pod2 created\npod/pod3 created\n", "")
    # a file that does not parse stops everything before any change
    (Path(lab.cwd) / "bad.yaml").write_text("kind: Pod\n  metadata: [\n")
    rc, _, err = kctl(lab, "delete -f a.yaml -f bad.yaml")
    assert rc == 1 and "bad.yaml" in err and kctl(lab, "get pod pod1 -o name")[1] == "pod/pod1\n"
    assert kctl(lab, "delete -f a.yaml -f b.yaml") == (
        0, 'pod "pod1" deleted\npod "pod2" deleted\npod "pod3" deleted\n', "")
    rc, out, err = kctl(lab, "delete -f a.yaml")
    assert rc == 1 and out == "" and err.startswith('Error from server (NotFound): error when deleting "a.yaml"')
    assert kctl(lab, "delete -f a.yaml -f b.yaml --ignore-not-found") == (0, "", "")
    # a file the server refuses is reported; the others are still applied
    assert kctl(lab, "apply -f a.yaml")[0] == 0
    rc, out, err = kctl(lab, "create -f a.yaml -f b.yaml")
    assert rc == 1 and out == "pod/pod2 created\npod/pod3 created\n" and "AlreadyExists" in err and '"a.yaml"' in err


def test_prefix_may_follow_the_subcommand(tmp_path, capsys):
    from kanslab.cli import main

    assert main(["down", "--prefix", "nosuchlab9"]) == 0
    assert "no lab 'nosuchlab9'" in capsys.readouterr().out
