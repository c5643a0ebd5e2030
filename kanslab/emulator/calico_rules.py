"""iptables rules for Calico policy rules (Allow/Deny/Log/Pass), as Felix's ProtoRulesToIptablesRules
renders them in spirit: the rule's match, then the action (felix/rules/policy.go `CalculateActions`):

    Allow  <match> -j MARK --set-xmark 0x10000/0x10000, then "-m mark --mark 0x10000/0x10000 -j RETURN"
    Pass   <match> -j MARK --set-xmark 0x20000/0x20000, then a RETURN on the pass mark
    Deny   <match> -j DROP
    Log    <match> -j LOG --log-prefix "calico-packet: " --log-level 5 (evaluation continues)

A rule's selector/namespaceSelector/notSelector become Felix's selector ipsets
(`-m set [!] --match-set cali40s:<id> src|dst`, selector_ipsets.py), in Felix's match order. Felix
handles several nets and negated nets with scratch mark bits; here alternatives (several nets or
port groups) are ORed by repeating the action line, and a rule with notNets/notPorts goes through a
small chain that RETURNs for the excluded packets before acting. Named destination ports resolve
to `-d <ip>/32` per pod (Felix's `cali40n:` sets are not emulated). Only IPv4 is rendered (the lab
has no IPv6).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
from collections.abc import Callable

from . import calico_policy as cp
from . import selector_ipsets as sip

ACCEPT_MARK = "0x10000/0x10000"


def chain_name(prefix: str, name: str) -> str:
    """hashutils.GetLengthLimitedID(prefix, name, 28): too long (or 28 and starting "_") -> hashed."""
    full = prefix + name
    if len(full) > 28 or (len(full) == 28 and name.startswith("_")):
        digest = base64.urlsafe_b64encode(hashlib.sha256(name.encode()).digest()).decode().rstrip("=")
        return prefix + "_" + digest[:27 - len(prefix)]
    return full

PASS_MARK = "0x20000/0x20000"
_ACTION = {"Allow": f"-j MARK --set-xmark {ACCEPT_MARK}", "Pass": f"-j MARK --set-xmark {PASS_MARK}",
           "Deny": "-j DROP", "Log": '-j LOG --log-prefix "calico-packet: " --log-level 5'}
_PROTO = {"TCP": "tcp", "UDP": "udp", "SCTP": "sctp", "ICMP": "icmp", "UDPLite": "udplite"}


def _hash(text: str, n: int) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).decode()[:n]


def _comment(text: str) -> str:
    return '-m comment --comment "' + text.replace('"', "'")[:250] + '"'


def _v4(cidr: str) -> ipaddress.IPv4Network | None:
    net = ipaddress.ip_network(cidr, strict=False)
    return net if net.version == 4 else None


def _proto(value) -> str | None:
    if value is None:
        return None
    return str(value) if isinstance(value, int) else _PROTO.get(str(value))


def multiport(ranges: list[tuple[int, int]], flag: str) -> list[str]:
    """Port ranges as Felix's `-m multiport --<flag>` matches (iptables/match_builder.go), at most 15
    slots each, a range taking two (rules/policy.go SplitPortList)."""
    out, cur, slots = [], [], 0
    for lo, hi in ranges:
        text, need = (str(lo), 1) if lo == hi else (f"{lo}:{hi}", 2)
        if slots + need > 15:
            out.append(cur)
            cur, slots = [], 0
        cur.append(text)
        slots += need
    return [f"-m multiport --{flag} {','.join(c)}" for c in out + ([cur] if cur else [])]


def _multiport(ports: list, flag: str) -> list[str]:
    """Numbered Calico ports and ranges (`80`, `"8000:8080"`) as multiport matches."""
    return multiport([cp.parse_port(p) for p in ports], flag)  # type: ignore[misc]


class CalicoRules:
    """Renders Calico policies into chains through `chain(name) -> list of rule bodies`."""

    def __init__(self, chain: Callable[[str], list[str]], pods: list[dict], ns_labels: dict,
                 sets: sip.SelectorSets):
        self.chain, self.pods, self.ns_labels, self.sets = chain, pods, ns_labels, sets
        self.done: set[str] = set()

    def policy_chain(self, pol: dict, direction: str, targets: list[dict]) -> str:
        name = cp.felix_name(pol)
        chain = chain_name("cali-pi-" if direction == "Ingress" else "cali-po-", name)
        if chain in self.done:
            return chain
        self.done.add(chain)
        body = self.chain(chain)
        rules = (pol.get("spec") or {}).get("ingress" if direction == "Ingress" else "egress") or []
        body.append(f"{_comment(f'Policy {name} {direction.lower()}')}")
        for i, rule in enumerate(rules):
            self._rule(body, pol, rule, direction, targets, f"{name} {direction} {i}")
        if len(body) > 1:  # the first rule carries "Policy <name> <direction>"; no rules, one comment-only rule
            body[1] = f"{body[0]} {body[1]}"
            del body[0]
        return chain

    # -- one rule ---------------------------------------------------------------------------
    def _side(self, ent: dict, pol: dict, set_side: str) -> tuple[list[str] | None, str, str, str]:
        """One side of a rule: (its nets, [""] for any, None when none is IPv4; the positive set match;
        the negated set match; the positive selector) as Felix's rule scanner combines them. With
        only named ports on the side, Felix matches the selector through the named-port sets alone
        (rule_scanner.go `ruleToParsedRule`), so no selector set is made for it."""
        nets = [n for n in (_v4(c) for c in ent.get("nets") or []) if n is not None]
        ns = pol["metadata"].get("namespace") if pol["kind"] == "CalicoNetworkPolicy" else None
        pos, neg = sip.rule_side_selectors(ent, ns)
        only_named = ent.get("ports") and all(isinstance(cp.parse_port(p), str) for p in ent["ports"])
        pos_m = self.sets.match(pos, set_side) if pos and not only_named else ""
        neg_m = self.sets.match(neg, set_side, negated=True) if neg else ""
        if ent.get("nets") and not nets:
            return None, pos_m, neg_m, pos
        return [str(n) for n in nets] or [""], pos_m, neg_m, pos

    def _negatives(self, ent: dict, flag: str, proto: str | None, port_flag: str) -> list[str]:
        """notNets and numbered notPorts: excluded packets RETURN in the rule's sub-chain."""
        out = [f"{flag} {n}" for n in (_v4(c) for c in ent.get("notNets") or []) if n is not None]
        numbered = [p for p in ent.get("notPorts") or [] if not isinstance(cp.parse_port(p), str)]
        out += [f"-p {proto} {m}" for m in _multiport(numbered, port_flag)] if numbered else []
        return out

    def _named(self, name: str, proto: str | None, pods: list[dict]) -> list[tuple[str, int]]:
        want = (proto or "").upper()
        return [(p["ip"], int(port["containerPort"])) for p in pods for port in p.get("ports") or []
                if port.get("name") == name and (port.get("protocol") or "TCP").upper() == want]

    def _rule(self, body: list[str], pol: dict, rule: dict, direction: str, targets: list[dict], tag: str) -> None:
        """One Calico rule; criteria in Felix's order (rules/policy.go `CalculateRuleMatch`): protocol,
        source net, set and ports, destination net, set and ports, ICMP, then the negated ones."""
        action = rule["action"]
        src, dst = rule.get("source") or {}, rule.get("destination") or {}
        proto = _proto(rule.get("protocol"))
        if rule.get("protocol") is not None and proto is None:
            return  # ICMPv6: never matches IPv4 traffic
        if src.get("ports") and all(isinstance(cp.parse_port(p), str) for p in src["ports"]):
            return  # only named source ports: not rendered by the lab
        src_nets, src_set, not_src_set, _ = self._side(src, pol, "src")
        dst_nets, dst_set, not_dst_set, dst_sel = self._side(dst, pol, "dst")
        if src_nets is None or dst_nets is None:
            return  # only IPv6 nets: the rule cannot match IPv4 traffic
        icmp_m = {}
        for key, neg in (("icmp", ""), ("notICMP", "! ")):
            icmp = rule.get(key)
            if icmp and icmp.get("type") is not None and proto == "icmp":
                code = f"/{icmp['code']}" if icmp.get("code") is not None else ""
                icmp_m[key] = f"-m icmp {neg}--icmp-type {icmp['type']}{code}"
        not_proto = _proto(rule.get("notProtocol"))
        tail = [icmp_m.get("icmp", ""), f"! -p {not_proto}" if not_proto else "", not_src_set, not_dst_set,
                icmp_m.get("notICMP", "")]
        src_ports = _multiport([p for p in src.get("ports") or [] if not isinstance(cp.parse_port(p), str)], "sports")
        # destination (net, set, ports) alternatives: numbered ports as multiport, named ones resolved
        # on the destination pods (Felix's named-port sets are not emulated)
        numbered = [p for p in dst.get("ports") or [] if not isinstance(cp.parse_port(p), str)]
        named = [p for p in dst.get("ports") or [] if isinstance(cp.parse_port(p), str)]
        dst_alts: list[tuple[str, str]] = []  # (dst address match, dst port match)
        if not dst.get("ports"):
            dst_alts = [(f"-d {d}" if d else "", "") for d in dst_nets]
        for m in _multiport(numbered, "dports") if numbered else []:
            dst_alts += [(f"-d {d}" if d else "", m) for d in dst_nets]
        dst_alts = [(" ".join(x for x in (d, dst_set) if x), m) for d, m in dst_alts]
        if named:
            holders = targets if direction == "Ingress" else self.pods
            if dst_sel:  # local pods and the cluster's are different records: compare by name
                selected = {(p["namespace"], p["name"]) for p in self.sets.pods_of(dst_sel)}
                holders = [p for p in holders if (p["namespace"], p["name"]) in selected]
            for pname in named:
                for ip, num in self._named(pname, rule.get("protocol"), holders):
                    if dst_nets == [""] or any(ipaddress.ip_address(ip) in ipaddress.ip_network(d)
                                               for d in dst_nets):
                        dst_alts.append((f"-d {ip}/32", f"-m multiport --dports {num}"))
        negatives = self._negatives(src, "-s", proto, "sports") + self._negatives(dst, "-d", proto, "dports")
        target = _ACTION[action]
        if negatives:
            sub = "cali-nr-" + _hash(tag, 19)  # excluded packets RETURN before the action
            sub_body = self.chain(sub)
            sub_body += [f"{n} {_comment('excluded by the rule')} -j RETURN" for n in negatives]
            sub_body.append(target)
            target = f"-j {sub}"
        before = len(body)
        for s in src_nets:
            for sp in src_ports or [""]:
                for d, dp in dst_alts:
                    parts = [f"-p {proto}" if proto else "", f"-s {s}" if s else "", src_set, sp, d, dp] + tail
                    body.append(" ".join(x for x in parts + [target] if x))
        if len(body) == before:
            return
        if action == "Allow":
            body.append(f"-m mark --mark {ACCEPT_MARK} -j RETURN")
        elif action == "Pass":
            body.append(f"-m mark --mark {PASS_MARK} -j RETURN")
