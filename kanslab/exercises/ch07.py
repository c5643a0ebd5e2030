"""Chapter 07's exercises on a lab with many workers: route reflection the Calico way, a second
reflector for redundancy, and ECMP to the service CIDR on the router. Each check reads the lab as a
student would (calicoctl, birdcl, ip route) and hints, never gives the commands."""

from __future__ import annotations

import json

from .registry import Result, exercise

CHAPTER = "07-scale"


def _nodes(lab) -> dict[str, dict]:
    return {n["metadata"]["name"]: n for n in json.loads(lab.calicoctl("get nodes -o json")).get("items", [])}


def _reflectors(lab) -> dict[str, str]:
    return {name: n["spec"]["bgp"]["routeReflectorClusterID"] for name, n in _nodes(lab).items()
            if (n["spec"].get("bgp") or {}).get("routeReflectorClusterID")}


def _established(lab, node: str) -> list[str]:
    from .. import parse

    df = parse.bird_protocols(lab.sh(node, "birdcl show protocols"))
    bgp = df[df.proto == "BGP"]
    return sorted(bgp[bgp["info"].str.startswith("Established")].name)


def _far(lab) -> str:
    return lab.topology.nodes[-1].name


def _mesh_on(lab) -> bool:
    confs = json.loads(lab.calicoctl("get bgpconfiguration -o json")).get("items", [])
    return not any(c["metadata"]["name"] == "default" and c["spec"].get("nodeToNodeMeshEnabled") is False for c in confs)


@exercise("07-reflector", CHAPTER, "Make k8s-m the cluster's only route reflector")
def reflector(lab) -> Result:
    rr = _reflectors(lab)
    if "k8s-m" not in rr:
        return Result(False, "k8s-m has no route reflector cluster ID yet: which field of the Calico Node resource "
                             "makes BIRD render `rr client` towards its peers?")
    labels = json.loads(lab.kubectl("get node k8s-m -o json"))["metadata"].get("labels", {})
    if labels.get("route-reflector") != "true":
        return Result(False, "k8s-m is a reflector, but nothing selects it: the BGPPeer's peerSelector looks for a "
                             "node label. Is it on k8s-m?")
    peers = json.loads(lab.calicoctl("get bgppeer -o json")).get("items", [])
    if not any(p["spec"].get("peerSelector") for p in peers):
        return Result(False, "no BGPPeer selects the reflectors yet: every node needs a peering to the nodes with "
                             "the reflector label (nodeSelector for who peers, peerSelector for with whom)")
    if _mesh_on(lab):
        return Result(False, "the reflector peerings exist, but the full mesh is still on: every node still has a "
                             "session to every other. Which BGPConfiguration field turns the mesh off?")
    far, est = _far(lab), _established(lab, _far(lab))
    if est != ["Node_192_168_10_10"]:
        return Result(False, f"{far} has these sessions Established: {est or 'none'}; expected one, to k8s-m. "
                             "Give BIRD a few seconds, then look at `birdcl show protocols` on it.")
    return Result(True, f"{far} has exactly one BGP session, to k8s-m, and learns every block through it.")


@exercise("07-second-reflector", CHAPTER, "Add a second reflector so one failure does not cut the routes")
def second_reflector(lab) -> Result:
    rr = _reflectors(lab)
    if len(rr) < 2:
        return Result(False, f"reflectors now: {', '.join(rr) or 'none'}. A second one needs the same two things "
                             "k8s-m got; pick a worker")
    if len(set(rr.values())) != 1:
        return Result(False, f"the reflectors have different cluster IDs ({rr}): then each treats the other as a "
                             "client. Reflectors that back each other up share one cluster ID")
    est = _established(lab, _far(lab))
    want = sorted("Node_" + _nodes(lab)[n]["spec"]["bgp"]["ipv4Address"].split("/")[0].replace(".", "_") for n in rr)
    if not set(want) <= set(est):
        return Result(False, f"{_far(lab)} has {est or 'no sessions'} Established; it should have one per reflector. "
                             "Is the new reflector labelled the way the BGPPeer's peerSelector expects?")
    return Result(True, f"{_far(lab)} peers with {len(rr)} reflectors in cluster {next(iter(rr.values()))}.")


@exercise("07-ecmp", CHAPTER, "Give the router several paths to the service CIDR")
def ecmp(lab) -> Result:
    rows = json.loads(lab.sh("router", "ip -j route show 10.200.1.0/24") or "[]")
    if not rows:
        conf = json.loads(lab.calicoctl("get bgpconfiguration -o json")).get("items", [])
        if not any(c["spec"].get("serviceClusterIPs") for c in conf):
            return Result(False, "the router has no route to 10.200.1.0/24: nothing advertises the service CIDR yet "
                                 "(look at BGPConfiguration's service* fields)")
        return Result(False, "the nodes advertise the service CIDR, but the router learns nothing: does the router "
                             "have BGP sessions with the nodes (a BGPPeer to it)?")
    hops = rows[0].get("nexthops") or []
    if len(hops) < 2:
        return Result(False, "the router has one path only. Several nodes must advertise the CIDR to it, and FRR "
                             "keeps up to `maximum-paths` of them")
    return Result(True, f"the router spreads 10.200.1.0/24 over {len(hops)} nodes: "
                        + ", ".join(h["gateway"] for h in hops))
