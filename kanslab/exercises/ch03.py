"""Chapter 03's exercises: policies judged by a reachability matrix of real connections."""

from __future__ import annotations

import json

from ..emulator.calico_policy import selects
from ..errors import CommandError, InvalidInput
from .registry import Result, exercise

CHAPTER = "03-policy"
PODS = ["shop/frontend", "shop/backend", "shop/db", "ops/monitor", "ops/debug", "guest/visitor"]
SHOP = [p for p in PODS if p.startswith("shop/")]


def _matrix(lab):
    try:
        return lab.reachability(port=80, protocol="TCP", pods=PODS)
    except InvalidInput:
        return None


def _no_scenario() -> Result:
    return Result(False, "the chapter's six pods (shop, ops, guest) are not all running: run the chapter's first "
                         "cells to create them.")


def _open(m, dst: str) -> set[str]:
    """Who (other than `dst` itself) reaches `dst`."""
    return {src for src in m.index if src != dst and m.loc[src, dst]}


def _gnps(lab) -> list[dict]:
    try:
        return json.loads(lab.calicoctl("get globalnetworkpolicy -o json")).get("items", [])
    except CommandError:
        return []


@exercise("03-monitor-only", CHAPTER, "Only app=monitor may reach backend")
def monitor_only(lab) -> Result:
    m = _matrix(lab)
    if m is None:
        return _no_scenario()
    got = _open(m, "shop/backend")
    if got == {"ops/monitor"}:
        return Result(True, "ops/monitor reaches shop/backend and no other pod does (measured, all six clients).")
    if not got:
        return Result(False, "nobody reaches shop/backend, not even ops/monitor. Hint: monitor lives in another "
                             "namespace; a podSelector alone in `from` means pods of the policy's own namespace.")
    if "ops/monitor" not in got:
        return Result(False, f"ops/monitor cannot reach shop/backend, yet {', '.join(sorted(got))} can. Hint: which "
                             "peer of your rule matches monitor, and is backend isolated for ingress?")
    extra = sorted(got - {"ops/monitor"})
    if "ops/debug" in extra:
        return Result(False, f"monitor gets in, but so do {', '.join(extra)}. Hint: is your namespaceSelector a peer "
                             "of its own (one more dash) instead of being combined with the podSelector?")
    return Result(False, f"monitor gets in, but so do {', '.join(extra)}. Hint: a policy only adds permissions; does "
                         "another policy that selects backend still let them in?")


def _default_deny(lab) -> tuple[list[dict], str | None]:
    """The GlobalNetworkPolicies that select the app namespaces' pods in both directions, and a complaint."""
    gnps = _gnps(lab)
    if not gnps:
        return [], "there is no GlobalNetworkPolicy yet. Hint: `kind: GlobalNetworkPolicy`, apiVersion projectcalico.org/v3."
    ns_labels = {}
    for ns in ("shop", "ops", "guest", "kube-system"):
        try:
            ns_labels[ns] = json.loads(lab.kubectl(f"get namespace {ns} -o json"))["metadata"].get("labels", {})
        except CommandError:
            ns_labels[ns] = {}
    covering = [g for g in gnps if all(selects(g, {"namespace": ns, "labels": {}}, d, ns_labels)
                                       for ns in ("shop", "ops", "guest") for d in ("Ingress", "Egress"))]
    if not covering:
        return [], ("no GlobalNetworkPolicy selects the pods of shop, ops and guest for both Ingress and Egress. "
                    "Hint: `types`, and a namespaceSelector every application namespace matches.")
    system = [g["metadata"]["name"] for g in covering
              if selects(g, {"namespace": "kube-system", "labels": {}}, "Ingress", ns_labels)]
    if system:
        return covering, (f"{', '.join(system)} also selects kube-system: the Calico docs leave the system namespaces "
                          "out of a default deny. Hint: `projectcalico.org/name not in {...}` in the namespaceSelector.")
    return covering, None


@exercise("03-calico-default-deny", CHAPTER, "A global default-deny for the application namespaces")
def calico_default_deny(lab) -> Result:
    m = _matrix(lab)
    if m is None:
        return _no_scenario()
    _, complaint = _default_deny(lab)
    if complaint:
        return Result(False, complaint)
    leaks = [f"{s} → {d}" for s in m.index for d in m.columns if s != d and m.loc[s, d]]
    if leaks:
        return Result(False, f"your global policy is in place, yet {len(leaks)} connections are still made "
                             f"({', '.join(leaks[:4])}{', ...' if len(leaks) > 4 else ''}). Hint: a policy ordered before "
                             "it, or a Kubernetes NetworkPolicy left from earlier, may allow them.")
    return Result(True, "one GlobalNetworkPolicy selects every pod of shop, ops and guest (not kube-system) in both "
                        "directions, and no connection between the six pods is made.")


@exercise("03-calico-exception", CHAPTER, "An ordered exception: monitor may reach the shop")
def calico_exception(lab) -> Result:
    m = _matrix(lab)
    if m is None:
        return _no_scenario()
    covering, complaint = _default_deny(lab)
    if complaint:
        return Result(False, "the exception sits on top of the global default-deny, which is not in place: " + complaint)
    want = {(s, d) for s in ["ops/monitor"] for d in SHOP}
    made = {(s, d) for s in m.index for d in m.columns if s != d and m.loc[s, d]}
    if made == want:
        return Result(True, "with the default-deny in place, ops/monitor reaches frontend, backend and db, and "
                            "nothing else is made.")
    if not made & want:
        return Result(False, "ops/monitor reaches nothing in shop. Hint: the default-deny covers monitor's egress as "
                             "well as shop's ingress: the exception must allow both directions, and come before any "
                             "Deny by `order`.")
    missing = sorted(d for _, d in want - made)
    extra = sorted(f"{s} → {d}" for s, d in made - want)
    parts = []
    if missing:
        parts.append(f"monitor does not reach {', '.join(missing)}")
    if extra:
        parts.append(f"these are made too: {', '.join(extra[:4])}")
    return Result(False, "; ".join(parts) + ". Hint: select exactly `app == 'monitor'` on one side and the shop's "
                         "namespace on the other.")
