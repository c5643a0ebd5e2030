"""Calico NetworkPolicy/GlobalNetworkPolicy without root: validation, calicoctl, and what the rendered
iptables mean, walked with test_policy's evaluator over the e2e model (namespaces x, y, z; pods a, b, c
on k8s-w1, k8s-w2, k8s-w0)."""

from __future__ import annotations

import pytest

from kanslab.emulator import calico_policy as cp
from kanslab.emulator import policy
from kanslab.emulator import resources as res
from kanslab.emulator.outcomes import ApplyError
from tests.calico_cases import CASES, cnp, gnp, knp
from tests.unit.fixtures import cctl, cli_lab
from tests.unit.test_policy import TOPO, cluster, model_db  # noqa: F401 - fixtures


@pytest.mark.parametrize(("case", "manifests", "expect"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("port", [80, 81])
def test_reachability_follows_calico_semantics(cluster, case, manifests, expect, port):  # noqa: F811
    cluster.apply(manifests)
    got = cluster.matrix(port)
    wrong = [f"{f} -> {t}: got {ok}" for (f, t), ok in got.items() if ok != expect(f, t, port)]
    assert not wrong, f"{case} TCP/{port}:\n" + "\n".join(wrong)


def test_without_a_selecting_policy_the_pod_is_open_and_deleting_restores_it(cluster):  # noqa: F811
    cluster.apply(gnp("deny", {"namespaceSelector": "ns == 'x'", "ingress": [{"action": "Deny"}]}))
    assert not cluster.allowed("y/a", "x/b", 80)
    res.delete(cluster.ds, TOPO, gnp("deny", {}))
    assert all(cluster.matrix(80).values())


def test_order_decides_and_ties_sort_by_felix_name(cluster):  # noqa: F811
    allow = {"ingress": [{"action": "Allow"}], "namespaceSelector": "ns == 'x'"}
    deny = {"ingress": [{"action": "Deny"}], "namespaceSelector": "ns == 'x'"}
    cluster.apply([gnp("a-deny", dict(deny, order=5)), gnp("b-allow", dict(allow, order=1))])
    assert cluster.allowed("y/a", "x/a", 80)
    cluster.apply(gnp("b-allow", dict(allow, order=5)))  # same order: default.a-deny sorts first
    assert not cluster.allowed("y/a", "x/a", 80)
    pols = [knp("x", "k", {"podSelector": {}}), gnp("none", {}), gnp("o", {"order": 1000}), cnp("x", "n", {"order": 1})]
    assert [cp.felix_name(p) for p in sorted(pols, key=cp.sort_key)] == \
        ["x/default.n", "default.o", "x/knp.default.k", "default.none"]


def test_icmp_type_and_log_keep_evaluating(cluster):  # noqa: F811
    cluster.apply(cnp("x", "ping-only", {"selector": "pod == 'a'", "ingress": [
        {"action": "Log"}, {"action": "Allow", "protocol": "ICMP", "icmp": {"type": 8, "code": 0}}]}))
    assert cluster.allowed("y/b", "x/a", 0, proto="ICMP", icmp_type=8, icmp_code=0)
    assert not cluster.allowed("y/b", "x/a", 0, proto="ICMP", icmp_type=13, icmp_code=0)
    assert not cluster.allowed("y/b", "x/a", 80)


def test_not_nets_not_ports_and_named_ports(cluster):  # noqa: F811
    pods = cluster.pods()
    cluster.apply(cnp("x", "web", {"selector": "pod == 'a'", "ingress": [
        {"action": "Allow", "protocol": "TCP", "source": {"notNets": [pods["y/b"]["ip"] + "/32"]},
         "destination": {"ports": ["serve-80-tcp"]}},
        {"action": "Allow", "protocol": "TCP", "destination": {"ports": ["1:65535"], "notPorts": [81]}}]}))
    assert cluster.allowed("y/a", "x/a", 80) and cluster.allowed("y/b", "x/a", 80)  # the 2nd rule lets y/b in
    assert not cluster.allowed("y/a", "x/a", 81)
    cluster.apply(cnp("x", "web", {"selector": "pod == 'a'", "ingress": [
        {"action": "Allow", "protocol": "TCP", "source": {"notNets": [pods["y/b"]["ip"] + "/32"]},
         "destination": {"ports": ["serve-81-tcp"]}}]}))
    assert cluster.allowed("y/a", "x/a", 81) and not cluster.allowed("y/b", "x/a", 81)
    assert not cluster.allowed("y/a", "x/a", 80)


def test_rendered_chains_read_like_felix(cluster):  # noqa: F811
    cluster.apply([gnp("deny", {"order": 10, "namespaceSelector": "ns == 'x'", "ingress": [{"action": "Pass"}]}),
                   knp("x", "allow", {"podSelector": {}, "ingress": [{}]})])
    iface = cluster.pods()["x/a"]["interface"]
    lines = policy.filter_rules(res.node_view(cluster.ds, "k8s-w1", TOPO))
    tw = [ln for ln in lines if ln.startswith(f"-A cali-tw-{iface} ")]
    jumps = [ln for ln in tw if "cali-pi-" in ln]  # in policy order, guarded by the pass mark, as Felix writes them
    assert jumps == [f"-A cali-tw-{iface} -m mark --mark 0x0/0x20000 -j {policy.chain_name('cali-pi-', name)}"
                     for name in ("default.deny", "x/knp.default.allow")]
    first = [ln for ln in lines if ln.startswith("-A cali-pi-default.deny ")][0]
    assert first.startswith('-A cali-pi-default.deny -m comment --comment "Policy default.deny ingress" ')
    assert any(ln.endswith("-j MARK --set-xmark 0x20000/0x20000") for ln in lines)
    assert policy.chain_name("cali-pri-", "kns.default") == "cali-pri-kns.default"
    assert policy.chain_name("cali-pri-", "ksa.kube-system.coredns") == "cali-pri-_u2Tn2rSoAPffvE7JO6"


INVALID = [
    ({"ingress": [{"action": "Accept"}]},
     "error with field Action = 'Accept' (Reason: failed to validate Field: Action because of Tag: action )"),
    ({"selector": "app = 'x'"},
     "error with field Selector = 'app = 'x'' (Reason: failed to validate Field: Selector because of Tag: selector )"),
    ({"ingress": [{"action": "Allow", "destination": {"ports": [80]}}]},
     "error with field Destination.Ports = '[80]' (rules that specify ports must set protocol to TCP or UDP or SCTP)"),
    ({"ingress": [{"action": "Allow", "icmp": {"type": 8}}]},
     "(rules that specify ICMP fields must set protocol to ICMP)"),
    ({"ingress": [{"action": "Allow", "protocol": "ICMP", "icmp": {"code": 0}}]},
     "error with field Code = '0' (ICMP code specified without an ICMP type)"),
    ({"ingress": [{"action": "Allow", "protocol": "TCPX"}]}, "error with field Protocol = 'TCPX' (protocol name invalid)"),
    ({"ingress": [{"action": "Allow", "source": {"nets": ["10.0.0.300/8"]}}]},
     "error with field Source.Nets = '10.0.0.300/8' (invalid CIDR)"),
    ({"types": ["Ingress", "Ingress"]}, "'Ingress' type specified more than once"),
]


@pytest.mark.parametrize(("spec", "message"), INVALID, ids=[i[1][:40] for i in INVALID])
def test_invalid_policies_are_refused_as_calicoctl_words_it(cluster, spec, message):  # noqa: F811
    before = cluster.ds.revision()
    with pytest.raises(ApplyError) as err:
        cluster.apply([gnp("fine", {}), gnp("bad", spec)])
    assert message in err.value.reason
    assert cluster.ds.revision() == before and cluster.ds.get("GlobalNetworkPolicy", "fine") is None


def test_types_default_from_the_rules_present(cluster):  # noqa: F811
    cluster.apply([cnp("x", "e", {"egress": [{"action": "Allow"}]}), gnp("b", {"ingress": [{"action": "Allow"}],
                                                                             "egress": [{"action": "Allow"}]}),
                   gnp("none", {})])
    assert cluster.ds.get("CalicoNetworkPolicy", "e", "x")["spec"]["types"] == ["Egress"]
    assert cluster.ds.get("GlobalNetworkPolicy", "b")["spec"]["types"] == ["Ingress", "Egress"]
    assert cluster.ds.get("GlobalNetworkPolicy", "none")["spec"]["types"] == ["Ingress"]


def test_calicoctl_lists_policies_with_order_and_selector(tmp_path):
    import yaml

    ctx = cli_lab(tmp_path)
    docs = [gnp("default-app-policy", {"namespaceSelector": "has(projectcalico.org/name)"}),
            gnp("default-node-policy", {"order": 100, "selector": "has(kubernetes.io/hostname)"})]
    assert cctl(ctx, "apply -f -", yaml.safe_dump_all(docs)) == \
        (0, "Successfully applied 2 'GlobalNetworkPolicy' resource(s)\n", "")
    rc, out, _ = cctl(ctx, "get gnp -o wide")
    assert out.splitlines()[:3] == ["NAME                  ORDER   SELECTOR                      ",
                                    "default-app-policy    <nil>                                 ",
                                    "default-node-policy   100     has(kubernetes.io/hostname)   "]
    assert cctl(ctx, "get networkpolicy -A -o wide")[1] == "NAMESPACE   NAME   ORDER   SELECTOR   \n\n"
    assert cctl(ctx, "create -f -", yaml.safe_dump(cnp("kube-system", "p", {"order": 10.5})))[0] == 0
    assert "kube-system   p      10.5    " in cctl(ctx, "get np -A -o wide")[1]
    rc, _, err = cctl(ctx, "get np p")
    assert rc == 1 and err == ('resource does not exist: NetworkPolicy(default/p) with error: '
                               'networkpolicies.crd.projectcalico.org "default.p" not found\n')
    assert yaml.safe_load(cctl(ctx, "get gnp default-node-policy -o yaml")[1])["kind"] == "GlobalNetworkPolicy"
    assert cctl(ctx, "delete policy p -n kube-system")[0] == 0
    assert cctl(ctx, "delete gnp default-app-policy default-node-policy")[0] == 0
    assert ctx.ds.list("GlobalNetworkPolicy") == [] and ctx.ds.list("CalicoNetworkPolicy") == []
