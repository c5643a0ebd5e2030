"""Calico's own policy kinds enforced in the embedded lab: reachability matrices from real connections.

The e2e model of test_policy.py (namespaces x, y, z; pods a on k8s-w1, b on k8s-w2, c on k8s-w0
behind the router, over an IPIP-Always pool), so every matrix mixes same-node pairs, pairs across
the switch and pairs across the router. Each scenario of tests/calico_cases.py is applied with
`lab.apply` (GlobalNetworkPolicy, projectcalico.org/v3 NetworkPolicy, Kubernetes NetworkPolicy
together), probed on TCP 80 and 81, and compared cell by cell with Calico's semantics; a mismatch
is probed again more slowly before the test fails, as upstream's ValidateOrFail does.
"""

from __future__ import annotations

import re

import pandas as pd
import pytest

from kanslab.plot.reachability import truth_table
from tests.calico_cases import CASES
from tests.netpol_cases import PODS, applied_model

pytestmark = pytest.mark.lab

FAST, SURE = 0.2, 2.0


@pytest.fixture(scope="module")
def model(lab):
    """The 3x3 model, built once for this module and removed (pods, namespaces, pool) at its end."""
    with applied_model(lab):
        yield lab


def _expected(expect, port: int) -> pd.DataFrame:
    return pd.DataFrame([[f == t or expect(f, t, port) for t in PODS] for f in PODS], index=PODS, columns=PODS)


def _wrong(observed: pd.DataFrame, expected: pd.DataFrame) -> list[str]:
    return [f"{f} -> {t}: expected {'allowed' if expected.loc[f, t] else 'blocked'}"
            for f in PODS for t in PODS if f != t and bool(observed.loc[f, t]) != bool(expected.loc[f, t])]


@pytest.mark.parametrize(("case", "manifests", "expect"), CASES, ids=[c[0] for c in CASES])
def test_reachability_matches_calico_semantics(model, case, manifests, expect):
    lab = model
    lab.apply(manifests)
    try:
        failures = []
        for port in (80, 81):
            expected = _expected(expect, port)
            observed = lab.reachability(port, "TCP", pods=PODS, timeout=FAST)
            if _wrong(observed, expected):
                observed = lab.reachability(port, "TCP", pods=PODS, timeout=SURE)
            bad = _wrong(observed, expected)
            if bad:
                failures.append(f"TCP/{port}: {len(bad)} of 72 cells wrong\nexpected:\n"
                                f"{truth_table(expected, title='')}\nobserved:\n{truth_table(observed, title='')}\n"
                                + "\n".join(bad))
        assert not failures, "\n\n".join(failures)
    finally:
        lab.delete(manifests)


def test_calicoctl_shows_the_policies(model):
    lab = model
    manifests = CASES[3][1]  # pass-before-deny: two ordered GlobalNetworkPolicies
    lab.apply(manifests)
    try:
        out = lab.calicoctl("get gnp -o wide")
        rows = [ln.split() for ln in out.splitlines()[1:] if ln.strip()]
        assert out.split()[:3] == ["NAME", "ORDER", "SELECTOR"]
        assert sorted(r[:2] for r in rows) == [["deny-x", "20"], ["pass-from-y", "10"]]
    finally:
        lab.delete(manifests)
    assert lab.calicoctl("get gnp").split() == ["NAME"]


def test_iptables_and_ipsets_in_felix_layout(model):
    """Issue 11's acceptance on a node with pods: Felix's chains, profiles, ipsets and rule ids."""
    lab = model
    save = lab.sh("k8s-w1", "iptables-save")
    for chain in ("cali-FORWARD", "cali-INPUT", "cali-OUTPUT", "cali-from-wl-dispatch", "cali-to-wl-dispatch",
                  "cali-pri-kns.x", "cali-nat-outgoing", "cali-PREROUTING"):
        assert f":{chain} - " in save, chain
    assert '"Drop if no profiles matched" -j DROP' in save
    assert "--match-set cali40masq-ipam-pools src" in save
    ids = re.findall(r'--comment "?cali:([^" ]+)"?', save)
    assert ids and all(re.fullmatch(r"[A-Za-z0-9_-]{16}", i) for i in ids)
    assert '-m comment --comment "cali:wUHhoiAYhphO9Mso" -j cali-FORWARD' in save  # Felix's own hash
    # every rule Felix writes carries its id; kube-proxy's KUBE-* chains and jumps share the tables
    rules = [ln for ln in save.splitlines() if ln.startswith("-A ") and not ln.split()[1].startswith("KUBE-")
             and " -j KUBE-" not in ln]
    assert all("cali:" in ln for ln in rules), [ln for ln in rules if "cali:" not in ln][:3]
    names = set(lab.sh("k8s-w1", "ipset list -n").split())
    assert {"cali40all-ipam-pools", "cali40masq-ipam-pools", "cali40this-host", "cali40all-hosts-net"} <= names
    members = lab.sh("k8s-w1", "ipset list cali40all-ipam-pools")
    assert "10.244.0.0/16" in members and "172.16.0.0/16" in members
