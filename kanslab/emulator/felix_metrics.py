"""Felix's Prometheus metrics for one node, computed from the lab's real state.

Only metrics whose name, labels, type and meaning were checked against Calico v3.28 are emitted
(`felix/calc/stats_collector.go`, `felix/calc/policy_resolver.go`, `felix/iptables/table.go`;
docs "Monitoring Felix with Prometheus"):

    felix_active_local_endpoints          gauge  endpoints (workload + host) on this host
    felix_active_local_policies           gauge  policies that select at least one local endpoint
    felix_cluster_num_hosts               gauge  Calico nodes in the cluster
    felix_cluster_num_workload_endpoints  gauge  workload endpoints cluster-wide
    felix_cluster_num_policies            gauge  policies in the cluster
    felix_iptables_chains{ip_version,table}  gauge  Felix's own chains (not the kernel's) per table
    felix_iptables_rules{ip_version,table}   gauge  Felix's rules per table (own chains + its inserts)
    felix_iptables_restore_calls          counter  iptables-restore runs by this node's Felix

Values come from the node's datastore view (the snapshot the dataplane was programmed from), the
interfaces really present in the node's namespace and its `iptables-save` output. Counters keep
client_golang's names (no `_total` suffix), as Felix v3.28 exposes them.
"""

from __future__ import annotations

from . import netpol

DEFAULT_PORT = 9091
# iptables' built-in chains per table (Felix's tableToKernelChains): not counted as Felix's chains
KERNEL_CHAINS = {"filter": {"INPUT", "FORWARD", "OUTPUT"},
                 "nat": {"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"},
                 "mangle": {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"},
                 "raw": {"PREROUTING", "OUTPUT"}}

HELP = {
    "felix_active_local_endpoints": ("gauge", "Number of active endpoints on this host."),
    "felix_active_local_policies": ("gauge", "Number of active policies on this host."),
    "felix_cluster_num_hosts": ("gauge", "Total number of Calico hosts in the cluster."),
    "felix_cluster_num_policies": ("gauge", "Total number of policies in the cluster."),
    "felix_cluster_num_workload_endpoints": ("gauge", "Total number of workload endpoints cluster-wide."),
    "felix_iptables_chains": ("gauge", "Number of active iptables chains."),
    "felix_iptables_restore_calls": ("counter", "Number of iptables-restore calls."),
    "felix_iptables_rules": ("gauge", "Number of active iptables rules."),
}


def _truthy(v) -> bool:
    return v is True or str(v).lower() == "true"


def listen_address(felix: dict) -> tuple[str, int] | None:
    """(host, port) the node's metrics server binds, or None while prometheusMetricsEnabled is off.

    `felix` is the node's merged FelixConfiguration spec (default, then node.<name>)."""
    if not _truthy(felix.get("prometheusMetricsEnabled", False)):
        return None
    host = str(felix.get("prometheusMetricsHost") or "") or "0.0.0.0"  # "": every address, as Felix
    return host, int(felix.get("prometheusMetricsPort") or DEFAULT_PORT)


def iptables_counts(save_text: str) -> dict[str, tuple[int, int]]:
    """`iptables-save` text -> {table: (Felix's chains, rules)}.

    Felix counts the chains it owns (cali-*: kube-proxy's KUBE-* chains share the tables) and every
    rule it wrote, its inserts in built-in chains (tagged `cali:`) included."""
    out: dict[str, list[int]] = {}
    table = None
    for line in save_text.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
            out[table] = [0, 0]
        elif table is None:
            continue
        elif line.startswith(":"):
            chain = line[1:].split()[0]
            if chain not in KERNEL_CHAINS.get(table, set()) and chain.startswith("cali-"):
                out[table][0] += 1
        elif line.startswith("-A "):
            chain = line.split()[1]
            if chain.startswith("cali-") or (chain in KERNEL_CHAINS.get(table, set())
                                             and ("cali:" in line or " -j cali-" in line)):
                out[table][1] += 1
    return {t: (c, r) for t, (c, r) in out.items()}


def active_local_policies(view: dict) -> list[str]:
    """"ns/name" of the NetworkPolicies that select at least one of this node's endpoints."""
    local = [p for p in view.get("pods") or [] if p.get("interface") and p.get("ip")]
    out = []
    for pol in view.get("network_policies") or []:
        ns = pol["metadata"].get("namespace") or "default"
        sel = (pol.get("spec") or {}).get("podSelector") or {}
        if any(p["namespace"] == ns and netpol.selector_matches(sel, p["labels"]) for p in local):
            out.append(f"{ns}/{pol['metadata']['name']}")
    return sorted(out)


def values(view: dict, links: set[str], iptables_save: str, restore_calls: int) -> list[tuple[str, dict, float]]:
    """(metric, labels, value) for one node. `links`: interface names present in its namespace."""
    local = [p for p in view.get("pods") or [] if p.get("interface") in links]
    weps = [p for p in view.get("all_pods") or [] if p.get("wep") and p.get("phase") == "Running"]
    rows: list[tuple[str, dict, float]] = [
        ("felix_active_local_endpoints", {}, len(local)),
        ("felix_active_local_policies", {}, len(active_local_policies(view))),
        ("felix_cluster_num_hosts", {}, 1 + len(view.get("nodes") or [])),
        ("felix_cluster_num_policies", {}, len(view.get("network_policies") or [])),
        ("felix_cluster_num_workload_endpoints", {}, len(weps)),
    ]
    counts = iptables_counts(iptables_save)
    for table in sorted(counts):
        chains, rules = counts[table]
        rows.append(("felix_iptables_chains", {"ip_version": "4", "table": table}, chains))
        rows.append(("felix_iptables_rules", {"ip_version": "4", "table": table}, rules))
    rows.append(("felix_iptables_restore_calls", {}, restore_calls))
    return rows


def exposition(rows: list[tuple[str, dict, float]]) -> str:
    """Prometheus text exposition format 0.0.4, families in name order as client_golang writes them."""
    out = []
    for name in sorted({r[0] for r in rows}):
        kind, help_ = HELP[name]
        out += [f"# HELP {name} {help_}", f"# TYPE {name} {kind}"]
        for metric, labels, value in rows:
            if metric != name:
                continue
            lab = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
            out.append(f"{name}{{{lab}}} {value:g}" if lab else f"{name} {value:g}")
    return "\n".join(out) + "\n"
