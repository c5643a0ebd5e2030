"""Felix's non-policy iptables and its ipsets, as a v3.28 node in iptables mode has them.

Static chains with their fixed rule ids (felix/rules/static.go, nat.go; ids recomputed in
research/felix-dataplane.md §1.3) in raw, mangle and nat, the natOutgoing rule matching the
ipsets cali40masq-ipam-pools / cali40all-ipam-pools (ipsets/ipset_defs.go, masq_mgr.go), and
`cali:<16 characters>` ids on every rule, computed as Felix computes them (iptables/rules.go
`Chain.RuleHashes`: a SHA-224 chain over the chain name and each rule as Felix renders it for
hashing, see `felix_form`), so a rule the lab writes as Felix would has Felix's id.

The selector ipsets `cali40s:<id>` that policy rules match come from policy.filter_rules_and_sets
(selector_ipsets.py); `ipset_restore` writes them with these. Not emulated: the named-port sets
`cali40n:` (named ports resolve to pod IPs and ports in the rule, so such a rule's id is Felix's hash
of the lab's rule, not of Felix's ipset rule).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import re
import shlex

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
    """One rule; without a fixed id, with_rule_ids gives it Felix's hash."""
    return f'-A {chain} -m comment --comment "cali:{rule_id}" {body}' if rule_id else f"-A {chain} {body}"


def _table(name: str, spec: dict) -> list[str]:
    lines = [f"*{name}"] + [f":{c} - [0:0]" for c in spec["chains"]]
    lines += [_rule(hook, rid, body) for hook, rid, body in spec["hooks"]]
    lines += [_rule(c, rid, body) for c, rid, body in spec["rules"]]
    return lines + ["COMMIT"]


def raw_rules() -> list[str]:
    return _table("raw", RAW)


def mangle_rules() -> list[str]:
    return _table("mangle", MANGLE)


_TUNNEL_MASQ = "-m addrtype ! --src-type LOCAL --limit-iface-out -m addrtype --src-type LOCAL -j MASQUERADE --random-fully"


def nat_rules(view) -> list[str]:
    """nat: Felix's hooks and cali-nat-outgoing, which masquerades what leaves a natOutgoing pool for
    anywhere outside every pool (nat.go `NATOutgoingChain`, with --random-fully as on a current kernel).

    With a tunnel device up, cali-POSTROUTING also masquerades the host's own packets that leave
    through it from an address that is not the tunnel's (static.go `StaticNATPostroutingChains`:
    IPIP first, then VXLAN, each only once its tunnel address is set)."""
    pools = view.pools
    spec = {"chains": ["cali-OUTPUT", "cali-POSTROUTING", "cali-PREROUTING", "cali-fip-dnat", "cali-fip-snat",
                       "cali-nat-outgoing"],
            "hooks": [("PREROUTING", "6gwbT8clXdHdC1b1", "-j cali-PREROUTING"),
                      ("OUTPUT", "tVnHkvAo15HuiPy0", "-j cali-OUTPUT"),
                      ("POSTROUTING", "O3lYWMrLQYEMJtB5", "-j cali-POSTROUTING")],
            "rules": [("cali-OUTPUT", "GBTAv2p5CwevEyJm", "-j cali-fip-dnat"),
                      ("cali-POSTROUTING", "Z-c7XtVd2Bq7s_hA", "-j cali-fip-snat"),
                      ("cali-POSTROUTING", "nYKhEzDlr11Jccal", "-j cali-nat-outgoing"),
                      ("cali-PREROUTING", "r6XmIziWUJsdOK6Z", "-j cali-fip-dnat")]}
    post = 3  # after the fip-snat and nat-outgoing jumps, in chain order (the id chains over the rules before)
    if view.ipip_tunnel_addr and any(p.ipip_mode != "Never" for p in pools):
        spec["rules"].insert(post, ("cali-POSTROUTING", "SXWvdsbh4Mw7wOln", f"-o tunl0 {_TUNNEL_MASQ}"))
        post += 1
    if view.vxlan_tunnel_addr and any(p.vxlan_mode != "Never" for p in pools):
        spec["rules"].insert(post, ("cali-POSTROUTING", "", f"-o vxlan.calico {_TUNNEL_MASQ}"))
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
    if any(p.vxlan_mode != "Never" for p in pools):  # vxlan_mgr.go: the other nodes' VTEP parents, not this one
        vteps = [n.ip for n in view.nodes if n.vxlan_tunnel_addr]
        sets["cali40all-vxlan-net"] = ("hash:net", sorted(set(vteps), key=ipaddress.ip_address))
    this_host = {view.ip, "127.0.0.1"} | {a for a in (view.ipip_tunnel_addr, view.vxlan_tunnel_addr) if a}
    sets["cali40this-host"] = ("hash:ip", sorted(this_host, key=ipaddress.ip_address))
    return sets


def ipset_restore(sets: dict[str, tuple[str, list[str]]],
                  written: dict[str, tuple[str, list[str]]] | None = None) -> str:
    """`ipset restore` input that makes each set exactly its members (created if missing).

    With `written`, the sets as last written: a set already there of the same type gets only its
    changes, `del <set> <member> --exist` and `add <set> <member>`, as Felix's ipsets.go
    `writeDeltas` does (a set in use never goes empty in between); others are created and filled."""
    out = []
    for name, (kind, members) in sorted(sets.items()):
        before = (written or {}).get(name)
        if before is not None and before[0] == kind:
            out += [f"del {name} {m} --exist" for m in before[1] if m not in set(members)]
            out += [f"add {name} {m} --exist" for m in members if m not in set(before[1])]  # safe after a failed run
            continue
        out.append(f"create {name} {kind} family inet hashsize 1024 maxelem {MAXELEM} -exist")
        out.append(f"flush {name}")
        out += [f"add {name} {m}" for m in members]
    return "\n".join(out) + "\n" if out else ""


# Felix's own rule syntax (iptables/match_builder.go, actions.go) for the iptables-save spellings the
# lab writes; the hash covers Felix's text, which iptables-save never shows.
_LONG = {"-j": "--jump", "-g": "--goto", "-i": "--in-interface", "-o": "--out-interface", "-s": "--source",
         "-d": "--destination", "--dports": "--destination-ports", "--sports": "--source-ports"}
_UNSAFE = re.compile(r"[^\w @%+=:,./-]")  # rules.go escapeComment


def _hex(value: str) -> str:
    n = int(value, 16)
    return "0" if n == 0 else hex(n)  # Go's %#x


def felix_form(body: str) -> str:
    """A rule body (iptables-save spelling, matches in Felix's order) as Felix renders it for hashing:
    comments first (the `cali:` id is not part of it), long options, `--set-mark`/`--mark` in %#x,
    protocol numbers where Felix uses ProtocolNum (`-p ipencap` is 4; the workload VXLAN drop rule's
    `-p udp` is 17; the lab writes 17 itself there)."""
    tok, comments, rest, i = shlex.split(body), [], [], 0
    while i < len(tok):
        t = tok[i]
        if t == "-m" and tok[i + 1:i + 2] == ["comment"]:
            if not tok[i + 3].startswith("cali:"):
                comments.append(f'-m comment --comment "{_UNSAFE.sub("_", tok[i + 3])[:256]}"')
            i += 4
        elif t in _LONG:
            rest.append(_LONG[t])
            i += 1
        elif t in ("--set-xmark", "--mark"):
            value, _, mask = tok[i + 1].partition("/")
            rest += ["--set-mark" if t == "--set-xmark" else t, f"{_hex(value)}/{_hex(mask)}"]
            i += 2
        elif t == "-p" and tok[i + 1] == "ipencap":
            rest += ["-p", "4"]
            i += 2
        elif t == "-p" and tok[i + 1] == "udp" and "Drop VXLAN encapped packets originating in workloads" in body:
            rest += ["-p", "17"]
            i += 2
        elif t == "--validmark" and tok[i + 1:i + 2] == ["--invert"]:
            rest += ["--invert", "--validmark"]
            i += 2
        else:
            rest.append(f'"{t}"' if " " in t else t)
            i += 1
    return " ".join(comments + rest)


def rule_ids(chain: str, bodies: list[str]) -> list[str]:
    """Felix's ids for a chain's rules: h = SHA-224(chain name), then for each rule
    h = SHA-224(h + "-A <chain> HASH <felix_form>"); the id is base64url(h)[:16]."""
    h, out = hashlib.sha224(chain.encode()).digest(), []
    for body in bodies:
        h = hashlib.sha224(h + f"-A {chain} HASH {felix_form(body)}".encode()).digest()
        out.append(base64.urlsafe_b64encode(h).decode()[:16])
    return out


_ID = re.compile(r'-m comment --comment "?cali:([A-Za-z0-9_-]{16})"? ?')
_BUILTIN = {"INPUT", "FORWARD", "OUTPUT", "PREROUTING", "POSTROUTING"}


def with_rule_ids(lines: list[str]) -> list[str]:
    """Give every `-A` rule Felix's `cali:<16>` id. In a built-in chain the first rule is Felix's
    insert (hashed as that chain) and the rest are its appends (hashed as `<chain>*appends*`,
    table.go). A fixed id already in a rule must equal the computed one."""
    bodies: dict[tuple[str, str], list[str]] = {}
    table = ""
    for ln in lines:
        if ln.startswith("*"):
            table = ln[1:]
        elif ln.startswith("-A "):
            chain, _, body = ln[3:].partition(" ")
            bodies.setdefault((table, chain), []).append(body)
    ids: dict[tuple[str, str], list[str]] = {}
    for (tbl, chain), group in bodies.items():
        if chain in _BUILTIN:
            ids[(tbl, chain)] = rule_ids(chain, group[:1]) + rule_ids(f"{chain}*appends*", group[1:])
        else:
            ids[(tbl, chain)] = rule_ids(chain, group)
    out, seen = [], {}
    for ln in lines:
        if ln.startswith("*"):
            table = ln[1:]
        if not ln.startswith("-A "):
            out.append(ln)
            continue
        chain, _, body = ln[3:].partition(" ")
        n = seen[(table, chain)] = seen.get((table, chain), -1) + 1
        rid = ids[(table, chain)][n]
        fixed = _ID.search(body)
        if fixed and fixed.group(1) != rid:
            raise ValueError(f"{table} {chain} rule {n}: fixed id {fixed.group(1)} is not Felix's {rid}: {body}")
        body = _ID.sub("", body).strip()
        out.append(f'-A {chain} -m comment --comment "cali:{rid}" {body}'.rstrip())
    return out

