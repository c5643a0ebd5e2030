"""The full Felix (:9091) and calico-kube-controllers (:9094) endpoints as pure functions."""

import re

import pytest

from kanslab.emulator import felix_metrics as fm
from kanslab.emulator import kube_controllers_metrics as kcm
from kanslab.emulator import metric_table
from kanslab.emulator.policy import filter_rules
from kanslab.parse import prometheus

POD = {"namespace": "default", "name": "web", "wep": "k8s--w1-k8s-web-eth0", "phase": "Running", "ip": "172.16.1.5",
       "labels": {"app": "web"}, "interface": "cali0123456789a", "mac": "", "ports": [], "service_account": "default"}
NP = {"metadata": {"name": "web", "namespace": "default"},
      "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress"],
               "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "client"}}}]}]}}


def _view():
    return {"pods": [POD], "all_pods": [POD], "nodes": [{"name": "k8s-m"}, {"name": "k8s-w2"}],
            "namespaces": {"default": {}, "kube-system": {}}, "network_policies": [NP], "calico_policies": [],
            "pools": [], "felix": {"prometheusMetricsEnabled": True}}


def _felix_text(counters=None):
    view = _view()
    save = "\n".join(filter_rules(view)) + "\n"
    counters = counters or fm.FelixCounters(started=1_700_000_000.0)
    return fm.exposition(fm.all_samples(view, {"lo", POD["interface"]}, save, ["cali40all-ipam-pools", "cali40this-host"],
                                        counters, "k8s-w1", now=1_700_000_600.0)), save


def test_felix_serves_every_v328_family_and_the_go_runtime():
    counters = fm.FelixCounters(started=1_700_000_000.0)
    assert "felix_iptables_lines_executed" not in _felix_text(counters)[0]  # a *Vec prints nothing before its first use
    counters.restored("*nat\n-A cali-nat-outgoing -j MASQUERADE\nCOMMIT\n", "", 0.01)
    text, _ = _felix_text(counters)
    types = re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M)
    names = [n for n, _ in types]
    assert len(types) >= 50 and names == sorted(names)
    for need in ("felix_active_local_endpoints", "felix_int_dataplane_apply_time_seconds", "felix_iptables_chains",
                 "felix_ipset_calls", "felix_route_table_list_seconds", "felix_route_table_per_iface_sync_seconds",
                 "felix_cluster_num_hosts", "felix_cluster_num_profiles", "felix_resyncs_started", "go_goroutines",
                 "process_resident_memory_bytes", "go_gc_duration_seconds"):
        assert need in names, need
    # only names the table has, and the table has only families Calico v3.28 registers (47 felix_*)
    felix = {f["name"] for f in metric_table.families("felix")}
    assert len(felix) == 47 and {n for n in names if n.startswith("felix_")} == felix
    assert all(f["source"].startswith("felix/") for f in metric_table.families("felix"))
    assert "felix_active_local_tags" not in names and "felix_cluster_num_tiers" not in names  # not in v3.28


def test_felix_values_come_from_the_state_and_the_counters():
    counters = fm.FelixCounters(started=1_700_000_000.0)
    counters.restored("*filter\n:cali-X - [0:0]\n-A cali-X -j ACCEPT\nCOMMIT\n", "create a hash:net\nadd a 1.2.3.0/24\n", 0.02)
    counters.restored("*filter\n:cali-X - [0:0]\n-A cali-X -j ACCEPT\nCOMMIT\n", "create a hash:net\n", 0.04)
    text, save = _felix_text(counters)
    df = prometheus(text)

    def v(metric, **labels):
        rows = df[df.metric == metric]
        for k, val in labels.items():
            rows = rows[rows[k] == val]
        assert len(rows) == 1, (metric, labels)
        return float(rows.value.iloc[0])

    assert v("felix_active_local_endpoints") == 1 and v("felix_active_local_policies") == 1
    assert v("felix_cluster_num_hosts") == 3 and v("felix_cluster_num_workload_endpoints") == 1
    assert v("felix_iptables_restore_calls") == 2 and v("felix_ipset_calls") == 2 and v("felix_ipset_lines_executed") == 3
    assert v("felix_iptables_lines_executed", table="filter") == 4
    assert v("felix_ipsets_calico", ip_version="4") == 2
    assert v("felix_int_dataplane_apply_time_seconds_count") == 2
    assert v("felix_int_dataplane_apply_time_seconds_sum") == pytest.approx(0.06)
    assert v("felix_int_dataplane_apply_time_seconds", quantile="0.99") == 0.04
    assert v("felix_host", host="k8s-w1") == 1 and v("felix_resync_state") == 3
    assert v("felix_cluster_num_profiles") == 4   # kns.default, kns.kube-system, ksa.default.default, ksa.kube-system.default
    assert v("felix_bpf_num_ip_sets") == 0
    chains = len({ln.split()[0][1:] for ln in save.splitlines() if ln.startswith(":")} - fm.KERNEL_CHAINS["filter"])
    assert v("felix_iptables_chains", table="filter", ip_version="4") == chains
    assert v("process_start_time_seconds") == 1_700_000_000.0
    # counters only grow
    later = fm.all_samples(_view(), {POD["interface"]}, save, [], counters, "k8s-w1", now=1_700_001_200.0)
    got = {(n, tuple(sorted(lab.items()))): x for n, lab, x in later}
    assert got[("process_cpu_seconds_total", ())] > v("process_cpu_seconds_total")
    assert got[("go_memstats_alloc_bytes_total", ())] > v("go_memstats_alloc_bytes_total")


def test_go_float_format_and_summary_without_observations():
    assert [metric_table._num(x) for x in (405, 9425744.0, 1e-05, 0.0001, 1e6, 0.5)] == \
        ["405", "9.425744e+06", "1e-05", "0.0001", "1e+06", "0.5"]
    s = metric_table.Summary().samples("felix_route_table_list_seconds")
    assert [x[2] for x in s[3:]] == [0.0, 0] and all(str(x[2]) == "nan" for x in s[:3])
    with pytest.raises(KeyError, match="not_a_family"):
        metric_table.exposition([("not_a_family", {}, 1)], "felix")


POOLS = [{"metadata": {"name": "default-ipv4-ippool"}, "spec": {"cidr": "172.16.0.0/16"}},
         {"metadata": {"name": "empty-pool"}, "spec": {"cidr": "10.99.0.0/24"}}]


def _block(cidr, owner, allocs):
    return {"spec": {"cidr": cidr, "affinity": f"host:{owner}" if owner else None,
                     "allocations": {str(i): {"attrs": {"node": n} if n else {}} for i, n in enumerate(allocs)}}}


def test_kube_controllers_ipam_metrics_as_updatemetrics_computes_them():
    blocks = [_block("172.16.116.0/24", "k8s-m", ["k8s-m", "k8s-m", "k8s-w1"]),
              _block("172.16.158.0/24", "k8s-w1", ["k8s-w1", None]), _block("192.168.99.0/26", None, ["k8s-w2"])]
    s = {(n, tuple(sorted(lab.items()))): v for n, lab, v in kcm.ipam_samples(POOLS, blocks, ["k8s-m", "k8s-w1", "k8s-w2"])}
    pool = ("ippool", "default-ipv4-ippool")
    assert s[("ipam_ippool_size", (pool,))] == 65536 and s[("ipam_ippool_size", (("ippool", "empty-pool"),))] == 256
    assert s[("ipam_allocations_in_use", (pool, ("node", "k8s-m")))] == 2
    assert s[("ipam_allocations_in_use", (pool, ("node", "k8s-w1")))] == 2
    assert s[("ipam_allocations_in_use", (pool, ("node", "k8s-w2")))] == 0          # zero-filled per node
    assert s[("ipam_allocations_in_use", (pool, ("node", "unknown_node")))] == 1
    assert s[("ipam_allocations_borrowed", (pool, ("node", "k8s-w1")))] == 1
    assert s[("ipam_blocks", (pool, ("node", "k8s-m")))] == 1
    assert s[("ipam_allocations_gc_candidates", (pool, ("node", "k8s-m")))] == 0
    # a block outside every pool counts under no_ippool, not zero-filled, with no affinity
    assert s[("ipam_blocks", (("ippool", "no_ippool"), ("node", "no_affinity")))] == 1
    assert ("ipam_allocations_in_use", (("ippool", "no_ippool"), ("node", "k8s-m"))) not in s
    assert s[("ipam_allocations_borrowed_per_node", (("node", "k8s-w2"),))] == 1
    assert not any(lab and dict(lab).get("ippool") == "empty-pool" and n != "ipam_ippool_size" for n, lab in s)


def test_kube_controllers_port_and_exposition():
    assert kcm.metrics_port(None) == 9094 and kcm.metrics_port({"spec": {"prometheusMetricsPort": 9095}}) == 9095
    assert kcm.metrics_port({"spec": {"prometheusMetricsPort": 0}}) is None

    class Tx:
        def list(self, kind):
            return {"IPPool": POOLS, "IPAMBlock": [_block("172.16.116.0/24", "k8s-m", ["k8s-m"])],
                    "Node": [{"metadata": {"name": "k8s-m"}}]}[kind]
    text = kcm.exposition_from(Tx(), started=1_700_000_000.0, scrapes=3, now=1_700_000_100.0)
    df = prometheus(text)
    assert {"ipam_allocations_in_use", "ipam_blocks", "ipam_ippool_size", "go_goroutines"} <= set(df.metric)
    assert 'ipam_allocations_in_use{ippool="default-ipv4-ippool",node="k8s-m"} 1\n' in text
    assert 'promhttp_metric_handler_requests_total{code="200"} 3\n' in text


def test_every_metric_the_dashboards_query_is_one_the_lab_serves():
    import re as _re
    served = {f["name"] for s in ("felix", "kube_controllers", "go_runtime") for f in metric_table.families(s)}
    felix = metric_table.dashboard_panels("felix")
    assert len(felix) == 16 and felix[0]["targets"][0]["expr"] == "felix_active_local_endpoints"
    for panel in felix + metric_table.dashboard_panels("kube_controllers"):
        for t in panel["targets"]:
            for name in _re.findall(r"\b((?:felix|ipam|go|process)_[a-z_]+)", t["expr"]):
                base = _re.sub(r"_(sum|count)$", "", name)
                assert name in served or base in served, (panel["title"], name)


def test_lab_queries_a_prometheus_inside_the_lab_by_its_address(monkeypatch):
    """`server=`: the write-up's Prometheus on its NodePort, asked with curl from the control plane."""
    import json

    import kanslab
    from kanslab import InvalidInput
    from kanslab.backends.local import LocalBackend

    lab = kanslab.Lab(LocalBackend(prefix="zzunit"))  # nothing runs: sh is replaced below
    sent = []
    targets = {"status": "success", "data": {"activeTargets": [
        {"labels": {"job": "kube_controllers_metrics", "instance": "172.16.116.2:9094"}, "health": "up",
         "scrapeUrl": "http://172.16.116.2:9094/metrics", "lastError": "", "lastScrape": "2026-12-05T18:00:00.1Z"},
        {"labels": {"job": "felix_metrics", "instance": "192.168.10.10:9091"}, "health": "up",
         "scrapeUrl": "http://192.168.10.10:9091/metrics", "lastError": "", "lastScrape": "2026-12-05T18:00:01Z"}]}}
    vector = {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"__name__": "felix_cluster_num_hosts", "instance": "192.168.10.10:9091"}, "value": [1.7e9, "4"]}]}}

    def sh(host, cmd, timeout=60, check=True):
        sent.append((host, cmd))
        return json.dumps(targets if "/targets" in cmd else vector) if "30001" in cmd else "<html>nope</html>"
    monkeypatch.setattr(lab, "sh", sh)
    df = lab.prometheus_targets(server="192.168.10.10:30001")
    assert list(df.job) == ["felix_metrics", "kube_controllers_metrics"] and set(df.health) == {"up"}
    q = lab.prometheus_query("max(felix_cluster_num_hosts)", server="192.168.10.10:30001")
    assert q.value.tolist() == [4.0]
    assert sent[-1] == ("k8s-m", "curl -sS -G --max-time 10 http://192.168.10.10:30001/api/v1/query "
                                 "--data-urlencode 'query=max(felix_cluster_num_hosts)'")
    with pytest.raises(InvalidInput, match="not the HTTP API's JSON"):
        lab.prometheus_query("up", server="192.168.10.10:30002")
