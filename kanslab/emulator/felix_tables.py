"""Felix's non-policy iptables and its ipsets, as a v3.28 node in iptables mode has them.

Static chains with their fixed rule ids (felix/rules/static.go, nat.go; ids recomputed in
research/felix-dataplane.md §1.3) in raw, mangle and nat, the natOutgoing rule matching the
ipsets cali40masq-ipam-pools / cali40all-ipam-pools (ipsets/ipset_defs.go, masq_mgr.go), and
`cali:<16 characters>` ids on every rule that has none (iptables/rules.go `RuleHashes`: a SHA-224
chain over the chain name and each rule's text; Felix hashes its own rule syntax, the lab hashes
the iptables-save text, so dynamic ids have Felix's form but not Felix's values).

Not emulated: the `-o tunl0 ... MASQUERADE` rule for host-originated traffic into the tunnel, and
the named-port and selector ipsets (policy rules here list pod IPs instead).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import re

MAXELEM = 1048576  # Felix's MaxIpsetSize default
_A = "-m mark --mark 0x10000/0x10000"
_CLEAR = "-j MARK --set-xmark 0x0/0xf0000"
_HEP_OK = '-m comment --comment "Host endpoint policy accepted packet."'

RAW = {
    "chains": ["cali-OUTPUT", "cali-PREROUTING", "cali-from-host-endpoint", "cali-rpf-skip", "cali-to-host-endpoint"],
    "hooks": [("PREROUTING", "6gwbT8clXdHdC1b1", "-j cali-PREROUTING"), ("OUTPUT", "tVnHkvAo15HuiPy0", "-j cali-OUTPUT")],
    "rules": [("cali-OUTPUT", "njdnLwYeGqBJyMxW", _CLEAR),
              ("cali-OUTPUT", "rz86uTUcEZAfFsh7", "-j cali-to-host-endpoint"),
              ("cali-OUTPUT", "pN0F5zD0b8yf9W1Z", f"{_A} -j ACCEPT"),
              ("cali-PREROUTING", "XFX5xbM8B9qR10JG", _CLEAR),
              ("cali-PREROUTING", "EWMPb0zVROM-woQp", "-i cali+ -j MARK --set-xmark 0x40000/0x40000"),
              ("cali-PREROUTING", "PWuxTAIaFCtsg5Qa", "-m mark --mark 0x40000/0x40000 -j cali-rpf-skip"),
              ("cali-PREROUTING", "fSSbGND7dgyemWU7",
               "-m mark --mark 0x40000/0x40000 -m rpfilter --validmark --invert -j DROP"),
              ("cali-PREROUTING", "ImU0-4Rl2WoOI9Ou", "-m mark --mark 0x0/0x40000 -j cali-from-host-endpoint"),
              ("cali-PREROUTING", "lV4V2MPoMBf0hl9T", f"{_A} -j ACCEPT")],
}
MANGLE = {
    "chains": ["cali-POSTROUTING", "cali-PREROUTING", "cali-from-host-endpoint", "cali-to-host-endpoint"],
    "hooks": [("PREROUTING", "6gwbT8clXdHdC1b1", "-j cali-PREROUTING"),
              ("POSTROUTING", "O3lYWMrLQYEMJtB5", "-j cali-POSTROUTING")],
    "rules": [("cali-POSTROUTING", "NX-7roTexQ3fGRfU", f"{_A} -j RETURN"),
              ("cali-POSTROUTING", "nnqPh8lh2VOogSzX", _CLEAR),
              ("cali-POSTROUTING", "nquN8Jw8Tz72pcBW", "-m conntrack --ctstate DNAT -j cali-to-host-endpoint"),
              ("cali-POSTROUTING", "jWrgvDQ0xEZHmta3", f"{_HEP_OK} {_A} -j RETURN"),
              ("cali-PREROUTING", "6BJqBjBC7crtA-7-", "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"),
              ("cali-PREROUTING", "KX7AGNd6rMcDUai6", f"{_A} -j ACCEPT"),
              ("cali-PREROUTING", "wNH7KsA3ILKJBsY9", "-j cali-from-host-endpoint"),
              ("cali-PREROUTING", "Cg96MgVuoPm7UMRo", f"{_HEP_OK} {_A} -j ACCEPT")],
}


def _rule(chain: str, rule_id: str, body: str) -> str:
    return f'-A {chain} -m comment --comment "cali:{rule_id}" {body}'


def _table(name: str, spec: dict) -> list[str]:
    lines = [f"*{name}"] + [f":{c} - [0:0]" for c in spec["chains"]]
    lines += [_rule(hook, rid, body) for hook, rid, body in spec["hooks"]]
    lines += [_rule(c, rid, body) for c, rid, body in spec["rules"]]
    return lines + ["COMMIT"]


def raw_rules() -> list[str]:
    return _table("raw", RAW)


def mangle_rules() -> list[str]:
    return _table("mangle", MANGLE)


def nat_rules(pools: list) -> list[str]:
    """nat: Felix's hooks and cali-nat-outgoing, which masquerades what leaves a natOutgoing pool for
    anywhere outside every pool (nat.go `NATOutgoingChain`, with --random-fully as on a current kernel)."""
    spec = {"chains": ["cali-OUTPUT", "cali-POSTROUTING", "cali-PREROUTING", "cali-fip-dnat", "cali-fip-snat",
                       "cali-nat-outgoing"],
            "hooks": [("PREROUTING", "6gwbT8clXdHdC1b1", "-j cali-PREROUTING"),
                      ("OUTPUT", "tVnHkvAo15HuiPy0", "-j cali-OUTPUT"),
                      ("POSTROUTING", "O3lYWMrLQYEMJtB5", "-j cali-POSTROUTING")],
            "rules": [("cali-OUTPUT", "GBTAv2p5CwevEyJm", "-j cali-fip-dnat"),
                      ("cali-POSTROUTING", "Z-c7XtVd2Bq7s_hA", "-j cali-fip-snat"),
                      ("cali-POSTROUTING", "nYKhEzDlr11Jccal", "-j cali-nat-outgoing"),
                      ("cali-PREROUTING", "r6XmIziWUJsdOK6Z", "-j cali-fip-dnat")]}
    if any(p.nat_outgoing for p in pools):
        spec["rules"].append(("cali-nat-outgoing", "flqWnvo8yq4ULQLa",
                              "-m set --match-set cali40masq-ipam-pools src "
                              "-m set ! --match-set cali40all-ipam-pools dst -j MASQUERADE --random-fully"))
    return _table("nat", spec)


def ipsets(view) -> dict[str, tuple[str, list[str]]]:
    """Felix's IPv4 sets for one node: {name: (type, members)}.

    Pools count whether disabled or not (the IPAMPool Felix gets has no `disabled`); the hosts set
    exists while an IPIP pool does and lists every node, this one included (ipip_mgr.go)."""
    pools = [p for p in view.pools if p.cidr.version == 4]
    sets = {"cali40all-ipam-pools": ("hash:net", sorted(str(p.cidr) for p in pools)),
            "cali40masq-ipam-pools": ("hash:net", sorted(str(p.cidr) for p in pools if p.nat_outgoing))}
    if any(p.ipip_mode != "Never" for p in pools):
        hosts = [view.ip] + [n.ip for n in view.nodes]
        sets["cali40all-hosts-net"] = ("hash:net", sorted(set(hosts), key=ipaddress.ip_address))
    this_host = {view.ip, "127.0.0.1"} | {a for a in (view.ipip_tunnel_addr, view.vxlan_tunnel_addr) if a}
    sets["cali40this-host"] = ("hash:ip", sorted(this_host, key=ipaddress.ip_address))
    return sets


def ipset_restore(sets: dict[str, tuple[str, list[str]]]) -> str:
    """`ipset restore` input that makes each set exactly its members (created if missing)."""
    out = []
    for name, (kind, members) in sorted(sets.items()):
        out.append(f"create {name} {kind} family inet hashsize 1024 maxelem {MAXELEM} -exist")
        out.append(f"flush {name}")
        out += [f"add {name} {m}" for m in members]
    return "\n".join(out) + "\n"


def _rule_hash(prev: bytes, text: str) -> bytes:
    return hashlib.sha224(prev + text.encode()).digest()


_ID = re.compile(r'-m comment --comment "?cali:[A-Za-z0-9_-]{16}"?')


def with_rule_ids(lines: list[str]) -> list[str]:
    """Give every `-A` rule without one a `cali:<16>` id: per chain, h = SHA-224(chain name), then
    h = SHA-224(h + rule text) for each rule in order; the id is base64url(h)[:16]."""
    state: dict[tuple[str, str], bytes] = {}
    table, out = "", []
    for ln in lines:
        if ln.startswith("*"):
            table = ln[1:]
        if not ln.startswith("-A "):
            out.append(ln)
            continue
        chain, _, body = ln[3:].partition(" ")
        key = (table, chain)
        h = _rule_hash(state.get(key, hashlib.sha224(chain.encode()).digest()), body)
        state[key] = h
        if _ID.search(body):
            out.append(ln)
            continue
        rid = base64.urlsafe_b64encode(h).decode()[:16]
        out.append(f'-A {chain} -m comment --comment "cali:{rid}" {body}'.rstrip())
    return out
