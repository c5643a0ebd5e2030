"""The upstream e2e NetworkPolicy model and cases, shared by the lab tests (real probes) and the unit
tests (the generated iptables rules, evaluated without root).

The model (research/netpol-semantics.md §1): namespaces x, y, z labelled ns=<name>, pods a, b, c
in each labelled pod=<name>, every pod serving TCP and UDP on 80 and 81 under the port names
serve-<port>-<proto>, fixed IPs 10.244.{1,2,3}.{10,11,12} from an IPPool 10.244.0.0/16; pod a
runs on k8s-w1, b on k8s-w2, c on k8s-w0 (another subnet). An expectation starts all allowed and
is edited in bulk, as upstream's Reachability is.
"""

from __future__ import annotations

import json
from contextlib import contextmanager

import pytest

NAMESPACES = ("x", "y", "z")
POD_NAMES = ("a", "b", "c")
NODES = {"a": "k8s-w1", "b": "k8s-w2", "c": "k8s-w0"}
PODS = [f"{ns}/{p}" for ns in NAMESPACES for p in POD_NAMES]
IPS = {f"{ns}/{p}": f"10.244.{i}.{10 + j}" for i, ns in enumerate(NAMESPACES, 1) for j, p in enumerate(POD_NAMES)}
POOL = {"apiVersion": "projectcalico.org/v3", "kind": "IPPool", "metadata": {"name": "netpol-e2e"},
        "spec": {"cidr": "10.244.0.0/16", "blockSize": 24, "ipipMode": "Always", "natOutgoing": True}}


# ---------------------------------------------------------------- the model

def namespace(ns: str) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {"ns": ns}}}


def pod(ns: str, name: str, node: str | None = None, ip: str | None = None, ports=None) -> dict:
    ports = ports or [{"name": f"serve-{port}-{proto.lower()}", "containerPort": port, "protocol": proto}
                      for port in (80, 81) for proto in ("TCP", "UDP")]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": {"pod": name},
                         "annotations": {"cni.projectcalico.org/ipAddrs": json.dumps([ip or IPS[f"{ns}/{name}"]])}},
            "spec": {"nodeName": node or NODES[name], "terminationGracePeriodSeconds": 0,
                     "containers": [{"name": "cont", "image": "registry.k8s.io/e2e-test-images/agnhost:2.47",
                                     "ports": ports}]}}


def np(ns: str, name: str, spec: dict) -> dict:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": ns}, "spec": spec}


# ---------------------------------------------------------------- expectations (upstream's Reachability)

def _matches(pattern: str, pod_key: str) -> bool:
    if pattern == "*":
        return True
    return pod_key == pattern if "/" in pattern else pod_key.split("/")[0] == pattern


class Expect:
    """Starts all allowed; `set(from, to, ok)` edits a block: "*" any pod, "x" namespace x, "x/a" one pod.
    Later edits overwrite earlier ones, as ExpectPeer does upstream."""

    def __init__(self, default: bool = True):
        self.cells = {(f, t): default for f in PODS for t in PODS}

    def set(self, frm: str | list = "*", to: str | list = "*", ok: bool = False) -> Expect:
        frms, tos = ([frm] if isinstance(frm, str) else frm), ([to] if isinstance(to, str) else to)
        for f, t in self.cells:
            if any(_matches(p, f) for p in frms) and any(_matches(p, t) for p in tos):
                self.cells[(f, t)] = ok
        return self

    def only_from(self, to: str, allowed: str | list) -> Expect:
        """Ingress of `to` isolated, open to `allowed` only."""
        return self.set("*", to, False).set(allowed, to, True)

    def only_to(self, frm: str, allowed: str | list) -> Expect:
        """Egress of `frm` isolated, open to `allowed` only."""
        return self.set(frm, "*", False).set(frm, allowed, True)

    def frame(self):
        """As a DataFrame like lab.reachability's; the diagonal is allowed (a pod cannot block itself)."""
        import pandas as pd

        return pd.DataFrame([[self.cells[(f, t)] or f == t for t in PODS] for f in PODS],
                            index=pd.Index(PODS, name="from"), columns=pd.Index(PODS, name="to"))


def ALL() -> Expect:  # noqa: N802
    return Expect(True)


# ---------------------------------------------------------------- the cases

def case(id_: str, policies: list[dict], **probes: Expect):
    """probes: tcp80=..., tcp81=..., udp80=... (TCP/80 all-allowed is checked when none is given)."""
    wanted = {(int(k[3:]), k[:3].upper()): v for k, v in probes.items()} or {(80, "TCP"): ALL()}
    return pytest.param(policies, wanted, id=id_)


DENY_INGRESS = {"podSelector": {}, "policyTypes": ["Ingress"]}
DENY_EGRESS = {"podSelector": {}, "policyTypes": ["Egress"]}
DENY_ALL = {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
POD_A = {"matchLabels": {"pod": "a"}}


def ingress_to_a(*rules, ns: str = "x", name: str = "allow") -> dict:
    return np(ns, name, {"podSelector": POD_A, "policyTypes": ["Ingress"], "ingress": list(rules)})


def egress_from_a(*rules, ns: str = "x", name: str = "allow-out") -> dict:
    return np(ns, name, {"podSelector": POD_A, "policyTypes": ["Egress"], "egress": list(rules)})


def ns_sel(**labels) -> dict:
    return {"namespaceSelector": {"matchLabels": labels}}


def pod_sel(**labels) -> dict:
    return {"podSelector": {"matchLabels": labels}}


def expr(key: str, op: str, *values: str) -> dict:
    req = {"key": key, "operator": op}
    if values:
        req["values"] = list(values)
    return {"matchExpressions": [req]}


def port(p, proto: str | None = None, end: int | None = None) -> dict:
    out: dict = {"port": p} if p is not None else {}
    if proto:
        out["protocol"] = proto
    if end is not None:
        out["endPort"] = end
    return out


CASES = [
    # --- isolation and policyTypes
    case("deny-ingress-x", [np("x", "deny", DENY_INGRESS)], tcp80=ALL().set("*", "x", False)),
    case("deny-ingress-x-policytypes-inferred", [np("x", "deny", {"podSelector": {}})],
         tcp80=ALL().set("*", "x", False)),
    case("deny-ingress-x-empty-ingress-list", [np("x", "deny", {"podSelector": {}, "ingress": []})],
         tcp80=ALL().set("*", "x", False)),
    case("deny-ingress-x-udp-too", [np("x", "deny", DENY_INGRESS)], udp80=ALL().set("*", "x", False)),
    case("deny-all-x", [np("x", "deny", DENY_ALL)], tcp80=ALL().set("*", "x", False).set("x", "*", False)),
    case("deny-all-x-udp81", [np("x", "deny", DENY_ALL)], udp81=ALL().set("*", "x", False).set("x", "*", False)),
    case("deny-egress-x", [np("x", "deny", DENY_EGRESS)], tcp80=ALL().set("x", "*", False)),
    case("deny-everywhere", [np(ns, "deny", DENY_ALL) for ns in NAMESPACES], tcp80=Expect(False)),
    case("deny-ingress-one-pod", [np("x", "deny", {"podSelector": POD_A, "policyTypes": ["Ingress"]})],
         tcp80=ALL().set("*", "x/a", False)),
    case("deny-ingress-target-expression",
         [np("x", "deny", {"podSelector": expr("pod", "In", "a", "b"), "policyTypes": ["Ingress"]})],
         tcp80=ALL().set("*", ["x/a", "x/b"], False)),
    case("deny-in-y-leaves-x-alone", [np("y", "deny", DENY_INGRESS)], tcp80=ALL().set("*", "y", False)),
    # egress present without policyTypes -> [Ingress, Egress]: ingress silently denied too
    case("egress-rule-infers-ingress-isolation",
         [np("x", "egress-only", {"podSelector": POD_A, "egress": [{"to": [pod_sel(pod="b")]}]})],
         tcp80=ALL().set("*", "x/a", False).only_to("x/a", "x/b")),
    case("explicit-egress-type-leaves-ingress-open",
         [np("x", "egress-only", {"podSelector": POD_A, "policyTypes": ["Egress"],
                                  "egress": [{"to": [pod_sel(pod="b")]}]})],
         tcp80=ALL().only_to("x/a", "x/b")),
    case("explicit-ingress-type-ignores-stray-egress",
         [np("x", "ingress-only", {"podSelector": POD_A, "policyTypes": ["Ingress"],
                                   "ingress": [{"from": [pod_sel(pod="b")]}], "egress": [{"to": [pod_sel(pod="c")]}]})],
         tcp80=ALL().only_from("x/a", "x/b")),
    # --- peers: podSelector
    case("allow-from-pod-same-namespace", [ingress_to_a({"from": [pod_sel(pod="b")]})],
         tcp80=ALL().only_from("x/a", "x/b")),
    case("pod-selector-alone-means-policy-namespace", [ingress_to_a({"from": [pod_sel(pod="b")]}, ns="y")],
         tcp80=ALL().only_from("y/a", "y/b")),
    case("pod-selector-in", [ingress_to_a({"from": [{"podSelector": expr("pod", "In", "b", "c")}]})],
         tcp80=ALL().only_from("x/a", ["x/b", "x/c"])),
    case("pod-selector-notin", [ingress_to_a({"from": [{"podSelector": expr("pod", "NotIn", "b")}]})],
         tcp80=ALL().only_from("x/a", ["x/c"])),
    case("pod-selector-exists", [ingress_to_a({"from": [{"podSelector": expr("pod", "Exists")}]})],
         tcp80=ALL().only_from("x/a", "x")),
    case("pod-selector-does-not-exist", [ingress_to_a({"from": [{"podSelector": expr("pod", "DoesNotExist")}]})],
         tcp80=ALL().only_from("x/a", [])),
    case("pod-selector-exists-on-a-missing-key", [ingress_to_a({"from": [{"podSelector": expr("role", "Exists")}]})],
         tcp80=ALL().only_from("x/a", [])),
    case("pod-selector-does-not-exist-on-a-missing-key",
         [ingress_to_a({"from": [{"podSelector": expr("role", "DoesNotExist")}]})],
         tcp80=ALL().only_from("x/a", "x")),
    case("pod-selector-empty-is-whole-namespace", [ingress_to_a({"from": [{"podSelector": {}}]})],
         tcp80=ALL().only_from("x/a", "x")),
    case("pod-selector-labels-and-expressions-anded",
         [ingress_to_a({"from": [{"podSelector": {"matchLabels": {"pod": "b"},
                                                  **expr("pod", "In", "b", "c")}}]})],
         tcp80=ALL().only_from("x/a", "x/b")),
    case("pod-selector-contradiction-selects-nothing",
         [ingress_to_a({"from": [{"podSelector": {"matchLabels": {"pod": "b"}, **expr("pod", "NotIn", "b")}}]})],
         tcp80=ALL().only_from("x/a", [])),
    # --- peers: namespaceSelector
    case("namespace-selector-labels", [ingress_to_a({"from": [ns_sel(ns="y")]})],
         tcp80=ALL().only_from("x/a", "y")),
    case("namespace-selector-in", [ingress_to_a({"from": [{"namespaceSelector": expr("ns", "In", "y", "z")}]})],
         tcp80=ALL().only_from("x/a", ["y", "z"])),
    case("namespace-selector-notin", [ingress_to_a({"from": [{"namespaceSelector": expr("ns", "NotIn", "x")}]})],
         tcp80=ALL().only_from("x/a", ["y", "z"])),
    case("namespace-selector-exists", [ingress_to_a({"from": [{"namespaceSelector": expr("ns", "Exists")}]})],
         tcp80=ALL().only_from("x/a", "*")),
    case("namespace-selector-notin-missing-key-matches", [ingress_to_a({"from": [{"namespaceSelector":
                                                                                 expr("team", "NotIn", "blue")}]})],
         tcp80=ALL().only_from("x/a", "*")),
    case("namespace-selector-does-not-exist",
         [ingress_to_a({"from": [{"namespaceSelector": expr("ns", "DoesNotExist")}]})],
         tcp80=ALL().only_from("x/a", [])),
    case("namespace-selector-empty-is-every-namespace", [ingress_to_a({"from": [{"namespaceSelector": {}}]})],
         tcp80=ALL().only_from("x/a", "*")),
    case("namespace-selector-metadata-name", [ingress_to_a({"from": [ns_sel(**{"kubernetes.io/metadata.name": "z"})]})],
         tcp80=ALL().only_from("x/a", "z")),
    case("namespace-selector-metadata-name-notin",
         [ingress_to_a({"from": [{"namespaceSelector": expr("kubernetes.io/metadata.name", "NotIn", "y")}]})],
         tcp80=ALL().only_from("x/a", ["x", "z"])),
    case("namespace-selector-matches-no-namespace", [ingress_to_a({"from": [ns_sel(ns="w")]})],
         tcp80=ALL().only_from("x/a", [])),
    case("namespace-selector-labels-and-expressions-anded",
         [ingress_to_a({"from": [{"namespaceSelector": {"matchLabels": {"ns": "z"}, **expr("ns", "In", "y", "z")}}]})],
         tcp80=ALL().only_from("x/a", "z")),
    # --- peers: AND within one peer, OR across peers
    case("pod-and-namespace-in-one-peer", [ingress_to_a({"from": [{**ns_sel(ns="y"), **pod_sel(pod="b")}]})],
         tcp80=ALL().only_from("x/a", "y/b")),
    case("pod-or-namespace-as-two-peers", [ingress_to_a({"from": [ns_sel(ns="y"), pod_sel(pod="b")]})],
         tcp80=ALL().only_from("x/a", ["y", "x/b"])),
    case("multiple-selectors-and", [ingress_to_a({"from": [{"namespaceSelector": expr("ns", "In", "y", "z"),
                                                            "podSelector": expr("pod", "In", "b", "c")}]})],
         tcp80=ALL().only_from("x/a", ["y/b", "y/c", "z/b", "z/c"])),
    case("pod-in-every-namespace", [ingress_to_a({"from": [{"namespaceSelector": {}, **pod_sel(pod="c")}]})],
         tcp80=ALL().only_from("x/a", ["x/c", "y/c", "z/c"])),
    case("two-rules-add-up", [ingress_to_a({"from": [pod_sel(pod="b")]}, {"from": [ns_sel(ns="z")]})],
         tcp80=ALL().only_from("x/a", ["x/b", "z"])),
    # --- rules: empty from / to, empty ingress
    case("allow-all-ingress-rule", [ingress_to_a({})], tcp80=ALL()),
    case("empty-from-list-is-everyone", [ingress_to_a({"from": [], "ports": [port(81)]})],
         tcp80=ALL().set("*", "x/a", False), tcp81=ALL()),
    case("missing-from-is-everyone", [ingress_to_a({"ports": [port(80)]})],
         tcp80=ALL(), tcp81=ALL().set("*", "x/a", False)),
    case("ingress-empty-list-is-no-one",
         [np("x", "none", {"podSelector": POD_A, "policyTypes": ["Ingress"], "ingress": []})],
         tcp80=ALL().set("*", "x/a", False)),
    # --- policies add up
    case("deny-plus-allow-all-to-one-pod", [np("x", "deny", DENY_INGRESS), ingress_to_a({})],
         tcp80=ALL().set("*", ["x/b", "x/c"], False)),
    case("deny-plus-allow-from-namespace",
         [np("x", "deny", DENY_INGRESS), ingress_to_a({"from": [ns_sel(ns="y")]})],
         tcp80=ALL().set("*", "x", False).set("y", "x/a", True)),
    case("two-policies-same-pod-add-up",
         [ingress_to_a({"from": [pod_sel(pod="b")]}, name="from-b"),
          ingress_to_a({"from": [ns_sel(ns="z")]}, name="from-z")],
         tcp80=ALL().only_from("x/a", ["x/b", "z"])),
    case("deny-all-plus-allow-all-policies",
         [np("x", "deny", DENY_ALL), np("x", "allow", {"podSelector": {}, "ingress": [{}], "egress": [{}]})],
         tcp80=ALL()),
    case("stacked-policies-per-port",
         [ingress_to_a({"from": [ns_sel(ns="y")], "ports": [port(80)]}, name="y-80"),
          ingress_to_a({"from": [ns_sel(ns="z")], "ports": [port(81)]}, name="z-81")],
         tcp80=ALL().only_from("x/a", "y"), tcp81=ALL().only_from("x/a", "z")),
    # --- ports by number, protocol, range
    case("port-81-only", [ingress_to_a({"ports": [port(81)]})],
         tcp80=ALL().set("*", "x/a", False), tcp81=ALL()),
    case("port-and-peer", [ingress_to_a({"from": [ns_sel(ns="y")], "ports": [port(81, "TCP")]})],
         tcp80=ALL().set("*", "x/a", False), tcp81=ALL().only_from("x/a", "y")),
    case("tcp-rule-does-not-open-udp", [ingress_to_a({"ports": [port(80, "TCP")]})],
         tcp80=ALL(), udp80=ALL().set("*", "x/a", False)),
    case("udp-rule-does-not-open-tcp", [ingress_to_a({"ports": [port(80, "UDP")]})],
         tcp80=ALL().set("*", "x/a", False), udp80=ALL()),
    case("protocol-only-rule", [ingress_to_a({"ports": [{"protocol": "UDP"}]})],
         udp80=ALL(), udp81=ALL(), tcp80=ALL().set("*", "x/a", False)),
    case("sctp-is-not-tcp", [ingress_to_a({"ports": [port(80, "SCTP")]})],
         tcp80=ALL().set("*", "x/a", False), udp80=ALL().set("*", "x/a", False)),
    case("sctp-only-rule", [ingress_to_a({"ports": [{"protocol": "SCTP"}]})],
         tcp81=ALL().set("*", "x/a", False)),
    case("end-port-range-covers-both", [ingress_to_a({"ports": [port(80, "TCP", 81)]})],
         tcp80=ALL(), tcp81=ALL()),
    case("end-port-range-starts-at-81", [ingress_to_a({"ports": [port(81, "TCP", 90)]})],
         tcp80=ALL().set("*", "x/a", False), tcp81=ALL()),
    case("end-port-range-stops-at-80", [ingress_to_a({"ports": [port(20, "TCP", 80)]})],
         tcp80=ALL(), tcp81=ALL().set("*", "x/a", False)),
    case("end-port-range-udp", [ingress_to_a({"ports": [port(79, "UDP", 81)]})],
         udp81=ALL(), tcp81=ALL().set("*", "x/a", False)),
    # --- named ports (resolved on the destination pod, protocol included)
    case("named-port-ingress", [ingress_to_a({"ports": [port("serve-81-tcp")]})],
         tcp80=ALL().set("*", "x/a", False), tcp81=ALL()),
    case("named-port-from-namespace", [ingress_to_a({"from": [ns_sel(ns="y")], "ports": [port("serve-80-tcp")]})],
         tcp80=ALL().only_from("x/a", "y"), tcp81=ALL().set("*", "x/a", False)),
    case("named-port-udp", [ingress_to_a({"ports": [port("serve-80-udp", "UDP")]})],
         udp80=ALL(), tcp80=ALL().set("*", "x/a", False)),
    case("named-port-protocol-mismatch-matches-nothing", [ingress_to_a({"ports": [port("serve-80-udp", "TCP")]})],
         tcp80=ALL().set("*", "x/a", False), udp80=ALL().set("*", "x/a", False)),
    case("named-port-not-served-matches-nothing", [ingress_to_a({"ports": [port("serve-82-tcp")]})],
         tcp80=ALL().set("*", "x/a", False)),
    case("named-port-egress", [egress_from_a({"ports": [port("serve-81-tcp")]})],
         tcp80=ALL().set("x/a", "*", False), tcp81=ALL()),
    case("named-port-egress-to-namespace", [egress_from_a({"to": [ns_sel(ns="z")], "ports": [port("serve-80-udp", "UDP")]})],
         udp80=ALL().only_to("x/a", "z"), tcp80=ALL().set("x/a", "*", False)),
    # --- egress
    case("egress-to-pod-other-namespace", [egress_from_a({"to": [{**ns_sel(ns="y"), **pod_sel(pod="b")}]})],
         tcp80=ALL().only_to("x/a", "y/b")),
    case("egress-to-namespace", [egress_from_a({"to": [ns_sel(ns="z")]})], tcp80=ALL().only_to("x/a", "z")),
    case("egress-port-81", [egress_from_a({"ports": [port(81)]})],
         tcp80=ALL().set("x/a", "*", False), tcp81=ALL()),
    case("egress-end-port", [egress_from_a({"to": [ns_sel(ns="y")], "ports": [port(80, "TCP", 81)]})],
         tcp81=ALL().only_to("x/a", "y")),
    case("egress-allow-all-beats-deny", [np("x", "deny", DENY_EGRESS), egress_from_a({})],
         tcp80=ALL().set(["x/b", "x/c"], "*", False)),
    # the server's ingress allows x/a, but x/a's own egress does not: a connection needs both ends
    case("client-side-egress-deny",
         [egress_from_a({"to": [ns_sel(ns="z")]}),
          np("y", "allow-x-a", {"podSelector": pod_sel(pod="b")["podSelector"], "policyTypes": ["Ingress"],
                                "ingress": [{"from": [{**ns_sel(ns="x"), **pod_sel(pod="a")}]}]})],
         tcp80=ALL().only_to("x/a", "z").only_from("y/b", []).set("x/a", "y/b", False)),
    case("ingress-and-egress-together",
         [np("x", "both", {"podSelector": POD_A, "ingress": [{"from": [ns_sel(ns="y")]}],
                           "egress": [{"to": [ns_sel(ns="z")]}]})],
         tcp80=ALL().only_from("x/a", "y").only_to("x/a", "z")),
    case("independent-ingress-and-egress-on-two-pods",
         [ingress_to_a({"from": [pod_sel(pod="c")]}),
          np("x", "b-out", {"podSelector": pod_sel(pod="b")["podSelector"], "policyTypes": ["Egress"],
                            "egress": [{"to": [ns_sel(ns="y")]}]})],
         tcp80=ALL().only_from("x/a", "x/c").only_to("x/b", "y")),
    # --- ipBlock (it matches pod IPs too; no NAT between pods)
    case("egress-cidr", [egress_from_a({"to": [{"ipBlock": {"cidr": "10.244.2.0/24"}}]})],
         tcp80=ALL().only_to("x/a", "y")),
    case("egress-cidr-except", [egress_from_a({"to": [{"ipBlock": {"cidr": "10.244.0.0/16",
                                                                   "except": ["10.244.2.0/24"]}}]})],
         tcp80=ALL().only_to("x/a", ["x", "z"])),
    case("egress-cidr-two-excepts",
         [egress_from_a({"to": [{"ipBlock": {"cidr": "10.244.2.0/23", "except": ["10.244.3.10/32", "10.244.3.11/32"]}}]})],
         tcp80=ALL().only_to("x/a", ["y", "z/c"])),
    case("egress-cidr-single-pod", [egress_from_a({"to": [{"ipBlock": {"cidr": "10.244.2.11/32"}}]})],
         tcp80=ALL().only_to("x/a", "y/b")),
    case("egress-cidr-overlap-allowed-by-second-peer",
         [egress_from_a({"to": [{"ipBlock": {"cidr": "10.244.0.0/16", "except": ["10.244.2.0/24"]}},
                                {"ipBlock": {"cidr": "10.244.2.10/32"}}]})],
         tcp80=ALL().only_to("x/a", ["x", "z", "y/a"])),
    case("egress-cidr-with-named-port",
         [egress_from_a({"to": [{"ipBlock": {"cidr": "10.244.3.0/24"}}], "ports": [port("serve-81-tcp")]})],
         tcp80=ALL().set("x/a", "*", False), tcp81=ALL().only_to("x/a", "z")),
    case("egress-cidr-except-with-port",
         [egress_from_a({"to": [{"ipBlock": {"cidr": "10.244.0.0/16", "except": ["10.244.1.0/24"]}}],
                         "ports": [port(81)]})],
         tcp80=ALL().set("x/a", "*", False), tcp81=ALL().only_to("x/a", ["y", "z"])),
    case("ingress-cidr", [ingress_to_a({"from": [{"ipBlock": {"cidr": "10.244.3.0/24"}}]})],
         tcp80=ALL().only_from("x/a", "z")),
    case("ingress-cidr-except", [ingress_to_a({"from": [{"ipBlock": {"cidr": "10.244.0.0/16",
                                                                      "except": ["10.244.1.0/24"]}}]})],
         tcp80=ALL().only_from("x/a", ["y", "z"])),
    case("ingress-cidr-except-named-port",
         [ingress_to_a({"from": [{"ipBlock": {"cidr": "10.244.0.0/16", "except": ["10.244.2.0/24"]}}],
                        "ports": [port("serve-80-tcp")]})],
         tcp80=ALL().only_from("x/a", ["x", "z"]), tcp81=ALL().set("*", "x/a", False)),
    case("ingress-cidr-or-pod", [ingress_to_a({"from": [{"ipBlock": {"cidr": "10.244.2.12/32"}}, pod_sel(pod="b")]})],
         tcp80=ALL().only_from("x/a", ["y/c", "x/b"])),
    # --- the seed's three policies, in x
    case("seed-deny-all", [np("x", "deny-all-networkpolicy", DENY_ALL)],
         tcp80=ALL().set("*", "x", False).set("x", "*", False)),
    case("seed-allow-all", [np("x", "allow-all-networkpolicy", {"podSelector": {}, "egress": [{}], "ingress": [{}],
                                                                "policyTypes": ["Ingress", "Egress"]})],
         tcp80=ALL()),
    case("seed-cloud", [np("x", "cloud-networkpolicy", {"podSelector": {}, "egress": [{}],
                                                        "policyTypes": ["Ingress", "Egress"]})],
         tcp80=ALL().set("*", "x", False), udp80=ALL().set("*", "x", False)),
]


INVALID = [
    ("unknown-operator", {"podSelector": {"matchExpressions": [{"key": "pod", "operator": "Equals", "values": ["a"]}]}},
     'spec.podSelector.matchExpressions[0].operator: Invalid value: "Equals": not a valid selector operator'),
    ("port-out-of-range", {"podSelector": {}, "ingress": [{"ports": [{"port": 70000}]}]},
     "spec.ingress[0].ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive"),
    ("end-port-below-port", {"podSelector": {}, "egress": [{"ports": [{"port": 81, "endPort": 80}]}]},
     "spec.egress[0].ports[0].endPort: Invalid value: 80: must be greater than or equal to `port`"),
    ("end-port-beside-named-port", {"podSelector": {}, "ingress": [{"ports": [{"port": "serve-80-tcp", "endPort": 90}]}]},
     "spec.ingress[0].ports[0].endPort: Invalid value: 90: may not be specified when `port` is non-numeric"),
    ("bad-cidr", {"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.244.0.0/33"}}]}]},
     'spec.ingress[0].from[0].ipBlock.cidr: Invalid value: "10.244.0.0/33": must be a valid CIDR value'),
    ("except-outside-cidr", {"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "10.244.1.0/24",
                                                                                 "except": ["10.244.2.0/24"]}}]}]},
     'spec.egress[0].to[0].ipBlock.except[0]: Invalid value: "10.244.2.0/24": must be a strict subset of `cidr`'),
]


@contextmanager
def applied_model(lab):
    """The 3x3 model (POOL, NAMESPACES x POD_NAMES) on a lab, removed again however the block ends."""
    objs = [namespace(ns) for ns in NAMESPACES] + [pod(ns, p) for ns in NAMESPACES for p in POD_NAMES]
    try:
        lab.apply(POOL)
        lab.apply(objs)
        yield
    finally:
        for ns in NAMESPACES:
            lab.kubectl(f"delete namespace {ns} --ignore-not-found", check=False)
        lab.calicoctl("delete ippool netpol-e2e", check=False)
