"""One contract, three backends: the same calls through `kanslab.Lab` give the same answers.

`local` is the embedded lab; `vagrant` drives that same lab over SSH (its loopback sshd doors and
the `ssh_config` it writes, as test_vagrant_backend_on_embedded does); `replay` answers from a
recording of the local session. Each session makes the same calls in the same order (hosts, status,
sh and a failing sh, calicoctl, kubectl, apply/exec/delete of a pod, exec into the web pods, a
capture, reachability, pod_ip, pods, routes, and each capability or its NotSupported), and leaves
the lab as it found it. What may differ between backends is normalised first (the status table's
backend-specific columns, packet times); everything else must be equal."""

from __future__ import annotations

import pytest

import kanslab
from kanslab import parse
from kanslab.backends.base import CAPABILITIES, capabilities
from kanslab.backends.replay import RecordingBackend

pytestmark = pytest.mark.lab

POD = """apiVersion: v1
kind: Pod
metadata: {name: contract1, labels: {app: contract}}
spec:
  nodeName: k8s-w2
  containers: [{name: c, image: traefik/whoami}]
"""


def _frame(df, columns=None):
    return df[columns or list(df.columns)].to_dict("records")


def session(lab: kanslab.Lab, web_pods: dict[str, str]) -> dict:
    """The calls a chapter makes, each answer reduced to what must be equal on every backend."""
    out: dict = {"hosts": lab.hosts, "control_plane": lab.topology.control_plane,
                 "up": lab.up(progress=False)}
    st = lab.status()
    out["status"] = {r.host: (bool(r.running), sorted(a for a in r.addresses.split(", ") if a))
                     for r in st.itertuples()}
    out["status_columns"] = {"host", "running", "addresses"} <= set(st.columns)
    out["enp0s8_w1"] = lab.sh("k8s-w1", "ip -4 -br addr show enp0s8")
    try:
        lab.sh("k8s-w1", "ls /no/such/dir")
    except kanslab.CommandError as e:
        out["sh_error"] = (e.host, e.cmd, e.exit_status, "No such file or directory" in e.stderr)
    out["ippools"] = lab.calicoctl("get ippool -o wide")
    peers = parse.calico_node_status(lab.calicoctl("node status"))
    out["bgp_peers"] = sorted(zip(peers.peer_address, peers["info"], strict=True))
    out["nodes"] = lab.kubectl("get nodes -o name")
    out["apply"] = lab.apply(POD)
    try:
        ip = lab.pod_ip("contract1")
        out["pod_ip_in_pool"] = ip.startswith("172.16.")
        out["exec_curl"] = [ln for ln in lab.exec("webpod1", f"curl -s --max-time 3 http://{ip}/").splitlines()
                            if ln.startswith("Hostname:")]
        try:
            lab.exec("default/contract1", "ls /no/such/dir")
        except kanslab.CommandError as e:
            out["exec_error"] = (e.host, e.cmd, e.exit_status != 0)
    finally:
        out["delete"] = lab.delete(POD)
    out["pod_ips"] = {k: lab.pod_ip(k) for k in sorted(web_pods)}
    with lab.capture("k8s-w1", bpf="icmp", count=20, seconds=10) as cap:
        lab.exec("webpod1", f"ping -c 2 -W 2 {web_pods['webpod3']}")
    pk = cap.packets
    out["packet_columns"] = list(pk.columns)
    out["packets"] = sorted({(r.src, r.dst, r.icmp_type) for r in pk.itertuples()})
    reach = lab.reachability(port=80, pods=sorted(web_pods))
    out["reachability"] = (list(reach.index), list(reach.columns), reach.values.tolist(), reach.attrs.get("port"))
    pods = lab.pods()
    out["pods"] = sorted(map(tuple, pods[pods.name.isin(list(web_pods))][["namespace", "name", "node", "ip", "phase"]]
                             .values.tolist()))
    out["routes_w1"] = _frame(lab.routes("k8s-w1"))
    out["capabilities"] = {}
    for c in CAPABILITIES:  # each capability works where the backend has it, else says which it lacks
        try:
            if c.name == "prometheus":
                lab.prometheus()
            elif c.name == "pod_ips":
                continue  # used by reachability above where present; Lab falls back to kubectl without it
            out["capabilities"][c.name] = "works"
        except kanslab.NotSupported as e:
            out["capabilities"][c.name] = f"NotSupported({e.backend}, {e.capability})"
    return out


@pytest.fixture(scope="module")
def answers(lab, web_pods, tmp_path_factory):
    """The session on each backend: local (recorded), vagrant over SSH, replay of the recording."""
    raw = tmp_path_factory.mktemp("contract") / "session.jsonl"
    recorder = RecordingBackend(lab.backend, raw)
    got = {"local": session(kanslab.Lab(recorder), web_pods)}
    vagrant = kanslab.connect("vagrant", ssh_config=lab.backend.names.dir / "ssh_config")
    try:
        got["vagrant"] = session(vagrant, web_pods)
    finally:
        vagrant.backend.close()
    replay = kanslab.connect("replay", transcript=raw, quiet=True)
    got["replay"] = session(replay, web_pods)
    got["_caps"] = {"local": capabilities(recorder), "vagrant": capabilities(vagrant.backend),
                    "replay": capabilities(replay.backend)}
    return got


def test_the_local_session_means_something(answers):
    """The reference answers are the lab's real ones (or the comparisons below prove little)."""
    a = answers["local"]
    assert a["hosts"] == ["router", "k8s-m", "k8s-w1", "k8s-w2", "k8s-w0"] and a["control_plane"] == "k8s-m"
    assert a["up"] is False and a["status_columns"] and all(run for run, _ in a["status"].values())
    assert "192.168.10.101/24" in a["status"]["k8s-w1"][1] and "192.168.10.101/24" in a["enp0s8_w1"]
    assert a["sh_error"] == ("k8s-w1", "ls /no/such/dir", 2, True)
    assert {info for _, info in a["bgp_peers"]} == {"Established"} and len(a["bgp_peers"]) == 3
    assert a["apply"] == "pod/contract1 created\n" and a["delete"] == 'pod "contract1" deleted\n'
    assert a["pod_ip_in_pool"] and a["exec_curl"] == ["Hostname: contract1"]
    assert a["exec_error"] == ("default/contract1", "ls /no/such/dir", True)
    assert len(a["packets"]) >= 2 and a["reachability"][2] == [[True] * 3] * 3
    assert a["capabilities"] == {"capture": "works", "probe": "works", "prometheus": "works"}


@pytest.mark.parametrize("backend", ["vagrant", "replay"])
def test_the_same_calls_give_the_same_answers(answers, backend):
    ref, got = answers["local"], answers[backend]
    assert set(got) == set(ref)
    differ = {k: (ref[k], got[k]) for k in ref if k != "capabilities" and ref[k] != got[k]}
    assert not differ, f"{backend} answers differently from local: {differ}"


def test_each_backend_has_its_capabilities_and_says_so_where_it_has_not(answers):
    caps = answers["_caps"]
    assert caps["local"] == ["capture", "probe", "pod_ips", "prometheus"]
    assert caps["replay"] == caps["local"]  # exactly what the recorded backend had
    assert caps["vagrant"] == ["capture", "probe"]
    assert answers["replay"]["capabilities"] == answers["local"]["capabilities"]
    assert answers["vagrant"]["capabilities"] == {
        "capture": "works", "probe": "works", "prometheus": "NotSupported(vagrant, run the lab's Prometheus)"}
