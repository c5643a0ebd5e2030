"""The names the cluster DNS answers, as CoreDNS's kubernetes plugin (kubeadm's Corefile) answers them.

- `<svc>.<ns>.svc.cluster.local`: the ClusterIP; a headless Service answers with its ready
  endpoints' addresses (and `<hostname-or-dashed-ip>.<svc>.<ns>.svc.cluster.local` for each);
- `<a-b-c-d>.<ns>.pod.cluster.local`: the pod's address (`pods insecure`; the lab lists the pods it
  has, where CoreDNS would answer any dashed address);
- `ttl 30`, from kubeadm's Corefile.
The lab's DNS server reads these as a hosts file (backends/local/dns.py).
"""

from __future__ import annotations

DOMAIN = "cluster.local"
TTL = 30


def records(services: list[dict], endpoints: dict[tuple[str, str], dict], pods: list[dict]) -> list[tuple[str, str]]:
    """(ip, name) pairs, services first, each group sorted."""
    out: list[tuple[str, str]] = []
    for s in services:
        m, spec = s["metadata"], s.get("spec") or {}
        fqdn = f"{m['name']}.{m['namespace']}.svc.{DOMAIN}"
        ip = spec.get("clusterIP")
        if ip and ip != "None":
            out.append((ip, fqdn))
            continue
        ep = endpoints.get((m["namespace"], m["name"])) or {}
        seen = []
        for sub in ep.get("subsets") or []:
            for a in sub.get("addresses") or []:
                if a["ip"] not in seen:
                    seen.append(a["ip"])
        for addr in sorted(seen):
            out.append((addr, fqdn))
            out.append((addr, f"{addr.replace('.', '-')}.{fqdn}"))
    for p in pods:
        ip = (p.get("status") or {}).get("podIP")
        if ip:
            out.append((ip, f"{ip.replace('.', '-')}.{p['metadata']['namespace']}.pod.{DOMAIN}"))
    return list(dict.fromkeys(out))   # hostNetwork pods of one node share its address


def hosts_text(pairs: list[tuple[str, str]]) -> str:
    return "".join(f"{ip} {name}\n" for ip, name in pairs)
