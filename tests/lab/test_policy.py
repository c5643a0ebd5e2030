"""NetworkPolicy enforced in the embedded lab (issue 5), checked the way Kubernetes' e2e suite does.

The upstream model (research/netpol-semantics.md §1): namespaces x, y, z labelled ns=<name>,
pods a, b, c in each labelled pod=<name>, every pod serving TCP and UDP on 80 and 81 under the
port names serve-<port>-<proto>, fixed IPs 10.244.{1,2,3}.{10,11,12} from an IPPool
10.244.0.0/16. Pod a runs on k8s-w1, b on k8s-w2, c on k8s-w0 (another subnet), so every
matrix mixes same-node pairs, pairs across the switch and pairs across the router.

Each case applies plain networking.k8s.io/v1 manifests with `lab.apply`, probes all 81 ordered
pairs with `lab.reachability` (real connections) and compares with an expectation written
like upstream's: all allowed, then a few bulk edits. Like upstream's ValidateOrFail, a mismatch
is probed again (with a longer timeout) before the test fails, and the failure prints the
expected, observed and comparison tables. Self-traffic (the diagonal) is graded on its own:
a pod can always reach itself (test_a_pod_always_reaches_itself).
"""

from __future__ import annotations

import hashlib
import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from kanslab import CommandError
from kanslab.emulator import policy
from kanslab.emulator import selector_ipsets as sip
from kanslab.plot.reachability import from_truth_table, truth_table
from kanslab.waiting import wait_for
from tests.netpol_cases import (
    ALL,
    CASES,
    DENY_ALL,
    DENY_INGRESS,
    INVALID,
    IPS,
    NAMESPACES,
    NODES,
    POD_NAMES,
    PODS,
    Expect,
    applied_model,
    egress_from_a,
    ingress_to_a,
    np,
    ns_sel,
    pod,
    pod_sel,
    port,
)

pytestmark = pytest.mark.lab

FAST, SURE = 0.2, 2.0  # probe timeouts: first pass, and the second look at a mismatch


@pytest.fixture(scope="module")
def model(lab):
    """The 3x3 model, built once for this module and removed (pods, namespaces, pool) at its end."""
    with applied_model(lab):
        yield lab


class _Recorder:
    """The lab, remembering the NetworkPolicies a test applies so that one call removes them all."""

    def __init__(self, lab):
        self._lab, self.policies = lab, {}

    def __getattr__(self, name):
        return getattr(self._lab, name)

    def apply(self, objs):
        for o in objs if isinstance(objs, list) else [objs]:
            if o["kind"] == "NetworkPolicy":
                self.policies[(o["metadata"]["namespace"], o["metadata"]["name"])] = o
        return self._lab.apply(objs)


@pytest.fixture
def clean(model):
    """Every test starts and ends without NetworkPolicies and with the model's original labels."""
    rec = _Recorder(model)
    yield rec
    if rec.policies:
        try:
            model.delete(list(rec.policies.values()))
        except CommandError:  # the test deleted some itself
            for ns in NAMESPACES:
                model.kubectl(f"delete networkpolicy --all -n {ns}", check=False)


def _off_diagonal_mismatches(observed, expected) -> list[str]:
    return [f"{f} -> {t}: expected {'allowed' if expected.loc[f, t] else 'blocked'}, "
            f"observed {'allowed' if observed.loc[f, t] else 'blocked'}"
            for f in PODS for t in PODS if f != t and bool(observed.loc[f, t]) != bool(expected.loc[f, t])]


def check(lab, expect: Expect, port: int = 80, protocol: str = "TCP") -> None:
    check_all(lab, {(port, protocol): expect})


def check_all(lab, probes: dict[tuple[int, str], Expect]) -> None:
    """Probe the 81 pairs on every (port, protocol) at once; on a mismatch probe once more, slower, then
    fail with upstream's three tables (expected, observed, comparison)."""
    def observe(key, timeout):
        return lab.reachability(key[0], key[1], pods=PODS, timeout=timeout)

    with ThreadPoolExecutor(max_workers=len(probes)) as pool:
        observed = dict(zip(probes, pool.map(lambda k: observe(k, FAST), probes), strict=True))
    failures = []
    for key, expect in probes.items():
        expected = expect.frame()
        if not _off_diagonal_mismatches(observed[key], expected):
            continue
        again = observe(key, SURE)
        bad = _off_diagonal_mismatches(again, expected)
        if bad:
            comparison = again == expected
            for p in PODS:
                comparison.loc[p, p] = True
            failures.append(f"{key[1]}/{key[0]}: {len(bad)} of 72 cells wrong\n\nexpected:\n"
                            f"{truth_table(expected, title='')}\n\nobserved:\n{truth_table(again, title='')}\n\n"
                            f"comparison ('.' agrees):\n{truth_table(comparison, title='')}\n\n" + "\n".join(bad))
    if failures:
        pytest.fail("\n\n".join(failures))


@pytest.mark.parametrize(("policies", "probes"), CASES)
def test_case(clean, policies, probes):
    lab = clean
    lab.apply(policies)
    check_all(lab, probes)


# ---------------------------------------------------------------- live updates (steps on top of each other)

def test_policy_update_and_delete_take_effect(clean):
    lab = clean
    lab.apply(ingress_to_a({"from": [ns_sel(ns="y")]}))
    check(lab, ALL().only_from("x/a", "y"))
    lab.apply(ingress_to_a({"from": [ns_sel(ns="z")]}))  # same policy, changed: y's rules must go
    check(lab, ALL().only_from("x/a", "z"))
    lab.kubectl("delete networkpolicy allow -n x")
    check(lab, ALL())


def test_namespace_label_change_takes_effect(clean):
    lab = clean
    lab.apply(ingress_to_a({"from": [ns_sel(team="blue")]}))
    check(lab, ALL().only_from("x/a", []))
    try:
        lab.kubectl("label namespace y team=blue")
        check(lab, ALL().only_from("x/a", "y"))
        lab.kubectl("label namespace y team-")
        lab.kubectl("label namespace z team=blue")
        check(lab, ALL().only_from("x/a", "z"))
    finally:
        lab.kubectl("label namespace y team-", check=False)
        lab.kubectl("label namespace z team-", check=False)


def test_pod_label_change_takes_effect(clean):
    lab = clean
    lab.apply([ingress_to_a({"from": [{"namespaceSelector": {}, **pod_sel(role="client")}]}),
               np("y", "deny-targets", {"podSelector": {"matchLabels": {"target": "yes"}}, "policyTypes": ["Ingress"]})])
    check(lab, ALL().only_from("x/a", []))
    try:
        lab.kubectl("label pod c -n z role=client")  # a peer gains the label
        lab.kubectl("label pod b -n y target=yes")   # a pod becomes a target
        check(lab, ALL().only_from("x/a", "z/c").set("*", "y/b", False))
        lab.kubectl("label pod c -n z role-")
        lab.kubectl("label pod b -n y target-")
        check(lab, ALL().only_from("x/a", []))
    finally:
        lab.kubectl("label pod c -n z role-", check=False)
        lab.kubectl("label pod b -n y target-", check=False)


def test_a_pod_always_reaches_itself(clean):
    """The docs: a pod cannot block access to itself. Self-traffic never leaves the pod's namespace."""
    lab = clean
    lab.apply([np(ns, "deny", DENY_ALL) for ns in NAMESPACES])
    df = lab.reachability(80, "TCP", pods=PODS, timeout=FAST)
    assert all(df.loc[p, p] for p in PODS)
    assert not any(df.loc[f, t] for f in PODS for t in PODS if f != t)


def test_reply_traffic_of_allowed_connections_passes(clean):
    """Stateful: x is closed to new connections, yet x/a's own requests get their answers."""
    lab = clean
    lab.apply(np("x", "deny", DENY_INGRESS))
    out = lab.exec("x/a", f"curl -s --max-time 3 http://{IPS['z/c']}/")
    assert "Hostname: c" in out and f"RemoteAddr: {IPS['x/a']}:" in out
    blocked = lab.exec("z/c", f"curl -s --max-time 1 http://{IPS['x/a']}/", check=False)
    assert blocked == ""


# ---------------------------------------------------------------- named ports differ per pod

def at_80_and_81(lab, pods):
    with ThreadPoolExecutor(2) as pool:
        return tuple(pool.map(lambda p: lab.reachability(p, pods=pods, timeout=1.0), (80, 81)))


def test_named_port_resolves_on_each_destination_pod(clean):
    """`web` is TCP 81 on x/d and TCP 80 on y/d: an egress rule to `web` opens exactly those."""
    lab = clean
    extra = [pod("x", "d", "k8s-w2", "10.244.1.20", [{"name": "web", "containerPort": 81, "protocol": "TCP"},
                                                   {"name": "other", "containerPort": 80, "protocol": "TCP"}]),
             pod("y", "d", "k8s-w0", "10.244.2.20", [{"name": "web", "containerPort": 80, "protocol": "TCP"},
                                                   {"name": "other", "containerPort": 81, "protocol": "TCP"}])]
    lab.apply(extra)
    try:
        lab.apply(egress_from_a({"ports": [port("web")]}))
        pods = ["x/a", "x/d", "y/d"]
        at80, at81 = at_80_and_81(lab, pods)
        assert (at80.loc["x/a", "x/d"], at80.loc["x/a", "y/d"]) == (False, True)
        assert (at81.loc["x/a", "x/d"], at81.loc["x/a", "y/d"]) == (True, False)
        assert at80.loc["x/d", "y/d"] and at81.loc["y/d", "x/d"]  # the others are not isolated
        lab.kubectl("delete networkpolicy allow-out -n x")
        lab.apply(np("x", "web-in", {"podSelector": {}, "ingress": [{"ports": [port("web")]}]}))
        at80, at81 = at_80_and_81(lab, pods)
        assert not at80.loc["y/d", "x/d"] and at81.loc["y/d", "x/d"]  # web is 81 on x/d
        assert not at80.loc["y/d", "x/a"] and not at81.loc["y/d", "x/a"]  # x/a has no port named web
    finally:
        lab.delete(extra)


# ---------------------------------------------------------------- invalid policies change nothing

def test_invalid_policies_are_refused_and_change_nothing(clean):
    """Each of the acceptance's invalid shapes, through kubectl apply: refused, named, and no trace left."""
    lab = clean
    lab.apply(ingress_to_a({"from": [ns_sel(ns="y")]}))
    before = lab.kubectl("get networkpolicy -A -o yaml")
    for name, spec, message in INVALID:
        bad = [np("x", "a-valid-one", DENY_ALL), np("x", name, spec)]  # the valid one must not land either
        with pytest.raises(CommandError) as err:
            lab.apply(bad)
        assert f'The NetworkPolicy "{name}" is invalid: ' in str(err.value) and message in str(err.value), name
    assert lab.kubectl("get networkpolicy -A -o yaml") == before
    check(lab, ALL().only_from("x/a", "y"))


# ---------------------------------------------------------------- what iptables-save shows

def test_rules_read_like_felix(clean):
    lab = clean
    lab.apply(ingress_to_a({"from": [ns_sel(ns="y")], "ports": [port("serve-80-tcp")]}))
    text = lab.sh("k8s-w1", "iptables-save -t filter")
    assert '-A FORWARD -m comment --comment "cali:wUHhoiAYhphO9Mso" -j cali-FORWARD' in text
    text = re.sub(r' -m comment --comment "cali:[A-Za-z0-9_-]{16}"', "", text)  # Felix's rule ids aside
    cali = "cali" + hashlib.sha1(b"x.a").hexdigest()[:11]  # Calico's name for x/a's host-side veth
    # in the root dispatch chain, or in the child chain of the names sharing its next character (dispatch.go)
    assert re.search(rf"^-A cali-to-wl-dispatch(-.)? -o {cali} -g cali-tw-{cali}$", text, re.M)
    assert re.search(rf"^-A cali-from-wl-dispatch(-.)? -i {cali} -g cali-fw-{cali}$", text, re.M)
    tw = [ln for ln in text.splitlines() if ln.startswith(f"-A cali-tw-{cali} ")]
    assert "--ctstate RELATED,ESTABLISHED" in tw[0] and tw[0].endswith("-j ACCEPT")
    assert any("Drop if no policies passed packet" in ln for ln in tw)  # isolated: the tier's end drop
    assert "-j cali-pri-kns.x" in tw[-5] and "-j cali-pri-ksa.x.default" in tw[-3] and tw[-1].endswith('"Drop if no profiles matched" -j DROP')
    # one rule matching Felix's selector ipset of namespace y's pods; the named port became x/a's own port 80
    chain = policy.chain_name("cali-pi-", "x/knp.default.allow")  # Felix's name for it, hashed to 28 characters
    assert f"-m mark --mark 0x0/0x20000 -j {chain}" in "\n".join(tw)
    rules = [ln for ln in text.splitlines() if ln.startswith(f"-A {chain} ")]
    assert '-m comment --comment "Policy x/knp.default.allow ingress"' in rules[0]
    allow = [re.sub(r' -m comment --comment "[^"]*"', "", ln) for ln in rules
             if ln.endswith("-j MARK --set-xmark 0x10000/0x10000")]
    name = sip.set_name("(pcns.ns == \"y\") && (projectcalico.org/orchestrator == 'k8s')")
    assert allow == [f"-A {chain} -d {IPS['x/a']}/32 -p tcp -m set --match-set {name} src -m multiport --dports 80 "
                     "-j MARK --set-xmark 0x10000/0x10000"]
    assert _members(lab, "k8s-w1", name) == sorted(IPS[f"y/{p}"] for p in POD_NAMES)
    # k8s-w2 has no pod the policy selects: no policy chain there, and no set
    assert chain not in lab.sh("k8s-w2", "iptables-save -t filter")
    assert name not in lab.sh("k8s-w2", "ipset list -n")


def _members(lab, host: str, name: str) -> list[str] | None:
    """The members `ipset list <name>` shows on a node; None when the set does not exist."""
    out = lab.sh(host, f"ipset list {name}", check=False)
    if "Members:" not in out:
        return None
    assert "Type: hash:net" in out and "Header: family inet hashsize 1024 maxelem 1048576" in out
    return sorted(out.split("Members:", 1)[1].split())


def test_selector_peer_set_follows_pods_and_goes_with_the_policy(clean):
    """Felix keeps a selector's members in its ipset: a selected pod going away leaves the rule as it was
    and drops the member; deleting the policy removes the rule, then the set."""
    lab = clean
    extra = pod("x", "d", "k8s-w2", "10.244.1.20")
    lab.apply(extra)
    try:
        lab.apply(ingress_to_a({"from": [{"podSelector": {"matchExpressions": [
            {"key": "pod", "operator": "In", "values": ["b", "d"]}]}}]}))
        name = sip.set_name("(projectcalico.org/namespace == 'x') && "
                            "(projectcalico.org/orchestrator == 'k8s' && pod in { 'b', 'd' })")
        chain = policy.chain_name("cali-pi-", "x/knp.default.allow")

        def rules() -> list[str]:
            return [ln for ln in lab.sh("k8s-w1", "iptables-save -t filter").splitlines() if ln.startswith(f"-A {chain} ")]

        before = rules()
        assert len([ln for ln in before if f"-m set --match-set {name} src" in ln]) == 1
        assert _members(lab, "k8s-w1", name) == sorted([IPS["x/b"], "10.244.1.20"])
        lab.delete(extra)
        assert wait_for(lambda: _members(lab, "k8s-w1", name) == [IPS["x/b"]]), _members(lab, "k8s-w1", name)
        assert rules() == before  # the same rules, ids included
        lab.kubectl("delete networkpolicy allow -n x")
        assert wait_for(lambda: _members(lab, "k8s-w1", name) is None)
        save = lab.sh("k8s-w1", "iptables-save -t filter")
        assert chain not in save and "--match-set cali40s:" not in save
    finally:
        lab.kubectl("delete pod d -n x --ignore-not-found", check=False)


def test_model_spreads_over_the_workers(model):
    pods = model.pods()
    mine = pods[pods.namespace.isin(NAMESPACES)]
    assert {f"{r.namespace}/{r.name}": (r.ip, r.node) for r in mine.itertuples()} == \
        {k: (IPS[k], NODES[k.split("/")[1]]) for k in PODS}


def test_truth_table_round_trips(model):
    df = model.reachability(80, pods=PODS, timeout=SURE)
    text = truth_table(df)
    assert text.splitlines()[0] == "TCP/80" and text.splitlines()[1].split() == ["from\\to"] + PODS
    back = from_truth_table(text)
    assert (back.values == df.values).all() and list(back.index) == PODS
