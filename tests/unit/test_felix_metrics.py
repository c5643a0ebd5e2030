"""The lab Felix's metrics as pure functions: when the port opens, what is counted."""

from kanslab.emulator import felix_metrics as fm
from kanslab.emulator import metric_table
from kanslab.emulator.policy import filter_rules
from kanslab.parse import iptables_save, prometheus


def test_listen_address_follows_felixconfiguration():
    assert fm.listen_address({}) is None  # off by default, as in Calico
    assert fm.listen_address({"prometheusMetricsEnabled": False}) is None
    assert fm.listen_address({"prometheusMetricsEnabled": True}) == ("0.0.0.0", 9091)
    assert fm.listen_address({"prometheusMetricsEnabled": True, "prometheusMetricsPort": 9099,
                              "prometheusMetricsHost": "192.168.10.101"}) == ("192.168.10.101", 9099)


def _view(pods, policies):
    return {"pods": pods, "all_pods": pods + [{"namespace": "default", "name": "far", "wep": "w", "phase": "Running",
                                               "labels": {}, "ip": "172.16.2.2", "interface": "cali0000000000b"}],
            "nodes": [{"name": "k8s-m"}, {"name": "k8s-w2"}, {"name": "k8s-w0"}], "namespaces": {},
            "network_policies": policies, "felix": {}}


POD = {"namespace": "default", "name": "web", "wep": "k8s--w1-k8s-web-eth0", "phase": "Running", "ip": "172.16.1.5",
       "labels": {"app": "web"}, "interface": "cali0123456789a", "mac": "", "ports": []}


def _np(name, sel, ns="default"):
    return {"metadata": {"name": name, "namespace": ns}, "spec": {"podSelector": sel, "policyTypes": ["Ingress"]}}


def test_active_local_policies_are_those_selecting_a_local_endpoint():
    pols = [_np("web", {"matchLabels": {"app": "web"}}), _np("db", {"matchLabels": {"app": "db"}}),
            _np("all", {}), _np("other-ns", {}, ns="prod")]
    assert fm.active_local_policies(_view([POD], pols)) == ["default/all", "default/web"]
    assert fm.active_local_policies(_view([], pols)) == []


def test_values_count_the_real_rules_of_the_rendered_table():
    view = _view([POD], [_np("web", {"matchLabels": {"app": "web"}})])
    save = "\n".join(filter_rules(view)) + "\n"
    rows = {(m, tuple(sorted(lab.items()))): v for m, lab, v in fm.values(view, {"lo", POD["interface"]}, save, 3)}
    assert rows[("felix_active_local_endpoints", ())] == 1
    assert rows[("felix_active_local_policies", ())] == 1
    assert rows[("felix_cluster_num_hosts", ())] == 4
    assert rows[("felix_cluster_num_workload_endpoints", ())] == 2
    assert rows[("felix_cluster_num_policies", ())] == 1
    assert rows[("felix_iptables_restore_calls", ())] == 3
    parsed = iptables_save(save)
    n_rules = int(parsed.rule.notna().sum())
    n_own_chains = len(set(parsed.chain) - fm.KERNEL_CHAINS["filter"])
    assert rows[("felix_iptables_rules", (("ip_version", "4"), ("table", "filter")))] == n_rules
    assert rows[("felix_iptables_chains", (("ip_version", "4"), ("table", "filter")))] == n_own_chains
    # an endpoint whose interface is not (yet) in the namespace is not active
    assert dict(((m, v) for m, lab, v in fm.values(view, {"lo"}, save, 0) if not lab))["felix_active_local_endpoints"] == 0


def test_exposition_is_the_text_format_with_felix_names():
    view = _view([POD], [])
    text = fm.exposition(fm.values(view, {POD["interface"]}, "*filter\n:INPUT ACCEPT [0:0]\n:cali-X - [0:0]\n"
                                   "-A INPUT -j cali-X\nCOMMIT\n", 1))
    assert "# TYPE felix_iptables_restore_calls counter\nfelix_iptables_restore_calls 1\n" in text
    assert 'felix_iptables_rules{ip_version="4",table="filter"} 1\n' in text
    df = prometheus(text)
    helps = {f["name"]: f["help"] for f in metric_table.families("felix")}
    assert set(df.metric) <= set(helps)
    assert df.groupby("metric").help.first().to_dict() == {k: helps[k] for k in set(df.metric)}


def test_a_backend_without_the_lab_prometheus_says_so():
    import pytest

    from kanslab import Lab, NotSupported
    from kanslab.backends.vagrant import VagrantBackend

    vagrant = VagrantBackend(ssh_config="/nonexistent/ssh_config")  # refused before it connects anywhere
    with pytest.raises(NotSupported, match="vagrant backend cannot run the lab's Prometheus"):
        Lab(vagrant).prometheus_query("up")
    with pytest.raises(NotSupported):
        Lab(vagrant).prometheus_query_range("up", start=0)
