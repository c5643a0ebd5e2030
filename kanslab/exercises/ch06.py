"""Chapter 06's break-fix challenges: each starts from an injected fault; the check passes when the
student's own change (not `lab.heal()`) makes the broken path work again, end to end."""

from __future__ import annotations

import json

from ..diagnose.faults import broken_pair, injected
from .registry import Result, exercise

CHAPTER = "06-troubleshooting"


def _challenge(lab, fault: str, hint: str, extra=None) -> Result:
    if fault not in injected(lab):
        return Result(False, f"this challenge starts from a broken lab: run `lab.inject(\"{fault}\")` first "
                             "(and do not fix it with lab.heal(): that undoes the fault for you)")
    pair = broken_pair(lab, fault)
    if pair is None:
        return Result(False, "the chapter's webpods (on k8s-w1, k8s-w2 and k8s-w0) are not running: create them again")
    d = lab.diagnose(*pair)
    what = f"{pair[0]} → {pair[1]}"
    if d.attrs["verdict"] == "reachable" and d.attrs["probe"] == "reachable":
        msg = f"{what} works again: every hop passes and a real connection succeeds."
        if extra:
            ok, note = extra(lab)
            if not ok:
                return Result(False, f"{msg} But: {note}")
            msg += " " + note
        return Result(True, msg)
    fail = d[d.result == "fail"]
    where = f"step {fail.iloc[0].step} on {fail.iloc[0].host} ({fail.iloc[0].check})" if len(fail) else "the real probe"
    if d.attrs["verdict"] == "reachable":
        return Result(False, f"{what}: the trace looks clean now, but the real connection still fails "
                             f"({d.attrs['probe_detail']}). Hint: {hint}")
    return Result(False, f"{what} is still blocked at {where}: layer {d.attrs['layer']}. Hint: {hint}")


@exercise("06-mtu", CHAPTER, "Find and fix the MTU black hole")
def mtu(lab) -> Result:
    return _challenge(lab, "mtu-blackhole", "compare the MTU of each node's underlay NIC (`ip -j link`) with what "
                      "an IPIP packet from tunl0 needs on the wire; which host is the odd one out?")


@exercise("06-nat", CHAPTER, "Let the pods reach the IDC network again")
def nat(lab) -> Result:
    def pool_says(lab):
        pools = json.loads(lab.calicoctl("get ippool -o json")).get("items", [])
        nat_on = [p["metadata"]["name"] for p in pools if p["spec"].get("natOutgoing")]
        return True, (f"(natOutgoing is on for {', '.join(nat_on)})" if nat_on else
                      "(the replies find their way without NAT: the router has routes to the pods)")
    return _challenge(lab, "nat-outgoing-off", "look at the natOutgoing row of the diagnosis: with which source "
                      "address does the packet leave the node, and does the router know that address?", pool_says)


@exercise("06-direct", CHAPTER, "Make k8s-w0's pods reachable in Direct mode's aftermath")
def direct(lab) -> Result:
    return _challenge(lab, "direct-across-subnets", "the packet leaves k8s-w1 unencapsulated and dies on a host "
                      "that does not run Calico; either that host learns where the pod blocks are, or the packet "
                      "must not show it pod addresses across the subnet boundary")


@exercise("06-bgp", CHAPTER, "Bring the BGP session to the router up")
def bgp(lab) -> Result:
    def router_learns(lab):
        out = lab.sh(lab.topology.router.name, "vtysh -c 'show ip route bgp json'", check=False)
        try:
            n = len(json.loads(out or "{}"))
        except json.JSONDecodeError:
            n = 0
        return (n > 0, f"the router learned {n} pod routes over BGP" if n else
                "the router reaches the pod, yet it learned no route over BGP: fix the session, not a workaround")
    return _challenge(lab, "bgp-wrong-as", "read `calicoctl node status` on a node and `vtysh -c 'show bgp summary'` "
                      "on the router; what does each side think the other's AS number is?", router_learns)
