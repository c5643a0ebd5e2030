"""Walk one packet through a node's iptables rules, read from `iptables-save -c`.

Hand-written: no library evaluates iptables rule text, and the walk needs only the matches Felix
(and the lab's Felix) writes on the forward path: -i/-o (with `+` wildcards), -s/-d, -p, --dport,
-m mark, -m conntrack (the packet is a NEW connection), -m comment; targets MARK --set-xmark,
ACCEPT, DROP, REJECT, RETURN, MASQUERADE/SNAT, -j/-g to a user chain. A match it cannot decide
(an ipset, for instance) makes the walk `undecided` instead of guessing.

The result names the rules that decided, with their comments. Felix puts `Policy <name> <direction>`
on the first rule of each cali-pi-/cali-po- chain (rules/policy.go), so a jump to that chain, or a
rule in it, maps back to the Kubernetes or Calico policy it came from.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from dataclasses import dataclass, field

from ..parse import iptables_save

TERMINAL = {"ACCEPT", "DROP", "REJECT", "MASQUERADE", "SNAT", "DNAT"}
_BUILTIN = {"INPUT", "FORWARD", "OUTPUT", "PREROUTING", "POSTROUTING"}


@dataclass
class Packet:
    src: str
    dst: str
    protocol: str = "tcp"        # tcp | udp | icmp
    dport: int | None = None
    in_iface: str = ""
    out_iface: str = ""
    mark: int = 0


@dataclass
class Hit:
    chain: str
    rule: str
    target: str | None
    comment: str | None
    packets: int | None


@dataclass
class Walk:
    verdict: str                 # ACCEPT | DROP | REJECT | MASQUERADE | ... | undecided
    hits: list[Hit] = field(default_factory=list)   # every matching rule, in order
    undecided: str = ""          # why the walk stopped without a verdict
    names: dict[str, str] = field(default_factory=dict)  # policy chain -> Felix's policy name

    def policies(self, prefixes=("cali-fw-", "cali-tw-", "cali-po-", "cali-pi-")) -> list[str]:
        """The policies the endpoint chains consulted: every jump to a policy chain, named by that
        chain's `Policy <name> <direction>` comment."""
        out = []
        for h in self.hits:
            if h.chain.startswith(prefixes) and h.target in self.names:
                out.append(policy_label(self.names[h.target]))
            elif h.chain.startswith(prefixes) and h.comment and h.comment.startswith("policy "):
                out.append(policy_label(h.comment[len("policy "):]))  # dumps recorded before the lab wrote Felix's layout
        return out

    def policy_of(self, chain: str) -> str | None:
        """The policy a cali-pi-/cali-po- chain renders, as the student wrote it (None: not one)."""
        return policy_label(self.names[chain]) if chain in self.names else None


    def deciding(self, prefixes: tuple[str, ...]) -> Hit | None:
        """The last matching rule in chains starting with `prefixes` that set a mark or ended the walk."""
        best = None
        for h in self.hits:
            if h.chain.startswith(prefixes) and (h.target in TERMINAL or h.target == "MARK"):
                best = h
        return best


class Table:
    """One table of an `iptables-save` dump: chain -> rules (as tokens), policies of built-in chains."""

    def __init__(self, text: str, table: str = "filter", sets: dict[str, list[str]] | None = None):
        self.sets = sets  # ipset name -> members (`ipset save`), for `-m set --match-set`; None: unknown
        df = iptables_save(text)
        df = df[df["table"] == table]
        self.table = table
        self.chains: dict[str, list[tuple[list[str], Hit]]] = {}
        self.policy: dict[str, str] = {}
        for r in df.itertuples():
            body = self.chains.setdefault(r.chain, [])
            if isinstance(r.chain_policy, str) and r.chain_policy != "-":
                self.policy[r.chain] = r.chain_policy
            if not isinstance(r.rule, str):
                continue  # a chain without rules
            pk = None if str(r.packets) in ("<NA>", "nan", "None") else int(r.packets)
            comment = r.comment if isinstance(r.comment, str) else None
            target = r.target if isinstance(r.target, str) else None
            body.append((shlex.split(r.rule), Hit(r.chain, r.rule, target, comment, pk)))
        self.names = {}  # Felix's "Policy <name> <direction>" on a policy chain's first rule
        for chain, rules in self.chains.items():
            if rules and chain.startswith(("cali-pi-", "cali-po-")):
                m = re.search(r'--comment "?Policy (\S+) (?:ingress|egress)"?', rules[0][1].rule)
                if m:
                    self.names[chain] = m.group(1)

    def walk(self, pkt: Packet, chain: str) -> Walk:
        w = Walk("undecided", names=self.names)
        state = {"mark": pkt.mark, "sets": self.sets}
        try:
            v = self._chain(pkt, chain, w, state, 0)
        except _Undecided as e:
            w.verdict, w.undecided = "undecided", str(e)
            return w
        w.verdict = v or self.policy.get(chain, "ACCEPT")
        return w

    def _chain(self, pkt: Packet, chain: str, w: Walk, state: dict, depth: int) -> str | None:
        if depth > 30:
            raise _Undecided(f"chains nest deeper than 30 at {chain}")
        for tokens, hit in self.chains.get(chain, []):
            if not _matches(tokens, pkt, state):
                continue
            w.hits.append(hit)
            target, goto = _target(tokens)
            if target is None:
                continue
            if target == "MARK":
                val = _opt(tokens, "--set-xmark") or _opt(tokens, "--set-mark")
                if val:
                    v, _, m = val.partition("/")
                    mask = int(m, 0) if m else 0xFFFFFFFF
                    state["mark"] = (state["mark"] & ~mask) ^ int(v, 0)
                continue
            if target in TERMINAL:
                return target
            if target == "RETURN":
                return None
            if target in self.chains:
                v = self._chain(pkt, target, w, state, depth + 1)
                if v is not None:
                    return v
                if goto:
                    return None  # -g: a RETURN from the chain returns from this chain too
                continue
            # LOG, NFLOG, ... do not decide
        return None


class _Undecided(Exception):
    pass


def _opt(tokens: list[str], name: str) -> str | None:
    return tokens[tokens.index(name) + 1] if name in tokens and tokens.index(name) + 1 < len(tokens) else None


def _target(tokens: list[str]) -> tuple[str | None, bool]:
    for i, t in enumerate(tokens):
        if t in ("-j", "--jump", "-g", "--goto") and i + 1 < len(tokens):
            return tokens[i + 1], t in ("-g", "--goto")
    return None, False


def _iface(pattern: str, iface: str) -> bool:
    return iface.startswith(pattern[:-1]) if pattern.endswith("+") else iface == pattern


def _addr(cidr: str, ip: str) -> bool:
    return ipaddress.ip_address(ip) in ipaddress.ip_network(cidr, strict=False)


def _ports(spec: str, port: int | None) -> bool:
    if port is None:
        return False
    lo, _, hi = spec.partition(":")
    return int(lo or 0) <= port <= int(hi or lo or 65535)


def _matches(tokens: list[str], pkt: Packet, state: dict) -> bool:
    i, neg = 0, False
    while i < len(tokens):
        t = tokens[i]
        if t == "!":
            neg = True
            i += 1
            continue
        val = tokens[i + 1] if i + 1 < len(tokens) else ""
        if t in ("-j", "--jump", "-g", "--goto"):
            return True  # the target's own options follow
        if t in ("-m", "--match"):
            if val not in ("comment", "mark", "conntrack", "tcp", "udp", "multiport", "addrtype", "set"):
                raise _Undecided(f"rule uses -m {val}, which this walk cannot evaluate: {' '.join(tokens)}")
            i += 2
            continue
        if t == "--comment":
            i += 2
            continue
        ok: bool | None = None
        if t in ("-i", "--in-interface"):
            ok = _iface(val, pkt.in_iface)
        elif t in ("-o", "--out-interface"):
            ok = _iface(val, pkt.out_iface)
        elif t in ("-s", "--source", "--src"):
            ok = _addr(val, pkt.src)
        elif t in ("-d", "--destination", "--dst"):
            ok = _addr(val, pkt.dst)
        elif t in ("-p", "--protocol"):
            ok = val.lower() in (pkt.protocol.lower(), "all")
        elif t in ("--dport", "--destination-port"):
            ok = _ports(val, pkt.dport)
        elif t == "--dports":
            ok = any(_ports(p, pkt.dport) for p in val.split(","))
        elif t == "--mark":
            v, _, m = val.partition("/")
            mask = int(m, 0) if m else 0xFFFFFFFF
            ok = state["mark"] & mask == int(v, 0)
        elif t == "--match-set":
            # Felix matches pools and hosts by ipset (cali40masq-ipam-pools src, ...): members are nets or IPs
            sets, where = state.get("sets"), tokens[i + 2] if i + 2 < len(tokens) else ""
            if sets is None or val not in sets or where not in ("src", "dst"):
                raise _Undecided(f"rule matches ipset {val}, whose members are unknown here: {' '.join(tokens)}")
            ip = pkt.src if where == "src" else pkt.dst
            ok = any(_addr(m, ip) for m in sets[val])
            i += 1  # the set's name and its src/dst flag
        elif t == "--ctstate":
            ok = "NEW" in val.split(",")   # the walk follows a connection's first packet
        elif t == "--dst-type":
            raise _Undecided(f"rule matches an address type: {' '.join(tokens)}")
        else:
            raise _Undecided(f"rule option {t} is not evaluated here: {' '.join(tokens)}")
        if ok == neg:
            return False
        neg = False
        i += 2
    return True


def policy_label(felix_name: str) -> str:
    """Felix's policy name back to the object a student wrote: `ns/knp.default.X` is the Kubernetes
    NetworkPolicy ns/X, `ns/default.X` the Calico NetworkPolicy ns/X, `default.X` the
    GlobalNetworkPolicy X (the default tier's prefix, as Felix names policies in its chains)."""
    ns, _, name = felix_name.rpartition("/")
    if ns and name.startswith("knp.default."):
        return f"NetworkPolicy {ns}/{name[len('knp.default.'):]}"
    if ns and name.startswith("default."):
        return f"Calico NetworkPolicy {ns}/{name[len('default.'):]}"
    if not ns and name.startswith("default."):
        return f"GlobalNetworkPolicy {name[len('default.'):]}"
    return felix_name


def parse_ipset_save(text: str) -> dict[str, list[str]]:
    """`ipset save` -> {set: [members]}. Its lines are `create NAME TYPE ...` and `add NAME MEMBER`;
    two fixed verbs on whitespace, simpler than any library for them."""
    sets: dict[str, list[str]] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "create":
            sets.setdefault(parts[1], [])
        elif len(parts) >= 3 and parts[0] == "add":
            sets.setdefault(parts[1], []).append(parts[2])
    return sets
