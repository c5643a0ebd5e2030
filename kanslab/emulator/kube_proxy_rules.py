"""kube-proxy v1.30's iptables mode: the rules it writes for the Services and their endpoints.

From pkg/proxy/iptables/proxier.go (syncProxyRules) and its test expectations:
- chain names: KUBE-SVC-/KUBE-EXT-<portProtoHash>, KUBE-SEP-<hash incl. endpoint>, where the hash is
  base32(sha256(servicePortName + protocol))[:16], servicePortName "ns/name:port" (":port" left out
  for an unnamed port) and protocol lower case; KUBE-SEP adds the endpoint "ip:port" to the string;
- KUBE-SERVICES: one "ns/svc:port cluster IP" rule per port with endpoints (a REJECT "has no
  endpoints" in filter otherwise), then the nodeports rule, which must stay last;
- KUBE-SVC-*: masquerade what does not come from the cluster CIDR (kubeadm passes --cluster-cidr),
  then one jump per endpoint, all but the last with `-m statistic --mode random --probability 1/n`;
- KUBE-SEP-*: hairpin masquerade, then DNAT to ip:port;
- NodePorts: KUBE-NODEPORTS -> KUBE-EXT-* (masquerade "external destinations", then KUBE-SVC-*);
- KUBE-MARK-MASQ sets 0x4000, KUBE-POSTROUTING masquerades what carries it (--random-fully);
- jump rules in the built-in chains are returned apart (`JUMPS`), since kube-proxy ensures them one by
  one (iptables -C / -I) instead of restoring them.
The rules are written as kube-proxy writes them; iptables-save on the node prints iptables' own
normalised form, so what a student reads is what a node shows.
"""

from __future__ import annotations

import base64
import hashlib

MASQ_MARK = "0x4000"
OWNED_PREFIX = "KUBE-"
# (table, chain, hook, comment, extra match) in proxier.go's iptablesJumpChains order
JUMPS = [
    ("filter", "KUBE-EXTERNAL-SERVICES", "INPUT", "kubernetes externally-visible service portals",
     "-m conntrack --ctstate NEW"),
    ("filter", "KUBE-EXTERNAL-SERVICES", "FORWARD", "kubernetes externally-visible service portals",
     "-m conntrack --ctstate NEW"),
    ("filter", "KUBE-NODEPORTS", "INPUT", "kubernetes health check service ports", ""),
    ("filter", "KUBE-SERVICES", "FORWARD", "kubernetes service portals", "-m conntrack --ctstate NEW"),
    ("filter", "KUBE-SERVICES", "OUTPUT", "kubernetes service portals", "-m conntrack --ctstate NEW"),
    ("filter", "KUBE-FORWARD", "FORWARD", "kubernetes forwarding rules", ""),
    ("filter", "KUBE-PROXY-FIREWALL", "INPUT", "kubernetes load balancer firewall", "-m conntrack --ctstate NEW"),
    ("filter", "KUBE-PROXY-FIREWALL", "OUTPUT", "kubernetes load balancer firewall", "-m conntrack --ctstate NEW"),
    ("filter", "KUBE-PROXY-FIREWALL", "FORWARD", "kubernetes load balancer firewall", "-m conntrack --ctstate NEW"),
    ("nat", "KUBE-SERVICES", "OUTPUT", "kubernetes service portals", ""),
    ("nat", "KUBE-SERVICES", "PREROUTING", "kubernetes service portals", ""),
    ("nat", "KUBE-POSTROUTING", "POSTROUTING", "kubernetes postrouting rules", ""),
]


def jump_rule(hook: str, chain: str, comment: str, extra: str) -> str:
    return f'-A {hook} {extra + " " if extra else ""}-m comment --comment "{comment}" -j {chain}'


def port_proto_hash(port_name: str, protocol: str, endpoint: str = "") -> str:
    digest = hashlib.sha256((port_name + protocol + endpoint).encode()).digest()
    return base64.b32encode(digest).decode()[:16]


def _q(comment: str) -> str:
    return f'"{comment}"' if " " in comment else comment


def endpoints_of(ep: dict | None, port_name: str, protocol: str) -> list[str]:
    """Ready "ip:port" of an Endpoints object for one Service port, in the object's order."""
    out = []
    for sub in (ep or {}).get("subsets") or []:
        for p in sub.get("ports") or []:
            if p.get("name", "") == port_name and p.get("protocol", "TCP") == protocol:
                out += [f"{a['ip']}:{p['port']}" for a in sub.get("addresses") or []]
    return out


def render(services: list[dict], endpoints: dict[tuple[str, str], dict], cluster_cidr: str) -> dict[str, list[str]]:
    """{"filter": [...], "nat": [...]}: iptables-restore bodies (no *table / COMMIT) of kube-proxy's chains."""
    f_chains = ["KUBE-EXTERNAL-SERVICES", "KUBE-FORWARD", "KUBE-NODEPORTS", "KUBE-PROXY-FIREWALL",
                "KUBE-SERVICES"]
    n_chains = ["KUBE-MARK-MASQ", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-SERVICES"]
    f_rules = [
        "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP",
        f'-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark {MASQ_MARK}/{MASQ_MARK} '
        "-j ACCEPT",
        '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate '
        "RELATED,ESTABLISHED -j ACCEPT"]
    n_rules = [f"-A KUBE-MARK-MASQ -j MARK --or-mark {MASQ_MARK}",
               f"-A KUBE-POSTROUTING -m mark ! --mark {MASQ_MARK}/{MASQ_MARK} -j RETURN",
               f"-A KUBE-POSTROUTING -j MARK --xor-mark {MASQ_MARK}",
               '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE '
               "--random-fully"]
    svc_rules, node_ports, per_chain = [], [], []
    for s in services:
        spec, meta = s["spec"], s["metadata"]
        ip = spec.get("clusterIP")
        if not ip or ip == "None" or spec.get("type", "ClusterIP") not in ("ClusterIP", "NodePort"):
            continue
        for p in spec.get("ports") or []:
            pname = p.get("name", "")
            spn = f"{meta['namespace']}/{meta['name']}" + (f":{pname}" if pname else "")
            proto = p.get("protocol", "TCP")
            lp = proto.lower()
            h = port_proto_hash(spn, lp)
            svc_chain, ext_chain = f"KUBE-SVC-{h}", f"KUBE-EXT-{h}"
            eps = endpoints_of(endpoints.get((meta["namespace"], meta["name"])), pname, proto)
            match = f"-m {lp} -p {lp}"
            if not eps:
                f_rules.append(f'-A KUBE-SERVICES -m comment --comment "{spn} has no endpoints" {match} -d {ip} '
                               f"--dport {p['port']} -j REJECT")
                if p.get("nodePort"):
                    f_rules.append(f'-A KUBE-EXTERNAL-SERVICES -m comment --comment "{spn} has no endpoints" '
                                   f"-m addrtype --dst-type LOCAL {match} --dport {p['nodePort']} -j REJECT")
                continue
            n_chains.append(svc_chain)
            svc_rules.append(f'-A KUBE-SERVICES -m comment --comment "{spn} cluster IP" {match} -d {ip} '
                             f"--dport {p['port']} -j {svc_chain}")
            if p.get("nodePort"):
                n_chains.append(ext_chain)
                node_ports.append(f"-A KUBE-NODEPORTS -m comment --comment {_q(spn)} {match} --dport {p['nodePort']} "
                                  f"-j {ext_chain}")
                per_chain += [f'-A {ext_chain} -m comment --comment "masquerade traffic for {spn} external '
                              'destinations" -j KUBE-MARK-MASQ', f"-A {ext_chain} -j {svc_chain}"]
            per_chain.append(f'-A {svc_chain} -m comment --comment "{spn} cluster IP" {match} -d {ip} '
                             f"--dport {p['port']} ! -s {cluster_cidr} -j KUBE-MARK-MASQ")
            for i, ep in enumerate(eps):
                sep = f"KUBE-SEP-{port_proto_hash(spn, lp, ep)}"
                n_chains.append(sep)
                stat = "" if i == len(eps) - 1 else \
                    f"-m statistic --mode random --probability {1.0 / (len(eps) - i):0.10f} "
                per_chain.append(f'-A {svc_chain} -m comment --comment "{spn} -> {ep}" {stat}-j {sep}')
                per_chain += [f"-A {sep} -m comment --comment {_q(spn)} -s {ep.rsplit(':', 1)[0]} -j KUBE-MARK-MASQ",
                              f"-A {sep} -m comment --comment {_q(spn)} {match} -j DNAT --to-destination {ep}"]
    n_rules = node_ports + svc_rules + [
        '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in '
        'this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS'] + n_rules + per_chain
    return {"filter": [f":{c} - [0:0]" for c in f_chains] + f_rules,
            "nat": [f":{c} - [0:0]" for c in sorted(set(n_chains), key=n_chains.index)] + n_rules}
