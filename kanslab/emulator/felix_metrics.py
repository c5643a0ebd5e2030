"""Felix's Prometheus metrics for one node (`<node IP>:9091/metrics`), from the lab's real state.

Every family Felix v3.28 registers (47 `felix_*`, each with the file that registers it, in
metric_families.yaml) plus the Go runtime's and process's families client_golang adds: 83 `# TYPE`
lines. Values, in order of preference:

- the lab's real state: endpoints, policies, hosts and workload endpoints from the node's datastore
  view; chains and rules per table from the node's `iptables-save`; ipsets from `ipset list -n`;
- real counts and timings of what the lab's Felix did (`FelixCounters`: iptables-restore and ipset
  restore runs and their lines, how long each dataplane apply took, how long listing links took);
- otherwise constants Felix reports in iptables mode (the BPF gauges 0, no errors, resync state 3 =
  in sync, one resync), or counters derived from the state (calc-graph updates per key type).

Counters keep client_golang's names (no `_total` suffix), as Felix v3.28 exposes them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from . import metric_table, netpol

DEFAULT_PORT = 9091
# iptables' built-in chains per table (Felix's tableToKernelChains): not counted as Felix's chains
KERNEL_CHAINS = {"filter": {"INPUT", "FORWARD", "OUTPUT"},
                 "nat": {"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"},
                 "mangle": {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"},
                 "raw": {"PREROUTING", "OUTPUT"}}



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
        ("felix_cluster_num_policies", {}, len(view.get("network_policies") or []) + len(view.get("calico_policies") or [])),
        ("felix_cluster_num_workload_endpoints", {}, len(weps)),
    ]
    counts = iptables_counts(iptables_save)
    for table in sorted(counts):
        chains, rules = counts[table]
        rows.append(("felix_iptables_chains", {"ip_version": "4", "table": table}, chains))
        rows.append(("felix_iptables_rules", {"ip_version": "4", "table": table}, rules))
    rows.append(("felix_iptables_restore_calls", {}, restore_calls))
    return rows


# Felix is a Go daemon: its runtime's families, modelled (metric_table.go_runtime); calico/node v3.28.1
# is built with calico/go-build v0.91 (metadata.mk), Go 1.22.
GO_VERSION = "go1.22.5"
FELIX_PROFILE = {"heap": 1.6e7, "rss": 7.4e7, "goroutines": 118, "threads": 14, "gc_every": 45.0, "cpu": 0.012, "fds": 31}


@dataclass
class FelixCounters:
    """What one node's Felix really did, counted by the agent as it programs the node."""
    started: float = field(default_factory=time.time)
    restore_calls: int = 0
    iptables_lines: dict = field(default_factory=dict)     # table -> lines written by iptables-restore
    ipset_calls: int = 0
    ipset_lines: int = 0
    scrapes: int = 0
    apply_time: metric_table.Summary = field(default_factory=metric_table.Summary)
    route_list_time: metric_table.Summary = field(default_factory=metric_table.Summary)
    iface_sync_time: metric_table.Summary = field(default_factory=metric_table.Summary)
    exec_time_us: metric_table.Summary = field(default_factory=metric_table.Summary)

    def restored(self, rules_text: str, ipset_text: str, seconds: float) -> None:
        """One iptables-restore (and the ipset restore before it) that took `seconds` in all."""
        self.restore_calls += 1
        self.ipset_calls += 1 if ipset_text.strip() else 0  # no set changed: no ipset restore ran
        self.ipset_lines += sum(1 for ln in ipset_text.splitlines() if ln.strip())
        table = None
        for ln in rules_text.splitlines():
            if ln.startswith("*"):
                table = ln[1:].strip()
            elif table and ln.startswith(("-A ", "-I ", ":")):
                self.iptables_lines[table] = self.iptables_lines.get(table, 0) + 1
        self.apply_time.observe(seconds)
        self.exec_time_us.observe(seconds * 1e6 / 2)  # two children forked: ipset and iptables-restore


def _selectors(policies: list[dict]) -> int:
    """Distinct selectors the active policies use (their own and their rules' peer selectors)."""
    sels = set()
    for pol in policies:
        spec = pol.get("spec") or {}
        sels.add(repr(spec.get("podSelector") or spec.get("selector")))
        for rule in (spec.get("ingress") or []) + (spec.get("egress") or []):
            for peer in (rule.get("from") or []) + (rule.get("to") or []) + [rule.get("source") or {}, rule.get("destination") or {}]:
                for k in ("podSelector", "namespaceSelector", "selector"):
                    if peer.get(k) is not None:
                        sels.add(k + repr(peer[k]))
    return len(sels)


def all_samples(view: dict, links: set[str], iptables_save: str, ipsets: list[str], counters: FelixCounters,
                host: str, now: float | None = None) -> list[metric_table.Sample]:
    """Every sample of one node's Felix endpoint (see the module's docstring for where each comes from)."""
    now = time.time() if now is None else now
    rows = values(view, links, iptables_save, counters.restore_calls)
    local_pols = active_local_policies(view)
    all_pods = view.get("all_pods") or []
    namespaces = set(view.get("namespaces") or {}) | {p["namespace"] for p in all_pods}
    accounts = {(ns, "default") for ns in namespaces} | {(p["namespace"], p.get("service_account") or "default")
                                                          for p in all_pods}
    pols = (view.get("network_policies") or []) + (view.get("calico_policies") or [])
    n_local = sum(1 for p in view.get("pods") or [] if p.get("interface") in links)
    calico_sets = [s for s in ipsets if s.startswith("cali")]
    selectors = _selectors([p for p in pols if f"{(p['metadata'].get('namespace') or 'default')}/{p['metadata']['name']}" in local_pols])
    # what Felix's calc graph received from the datastore at start: one update per resource, by key type
    updates = {"HostIPKey": 1 + len(view.get("nodes") or []), "IPPoolKey": len(view.get("pools") or []),
               "ProfileLabelsKey": len(namespaces) + len(accounts), "ProfileRulesKey": len(namespaces) + len(accounts),
               "ResourceKey": len(pols) + 1 + len(view.get("nodes") or []), "WorkloadEndpointKey": len(all_pods),
               "ReadyFlagKey": 1, "GlobalConfigKey": len(view.get("felix") or {}) + 1}
    rows += [
        ("felix_active_local_selectors", {}, selectors),
        ("felix_cluster_num_host_endpoints", {}, 0), ("felix_cluster_num_profiles", {}, len(namespaces) + len(accounts)),
        ("felix_host", {"host": host}, 1),
        ("felix_resync_state", {}, 3), ("felix_resyncs_started", {}, 1),   # statusToGaugeValue[InSync] = 3
        ("felix_calc_graph_output_events", {}, sum(updates.values()) + counters.restore_calls),
        ("felix_int_dataplane_failures", {}, 0), ("felix_ipset_errors", {}, 0), ("felix_log_errors", {}, 0),
        ("felix_logs_dropped", {}, 0), ("felix_iptables_restore_errors", {}, 0), ("felix_iptables_save_errors", {}, 0),
        # Felix reads each table back with iptables-save before its first restore and on each refresh
        ("felix_iptables_save_calls", {}, 4 + counters.restore_calls),
        ("felix_ipset_calls", {}, counters.ipset_calls), ("felix_ipset_lines_executed", {}, counters.ipset_lines),
        ("felix_ipsets_calico", {"ip_version": "4"}, len(calico_sets)), ("felix_ipsets_total", {}, len(ipsets)),
        ("felix_label_index_num_endpoints", {}, len(all_pods) + len(namespaces) + len(accounts)),
        ("felix_label_index_num_active_selectors", {"optimized": "true"}, selectors),
        ("felix_label_index_num_active_selectors", {"optimized": "false"}, 0),
        ("felix_label_index_selector_evals", {"result": "true"}, selectors * n_local),
        ("felix_label_index_selector_evals", {"result": "false"}, selectors * max(0, len(all_pods) - n_local)),
        ("felix_label_index_strategy_evals", {"strategy": "full-scan"}, selectors),
        ("felix_iptables_lock_retries", {"version": "1.4"}, 0), ("felix_iptables_lock_retries", {"version": "1.6"}, 0),
        ("felix_bpf_dataplane_endpoints", {}, 0), ("felix_bpf_dirty_dataplane_endpoints", {}, 0),
        ("felix_bpf_happy_dataplane_endpoints", {}, 0), ("felix_bpf_num_ip_sets", {}, 0),
    ]
    rows += [("felix_calc_graph_updates_processed", {"type": k}, v) for k, v in sorted(updates.items()) if v]
    rows += [("felix_iptables_lines_executed", {"ip_version": "4", "table": t}, n)
             for t, n in sorted(counters.iptables_lines.items())]
    msgs = {"InSync": 1, "WorkloadEndpointUpdate": n_local, "ActivePolicyUpdate": len(local_pols),
            "IPSetUpdate": len(calico_sets), "HostMetadataUpdate": 1 + len(view.get("nodes") or []),
            "IPAMPoolUpdate": len(view.get("pools") or []), "ConfigUpdate": 1}
    rows += [("felix_int_dataplane_messages", {"type": k}, v) for k, v in sorted(msgs.items()) if v]
    batches = max(1, counters.restore_calls)
    mono = time.monotonic()
    rows += counters.apply_time.samples("felix_int_dataplane_apply_time_seconds", now=mono)
    rows += counters.route_list_time.samples("felix_route_table_list_seconds", now=mono)
    rows += counters.iface_sync_time.samples("felix_route_table_per_iface_sync_seconds", now=mono)
    rows += counters.exec_time_us.samples("felix_exec_time_micros", now=mono)
    for name, size in (("felix_int_dataplane_msg_batch_size", sum(msgs.values()) / batches),
                       ("felix_int_dataplane_iface_msg_batch_size", 1), ("felix_int_dataplane_addr_msg_batch_size", 1),
                       ("felix_calc_graph_update_time_seconds", 2.1e-05), ("felix_iptables_lock_acquire_secs", 0)):
        count = batches if "batch" in name or "lock" in name else sum(updates.values())
        rows += [(name, {"quantile": str(q)}, size) for q in metric_table.QUANTILES]
        rows += [(name + "_sum", {}, size * count), (name + "_count", {}, count)]
    return rows + metric_table.go_runtime(FELIX_PROFILE, counters.started, now, counters.scrapes, GO_VERSION)


def exposition(rows: list[tuple[str, dict, float]]) -> str:
    """Prometheus text exposition format 0.0.4, families in name order as client_golang writes them."""
    return metric_table.exposition(rows, "felix", "go_runtime")
