"""Chapter 04's exercises: Calico IPAM, judged from IPAM's own records and the pods' interfaces."""

from __future__ import annotations

import ipaddress
import json

from ..parse import calico_ipam_borrowed, calico_ipam_config, ip_route
from ._common import node_ip
from .registry import Result, exercise

CHAPTER = "04-ipam"
NODE = "k8s-w2"  # 04-static-mac's node
IP_ADDRS, HW_ADDR = "cni.projectcalico.org/ipAddrs", "cni.projectcalico.org/hwAddr"


def _pods(lab) -> list[dict]:
    return json.loads(lab.kubectl("get pods -A -o json")).get("items", [])


def _pinned(pod: dict) -> list[str]:
    raw = (pod["metadata"].get("annotations") or {}).get(IP_ADDRS)
    try:
        return [str(a) for a in json.loads(raw)] if raw else []
    except json.JSONDecodeError:
        return []


def _key(pod: dict) -> str:
    return f"{pod['metadata'].get('namespace', 'default')}/{pod['metadata']['name']}"


@exercise("04-pin-reserved", CHAPTER, "Pin a pod's IP inside an IPReservation")
def pin_reserved(lab) -> Result:
    res = json.loads(lab.calicoctl("get ipreservation -o json")).get("items", [])
    nets = [ipaddress.ip_network(c, strict=False) for r in res for c in r["spec"].get("reservedCIDRs", [])]
    if not nets:
        return Result(False, "there is no IPReservation: create one first (the section above shows the resource).")
    pods = _pods(lab)
    pinned = [p for p in pods if _pinned(p)]
    if not pinned:
        inside = [_key(p) for p in pods if p.get("status", {}).get("podIP")
                  and any(ipaddress.ip_address(p["status"]["podIP"]) in n for n in nets)]
        return Result(False, "no pod asks for an address" + (f" (the pods inside the reservation, {', '.join(inside)}, "
                             "got theirs before it existed)" if inside else "") +
                      ". Hint: automatic assignment skips reserved addresses; which annotation asks for one?")
    for p in pinned:
        want = _pinned(p)[0]
        if not any(ipaddress.ip_address(want) in n for n in nets):
            continue
        ip, ph = p.get("status", {}).get("podIP"), p.get("status", {}).get("phase")
        if ph == "Running" and ip == want:
            return Result(True, f"{_key(p)} runs with {ip}, an address inside the reservation ({', '.join(map(str, nets))}):"
                                " a reservation keeps addresses from automatic assignment, not from a pod that asks.")
        return Result(False, f"{_key(p)} asks for {want} (inside the reservation) but is {ph} with IP {ip}. Hint: is "
                             "that address free (`calicoctl ipam show --ip=...`)?")
    return Result(False, f"your pinned pods ask for {', '.join(_pinned(p)[0] for p in pinned)}, outside every reserved "
                         f"CIDR ({', '.join(map(str, nets))}). Hint: choose an address inside the reservation.")


@exercise("04-borrow", CHAPTER, "A pod on k8s-w0 with an address of k8s-w2's block")
def borrow(lab) -> Result:
    rows = calico_ipam_borrowed(lab.calicoctl("ipam show --show-borrowed"))
    mine = rows[(rows.borrowing_node == "k8s-w0") & (rows.block_owner == "k8s-w2")]
    if mine.empty:
        conf = calico_ipam_config(lab.calicoctl("ipam show --show-configuration")).set_index("property").value
        strict = conf.get("StrictAffinity") == "true"
        other = rows[["ip", "borrowing_node", "block_owner"]].to_dict("records")
        return Result(False, "IPAM records no address that k8s-w0 holds in k8s-w2's block" +
                      (f" (it records {other})" if other else "") + ". Hint: " +
                      ("strictAffinity is on, which forbids borrowing." if strict else
                       "a pod on k8s-w0 (spec.nodeName) that asks for an address of k8s-w2's block."))
    ip = mine.ip.iloc[0]
    w0 = node_ip(lab)["k8s-w0"]
    via = {r.dst: r.gateway for r in ip_route(lab.sh("k8s-w1", "ip -j route")).itertuples()}
    if via.get(ip) != w0:
        return Result(False, f"{ip} is borrowed by k8s-w0, but k8s-w1 has no /32 to it via {w0} yet; check again in a "
                             "second (BGP carries the /32).")
    return Result(True, f"{ip} lies in k8s-w2's block yet is held by k8s-w0 ({mine.allocated_to.iloc[0]}); k8s-w1 "
                        f"reaches it by a /32 via {w0}, longer than k8s-w2's /24.")


@exercise("04-static-mac", CHAPTER, "Pin a pod's IP and MAC on k8s-w2, the annotations done right")
def static_mac(lab) -> Result:
    pods = _pods(lab)
    seed_style = [_key(p) for p in pods if "cni.projectcalico.org/mac" in (p["metadata"].get("annotations") or {})
                  and HW_ADDR not in (p["metadata"].get("annotations") or {}) and p["spec"].get("nodeName") == NODE]
    # on k8s-w2: the chapter's own demonstration (static-pod, on k8s-w1) must not pass it for the student
    both = [p for p in pods if _pinned(p) and HW_ADDR in (p["metadata"].get("annotations") or {})
            and p.get("status", {}).get("phase") == "Running" and p["spec"].get("nodeName") == NODE]
    if not both:
        if seed_style:
            return Result(False, f"{', '.join(seed_style)} carries the write-up's `cni.projectcalico.org/mac`, which "
                                 "nothing reads. Hint: the section above names the annotation Calico's CNI reads.")
        return Result(False, f"no running pod on {NODE} pins both its address and its MAC. Hint: two annotations, one "
                             "JSON list and one plain MAC, and an address of that node's block.")
    problems = []
    for p in both:
        want_ip, want_mac = _pinned(p)[0], p["metadata"]["annotations"][HW_ADDR].lower()
        key = _key(p)
        link = json.loads(lab.exec(key, "ip -j link show eth0"))[0]
        addr = json.loads(lab.exec(key, "ip -j -4 addr show eth0"))[0]["addr_info"][0]["local"]
        if link["address"] == want_mac and addr == want_ip:
            return Result(True, f"{key}'s eth0 has {addr} and {link['address']}, as its annotations ask.")
        problems.append(f"{key}'s eth0 has {addr} / {link['address']}, its annotations ask {want_ip} / {want_mac}")
    return Result(False, "; ".join(problems) + ". Hint: is the MAC a valid unicast address?")
