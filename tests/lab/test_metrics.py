"""Felix's metrics port and the lab's Prometheus, on a real lab: what a student curls and queries."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

import kanslab
from kanslab import CommandError, InvalidInput, parse, wait_for

pytestmark = pytest.mark.lab

NODES = {"k8s-m": "192.168.10.10", "k8s-w1": "192.168.10.101", "k8s-w2": "192.168.10.102", "k8s-w0": "192.168.20.100"}
ON = """patch felixconfiguration default --patch '{"spec":{"prometheusMetricsEnabled": true}}'"""
OFF = """patch felixconfiguration default --patch '{"spec":{"prometheusMetricsEnabled": false}}'"""


def scrape(lab, node: str, port: int = 9091) -> str:
    return lab.sh("k8s-m", f"curl -sS --max-time 5 http://{NODES[node]}:{port}/metrics")


def closed(lab, node: str, port: int = 9091) -> bool:
    try:
        scrape(lab, node, port)
    except CommandError as e:
        return e.exit_status == 7  # curl: connection refused
    return False


def value(df, metric: str, **labels) -> float:
    rows = df[df.metric == metric]
    for k, v in labels.items():
        rows = rows[rows[k] == v]
    assert len(rows) == 1, (metric, labels, rows)
    return float(rows.value.iloc[0])


def felix(lab, node: str) -> dict[str, float]:
    df = parse.prometheus(scrape(lab, node))
    return {"endpoints": value(df, "felix_active_local_endpoints"), "policies": value(df, "felix_active_local_policies"),
            "filter_rules": value(df, "felix_iptables_rules", table="filter"),
            "restores": value(df, "felix_iptables_restore_calls")}


def felix_rules(save) -> int:
    """Felix's rules in a parsed iptables-save: its cali-* chains and its `cali:` jumps in the built-in
    chains (kube-proxy's KUBE-* chains share the tables)."""
    felix = save.chain.str.startswith("cali-") | save.rule.fillna("").str.contains("cali:") | \
        save.target.fillna("").str.startswith("cali-")
    return int((save.rule.notna() & felix).sum())


def real_filter_rules(lab, node: str) -> int:
    return felix_rules(parse.iptables_save(lab.sh(node, "iptables-save -t filter")))


@pytest.fixture
def metrics_on(lab):
    lab.calicoctl(ON)
    try:
        yield lab
    finally:
        lab.calicoctl(OFF)


def test_metrics_are_off_by_default(lab):
    spec = parse_felix_default(lab)
    assert spec.get("prometheusMetricsEnabled") in (None, False)
    for node in NODES:
        assert closed(lab, node)


def parse_felix_default(lab) -> dict:
    import json

    return json.loads(lab.calicoctl("get felixconfiguration default -o json"))["spec"]


def test_the_patch_opens_9091_on_every_node_and_values_match_the_lab(metrics_on):
    lab = metrics_on
    pods = lab.pods()
    nodes = parse.calico_nodes(lab.calicoctl("get nodes -o wide"))
    for node in NODES:
        df = parse.prometheus(scrape(lab, node))
        assert {"felix_active_local_endpoints", "felix_cluster_num_hosts", "felix_iptables_rules"} <= set(df.metric)
        assert value(df, "felix_cluster_num_hosts") == len(nodes) == 4
        node_ip = {n.name: n.ip for n in lab.topology.nodes}
        # Felix's endpoints are the pods with their own network: not hostNetwork ones (calico-node, kube-proxy)
        running = pods[(pods.phase == "Running") & (pods.ip != pods.node.map(node_ip))]
        assert value(df, "felix_active_local_endpoints") == int((running.node == node).sum())
        assert value(df, "felix_cluster_num_workload_endpoints") == len(running)
        assert value(df, "felix_iptables_rules", table="filter", ip_version="4") == real_filter_rules(lab, node)
        nat = parse.iptables_save(lab.sh(node, "iptables-save -t nat"))
        assert value(df, "felix_iptables_rules", table="nat") == felix_rules(nat)
        assert value(df, "felix_iptables_chains", table="nat") == len({c for c in nat.chain if c.startswith("cali-")})
    # nothing of it in the host's own namespace
    assert closed_on_host(9091)
    lab.calicoctl(OFF)
    assert all(closed(lab, node) for node in NODES)


def closed_on_host(port: int) -> bool:
    import socket

    s = socket.socket()
    try:
        return s.connect_ex(("127.0.0.1", port)) != 0
    finally:
        s.close()


def test_a_node_felixconfiguration_overrides_the_default(metrics_on):
    lab = metrics_on
    lab.apply({"apiVersion": "projectcalico.org/v3", "kind": "FelixConfiguration", "metadata": {"name": "node.k8s-w1"},
               "spec": {"prometheusMetricsPort": 9099}})
    try:
        assert closed(lab, "k8s-w1") and "felix_active_local_endpoints" in scrape(lab, "k8s-w1", 9099)
        assert "felix_active_local_endpoints" in scrape(lab, "k8s-w2")
        lab.calicoctl("""patch felixconfiguration node.k8s-w1 --patch '{"spec":{"prometheusMetricsEnabled": false}}'""")
        assert closed(lab, "k8s-w1", 9099) and closed(lab, "k8s-w1")
    finally:
        lab.calicoctl("delete felixconfiguration node.k8s-w1")
    assert "felix_active_local_endpoints" in scrape(lab, "k8s-w1")


PODS = "\n---\n".join(f"""apiVersion: v1
kind: Pod
metadata: {{name: mon{i}, labels: {{app: mon}}}}
spec:
  nodeName: k8s-w1
  containers: [{{name: c, image: traefik/whoami}}]
""" for i in (1, 2))
POLICY = (Path(__file__).parent.parent / "fixtures" / "mon-ingress.yaml").read_text()


def test_metrics_follow_pods_and_policies(metrics_on):
    lab = metrics_on
    before = {n: felix(lab, n) for n in ("k8s-w1", "k8s-w2")}
    try:
        lab.apply(PODS)
        w1, w2 = felix(lab, "k8s-w1"), felix(lab, "k8s-w2")
        assert w1["endpoints"] == before["k8s-w1"]["endpoints"] + 2
        assert w2["endpoints"] == before["k8s-w2"]["endpoints"]
        assert w1["filter_rules"] == real_filter_rules(lab, "k8s-w1") > before["k8s-w1"]["filter_rules"]
        assert w1["restores"] > before["k8s-w1"]["restores"]
        lab.apply(POLICY)
        w1p, w2p = felix(lab, "k8s-w1"), felix(lab, "k8s-w2")
        assert w1p["policies"] == before["k8s-w1"]["policies"] + 1
        assert w2p["policies"] == before["k8s-w2"]["policies"]  # no endpoint of w2 is selected
        assert w1p["filter_rules"] == real_filter_rules(lab, "k8s-w1") > w1["filter_rules"]
        cluster = parse.prometheus(scrape(lab, "k8s-w0"))
        assert value(cluster, "felix_cluster_num_policies") == len(lab.kubectl("get netpol -A -o name").split())
    finally:
        lab.delete(POLICY)
        lab.delete(PODS)
    assert felix(lab, "k8s-w1")["endpoints"] == before["k8s-w1"]["endpoints"]
    assert felix(lab, "k8s-w1")["policies"] == before["k8s-w1"]["policies"]


def test_prometheus_scrapes_the_nodes_and_answers_queries(metrics_on):
    lab = metrics_on
    assert wait_for(lambda: len(lab.prometheus_query('up{job="felix_metrics"} == 1')) == 4, timeout=30)
    up = lab.prometheus_query('up{job="felix_metrics"}')
    assert set(up.node) == set(NODES) and set(up.instance) == {f"{ip}:9091" for ip in NODES.values()}
    # calico-kube-controllers too, on its pod IP's :9094, with one ipam_ippool_size per pool
    assert wait_for(lambda: len(lab.prometheus_query('up{job="kube_controllers_metrics"} == 1')) == 1, timeout=30)
    targets = lab.prometheus_targets()
    assert set(targets.job) == {"prometheus", "felix_metrics", "kube_controllers_metrics"} and len(targets) == 6
    import json
    pools = {p["metadata"]["name"]: p["spec"]["cidr"] for p in json.loads(lab.calicoctl("get ippool -o json"))["items"]}
    size = lab.prometheus_query("ipam_ippool_size")
    assert dict(zip(size.ippool, size.value, strict=True)) == {n: 2 ** (32 - int(c.split("/")[1])) for n, c in pools.items()}
    # Prometheus holds what the node serves once it has scraped after a change: a state to wait for
    query = 'felix_active_local_endpoints{node="k8s-w1"}'
    # Prometheus may still hold a scrape from before an earlier test deleted its pods: the history
    # starts once it has scraped the count the node serves now
    base = felix(lab, "k8s-w1")["endpoints"]
    assert wait_for(lambda: lab.prometheus_query(query).value.tolist() == [base], timeout=30)
    t0 = time.time()
    try:
        lab.apply(PODS)
        want = felix(lab, "k8s-w1")["endpoints"]
        assert want == base + 2
        assert wait_for(lambda: lab.prometheus_query(query).value.tolist() == [want], timeout=30)
        def history():
            return lab.prometheus_query_range(query, start=t0, step="1s")
        # the last point of a 1 s grid may fall just before the scrape that Prometheus already answered with
        assert wait_for(lambda: want in set(history().value), timeout=10)
        rng = history()
        assert list(rng.columns) == ["metric", "instance", "job", "node", "timestamp", "value"]
        # one point per second from t0: the old count first, the new one once scraped
        assert rng.timestamp.is_monotonic_increasing and rng.timestamp.diff().dropna().dt.total_seconds().eq(1).all()
        assert rng.value.iloc[0] == base and want in set(rng.value)
    finally:
        lab.delete(PODS)
    with pytest.raises(InvalidInput, match="parse error"):
        lab.prometheus_query("sum(")
    # it runs inside k8s-m's namespace, never on the host's ports
    info = lab.backend.prometheus()
    assert Path(f"/proc/{info['pid']}/ns/net").stat().st_ino == Path(f"/run/netns/{lab.backend.names.host('k8s-m')}").stat().st_ino
    assert closed_on_host(9090)
    # after metrics are turned off, the targets go down
    lab.calicoctl(OFF)
    assert wait_for(lambda: (lab.prometheus_query('up{job="felix_metrics"} == 0')).shape[0] == 4, timeout=30)


def prometheus_pids(prefix: str) -> list[int]:
    """The lab's live Prometheus processes (its command line names the lab's state directory)."""
    from tests.lab.test_teardown import cmdline, lab_processes

    return [p for p in lab_processes(prefix) if "prometheus" in cmdline(p)]


@pytest.mark.parametrize("how", ["down", "agent killed, then down"])
def test_down_leaves_no_prometheus(how, root_before):
    from tests.lab.test_teardown import assert_nothing_left

    if os.geteuid() != 0:
        pytest.skip("needs root")
    prefix = f"kc5t{os.getpid() % 1000}{len(how) % 10}"
    lab = kanslab.connect("local", prefix=prefix)
    try:
        lab.up(progress=False)
        lab.calicoctl(ON)
        lab.prometheus_query("up")
        pids = prometheus_pids(prefix)
        assert len(pids) == 1
        if how != "down":
            os.kill(lab.backend.agent_info()["pid"], signal.SIGKILL)
            assert prometheus_pids(prefix) == pids  # orphaned, still running
    finally:
        lab.down()
    assert prometheus_pids(prefix) == []
    assert_nothing_left(prefix)
