"""calico-kube-controllers' Prometheus metrics (`<its pod IP>:9094/metrics`) from the lab's IPAM.

The node controller's IPAM metrics as v3.28.1 computes them (kube-controllers/pkg/controllers/node/
ipam.go `updateMetrics`, `createZeroedMapForNodeValues`, `publishPoolSizeMetric`):

- per pool (const label `ippool` = the pool's name) and `node`: `ipam_allocations_in_use`,
  `ipam_allocations_borrowed` and `ipam_allocations_gc_candidates`, zero-filled for every Calico
  node; `ipam_blocks` by the block's affine node (`no_affinity` without one). Only pools that have
  blocks get series. An allocation without a node attribute counts as `unknown_node`.
- `ipam_ippool_size{ippool}`: 2^(32 - prefix length) per pool.
- the legacy per-node gauges `ipam_allocations_per_node`, `ipam_blocks_per_node`,
  `ipam_allocations_borrowed_per_node`.
- `ipam_allocations_gc_reclamations` is a CounterVec that prints nothing until the garbage
  collector reclaims an address; the lab's IPAM never leaks one, so it is absent, as on a healthy
  cluster, and so are non-zero gc candidates.

The port is KubeControllersConfiguration's `prometheusMetricsPort` (9094 by default; 0 turns the
endpoint off: kube-controllers/pkg/config/runconfig.go).
"""

from __future__ import annotations

import ipaddress
import time

from . import metric_table

DEFAULT_PORT = 9094
GO_VERSION = "go1.22.5"  # calico/kube-controllers v3.28.1, built like calico/node (see felix_metrics)
PROFILE = {"heap": 9.0e6, "rss": 4.6e7, "goroutines": 74, "threads": 11, "gc_every": 60.0, "cpu": 0.004, "fds": 12}
UNKNOWN_NODE, NO_AFFINITY = "unknown_node", "no_affinity"


def metrics_port(kcc: dict | None) -> int | None:
    """The port from KubeControllersConfiguration default's spec; None when it is 0 (off)."""
    spec = (kcc or {}).get("spec") or {}
    port = spec.get("prometheusMetricsPort", DEFAULT_PORT)
    return int(port) if port else None


def _owner(block: dict) -> str:
    aff = block["spec"].get("affinity") or ""
    return aff[len("host:"):] if aff.startswith("host:") else NO_AFFINITY


def ipam_samples(pools: list[dict], blocks: list[dict], nodes: list[str]) -> list[metric_table.Sample]:
    """IPPools, IPAMBlocks (their CRD shape) and the Calico nodes' names -> ipam_* samples."""
    nets = [(p["metadata"]["name"], ipaddress.ip_network(p["spec"]["cidr"], strict=False)) for p in pools]
    out: list[metric_table.Sample] = [("ipam_ippool_size", {"ippool": name}, net.num_addresses) for name, net in nets]
    by_pool: dict[str, list[dict]] = {}
    for b in blocks:
        bnet = ipaddress.ip_network(b["spec"]["cidr"], strict=False)
        pool = next((name for name, net in nets if bnet.version == net.version and bnet.subnet_of(net)), "no_ippool")
        by_pool.setdefault(pool, []).append(b)
    legacy_blocks: dict[str, int] = {}
    legacy_borrowed: dict[str, int] = {}
    legacy_allocs: dict[str, int] = {}
    for pool, pblocks in sorted(by_pool.items()):
        zero = {} if pool == "no_ippool" else {n: 0 for n in nodes}
        in_use, borrowed, candidates, nblocks = dict(zero), dict(zero), dict(zero), {}
        for b in pblocks:
            owner = _owner(b)
            nblocks[owner] = nblocks.get(owner, 0) + 1
            legacy_blocks[owner] = legacy_blocks.get(owner, 0) + 1
            for alloc in (b["spec"].get("allocations") or {}).values():
                node = (alloc.get("attrs") or {}).get("node") or UNKNOWN_NODE
                in_use[node] = in_use.get(node, 0) + 1
                if node != UNKNOWN_NODE:
                    legacy_allocs[node] = legacy_allocs.get(node, 0) + 1
                if node != UNKNOWN_NODE and (owner == NO_AFFINITY or node != owner):
                    borrowed[node] = borrowed.get(node, 0) + 1
                    legacy_borrowed[node] = legacy_borrowed.get(node, 0) + 1
        for name, per_node in (("ipam_allocations_in_use", in_use), ("ipam_allocations_borrowed", borrowed),
                               ("ipam_allocations_gc_candidates", candidates), ("ipam_blocks", nblocks)):
            out += [(name, {"ippool": pool, "node": n}, v) for n, v in sorted(per_node.items())]
    for name, per_node in (("ipam_allocations_per_node", legacy_allocs), ("ipam_blocks_per_node", legacy_blocks),
                           ("ipam_allocations_borrowed_per_node", legacy_borrowed)):
        out += [(name, {"node": n}, v) for n, v in sorted(per_node.items())]
    return out


def exposition_from(tx, started: float, scrapes: int, now: float | None = None) -> str:
    """The whole :9094/metrics text from one datastore snapshot."""
    now = time.time() if now is None else now
    pools = tx.list("IPPool")
    blocks = tx.list("IPAMBlock")
    nodes = [n["metadata"]["name"] for n in tx.list("Node")]
    samples = ipam_samples(pools, blocks, nodes) + metric_table.go_runtime(PROFILE, started, now, scrapes, GO_VERSION)
    return metric_table.exposition(samples, "kube_controllers", "go_runtime")
