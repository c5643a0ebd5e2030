"""Calico IPAM: blocks with host affinity, auto-assign, specific-IP assign, borrowing, tunnel addresses.

Follows libcalico-go/lib/ipam (v3.28) closely enough that `calicoctl ipam show` and the routes the
lab programs look like a real cluster's (research/kans-lab.md 4.5/4.6):

- A pool is carved into blocks of `blockSize`; a node claims a whole block (affinity `host:<node>`)
  the first time it needs an address, and keeps it when its pods go away.
- Within a block, addresses are handed out in Calico's order: never-used ordinals from the bottom
  up (so the IPIP tunnel address is the block's `.0`), then released ordinals in release order
  (Calico appends a released ordinal to the end of `unallocated`, so an IP is not reused at once).
- Which block a node claims comes from Calico's own picker (block_picker.py): Go's math/rand seeded
  with the FNV-1 hash of the hostname, walking the pool from a random start; so k8s-m gets
  172.16.116.0/24 as in the write-up, and every run of the lab gets the same blocks.
- strictAffinity false (default): a node may take a specific IP, or spill over, into another
  node's block (a "borrowed" IP, exported as a /32). true: "Block host affinity does not match".
- IPReservation objects (spec.reservedCIDRs) are skipped by auto-assignment (pods without ipAddrs,
  tunnel addresses); a block they cover entirely is never claimed or borrowed from. A specific IP
  (the ipAddrs annotation) may still take a reserved address, and addresses already in use when a
  reservation is made stay assigned (libcalico-go's AutoAssign passes the reservations to the
  block's autoAssign; AssignIP does not consult them).

Blocks are stored as IPAMBlock objects (name like Calico's KDD: 172-16-116-0-24) with
spec {cidr, affinity, allocations {ordinal: {handle, attrs}}, released [ordinals]}; affinities as
BlockAffinity objects; the config as IPAMConfig `default`.
"""

from __future__ import annotations

import hashlib
import ipaddress
from typing import Any

from ..errors import InvalidInput
from .block_picker import first_unclaimed_block
from .cluster import cluster_spec
from .selectors import calico_selector

IPAM_CONFIG_DEFAULTS = {"strictAffinity": False, "autoAllocateBlocks": True, "maxBlocksPerHost": 0}

ANN_IPV4_ADDRESS = "projectcalico.org/IPv4Address"
ANN_IPIP_ADDR = "projectcalico.org/IPv4IPIPTunnelAddr"
ANN_VXLAN_ADDR = "projectcalico.org/IPv4VXLANTunnelAddr"
ANN_VXLAN_MAC = "projectcalico.org/VXLANTunnelMACAddr"

# Calico's CNI error texts (libcalico-go/lib/ipam/ipam.go, ipam_block.go)
ERR_NOT_IN_POOL = "The provided IP address is not in a configured pool"
ERR_AFFINITY = "Block host affinity does not match"
ERR_IN_USE = "Address already assigned in block"


class IpamError(InvalidInput):
    """IPAM refused an assignment; the message is Calico's own where Calico has one."""


# ---------------------------------------------------------------- names and arithmetic

def block_name(cidr: str) -> str:
    """KDD object name of a block: 172.16.116.0/24 -> 172-16-116-0-24."""
    return cidr.replace(".", "-").replace(":", "-").replace("/", "-")


def affinity_name(node: str, cidr: str) -> str:
    return f"{node}-{block_name(cidr)}"


def _net(cidr: str) -> ipaddress.IPv4Network:
    return ipaddress.ip_network(cidr)


def block_of(ip: str, block_size: int) -> str:
    return str(ipaddress.ip_network(f"{ip}/{block_size}", strict=False))


def _ordinal(block_cidr: str, ip: str) -> int:
    return int(ipaddress.ip_address(ip)) - int(_net(block_cidr).network_address)


def _ip_at(block_cidr: str, ordinal: int) -> str:
    return str(_net(block_cidr).network_address + ordinal)


def deterministic_mac(seed: str) -> str:
    """A locally administered unicast MAC derived from `seed` (stands in for the kernel's random one)."""
    b = bytearray(hashlib.sha256(seed.encode()).digest()[:6])
    b[0] = (b[0] & 0xFC) | 0x02
    return ":".join(f"{x:02x}" for x in b)


# ---------------------------------------------------------------- config and pools

def ipam_config(tx) -> dict:
    obj = tx.get("IPAMConfig", "default")
    spec = dict(IPAM_CONFIG_DEFAULTS)
    if obj:
        spec.update({k: v for k, v in (obj.get("spec") or {}).items() if k in IPAM_CONFIG_DEFAULTS})
    return spec


def ensure_ipam_config(tx) -> None:
    if tx.get("IPAMConfig", "default") is None:
        tx.put({"apiVersion": "crd.projectcalico.org/v1", "kind": "IPAMConfig",
                "metadata": {"name": "default"}, "spec": dict(IPAM_CONFIG_DEFAULTS)})


def set_strict_affinity(tx, value: bool) -> None:
    ensure_ipam_config(tx)
    obj = tx.get("IPAMConfig", "default")
    obj["spec"]["strictAffinity"] = bool(value)
    tx.put(obj)


def all_pools(tx) -> list[dict]:
    """IPPools in name order (the order Calico lists and tries them)."""
    return sorted(tx.list("IPPool"), key=lambda p: p["metadata"]["name"])


def pool_for_ip(pools: list[dict], ip: str) -> dict | None:
    addr = ipaddress.ip_address(ip)
    for p in pools:
        if addr in _net(p["spec"]["cidr"]):
            return p
    return None


def node_labels(tx, node: str) -> dict:
    knode = tx.get("Node", node)
    return dict((knode or {}).get("metadata", {}).get("labels") or {})


def usable_pools(tx, node: str, use: str = "Workload", names: list[str] | None = None) -> list[dict]:
    """Enabled IPv4 pools whose nodeSelector selects `node` and which allow `use`; optionally by name/CIDR."""
    labels = node_labels(tx, node)
    out = []
    for p in all_pools(tx):
        s = p["spec"]
        if s.get("disabled") or _net(s["cidr"]).version != 4:
            continue
        if use not in (s.get("allowedUses") or ["Workload", "Tunnel"]):
            continue
        if names is not None and p["metadata"]["name"] not in names and s["cidr"] not in names:
            continue
        if not calico_selector(s.get("nodeSelector") or "all()")(labels):
            continue
        out.append(p)
    return out


# ---------------------------------------------------------------- blocks

def list_blocks(tx) -> list[dict]:
    return tx.list("IPAMBlock")


def get_block(tx, cidr: str) -> dict | None:
    return tx.get("IPAMBlock", block_name(cidr))


def block_owner(block: dict) -> str | None:
    aff = block["spec"].get("affinity")
    return aff.split(":", 1)[1] if aff and aff.startswith("host:") else aff


def node_blocks(tx, node: str) -> list[str]:
    """CIDRs of the blocks affine to `node`, in datastore (name) order, as Calico lists them."""
    return [b["spec"]["cidr"] for b in list_blocks(tx) if block_owner(b) == node]


def block_in_use(block: dict) -> int:
    return len(block["spec"].get("allocations") or {})


def _claim_block(tx, node: str, cidr: str) -> dict:
    block = {"apiVersion": "crd.projectcalico.org/v1", "kind": "IPAMBlock",
             "metadata": {"name": block_name(cidr)},
             "spec": {"cidr": cidr, "affinity": f"host:{node}", "allocations": {}, "released": [],
                      "deleted": False}}
    tx.put(block)
    tx.put({"apiVersion": "crd.projectcalico.org/v1", "kind": "BlockAffinity",
            "metadata": {"name": affinity_name(node, cidr)},
            "spec": {"node": node, "cidr": cidr, "state": "confirmed", "deleted": "false"}})
    return block


def reserved_networks(tx) -> list[ipaddress.IPv4Network]:
    """The IPv4 networks of every IPReservation (an address counts as a /32)."""
    from .calico_objects import reserved_network

    out = []
    for r in tx.list("IPReservation"):
        for text in (r.get("spec") or {}).get("reservedCIDRs") or []:
            try:
                net = reserved_network(str(text).strip())
            except ValueError:  # validation keeps these out; Calico skips them too
                continue
            if net.version == 4:
                out.append(net)
    return out


def reserved_by(reserved: list[ipaddress.IPv4Network], ip: str) -> ipaddress.IPv4Network | None:
    """The reservation that covers `ip`, if any."""
    addr = ipaddress.ip_address(ip)
    return next((n for n in reserved if addr in n), None)


def _wholly_reserved(cidr: str, reserved: list[ipaddress.IPv4Network]) -> bool:
    """libcalico-go's MatchesWholeCIDR: the reservations together cover every address of `cidr`."""
    net = _net(cidr)
    if any(net.subnet_of(r) for r in reserved):
        return True
    inside = [r for r in reserved if r.subnet_of(net)]
    covered = set()
    for r in inside:
        covered.update(range(int(r.network_address), int(r.broadcast_address) + 1))
    return len(covered) == net.num_addresses


def _free_ordinal(block: dict, reserved: list[ipaddress.IPv4Network] | None = None) -> int | None:
    """Calico's next ordinal: lowest never-used one, else the oldest released one; reserved ones skipped."""
    spec = block["spec"]
    net = _net(spec["cidr"])
    size = net.num_addresses
    allocated = spec.get("allocations") or {}
    released = spec.get("released") or []
    released_set = set(released)
    mine = [r for r in reserved or [] if r.overlaps(net)]

    def usable(o: int) -> bool:
        return str(o) not in allocated and not (mine and any(net.network_address + o in r for r in mine))

    for o in range(size):
        if o not in released_set and usable(o):
            return o
    for o in released:
        if usable(o):
            return o
    return None


def _take(tx, block: dict, ordinal: int, handle: str, attrs: dict) -> str:
    spec = block["spec"]
    spec.setdefault("allocations", {})[str(ordinal)] = {"handle": handle, "attrs": dict(attrs)}
    spec["released"] = [o for o in spec.get("released") or [] if o != ordinal]
    tx.put(block)
    return _ip_at(spec["cidr"], ordinal)


def _unclaimed_block(tx, pool: dict, node: str, reserved: list | None = None) -> str | None:
    """The block `node` claims next in `pool`, as libcalico-go's findUsableBlock picks it."""
    taken = {b["spec"]["cidr"] for b in list_blocks(tx)}
    return first_unclaimed_block(pool["spec"]["cidr"], int(pool["spec"].get("blockSize", 26)), node,
                                 taken.__contains__, lambda cidr: bool(reserved) and _wholly_reserved(cidr, reserved))


def auto_assign(tx, node: str, handle: str, attrs: dict, *, use: str = "Workload",
                pool_names: list[str] | None = None) -> str:
    """Calico's AutoAssign for one IPv4 address: affine blocks, then a new block, then borrowing."""
    pools = usable_pools(tx, node, use, pool_names)
    if not pools:
        if pool_names is not None:
            raise IpamError(f"none of the requested IP pools {pool_names} is usable on node {node}")
        raise IpamError(f"no configured Calico pools for node {node}")
    cfg = ipam_config(tx)
    pool_nets = [_net(p["spec"]["cidr"]) for p in pools]
    reserved = reserved_networks(tx)

    def in_pools(cidr: str) -> bool:
        return any(_net(cidr).subnet_of(n) for n in pool_nets)

    mine = [b for b in list_blocks(tx) if block_owner(b) == node and in_pools(b["spec"]["cidr"])]
    for block in mine:
        o = _free_ordinal(block, reserved)
        if o is not None:
            return _take(tx, block, o, handle, attrs)
    may_claim = cfg["autoAllocateBlocks"] and (
        not cfg["maxBlocksPerHost"] or len(node_blocks(tx, node)) < int(cfg["maxBlocksPerHost"]))
    if may_claim:
        for pool in pools:
            cidr = _unclaimed_block(tx, pool, node, reserved)
            if cidr:
                block = _claim_block(tx, node, cidr)
                return _take(tx, block, _free_ordinal(block, reserved), handle, attrs)
    if not cfg["strictAffinity"]:
        for block in list_blocks(tx):
            if in_pools(block["spec"]["cidr"]) and block_owner(block) != node:
                o = _free_ordinal(block, reserved)
                if o is not None:
                    return _take(tx, block, o, handle, attrs)
    raise IpamError(f"no IP addresses available in pools {[p['spec']['cidr'] for p in pools]} for node {node}"
                    + (" (strictAffinity is true, so other nodes' blocks cannot be borrowed from)"
                       if cfg["strictAffinity"] else ""))


def assign_ip(tx, node: str, ip: str, handle: str, attrs: dict) -> str:
    """Calico's AssignIP (the `cni.projectcalico.org/ipAddrs` path), with Calico's error texts."""
    try:
        ipaddress.IPv4Address(ip)
    except ValueError as e:
        raise IpamError(f"invalid IP address {ip!r} in cni.projectcalico.org/ipAddrs") from e
    enabled = [p for p in all_pools(tx) if not p["spec"].get("disabled")]
    pool = pool_for_ip(enabled, ip)
    if pool is None:
        raise IpamError(ERR_NOT_IN_POOL)
    cidr = block_of(ip, int(pool["spec"].get("blockSize", 26)))
    block = get_block(tx, cidr)
    if block is None:
        # the requesting node claims the whole block
        block = _claim_block(tx, node, cidr)
    else:
        cfg = ipam_config(tx)
        owner = block_owner(block)
        if cfg["strictAffinity"] and owner is not None and owner != node:
            raise IpamError(ERR_AFFINITY)
        if cfg["strictAffinity"] and owner is None:
            raise IpamError(f"Attempt to assign from block {cidr} with no affinity")
    ordinal = _ordinal(cidr, ip)
    if str(ordinal) in (block["spec"].get("allocations") or {}):
        raise IpamError(ERR_IN_USE)
    return _take(tx, block, ordinal, handle, attrs)


def find_allocation(tx, ip: str) -> tuple[dict, int, dict] | None:
    """(block, ordinal, {handle, attrs}) for an assigned IP, else None."""
    for block in list_blocks(tx):
        cidr = block["spec"]["cidr"]
        if ipaddress.ip_address(ip) in _net(cidr):
            o = _ordinal(cidr, ip)
            alloc = (block["spec"].get("allocations") or {}).get(str(o))
            return (block, o, alloc) if alloc else None
    return None


def release_handle(tx, handle: str) -> list[str]:
    """Release every IP held by `handle`; blocks stay claimed. Returns the released IPs."""
    released = []
    for block in list_blocks(tx):
        spec = block["spec"]
        allocs = spec.get("allocations") or {}
        mine = sorted((int(o) for o, a in allocs.items() if a.get("handle") == handle))
        if not mine:
            continue
        for o in mine:
            del allocs[str(o)]
            spec.setdefault("released", []).append(o)
            released.append(_ip_at(spec["cidr"], o))
        tx.put(block)
    return released


def pool_allocations(tx, pool: dict) -> list[str]:
    """IPs currently assigned inside a pool."""
    net = _net(pool["spec"]["cidr"])
    out = []
    for block in list_blocks(tx):
        if _net(block["spec"]["cidr"]).subnet_of(net):
            out += [_ip_at(block["spec"]["cidr"], int(o)) for o in (block["spec"].get("allocations") or {})]
    return out


def release_pool_blocks(tx, pool: dict) -> None:
    """Drop the (empty) blocks and affinities of a pool being deleted, as ReleasePoolAffinities does."""
    net = _net(pool["spec"]["cidr"])
    for block in list_blocks(tx):
        cidr = block["spec"]["cidr"]
        if _net(cidr).subnet_of(net) and not block["spec"].get("allocations"):
            tx.delete("IPAMBlock", block["metadata"]["name"])
            owner = block_owner(block)
            if owner:
                tx.delete("BlockAffinity", affinity_name(owner, cidr))


# ---------------------------------------------------------------- reporting

def utilization(tx) -> list[dict]:
    """Per pool (name order): cidr, capacity, in_use, blocks [{cidr, capacity, in_use}] (name order)."""
    out = []
    blocks = list_blocks(tx)
    for pool in all_pools(tx):
        net = _net(pool["spec"]["cidr"])
        rows = []
        for b in blocks:
            bnet = _net(b["spec"]["cidr"])
            if bnet.subnet_of(net):
                rows.append({"cidr": str(bnet), "capacity": bnet.num_addresses, "in_use": block_in_use(b)})
        out.append({"name": pool["metadata"]["name"], "cidr": str(net), "capacity": net.num_addresses,
                    "in_use": sum(r["in_use"] for r in rows), "blocks": rows})
    return out


def borrowed_ips(tx) -> list[dict]:
    """IPs assigned by a node other than the block's owner (calicoctl ipam show --show-borrowed)."""
    out = []
    for block in list_blocks(tx):
        owner = block_owner(block) or ""
        for o, alloc in sorted((block["spec"].get("allocations") or {}).items(), key=lambda kv: int(kv[0])):
            attrs = alloc.get("attrs") or {}
            node = attrs.get("node")
            if node and node != owner:
                out.append({"ip": _ip_at(block["spec"]["cidr"], int(o)), "borrowing_node": node,
                            "block": block["spec"]["cidr"], "block_owner": owner,
                            "type": "pod" if "pod" in attrs else attrs.get("type", ""),
                            "allocated_to": f"{attrs.get('namespace')}/{attrs['pod']}" if "pod" in attrs else "",
                            "namespace": attrs.get("namespace"), "pod": attrs.get("pod")})
    return out


# ---------------------------------------------------------------- tunnel addresses

def _tunnel_wanted(pool: dict, kind: str) -> bool:
    mode = pool["spec"].get("ipipMode" if kind == "ipip" else "vxlanMode") or "Never"
    return mode != "Never"


def reconcile_tunnel_addrs(tx, topology: Any) -> None:
    """calico-node's allocate-tunnel-addrs for every node: an IPIP address while an IPIP pool selects
    the node, a VXLAN address (and VTEP MAC) while a VXLAN pool does; released when no longer wanted.

    The addresses live in the Kubernetes Node's annotations, as with Calico's KDD."""
    for facts in cluster_spec(topology).nodes:
        knode = tx.get("Node", facts.name)
        if knode is None:
            continue
        ann = dict(knode["metadata"].get("annotations") or {})
        before = dict(ann)
        for kind, ann_key in (("ipip", ANN_IPIP_ADDR), ("vxlan", ANN_VXLAN_ADDR)):
            handle = f"{kind}-tunnel-addr-{facts.name}"
            pools = [p for p in usable_pools(tx, facts.name, "Tunnel") if _tunnel_wanted(p, kind)]
            current = ann.get(ann_key)
            if pools:
                alloc = find_allocation(tx, current) if current else None
                in_pool = current and any(ipaddress.ip_address(current) in _net(p["spec"]["cidr"]) for p in pools)
                if not (alloc and alloc[2].get("handle") == handle and in_pool):
                    release_handle(tx, handle)
                    ann[ann_key] = auto_assign(
                        tx, facts.name, handle, {"node": facts.name, "type": f"{kind}TunnelAddress"},
                        use="Tunnel", pool_names=[p["metadata"]["name"] for p in pools])
                if kind == "vxlan":
                    ann.setdefault(ANN_VXLAN_MAC, deterministic_mac(f"vxlan.calico:{facts.name}"))
            else:
                release_handle(tx, handle)
                ann.pop(ann_key, None)
                if kind == "vxlan":
                    ann.pop(ANN_VXLAN_MAC, None)
        if ann != before:
            knode["metadata"]["annotations"] = ann
            tx.put(knode)
