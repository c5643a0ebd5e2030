"""Chapter 01's exercises: the pool's modes, read from the routes the nodes really install."""

from __future__ import annotations

from ..parse import ip_route
from ._common import modes, node_ip, running_pods
from .registry import Result, exercise

CHAPTER = "01-modes"


def _kinds(lab, node: str = "k8s-w1") -> dict[str, str]:
    """{owner node: how `node` sends to that node's block} (ipip, vxlan, direct, router)."""
    pr = lab.pod_routes(node)
    return {r.owner: r.kind for r in pr.itertuples() if r.kind != "local" and r.owner}


@exercise("01-direct-router", CHAPTER, "Direct mode: make k8s-w0's pods reachable through the router")
def direct_router(lab) -> Result:
    ipip, vxlan = modes(lab)
    if (ipip, vxlan) != ("Never", "Never"):
        return Result(False, f"the pool is not in Direct mode (ipipMode {ipip}, vxlanMode {vxlan}): this exercise "
                             "starts with both encapsulations off, as in the section above.")
    router = lab.topology.router.name
    have = {r.dst: r.gateway for r in ip_route(lab.sh(router, "ip -j route")).itertuples()}
    ips = node_ip(lab)
    blocks = {n.name: list(ip_route(lab.sh(n.name, "ip -j route show type blackhole")).dst) for n in lab.topology.nodes}
    missing, wrong = [], []
    for node, cidrs in blocks.items():
        for cidr in cidrs:
            if cidr not in have:
                missing.append(f"{node}'s block")
            elif have[cidr] != ips[node]:
                wrong.append(f"the route to {node}'s block points at {have[cidr]}, which does not hold that block")
    if wrong:
        return Result(False, "; ".join(wrong) + ". Hint: each block's owner keeps a blackhole route for it.")
    if missing:
        return Result(False, f"the router still has no route to {', '.join(sorted(set(missing)))}. Hint: a reply "
                             "crosses the router too, so every node whose pods talk across the subnets needs one.")
    pods = running_pods(lab)
    pods = pods[pods.ip.notna() & ~pods.ip.isin(ips.values())]
    src, dst = pods[pods.node == "k8s-w1"], pods[pods.node == "k8s-w0"]
    if len(src) and len(dst):
        a, b = src.iloc[0], dst.iloc[0]
        out = lab.exec(f"{a.namespace}/{a['name']}", f"ping -c 1 -W 2 {b.ip}", check=False)
        if " 0% packet loss" not in out:
            return Result(False, f"the router has a route to every block, yet {a['name']} (k8s-w1) still cannot ping "
                                 f"{b['name']} (k8s-w0). Hint: does the router forward, and are the next hops on-link?")
        return Result(True, f"the router routes every pod block to its node, and {a['name']} on k8s-w1 pings "
                            f"{b['name']} on k8s-w0 without any encapsulation.")
    return Result(True, "the router routes every pod block to the node that holds it (start a pod on k8s-w1 and one "
                        "on k8s-w0 to see a ping cross).")


@exercise("01-crosssubnet", CHAPTER, "Encapsulate only across the subnet boundary")
def crosssubnet(lab) -> Result:
    ipip, vxlan = modes(lab)
    kinds = _kinds(lab)
    if ipip == "CrossSubnet" and vxlan == "Never":
        want = {"k8s-m": "direct", "k8s-w2": "direct", "k8s-w0": "ipip"}
        if all(kinds.get(n) == k for n, k in want.items()):
            return Result(True, "ipipMode is CrossSubnet: k8s-w1 reaches k8s-m and k8s-w2 directly over enp0s8 and "
                                "k8s-w0 (another subnet) through tunl0.")
        return Result(False, f"the pool says CrossSubnet but k8s-w1's routes have not followed yet ({kinds}); run the "
                             "check again in a second.")
    if ipip == "Always":
        return Result(False, "every block still goes through tunl0 (ipipMode Always). Hint: which mode encapsulates "
                             "only when the next hop is in another subnet?")
    if ipip == "Never" and vxlan == "Never":
        return Result(False, "nothing is encapsulated now (Direct mode), so packets to k8s-w0 reach a router that does "
                             "not know pod addresses. Hint: you want the tunnel for k8s-w0 only.")
    return Result(False, f"ipipMode {ipip}, vxlanMode {vxlan}: this exercise is about IPIP's modes. Hint: `calicoctl "
                         "patch ippool` with the ipipMode that depends on the subnet.")


@exercise("01-vxlan", CHAPTER, "Switch the pool to VXLAN")
def vxlan(lab) -> Result:
    ipip, vx = modes(lab)
    kinds = _kinds(lab)
    if vx == "Never":
        return Result(False, f"vxlanMode is still Never (ipipMode {ipip}). Hint: the pool has a field for VXLAN as it "
                             "has one for IPIP, with the same values.")
    if vx != "Always":
        return Result(False, f"vxlanMode is {vx}: it encapsulates only across subnets. This exercise wants every node "
                             "reached through vxlan.calico.")
    if ipip != "Never":
        return Result(False, "Calico refuses IPIP and VXLAN on the same pool. Hint: one patch can set both fields.")
    others = {n.name for n in lab.topology.nodes if n.name != "k8s-w1"}
    via = {n for n, k in kinds.items() if k == "vxlan"}
    if via != others:
        return Result(False, f"the pool says VXLAN, yet k8s-w1 reaches {sorted(others - via)} otherwise; run the check "
                             "again in a second (Felix programs these routes).")
    return Result(True, "vxlanMode Always, ipipMode Never: k8s-w1 reaches every other node's block through "
                        "vxlan.calico (UDP 4789 on the wire).")
