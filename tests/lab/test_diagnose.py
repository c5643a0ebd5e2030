"""lab.diagnose against real connections (issue 13).

Held-out NetworkPolicy cases (not the upstream cases test_policy runs) on the 3x3 model: three
namespaces, pods pinned to k8s-w1, k8s-w2 and k8s-w0, a second IP pool, TCP and UDP ports. For
sampled pairs, the verdict diagnose traces from the state alone must equal what a real
connection does. Then a fresh-lab scenario: the pool in Direct mode with no router peering.
"""

from __future__ import annotations

import json
import random

import pytest

from tests.netpol_cases import PODS, applied_model, np

pytestmark = pytest.mark.lab

HELD_OUT = [
    ("ingress-y-b-from-x-tcp80",
     [np("y", "from-x", {"podSelector": {"matchLabels": {"pod": "b"}}, "policyTypes": ["Ingress"],
                         "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"ns": "x"}}}],
                                      "ports": [{"port": 80, "protocol": "TCP"}]}]})],
     [(80, "TCP"), (81, "TCP")]),
    ("egress-z-c-to-pod-a-udp81",
     [np("z", "to-a", {"podSelector": {"matchLabels": {"pod": "c"}}, "policyTypes": ["Egress"],
                       "egress": [{"to": [{"podSelector": {"matchLabels": {"pod": "a"}},
                                           "namespaceSelector": {}}],
                                   "ports": [{"port": 81, "protocol": "UDP"}]}]})],
     [(81, "UDP"), (80, "TCP")]),
    ("deny-x-but-a-from-y-port-range",
     [np("x", "deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
      np("x", "a-from-y", {"podSelector": {"matchLabels": {"pod": "a"}}, "policyTypes": ["Ingress"],
                           "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"ns": "y"}}}],
                                        "ports": [{"port": 80, "endPort": 81, "protocol": "TCP"}]}]})],
     [(81, "TCP"), (80, "UDP")]),
]


@pytest.fixture(scope="module")
def model(lab):
    """The 3x3 model, built once for this module and removed (pods, namespaces, pool) at its end."""
    with applied_model(lab):
        yield lab


def _sample(real, k: int, seed: int) -> list[tuple[str, str]]:
    """k off-diagonal pairs, half of them blocked where the case blocks any (both verdicts get tested)."""
    rnd = random.Random(seed)
    pairs = [(f, t) for f in PODS for t in PODS if f != t]
    blocked = [p for p in pairs if not real.loc[p]]
    allowed = [p for p in pairs if real.loc[p]]
    n_b = min(len(blocked), k // 2)
    return rnd.sample(blocked, n_b) + rnd.sample(allowed, min(len(allowed), k - n_b))


@pytest.mark.parametrize("policies,ports", [pytest.param(p, q, id=i) for i, p, q in HELD_OUT])
def test_verdict_equals_the_real_connection(model, policies, ports):
    try:
        model.apply(policies)
        for port, proto in ports:
            real = model.reachability(port=port, protocol=proto, pods=PODS, timeout=1.0)
            for a, b in _sample(real, 6, seed=port):
                d = model.diagnose(a, b, port=port, protocol=proto)
                want = "reachable" if real.loc[a, b] else "blocked"
                assert d.attrs["verdict"] == want, f"{a} -> {b} {proto}/{port}:\n{d.to_string()}"
                assert d.attrs["probe"] == want and d.attrs["agrees"]
                assert d.attrs["layer"] == ("none" if want == "reachable" else "policy")
                if want == "blocked":  # the failing row names the policy that isolates the pod
                    row = d[d.result == "fail"].iloc[0]
                    assert row.check in ("egress policy", "ingress policy")
                    assert any(f"{p['metadata']['namespace']}/{p['metadata']['name']}" in row.detail for p in policies)
    finally:
        model.delete(policies)


def test_rows_follow_the_path_in_order(model):
    d = model.diagnose("x/a", "z/c", port=80)  # k8s-w1 -> k8s-w0: across the router, IPIP
    checks = list(d.check)
    order = ["pod route", "node route", "egress policy", "encapsulation", "underlay next hop",
             "decapsulation", "destination route", "ingress policy", "answers", "real connection"]
    assert list(dict.fromkeys(c for c in checks if c in order)) == [c for c in order if c in checks]
    assert list(d.step) == list(range(1, len(d) + 1))
    hops = d[d.check == "underlay next hop"]
    assert list(hops.host) == ["k8s-w1", "router"]
    assert set(d.result) <= {"ok", "skip"} and d.attrs["verdict"] == "reachable"


def test_a_closed_port_is_the_pod_layer(model):
    d = model.diagnose("x/a", "y/b", port=8080)
    assert (d.attrs["verdict"], d.attrs["layer"], d.attrs["probe"]) == ("blocked", "pod", "blocked")
    assert "listens on TCP 8080" in d.attrs["cause"]


def test_direct_mode_across_subnets_is_a_routing_fault(model):
    """A fresh lab has no BGPPeer to the router: in Direct mode k8s-w1's pods cannot reach k8s-w0's.
    (x/a runs on k8s-w1, x/c on k8s-w0; every pool goes to Direct, whichever holds their addresses.)"""
    lab = model
    assert len(lab.calicoctl("get bgppeer").strip().splitlines()) <= 1  # the header only
    pools = {p["metadata"]["name"]: p["spec"].get("ipipMode", "Never")
             for p in json.loads(lab.calicoctl("get ippool -o json"))["items"]}  # webpods may sit in any pool
    try:
        for name in pools:
            lab.calicoctl(f"patch ippool {name} -p '{json.dumps({'spec': {'ipipMode': 'Never'}})}'")
        d = lab.diagnose("x/a", "x/c")
        assert (d.attrs["verdict"], d.attrs["layer"], d.attrs["probe"]) == ("blocked", "routing", "blocked"), \
            d.to_string()
        fail = d[d.result == "fail"].iloc[0]
        assert fail.host == "router" and "Network is unreachable" in fail.detail
    finally:
        for name, mode in pools.items():
            lab.calicoctl(f"patch ippool {name} -p '{json.dumps({'spec': {'ipipMode': mode}})}'")
