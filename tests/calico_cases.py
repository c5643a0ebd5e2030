"""Calico policy scenarios (projectcalico.org/v3) with the reachability Calico's semantics give.

Each case is (id, manifests, expect) where expect(frm, to, port) -> bool for pods named "ns/pod"
in namespaces labelled ns=<name>, pods labelled pod=<name>. The policies are written here, not
taken from the library, and the expectations follow Felix's default tier: policies by order
(Kubernetes ones at 1000, unset last), first Allow/Deny decides, Pass leaves the tier, a pod some
policy selects in a direction is dropped at the end of the tier when no rule decided.
"""

from __future__ import annotations


def gnp(name: str, spec: dict) -> dict:
    return {"apiVersion": "projectcalico.org/v3", "kind": "GlobalNetworkPolicy", "metadata": {"name": name},
            "spec": spec}


def cnp(ns: str, name: str, spec: dict) -> dict:
    return {"apiVersion": "projectcalico.org/v3", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": ns}, "spec": spec}


def knp(ns: str, name: str, spec: dict) -> dict:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": ns}, "spec": spec}


def _ns(p: str) -> str:
    return p.split("/")[0]


def _pod(p: str) -> str:
    return p.split("/")[1]


CASES = [
    # the Calico docs' recommended global default-deny, here for the application namespace x
    ("global-default-deny",
     [gnp("default-deny", {"namespaceSelector": "ns == 'x'", "types": ["Ingress", "Egress"]})],
     lambda f, t, port: _ns(f) != "x" and _ns(t) != "x"),
    # ingress default-deny on x, and a namespaced Calico policy letting pods labelled pod=b in from anywhere
    ("allow-one-label-from-any-namespace",
     [gnp("deny-x-ingress", {"namespaceSelector": "ns == 'x'", "types": ["Ingress"]}),
      cnp("x", "allow-b", {"selector": "all()",
                           "ingress": [{"action": "Allow", "source": {"selector": "pod == 'b'",
                                                                      "namespaceSelector": "all()"}}]})],
     lambda f, t, port: _ns(t) != "x" or _pod(f) == "b"),
    # a low-order global Deny from z ahead of a Kubernetes allow-all in x; the same policy selects y,
    # whose pods no rule decides for: dropped at the end of the tier
    ("low-order-deny-before-k8s-allow",
     [gnp("deny-from-z", {"order": 10, "namespaceSelector": "ns in {'x', 'y'}",
                          "ingress": [{"action": "Deny", "source": {"namespaceSelector": "ns == 'z'"}}]}),
      knp("x", "allow-all", {"podSelector": {}, "ingress": [{}]})],
     lambda f, t, port: _ns(t) == "z" or (_ns(t) == "x" and _ns(f) != "z")),
    # Pass (order 10) hands traffic from y to the profiles before the Deny (order 20) sees it
    ("pass-before-deny",
     [gnp("deny-x", {"order": 20, "namespaceSelector": "ns == 'x'", "ingress": [{"action": "Deny"}]}),
      gnp("pass-from-y", {"order": 10, "namespaceSelector": "ns == 'x'",
                          "ingress": [{"action": "Pass", "source": {"namespaceSelector": "ns == 'y'"}}]})],
     lambda f, t, port: _ns(t) != "x" or _ns(f) == "y"),
    # egress from x: Deny TCP/80 to pods labelled pod=a anywhere, allow the rest
    ("egress-deny-one-selector-tcp-80",
     [cnp("x", "no-web-to-a", {"selector": "all()", "types": ["Egress"],
                               "egress": [{"action": "Deny", "protocol": "TCP",
                                           "destination": {"selector": "pod == 'a'", "namespaceSelector": "all()",
                                                           "ports": [80]}},
                                          {"action": "Allow"}]})],
     lambda f, t, port: not (_ns(f) == "x" and _pod(t) == "a" and port == 80)),
]
