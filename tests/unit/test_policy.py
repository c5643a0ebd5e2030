"""NetworkPolicy without root: validation on the apply path, and the iptables rules Felix-style.

The rules are checked two ways: their shape (what `iptables-save` on a lab node shows), and
their meaning, by running the e2e cases (tests/netpol_cases.py, the same ones the lab tests
probe for real) through a small evaluator of the iptables subset the generator emits. The
evaluator walks a packet through FORWARD on the source node (leaving by its pod's cali
interface) and on the destination node, as the kernel does.
"""

from __future__ import annotations

import ipaddress
import shlex
import shutil

import pytest

from kanslab.emulator import netpol, policy
from kanslab.emulator import resources as res
from kanslab.emulator import selector_ipsets as sip
from kanslab.emulator.datastore import Datastore
from kanslab.emulator.outcomes import ApplyError
from kanslab.topology import load_topology
from tests.netpol_cases import (
    CASES,
    DENY_ALL,
    DENY_INGRESS,
    INVALID,
    IPS,
    NAMESPACES,
    POD_NAMES,
    PODS,
    POOL,
    egress_from_a,
    ingress_to_a,
    namespace,
    np,
    ns_sel,
    pod,
    port,
)

TOPO = load_topology("kans3")


# ---------------------------------------------------------------- an evaluator for the emitted subset

class Table:
    """The filter table from iptables-restore lines; `verdict(packet)` walks FORWARD (or INPUT)."""

    def __init__(self, lines: list[str], sets: dict | None = None):
        assert lines[0] == "*filter" and lines[-1] == "COMMIT"
        self.sets = sets or {}  # selector ipsets: name -> (type, members)
        self.policies = {ln[1:].split()[0]: ln.split()[1] for ln in lines if ln.startswith(":")}
        self.chains: dict[str, list[list[str]]] = {c: [] for c in self.policies}
        for ln in lines:
            if ln.startswith("-A "):
                tok = shlex.split(ln)
                assert tok[1] in self.chains, f"rule in an undeclared chain: {ln}"
                self.chains[tok[1]].append(tok[2:])

    @staticmethod
    def _iface(want: str, have: str) -> bool:
        return have.startswith(want[:-1]) if want.endswith("+") else have == want

    def _match(self, rule: list[str], pkt: dict) -> tuple[bool, list[str]]:
        i, negate = 0, False
        while i < len(rule):
            t = rule[i]
            if t in ("-j", "-g"):
                return True, rule[i:]
            if t == "!":
                negate, i = True, i + 1
                continue
            arg = rule[i + 1]
            ok = True
            if t == "-i":
                ok = self._iface(arg, pkt["iif"])
            elif t == "-o":
                ok = self._iface(arg, pkt["oif"])
            elif t in ("-s", "-d"):
                ok = ipaddress.ip_address(pkt["src" if t == "-s" else "dst"]) in ipaddress.ip_network(arg)
            elif t == "-p":
                ok = arg == pkt["proto"].lower()
            elif t in ("--dport", "--sport", "--dports", "--sports"):
                have = pkt.get("sport", 40000) if "sport" in t else pkt["dport"]
                ok = any(int(lo) <= have <= int(hi or lo) for lo, _, hi in (r.partition(":") for r in arg.split(",")))
            elif t == "--icmp-type":
                want_type, _, want_code = arg.partition("/")
                ok = pkt.get("icmp_type") == int(want_type) and (not want_code or pkt.get("icmp_code") == int(want_code))
            elif t == "--ctstate":
                ok = pkt["state"] in arg.split(",")
            elif t == "--mark":
                v, m = (int(x, 16) for x in arg.split("/"))
                ok = pkt["mark"] & m == v
            elif t == "--match-set":  # hash:net members of the set, on the packet's src or dst
                assert arg in self.sets, f"rule matches a set the node does not have: {arg}"
                addr = ipaddress.ip_address(pkt["src" if rule[i + 2] == "src" else "dst"])
                ok = any(addr in ipaddress.ip_network(m) for m in self.sets[arg][1])
                i += 1  # the direction word
            elif t == "-m" and arg not in ("tcp", "udp", "sctp", "icmp", "multiport", "conntrack", "mark", "comment",
                                           "set"):
                raise AssertionError(f"the evaluator does not know -m {arg}")
            if ok == negate and t not in ("-m", "--comment"):
                return False, []
            negate = False
            i += 2
        return True, ["-j", "CONTINUE"]  # a comment-only rule: no target, matching changes nothing

    def _run(self, chain: str, pkt: dict, depth: int = 0) -> str | None:
        assert depth < 10, "chain loop"
        for rule in self.chains[chain]:
            ok, target = self._match(rule, pkt)
            if not ok:
                continue
            how, name = target[0], target[1]
            if name in ("CONTINUE", "LOG"):
                pkt.setdefault("logged", []).append(chain) if name == "LOG" else None
                continue
            if name in ("ACCEPT", "DROP"):
                return name
            if name == "RETURN":
                return None
            if name == "MARK":
                v, m = (int(x, 16) for x in target[target.index("--set-xmark") + 1].split("/"))
                pkt["mark"] = (pkt["mark"] & ~m) | v
                continue
            verdict = self._run(name, pkt, depth + 1)
            if how == "-g" or verdict is not None:
                return verdict
        return None

    def verdict(self, pkt: dict, chain: str = "FORWARD") -> str:
        pkt = dict(pkt, mark=0)
        return self._run(chain, pkt) or self.policies[chain]


class Cluster:
    """The emulated control plane with the e2e model applied; `tables()` renders every node's rules."""

    def __init__(self, ds: Datastore):
        self.ds = ds

    def apply(self, objs) -> list[str]:
        return res.apply(self.ds, TOPO, objs)

    def tables(self) -> dict[str, Table]:
        return {n.name: Table(*policy.filter_rules_and_sets(res.node_view(self.ds, n.name, TOPO))) for n in TOPO.nodes}

    def pods(self) -> dict[str, dict]:
        view = res.node_view(self.ds, "k8s-m", TOPO)
        return {f"{p['namespace']}/{p['name']}": p for p in view["all_pods"]}

    def allowed(self, frm: str, to: str, dport: int, proto: str = "TCP", state: str = "NEW",
                tables: dict | None = None, pods: dict | None = None, **extra) -> bool:
        tables, pods = tables or self.tables(), pods or self.pods()
        src, dst = pods[frm], pods[to]
        pkt = {"src": src["ip"], "dst": dst["ip"], "proto": proto, "dport": dport, "state": state, **extra}
        if src["node"] == dst["node"]:
            return tables[src["node"]].verdict(dict(pkt, iif=src["interface"], oif=dst["interface"])) == "ACCEPT"
        out = tables[src["node"]].verdict(dict(pkt, iif=src["interface"], oif="tunl0"))
        into = tables[dst["node"]].verdict(dict(pkt, iif="tunl0", oif=dst["interface"]))
        return out == into == "ACCEPT"

    def matrix(self, dport: int, proto: str = "TCP") -> dict[tuple[str, str], bool]:
        tables, pods = self.tables(), self.pods()
        return {(f, t): self.allowed(f, t, dport, proto, tables=tables, pods=pods) for f in PODS for t in PODS
                if f != t}


@pytest.fixture(scope="module")
def model_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("netpol") / "ds.sqlite"
    ds = Datastore(path)
    res.bootstrap(ds, TOPO)
    res.apply(ds, TOPO, [POOL] + [namespace(ns) for ns in NAMESPACES] +
              [pod(ns, p) for ns in NAMESPACES for p in POD_NAMES])
    return path


@pytest.fixture
def cluster(model_db, tmp_path) -> Cluster:
    copy = tmp_path / "ds.sqlite"
    shutil.copy(model_db, copy)
    return Cluster(Datastore(copy))


# ---------------------------------------------------------------- meaning: every e2e case

@pytest.mark.parametrize(("policies", "probes"), CASES)
def test_case_rules_mean_what_the_api_says(cluster, policies, probes):
    cluster.apply(policies)
    for (dport, proto), expect in probes.items():
        got = cluster.matrix(dport, proto)
        wrong = [f"{f} -> {t}: expected {expect.cells[(f, t)]}" for (f, t), ok in got.items()
                 if ok != expect.cells[(f, t)]]
        assert not wrong, f"{proto}/{dport}:\n" + "\n".join(wrong)


def test_reply_traffic_is_accepted_where_new_connections_are_not(cluster):
    cluster.apply(np("x", "deny", DENY_ALL))
    assert not cluster.allowed("y/b", "x/a", 80)
    assert cluster.allowed("y/b", "x/a", 80, state="ESTABLISHED")
    assert cluster.allowed("x/a", "x/b", 80, proto="UDP", state="RELATED")
    assert not cluster.allowed("x/a", "x/b", 80, state="INVALID")


def test_pod_to_its_own_node_passes_its_egress_policy(cluster):
    """Felix's cali-wl-to-host: egress policy, then DefaultEndpointToHostAction (ACCEPT in calico.yaml)."""
    pods = cluster.pods()
    a = pods["x/a"]
    pkt = {"src": a["ip"], "dst": "192.168.10.101", "proto": "TCP", "dport": 10250, "state": "NEW",
           "iif": a["interface"], "oif": ""}
    assert cluster.tables()["k8s-w1"].verdict(pkt, "INPUT") == "ACCEPT"
    cluster.apply(np("x", "deny", DENY_ALL))
    assert cluster.tables()["k8s-w1"].verdict(pkt, "INPUT") == "DROP"


def test_default_endpoint_to_host_action_comes_from_felix_configuration(cluster):
    z = cluster.pods()["z/a"]  # on k8s-w1, selected by no policy
    pkt = {"src": z["ip"], "dst": "192.168.10.101", "proto": "TCP", "dport": 10250, "state": "NEW",
           "iif": z["interface"], "oif": ""}
    assert cluster.tables()["k8s-w1"].verdict(pkt, "INPUT") == "ACCEPT"
    res.apply(cluster.ds, TOPO, {"apiVersion": "projectcalico.org/v3", "kind": "FelixConfiguration",
                                 "metadata": {"name": "default"}, "spec": {"defaultEndpointToHostAction": "Drop"}})
    assert cluster.tables()["k8s-w1"].verdict(pkt, "INPUT") == "DROP"


def test_traffic_that_is_not_a_pods_is_left_alone(cluster):
    cluster.apply([np(ns, "deny", DENY_ALL) for ns in NAMESPACES])
    t = cluster.tables()["k8s-w1"]
    pkt = {"src": "192.168.10.102", "dst": "10.1.1.254", "proto": "TCP", "dport": 179, "state": "NEW",
           "iif": "enp0s8", "oif": "tunl0"}
    assert t.verdict(pkt) == "ACCEPT"


def test_external_addresses_match_ip_blocks(cluster):
    """ipBlock is for addresses outside the cluster first of all: the IDC net behind the router."""
    cluster.apply(egress_from_a({"to": [{"ipBlock": {"cidr": "10.1.0.0/16", "except": ["10.1.2.0/24"]}}]}))
    t, a = cluster.tables()["k8s-w1"], cluster.pods()["x/a"]

    def out(dst):
        return t.verdict({"src": a["ip"], "dst": dst, "proto": "TCP", "dport": 22, "state": "NEW",
                          "iif": a["interface"], "oif": "enp0s8"})

    assert (out("10.1.1.254"), out("10.1.2.254"), out("8.8.8.8")) == ("ACCEPT", "DROP", "DROP")


# ---------------------------------------------------------------- shape: what iptables-save shows

def test_no_pods_no_policy_chains(tmp_path):
    ds = Datastore(tmp_path / "ds.sqlite")
    res.bootstrap(ds, TOPO)
    lines = policy.filter_rules(res.node_view(ds, "k8s-w1", TOPO))
    assert lines[:4] == ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]"]
    # Felix's hooks, with the ids Felix's hashing gives them (research/felix-dataplane.md §1.3)
    assert '-A FORWARD -m comment --comment "cali:wUHhoiAYhphO9Mso" -j cali-FORWARD' in lines
    assert '-A INPUT -m comment --comment "cali:Cz_u1IQiXIMmKD4c" -j cali-INPUT' in lines
    assert lines[-3:-1] == [
        '-A FORWARD -m comment --comment "cali:S93hcgKJrXEqnTfs" -m comment --comment "Policy explicitly accepted '
        'packet." -m mark --mark 0x10000/0x10000 -j ACCEPT',
        '-A FORWARD -m comment --comment "cali:mp77cMpurHhyjLrM" -j MARK --set-xmark 0x10000/0x10000']
    assert '-A cali-from-wl-dispatch -m comment --comment "cali:zTj6P0TIgYvgz-md" -m comment --comment ' \
        '"Unknown interface" -j DROP' in lines
    assert not [ln for ln in lines if "cali-tw-" in ln or "cali-pi-" in ln]


def test_every_local_pod_gets_both_chains_and_nothing_else_does(cluster):
    pods = cluster.pods()
    lines = policy.filter_rules(res.node_view(cluster.ds, "k8s-w1", TOPO))
    local = [pods[k]["interface"] for k in ("x/a", "y/a", "z/a")]
    for iface in local:
        assert f"-A cali-from-wl-dispatch -i {iface} -g cali-fw-{iface}" in lines
        assert f"-A cali-to-wl-dispatch -o {iface} -g cali-tw-{iface}" in lines
    declared = {ln[1:].split()[0] for ln in lines if ln.startswith(":cali-tw-")}
    assert declared == {f"cali-tw-{i}" for i in local}
    assert [ln for ln in lines if ln.startswith("-A cali-to-wl-dispatch")][-1].endswith("-j DROP")
    assert all(len(c) <= 28 for c in declared)


def test_endpoint_chain_starts_with_conntrack_and_ends_with_drop_when_isolated(cluster):
    cluster.apply(ingress_to_a({"from": [ns_sel(ns="y")]}))
    iface = cluster.pods()["x/a"]["interface"]
    lines = policy.filter_rules(res.node_view(cluster.ds, "k8s-w1", TOPO))
    tw = [ln for ln in lines if ln.startswith(f"-A cali-tw-{iface} ")]
    assert "--ctstate RELATED,ESTABLISHED" in tw[0] and tw[0].endswith("-j ACCEPT")
    assert "--ctstate INVALID -j DROP" in tw[1]
    # Felix names a Kubernetes policy knp.default.<name>; the tier's end drop, then the namespace profile
    chain = policy.chain_name("cali-pi-", "x/knp.default.allow")  # Felix names it ns/knp.default.<name>, hashed
    assert tw[3] == f"-A cali-tw-{iface} -m mark --mark 0x0/0x20000 -j {chain}"
    assert [ln for ln in lines if ln.startswith(f"-A {chain} ")][0].startswith(
        f'-A {chain} -m comment --comment "Policy x/knp.default.allow ingress" -m set --match-set cali40s:')
    assert [ln for ln in tw if "Drop if no policies passed packet" in ln]
    assert "-j cali-pri-kns.x" in tw[-5] and "-j cali-pri-ksa.x.default" in tw[-3] and tw[-1].endswith('"Drop if no profiles matched" -j DROP')
    fw = [ln for ln in lines if ln.startswith(f"-A cali-fw-{iface} ")]
    assert not [ln for ln in fw if "Drop if no policies passed packet" in ln]  # not isolated for egress
    assert "Drop VXLAN encapped packets originating in workloads" in fw[3] and "-p 4 -j DROP" in fw[4]
    assert "-j cali-pro-kns.x" in fw[-5] and "-j cali-pro-ksa.x.default" in fw[-3]
    assert [ln for ln in lines if ln.startswith("-A cali-pro-kns.x ")] == [
        '-A cali-pro-kns.x -m comment --comment "Profile kns.x egress" -j MARK --set-xmark 0x10000/0x10000',
        "-A cali-pro-kns.x -m mark --mark 0x10000/0x10000 -j RETURN"]


def test_selected_peers_match_one_selector_ipset(cluster):
    cluster.apply(ingress_to_a({"from": [ns_sel(ns="y")], "ports": [port("serve-81-udp", "UDP")]}))
    lines, sets = policy.filter_rules_and_sets(res.node_view(cluster.ds, "k8s-w1", TOPO))
    chain = policy.chain_name("cali-pi-", "x/knp.default.allow")
    rule = [ln for ln in lines if ln.startswith(f"-A {chain} ") and "MARK" in ln]
    # Felix's selector for the converted peer: the namespaceSelector with the pcns. prefix, then the
    # pod part (conversion.go k8sSelectorToCalico; updateprocessors/rules.go getEndpointSelector)
    # (the form of libcalico-go's rules_test.go: `(pcns.key == "value") && (projectcalico.org/orchestrator == 'k8s')`)
    want = "(pcns.ns == \"y\") && (projectcalico.org/orchestrator == 'k8s')"
    name = sip.set_name(want)
    assert len(rule) == 1 and f"-p udp -m set --match-set {name} src -d {IPS['x/a']}/32 -m multiport --dports 81 " in rule[0]
    assert sets == {name: ("hash:net", sorted((IPS[f"y/{p}"] for p in POD_NAMES), key=ipaddress.ip_address))}
    # k8s-w2 runs no pod the policy selects, so it has no chain for it and no set
    lines2, sets2 = policy.filter_rules_and_sets(res.node_view(cluster.ds, "k8s-w2", TOPO))
    assert not [ln for ln in lines2 if chain in ln] and sets2 == {}


def test_ip_block_except_is_a_chain_of_returns(cluster):
    cluster.apply(egress_from_a({"to": [{"ipBlock": {"cidr": "10.244.0.0/16", "except": ["10.244.2.0/24"]}}],
                                 "ports": [port(80, "TCP", 81)]}))
    lines = policy.filter_rules(res.node_view(cluster.ds, "k8s-w1", TOPO))
    chain = policy.chain_name("cali-po-", "x/knp.default.allow-out")
    jump = [ln for ln in lines if ln.startswith(f"-A {chain} ") and "cali-ex-" in ln]
    assert len(jump) == 1 and "-p tcp -d 10.244.0.0/16 -m multiport --dports 80:81 -j cali-ex-" in jump[0]
    sub = jump[0].split("-j ")[-1]
    body = [ln for ln in lines if ln.startswith(f"-A {sub} ")]
    assert "-d 10.244.2.0/24" in body[0] and body[0].endswith("-j RETURN")
    assert body[-1].endswith("-j MARK --set-xmark 0x10000/0x10000")


def test_rules_follow_label_changes(cluster):
    cluster.apply(ingress_to_a({"from": [{"podSelector": {"matchLabels": {"role": "client"}}}]}))
    assert not cluster.allowed("x/b", "x/a", 80)
    res.set_labels(cluster.ds, TOPO, "Pod", "b", {"role": "client"}, "x")
    assert cluster.allowed("x/b", "x/a", 80)
    cluster.apply(ingress_to_a({"from": [ns_sel(team="blue")]}))
    res.set_labels(cluster.ds, TOPO, "Namespace", "z", {"team": "blue"})
    assert cluster.allowed("z/c", "x/a", 80) and not cluster.allowed("y/c", "x/a", 80)


def test_namespace_name_label_cannot_be_taken_away(cluster):
    res.set_labels(cluster.ds, TOPO, "Namespace", "y", {"kubernetes.io/metadata.name": None})
    assert cluster.ds.get("Namespace", "y")["metadata"]["labels"]["kubernetes.io/metadata.name"] == "y"


# ---------------------------------------------------------------- defaulting and validation

def test_stored_policy_is_defaulted_like_the_api_server(cluster):
    cluster.apply(np("x", "p", {"podSelector": {}, "egress": [{"ports": [{"port": 80}]}]}))
    spec = cluster.ds.get("NetworkPolicy", "p", "x")["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    assert spec["egress"][0]["ports"][0] == {"port": 80, "protocol": "TCP"}
    assert cluster.apply(np("x", "p", {"podSelector": {}, "egress": [{"ports": [{"port": 80}]}]})) == \
        ["networkpolicy.networking.k8s.io/p unchanged"]
    assert netpol.policy_types({"podSelector": {}}) == {"Ingress"}
    assert netpol.policy_types({"podSelector": {}, "egress": []}) == {"Ingress"}
    assert netpol.policy_types({"podSelector": {}, "policyTypes": ["Egress"], "ingress": [{}]}) == {"Egress"}


@pytest.mark.parametrize(("name", "spec", "message"), INVALID, ids=[i[0] for i in INVALID])
def test_invalid_policy_is_refused_and_nothing_changes(cluster, name, spec, message):
    before = cluster.ds.revision()
    with pytest.raises(ApplyError) as err:
        cluster.apply([np("x", "fine", DENY_INGRESS), np("x", name, spec)])
    assert message in str(err.value) and f'The NetworkPolicy "{name}" is invalid: ' in err.value.reason
    assert cluster.ds.revision() == before and cluster.ds.get("NetworkPolicy", "fine", "x") is None


MORE_INVALID = [
    ({"podSelector": {}, "ingress": [{"from": [{}]}]}, "spec.ingress[0].from[0]: Required value: must specify a peer"),
    ({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}}]}]},
     "spec.ingress[0].from[0]: Forbidden: may not specify both ipBlock and another peer"),
    ({"podSelector": {"matchExpressions": [{"key": "pod", "operator": "In"}]}},
     "spec.podSelector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'"),
    ({"podSelector": {"matchExpressions": [{"key": "pod", "operator": "Exists", "values": ["a"]}]}},
     "spec.podSelector.matchExpressions[0].values: Forbidden: may not be specified when `operator` is 'Exists'"),
    ({"podSelector": {}, "egress": [{"ports": [{"endPort": 90}]}]},
     "spec.egress[0].ports[0].endPort: Invalid value: 90: may not be specified when `port` is not specified"),
    ({"podSelector": {}, "egress": [{"ports": [{"port": 80, "endPort": 70000}]}]},
     "spec.egress[0].ports[0].endPort: Invalid value: 70000: must be between 1 and 65535, inclusive"),
    ({"podSelector": {}, "ingress": [{"ports": [{"port": 0}]}]},
     "spec.ingress[0].ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive"),
    ({"podSelector": {}, "ingress": [{"ports": [{"port": 80, "protocol": "ICMP"}]}]},
     'spec.ingress[0].ports[0].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"'),
    ({"podSelector": {}, "ingress": [{"ports": [{"port": "http_web"}]}]},
     'spec.ingress[0].ports[0].port: Invalid value: "http_web": must contain only alpha-numeric characters'),
    ({"podSelector": {}, "ingress": [{"ports": [{"port": "80"}]}]},
     'spec.ingress[0].ports[0].port: Invalid value: "80": must contain at least one letter (a-z)'),
    ({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.0.0.0/8"]}}]}]},
     'spec.ingress[0].from[0].ipBlock.except[0]: Invalid value: "10.0.0.0/8": must be a strict subset of `cidr`'),
    ({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.1"}}]}]},
     'spec.ingress[0].from[0].ipBlock.cidr: Invalid value: "10.0.0.1": must be a valid CIDR value'),
    ({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["bad"]}}]}]},
     'spec.ingress[0].from[0].ipBlock.except[0]: Invalid value: "bad": must be a valid CIDR value'),
    ({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {}}]}]},
     "spec.ingress[0].from[0].ipBlock.cidr: Required value"),
    ({"podSelector": {"matchLabels": {"app": "web server"}}},
     'spec.podSelector.matchLabels: Invalid value: "web server": a valid label must be an empty string'),
    ({"podSelector": {}, "policyTypes": ["Ingress", "Outgress"]},
     'spec.policyTypes[1]: Unsupported value: "Outgress": supported values: "Egress", "Ingress"'),
    ({"policyTypes": ["Ingress"]}, "spec.podSelector: Required value"),
]


@pytest.mark.parametrize(("spec", "message"), MORE_INVALID, ids=[m[1].split(":")[0] for m in MORE_INVALID])
def test_more_invalid_policies(cluster, spec, message):
    with pytest.raises(ApplyError) as err:
        cluster.apply(np("x", "bad", spec))
    assert message in err.value.reason
    assert cluster.ds.get("NetworkPolicy", "bad", "x") is None


def test_several_problems_are_listed_together():
    errs = netpol.validate({"podSelector": {}, "ingress": [{"ports": [{"port": 0}, {"port": 81, "endPort": 80}]}]})
    assert len(errs) == 2
    text = netpol.invalid_message("p", errs)
    assert text.startswith('The NetworkPolicy "p" is invalid: \n* spec.ingress[0].ports[0].port')


def test_a_typo_in_a_field_is_refused_not_ignored(cluster):
    """`form:` for `from:` would otherwise open the rule to everybody."""
    with pytest.raises(ApplyError) as err:
        cluster.apply(np("x", "typo", {"podSelector": {}, "ingress": [{"form": [{"podSelector": {}}]}]}))
    assert 'unknown field "spec.ingress[0].form"' in err.value.reason and err.value.status == "BadRequest"


def test_kubectl_words_the_refusal_like_kubectl(cluster):
    import yaml

    from kanslab.emulator import cli

    ctx = cli.CliContext(ds=cluster.ds, topology=TOPO,
                         stdin=yaml.safe_dump(np("x", "p", {"podSelector": {}, "ingress": [{"ports": [{"port": 70000}]}]})))
    rc, out, err = cli.kubectl(["apply", "-f", "-"], ctx)
    assert rc == 1 and out == ""
    assert err == ('The NetworkPolicy "p" is invalid: spec.ingress[0].ports[0].port: Invalid value: 70000: '
                   "must be between 1 and 65535, inclusive\n")


def test_selector_semantics():
    labels = {"pod": "a", "tier": "web"}
    assert netpol.selector_matches({}, labels)
    assert not netpol.selector_matches(None, labels)
    assert netpol.selector_matches({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["x"]}]}, labels)
    assert netpol.selector_matches({"matchExpressions": [{"key": "env", "operator": "DoesNotExist"}]}, labels)
    assert not netpol.selector_matches({"matchLabels": {"pod": "a"},
                                        "matchExpressions": [{"key": "tier", "operator": "In", "values": ["db"]}]},
                                       labels)
    assert netpol.ip_block_contains({"cidr": "10.244.0.0/16", "except": ["10.244.2.0/24"]}, "10.244.3.1")
    assert not netpol.ip_block_contains({"cidr": "10.244.0.0/16", "except": ["10.244.2.0/24"]}, "10.244.2.1")


def test_dispatch_chains_split_by_the_next_character_as_felix_does():
    class _R(policy._Renderer):
        def __init__(self, names):
            super().__init__({})
            self.local_pods = [{"interface": n} for n in names]
    r = _R(["cali12a", "cali12b", "cali3ff", "calif00", "calif01"])
    r.dispatch_chains("cali-from-wl-dispatch", "-i", "cali-fw-", "DROP")
    assert r.chains["cali-from-wl-dispatch"] == ["-i cali1+ -g cali-from-wl-dispatch-1",
                                                 "-i cali3ff -g cali-fw-cali3ff",
                                                 "-i calif+ -g cali-from-wl-dispatch-f"]
    assert r.chains["cali-from-wl-dispatch-f"] == ["-i calif00 -g cali-fw-calif00", "-i calif01 -g cali-fw-calif01", "DROP"]
    one = _R(["cali5cce677186e"])  # one endpoint: the common prefix is its whole name
    one.dispatch_chains("cali-to-wl-dispatch", "-o", "cali-tw-", "DROP")
    assert one.chains == {"cali-to-wl-dispatch": ["-o cali5cce677186e -g cali-tw-cali5cce677186e"]}


def test_vxlan_pools_add_felixs_vxlan_host_rules(cluster):
    import dataclasses

    from kanslab.emulator import felix_tables
    view = res.node_view(cluster.ds, "k8s-w1", TOPO)
    view = dataclasses.replace(view, pools=[dataclasses.replace(p, ipip_mode="Never", vxlan_mode="Always")
                                            for p in view.pools])
    lines = felix_tables.with_rule_ids(policy.filter_rules(view))  # every id Felix's; no fixed id out of place
    inp = [ln for ln in lines if ln.startswith("-A cali-INPUT ")]
    assert "Allow IPv4 VXLAN packets from allowed hosts" in inp[0] and "--match-set cali40all-vxlan-net src" in inp[0]
    assert "Drop IPv4 VXLAN packets from non-allowed hosts" in inp[1] and not [ln for ln in inp if "ipencap" in ln]
    assert any("Allow IPv4 VXLAN packets to other allowed hosts" in ln for ln in lines if ln.startswith("-A cali-OUTPUT "))
