"""Felix's selector ipsets without root: the canonical selector and its unique ID (expected values
from Calico v3.28's own tests), the Kubernetes and Calico rule conversions, a set name reproduced
from a real cluster, and the rendered rules and members."""

from __future__ import annotations

import ipaddress

import pytest

from kanslab.emulator import policy
from kanslab.emulator import resources as res
from kanslab.emulator import selector_ipsets as sip
from kanslab.emulator.calico_rules import chain_name
from kanslab.emulator.felix_tables import rule_ids
from kanslab.errors import InvalidInput
from tests.calico_cases import cnp, gnp, knp
from tests.netpol_cases import IPS
from tests.unit.test_policy import TOPO, cluster, model_db  # noqa: F401 - fixtures

# libcalico-go/lib/selector/parser/parser_test.go canonicalisationTests (v3.28.0): input, canonical, unique ID
CANONICAL = [
    ("", "all()", "s:5y5I3VdRZfDU01O--xXAPx2yxCQQqMf0M6IWug"),
    (" all() ", "all()", "s:5y5I3VdRZfDU01O--xXAPx2yxCQQqMf0M6IWug"),
    (" (all() )", "all()", "s:5y5I3VdRZfDU01O--xXAPx2yxCQQqMf0M6IWug"),
    ("! (has( b)||! has(a ))", "!(has(b) || !has(a))", "s:Iss0uCleLYv1GSv_pNm7hAO58kE9jAx1NKyG3Q"),
    ('! (a == "b"&&! c != "d")', '!(a == "b" && !c != "d")', "s:lh3haoY1ikTRkd4UZu0nWSaIBknYLPJLX16d-w"),
    ("a == \"'\"", "a == \"'\"", None),
    ("a == '\"'", "a == '\"'", None),
    ("a startswith '\"'", "a starts with '\"'", None),
    ('a endswith "\'"', 'a ends with "\'"', None),
    ("a!='\"'", "a != '\"'", None),
    ('a in {"d", "a", "b"}', 'a in {"a", "b", "d"}', None),
    ('a in {"z", "z", "x", "y", "x", "a"}', 'a in {"a", "x", "y", "z"}', None),
    ("!!has(b)", "has(b)", None),
]


@pytest.mark.parametrize(("text", "canonical", "uid"), CANONICAL)
def test_canonical_selector_and_unique_id_are_calicos(text, canonical, uid):
    assert sip.canonical(sip.parse(text)) == canonical
    if uid:
        assert sip.unique_id(text) == uid
    assert sip.set_name(text) == ("cali40" + sip.unique_id(text))[:31] and len(sip.set_name(text)) == 31


def test_a_bad_selector_is_refused():
    with pytest.raises(InvalidInput, match="invalid selector"):
        sip.parse("app = 'x'")


def test_k8s_selectors_convert_as_calicos_conversion():
    # conversion_test.go (v3.28.0): matchLabels sorted by key, the orchestrator term first
    assert sip.k8s_selector({"matchLabels": {"k2": "v2", "k": "v"}}, pod=True) == \
        "projectcalico.org/orchestrator == 'k8s' && k == 'v' && k2 == 'v2'"
    assert sip.k8s_selector({"matchExpressions": [{"key": "toast", "operator": "DoesNotExist"}]}, pod=True) == \
        "projectcalico.org/orchestrator == 'k8s' && ! has(toast)"
    assert sip.k8s_selector({"matchExpressions": [{"key": "k", "operator": "In", "values": ["v1", "v2"]}]},
                            pod=True) == "projectcalico.org/orchestrator == 'k8s' && k in { 'v1', 'v2' }"
    assert sip.k8s_peer_entity({"podSelector": {}}) == {"selector": "projectcalico.org/orchestrator == 'k8s'"}
    assert sip.k8s_peer_entity({"namespaceSelector": {}}) == \
        {"selector": "projectcalico.org/orchestrator == 'k8s'", "namespaceSelector": "all()"}
    assert sip.k8s_peer_entity({"podSelector": {"matchLabels": {"podC": "D", "podA": "B"}},
                                "namespaceSelector": {"matchLabels": {"namespaceRole": "dev", "namespaceFoo": "bar"}}}) == \
        {"selector": "projectcalico.org/orchestrator == 'k8s' && podA == 'B' && podC == 'D'",
         "namespaceSelector": "namespaceFoo == 'bar' && namespaceRole == 'dev'"}


def test_entity_rule_selectors_combine_as_felixs_rule_conversion():
    # updateprocessors/rules_test.go (v3.28.0)
    k8s = "projectcalico.org/orchestrator == 'k8s'"
    assert sip.entity_selector({"selector": k8s, "namespaceSelector": "key == 'value'"}, "namespace") == \
        "(pcns.key == \"value\") && (projectcalico.org/orchestrator == 'k8s')"
    assert sip.entity_selector({"namespaceSelector": "namespace == 'red'", "selector": "has(label1)"}, "ns") == \
        '(pcns.namespace == "red") && (has(label1))'
    assert sip.entity_selector({"namespaceSelector": "all()", "selector": "has(label2)"}, "ns") == \
        "(has(projectcalico.org/namespace)) && (has(label2))"
    assert sip.entity_selector({"namespaceSelector": "!has(key) || (has(key) && !key in {'value'})"}, None) == \
        '(!has(pcns.key) || (has(pcns.key) && !pcns.key in {"value"}))'
    assert sip.entity_selector({"namespaceSelector": "namespacelabel1 == 'value1'", "notSelector": "has(label2)"},
                               None) == 'pcns.namespacelabel1 == "value1"'
    # a namespaced policy pins its namespace; without any selector the side has none
    assert sip.entity_selector({"selector": "app == 'db'"}, "x") == "(projectcalico.org/namespace == 'x') && (app == 'db')"
    assert sip.entity_selector({"nets": ["10.0.0.0/8"]}, "x") == ""
    # rule_scanner.go combineMatchesIfPossible: a notSelector folds into the positive selector when there is one
    assert sip.rule_side_selectors({"notSelector": "pod == 'a'"}, "x") == \
        ("(projectcalico.org/namespace == 'x') && (!(pod == 'a'))", "")
    assert sip.rule_side_selectors({"notSelector": "pod == 'a'"}, None) == ("", "pod == 'a'")


def test_life_of_a_packet_set_chain_and_rule_ids_are_reproduced():
    """'Life of a Packet in Kubernetes - Part 3' (Calico ~v3.16, minikube; samples/SOURCES.md): NetworkPolicy
    default/allow-db-access allows ingress from podSelector networking/allow-db-access: "true"; the node had
    `cali-pi-_tTE-E7yY40ogArNVgKt` with one rule matching `cali40s:LrVD8vMIGQDyv8Y7sPFB1Ge src`. v3.16 wrote no
    "Policy ..." comment on the first rule (v3.28 does), so the ids below are v3.16's layout."""
    peer = {"podSelector": {"matchLabels": {"networking/allow-db-access": "true"}}}
    sel = sip.entity_selector(sip.k8s_peer_entity(peer), "default")
    assert sip.set_name(sel) == "cali40s:LrVD8vMIGQDyv8Y7sPFB1Ge"
    chain = chain_name("cali-pi-", "default/knp.default.allow-db-access")
    assert chain == "cali-pi-_tTE-E7yY40ogArNVgKt"
    assert rule_ids(chain, [f"-m set --match-set {sip.set_name(sel)} src -j MARK --set-xmark 0x10000/0x10000",
                            "-m mark --mark 0x10000/0x10000 -j RETURN"]) == ["M4Und37HGrw6jUk8", "sEnlfZagUFRSPRoe"]


def _ips(*pods: str) -> list[str]:
    return sorted((IPS[p] for p in pods), key=ipaddress.ip_address)


def test_a_pod_selector_peer_is_one_rule_and_its_set_lists_the_selected_pods_cluster_wide(cluster):  # noqa: F811
    cluster.apply(knp("x", "from-b", {"podSelector": {"matchLabels": {"pod": "a"}}, "ingress": [
        {"from": [{"podSelector": {"matchLabels": {"pod": "b"}}, "namespaceSelector": {}}]}]}))
    lines, sets = policy.filter_rules_and_sets(res.node_view(cluster.ds, "k8s-w1", TOPO))  # x/a runs on k8s-w1
    sel = "(has(projectcalico.org/namespace)) && (projectcalico.org/orchestrator == 'k8s' && pod == 'b')"
    name = sip.set_name(sel)
    chain = chain_name("cali-pi-", "x/knp.default.from-b")
    assert [ln for ln in lines if ln.startswith(f"-A {chain} ")] == [
        f'-A {chain} -m comment --comment "Policy x/knp.default.from-b ingress" -m set --match-set {name} src '
        "-j MARK --set-xmark 0x10000/0x10000", f"-A {chain} -m mark --mark 0x10000/0x10000 -j RETURN"]
    assert sets == {name: ("hash:net", _ips("x/b", "y/b", "z/b"))}  # b runs on another node: still a member


def test_not_selector_in_a_global_policy_is_a_negated_set_and_in_a_namespaced_one_folds_in(cluster):  # noqa: F811
    cluster.apply(gnp("not-a", {"namespaceSelector": "ns == 'x'", "ingress": [
        {"action": "Allow", "source": {"notSelector": "pod == 'a'"}}]}))
    lines, sets = policy.filter_rules_and_sets(res.node_view(cluster.ds, "k8s-w1", TOPO))
    negated = sip.set_name("pod == 'a'")  # the same set as `pod == "a"`: the canonical form decides
    assert [ln for ln in lines if f"-m set ! --match-set {negated} src" in ln]
    assert sets[sip.set_name("pod == 'a'")] == ("hash:net", _ips("x/a", "y/a", "z/a"))
    assert cluster.allowed("y/b", "x/a", 80) and not cluster.allowed("y/a", "x/b", 80)
    res.delete(cluster.ds, TOPO, gnp("not-a", {}))
    # namespaced: the notSelector keeps to the policy's namespace, so only x's other pods may connect
    cluster.apply(cnp("x", "not-a", {"ingress": [{"action": "Allow", "source": {"notSelector": "pod == 'a'"}}]}))
    folded = "(projectcalico.org/namespace == 'x') && (!(pod == 'a'))"
    _, sets = policy.filter_rules_and_sets(res.node_view(cluster.ds, "k8s-w1", TOPO))
    assert sets == {sip.set_name(folded): ("hash:net", _ips("x/b", "x/c"))}
    assert cluster.allowed("x/b", "x/a", 80) and not cluster.allowed("y/b", "x/a", 80)
    assert not cluster.allowed("x/a", "x/b", 80)


def test_only_named_ports_make_no_selector_set_on_that_side(cluster):  # noqa: F811
    """Felix matches such a peer through its named-port sets alone (rule_scanner.go ruleToParsedRule);
    the lab resolves named ports per pod instead, so no selector set is made for it."""
    cluster.apply([knp("x", "out", {"podSelector": {"matchLabels": {"pod": "a"}}, "policyTypes": ["Egress"],
                                    "egress": [{"to": [{"podSelector": {"matchLabels": {"pod": "b"}}}],
                                                "ports": [{"port": "serve-80-tcp"}]}]}),
                   gnp("named", {"namespaceSelector": "ns == 'x'", "selector": "pod == 'a'", "types": ["Ingress"], "ingress": [
                       {"action": "Allow", "protocol": "TCP", "destination": {"selector": "pod == 'a'",
                                                                               "ports": ["serve-81-tcp"]}}]})])
    _, sets = policy.filter_rules_and_sets(res.node_view(cluster.ds, "k8s-w1", TOPO))
    assert sets == {}
    assert cluster.allowed("x/a", "x/b", 80) and not cluster.allowed("x/a", "y/b", 80)
    assert cluster.allowed("y/b", "x/a", 81) and not cluster.allowed("y/b", "x/a", 80)


def test_k8s_rule_is_one_rule_per_protocol_and_peer_with_its_ports_merged(cluster):  # noqa: F811
    """conversion.go k8sRuleToCalico: protocols sorted, then peers; SimplifyPorts merges 80 and 81 into 80:81."""
    cluster.apply(knp("x", "ports", {"podSelector": {"matchLabels": {"pod": "a"}}, "ingress": [{
        "from": [{"podSelector": {"matchLabels": {"pod": "b"}}}, {"ipBlock": {"cidr": "10.244.3.0/24"}}],
        "ports": [{"port": 81}, {"port": 53, "protocol": "UDP"}, {"port": 80, "protocol": "TCP"}]}]}))
    lines, sets = policy.filter_rules_and_sets(res.node_view(cluster.ds, "k8s-w1", TOPO))
    chain = chain_name("cali-pi-", "x/knp.default.ports")
    name = sip.set_name("(projectcalico.org/namespace == 'x') && (projectcalico.org/orchestrator == 'k8s' && pod == 'b')")
    body = [ln.split(" ", 2)[2].replace('-m comment --comment "Policy x/knp.default.ports ingress" ', "")
            for ln in lines if ln.startswith(f"-A {chain} ")]
    accept = "-j MARK --set-xmark 0x10000/0x10000"
    ret = "-m mark --mark 0x10000/0x10000 -j RETURN"  # after each rule, as Felix renders an Allow
    assert body == [f"-p tcp -m set --match-set {name} src -m multiport --dports 80:81 {accept}", ret,
                    f"-p tcp -s 10.244.3.0/24 -m multiport --dports 80:81 {accept}", ret,
                    f"-p udp -m set --match-set {name} src -m multiport --dports 53 {accept}", ret,
                    f"-p udp -s 10.244.3.0/24 -m multiport --dports 53 {accept}", ret]
    assert sets == {name: ("hash:net", _ips("x/b"))}
    assert cluster.allowed("x/b", "x/a", 81) and cluster.allowed("z/a", "x/a", 80) and not cluster.allowed("y/b", "x/a", 80)


def test_calico_rule_criteria_come_in_felixs_order(cluster):  # noqa: F811
    """rules/policy.go CalculateRuleMatch: protocol, source net/set/ports, destination net/set/ports, ICMP,
    then the negations. A namespaced policy's rule selector keeps to its namespace."""
    cluster.apply(cnp("x", "web", {"selector": "pod == 'a'", "ingress": [
        {"action": "Allow", "protocol": "TCP", "source": {"selector": "pod == 'b'", "nets": ["10.244.0.0/16"]},
         "destination": {"ports": [80, 81]}},
        {"action": "Deny", "protocol": "TCP", "source": {"notSelector": "pod == 'c'"},
         "destination": {"selector": "pod == 'a'"}}]}))
    lines, sets = policy.filter_rules_and_sets(res.node_view(cluster.ds, "k8s-w1", TOPO))
    chain = chain_name("cali-pi-", "x/default.web")
    b = sip.set_name("(projectcalico.org/namespace == 'x') && (pod == 'b')")
    not_c = sip.set_name("(projectcalico.org/namespace == 'x') && (!(pod == 'c'))")
    a = sip.set_name("(projectcalico.org/namespace == 'x') && (pod == 'a')")
    body = [ln.split(" ", 2)[2].replace('-m comment --comment "Policy x/default.web ingress" ', "")
            for ln in lines if ln.startswith(f"-A {chain} ")]
    assert body == [f"-p tcp -s 10.244.0.0/16 -m set --match-set {b} src -m multiport --dports 80,81 "
                    "-j MARK --set-xmark 0x10000/0x10000", "-m mark --mark 0x10000/0x10000 -j RETURN",
                    f"-p tcp -m set --match-set {not_c} src -m set --match-set {a} dst -j DROP"]
    assert sets == {b: ("hash:net", _ips("x/b")), not_c: ("hash:net", _ips("x/a", "x/b")),
                    a: ("hash:net", _ips("x/a"))}
    assert cluster.allowed("x/b", "x/a", 81) and not cluster.allowed("y/b", "x/a", 80)


def test_named_destination_port_with_a_destination_selector_resolves_on_the_selected_local_pod(cluster):  # noqa: F811
    cluster.apply(gnp("named-in", {"namespaceSelector": "ns == 'x'", "selector": "pod == 'a'", "types": ["Ingress"],
                                   "ingress": [{"action": "Allow", "protocol": "TCP",
                                                "destination": {"selector": "pod == 'a'", "ports": ["serve-81-tcp"]}}]}))
    assert cluster.allowed("y/b", "x/a", 81) and not cluster.allowed("y/b", "x/a", 80)
