"""Chapter 02's exercises: peering with the IDC router, read from both sides of the sessions."""

from __future__ import annotations

import json

from ..parse import frr_bgp_summary, ip_route
from ._common import node_ip, pool, running_pods
from .registry import Result, exercise

CHAPTER = "02-bgp-frr"
IDC = ("10.1.1.0/24", "10.1.2.0/24")


def _router_sessions(lab) -> set[str]:
    out = lab.sh(lab.topology.router.name, "vtysh -c 'show bgp summary json'", check=False)
    try:
        s = frr_bgp_summary(out)
    except Exception:  # noqa: BLE001 - no BGP instance or no peers yet: nobody peered
        return set()
    return set(s[s.established].neighbor)


@exercise("02-nat-off", CHAPTER, "Let the IDC see the pods' own addresses (natOutgoing)")
def nat_off(lab) -> Result:
    spec = pool(lab)
    if not spec:
        return Result(False, "there is no default-ipv4-ippool: this exercise edits that pool, it does not replace it.")
    if spec.get("natOutgoing"):
        return Result(False, "natOutgoing is still true on default-ipv4-ippool: Felix masquerades pod traffic leaving "
                             "the pool's range, so the IDC sees node addresses. Hint: the pool's YAML has the field.")
    return Result(True, "natOutgoing is off: packets from pods to the IDC keep the pod's own source address.")


@exercise("02-peer-router", CHAPTER, "Peer every node with the router")
def peer_router(lab) -> Result:
    ips = node_ip(lab)
    up = _router_sessions(lab)
    peers = json.loads(lab.calicoctl("get bgppeer -o json")).get("items", [])
    if not peers:
        return Result(False, "there is no BGPPeer yet. Hint: the router's address on the nodes' subnet and its AS "
                             "are in its FRR configuration (`router bgp ...`).")
    if not up:
        asns = {str(p["spec"].get("asNumber")) for p in peers}
        return Result(False, f"no session is Established on the router (your BGPPeer says AS {', '.join(sorted(asns))}, "
                             f"peerIP {', '.join(sorted({p['spec'].get('peerIP', '?') for p in peers}))}). Hint: read "
                             "`calicoctl node status` and compare with the router's own AS and address.")
    missing = sorted(n for n, ip in ips.items() if ip not in up)
    if missing:
        return Result(False, f"the router has sessions with {len(up)} node(s), not with {', '.join(missing)}. Hint: a "
                             "BGPPeer with `node` or `nodeSelector` applies only to the nodes it names.")
    no_idc = [n for n in ips if not set(IDC) <= set(ip_route(lab.sh(n, "ip -j route")).dst)]
    if no_idc:
        return Result(False, f"all sessions are up, but {', '.join(no_idc)} has not installed the IDC routes yet; "
                             "check again in a second.")
    return Result(True, f"the router has an Established iBGP session with all {len(ips)} nodes, and every node "
                        "installed 10.1.1.0/24 and 10.1.2.0/24 (proto bird).")


@exercise("02-idc-sees-pods", CHAPTER, "A pod pings the IDC with its own address")
def idc_sees_pods(lab) -> Result:
    ips = node_ip(lab)
    pods = running_pods(lab)
    pods = pods[pods.ip.notna() & ~pods.ip.isin(ips.values()) & (pods.namespace == "default")]
    if pods.empty:
        return Result(False, "no pod of yours runs in the default namespace: start one (the chapter's webpods will do).")
    p = pods.iloc[0]
    ok = " 0% packet loss" in lab.exec(f"default/{p['name']}", "ping -c 1 -W 2 10.1.1.254", check=False)
    nat = pool(lab).get("natOutgoing")
    if nat:
        return Result(False, f"{p['name']} " + ("reaches" if ok else "does not reach") + " 10.1.1.254, but natOutgoing "
                             "is on, so the IDC sees the node's address, not the pod's. Hint: two changes are needed, "
                             "and this one is in the pool.")
    if not ok:
        return Result(False, f"natOutgoing is off, and {p['name']} ({p.ip}) gets no answer from 10.1.1.254: the reply "
                             "goes to a pod address. Hint: does the router know where 172.16.0.0/16 lives?")
    return Result(True, f"natOutgoing is off and {p['name']} ({p.ip}) pings 10.1.1.254: the router routes the reply "
                        "back to the pod's own address, learned over BGP.")
