"""Policy as Felix enforces it: iptables filter rules for one node's cali* interfaces.

`filter_rules(view)` returns iptables-restore lines for the node's whole *filter* table, from
the emulator's `node_view` (pods, namespaces with labels, network_policies, calico_policies,
all_pods).

The layout follows Felix's iptables dataplane, so `iptables-save` on a lab node reads like a
Calico node's:

    FORWARD -> cali-FORWARD -> cali-from-wl-dispatch   (-i cali+: traffic FROM a local pod)
                                  -g cali-fw-<iface>    egress policy of that pod
                            -> cali-to-wl-dispatch     (-o cali+: traffic TO a local pod)
                                  -g cali-tw-<iface>    ingress policy of that pod
                            -> ACCEPT if a policy (or a profile) accepted it (mark 0x10000)
    INPUT   -> cali-INPUT -> cali-wl-to-host (pod to its own node: egress policy, then ACCEPT)

With several local pods whose names share the character after their common prefix, the dispatch
chains hand them on through child chains `cali-{from,to}-wl-dispatch-<c>` (dispatch.go). Rule ids
are Felix's hash of each rule (felix_tables.with_rule_ids), so rules are written in Felix's order:
comments first, then matches, then the target.

Every endpoint chain first accepts conntrack ESTABLISHED,RELATED (reply traffic of an allowed
connection) and drops INVALID. Then comes the default tier: every policy that selects the pod in
that direction, Kubernetes NetworkPolicies (order 1000) and Calico NetworkPolicy /
GlobalNetworkPolicy sorted together by order (unset last, ties by Felix's name), one jump each
(cali-pi-* for ingress, cali-po-* for egress) guarded by the pass mark. An Allow sets the accept
mark and the endpoint chain returns; a Deny drops; a Pass sets the pass mark, which skips the rest
of the tier. A pod some policy selects is dropped when no rule decided ("Drop if no policies passed
packet"); otherwise the namespace profile (cali-pri-kns.<ns> / cali-pro-kns.<ns>) allows, and
"Drop if no profiles matched" ends the chain (felix/rules/endpoints.go). Pods on the same node
cross two cali interfaces (egress of one, ingress of the other); between nodes the source node
enforces egress and the destination node ingress: each node enforces only its own pods.

A Kubernetes rule becomes the rules Calico converts it to (conversion.go `k8sRuleToCalico`): one per
protocol and peer, the protocol's ports merged into one multiport match. A podSelector/
namespaceSelector peer is matched as Felix matches it, `-m set --match-set cali40s:<id> src|dst`, the
selector ipset of the converted peer (selector_ipsets.py); the set lists every selected endpoint's
IP cluster-wide, so a pod coming or going changes the set, not the rule. `filter_rules_and_sets`
returns the sets this node's rules use.
An ipBlock is a `-s`/`-d` net, and its `except` a small chain of RETURNs in front of the accept
(calico_rules.py does the same for Calico rules' notNets/notPorts); named ports resolve to
`-d <ip>/32` and the port per pod (Felix's `cali40n:` named-port sets are not emulated).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import os
from collections.abc import Iterable

from . import calico_policy as cp
from . import netpol
from . import selector_ipsets as sip
from .calico_rules import CalicoRules, chain_name, multiport

ACCEPT_MARK = "0x10000/0x10000"
PASS_MARK = "0x20000/0x20000"
_INGRESS, _EGRESS = "Ingress", "Egress"


def _hash(text: str, n: int = 19) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).decode()[:n]


def _comment(text: str) -> str:
    return '-m comment --comment "' + text.replace('"', "'")[:250] + '"'


def _id(rule_id: str, fixed: bool = True) -> str:
    """Felix's `cali:<id>` comment where the id is fixed; "" lets felix_tables.with_rule_ids hash one."""
    return f'-m comment --comment "cali:{rule_id}"' if fixed else ""



class _Cluster:
    """What peer selection needs: namespaces' labels and every running pod with a WorkloadEndpoint
    (hostNetwork pods such as calico-node have none, so Calico's policy never selects them)."""

    def __init__(self, view: dict):
        self.ns_labels: dict[str, dict] = view.get("namespaces") or {}
        self.pods = [p for p in view.get("all_pods") or [] if p.get("ip") and p.get("phase") == "Running"
                     and p.get("wep")]


def _ports_by_protocol(ports: list[dict]) -> dict[str, list[dict] | None]:
    """conversion.go k8sRuleToCalico's protocolPorts: protocol (TCP when unset) -> its port entries,
    None for all of its ports; no ports at all -> {"": None} (any protocol)."""
    out: dict[str, list[dict] | None] = {}
    for p in ports:
        proto = str(p.get("protocol") or "TCP").upper()
        if p.get("port") is None:
            out[proto] = None
        elif proto not in out or out[proto]:
            out[proto] = (out.get(proto) or []) + [p]
    return out or {"": None}


def _simplify(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """conversion.go SimplifyPorts: the fewest sorted ranges covering the ports (one entry stays as it is)."""
    if len(ranges) <= 1:
        return ranges
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _named(pod: dict, name: str, proto: str) -> list[int]:
    """The container ports of `pod` called `name` with protocol `proto` (a named port needs both)."""
    return [int(p["containerPort"]) for p in pod.get("ports") or []
            if p.get("name") == name and (p.get("protocol") or "TCP").upper() == proto]


def _v4(cidr: str) -> bool:
    return ipaddress.ip_network(cidr, strict=False).version == 4


class _Renderer:
    def __init__(self, view: dict):
        self.view = view
        self.cluster = _Cluster(view)
        self.sets = sip.SelectorSets(self.cluster.pods, self.cluster.ns_labels)
        self.chains: dict[str, list[str]] = {}  # chain -> rule bodies (without "-A chain")

    def chain(self, name: str) -> list[str]:
        return self.chains.setdefault(name, [])

    # -- one policy, one direction ---------------------------------------------------------
    def policy_chain(self, pol: dict, direction: str, targets: list[dict]) -> str:
        """cali-pi-* / cali-po-*: every rule of `pol` for `direction`; `targets` are the local pods it
        isolates (ingress named ports resolve on them)."""
        name = chain_name("cali-pi-" if direction == _INGRESS else "cali-po-", cp.felix_name(pol))
        if name in self.chains:
            return name
        body = self.chain(name)
        spec = pol.get("spec") or {}
        ns = pol["metadata"].get("namespace") or "default"
        rules = spec.get("ingress" if direction == _INGRESS else "egress") or []
        for i, rule in enumerate(rules):
            wrote = False
            for item in self._rule_matches(rule or {}, direction, ns, targets, f"{name}-{i}"):
                if item is None:  # the end of one converted Calico rule: Felix's return on the accept mark
                    if wrote:
                        body.append(f"-m mark --mark {ACCEPT_MARK} -j RETURN")
                    wrote = False
                    continue
                match, jump = item
                action = f"-j {jump}" if jump else f"-j MARK --set-xmark {ACCEPT_MARK}"
                body.append(f"{match} {action}".lstrip())
                wrote = True
        # ProtoRulesToIptablesRules: the first rule carries "Policy <name> <direction>"; no rules, one comment-only rule
        what = _comment(f"Policy {cp.felix_name(pol)} {direction.lower()}")
        if body:
            body[0] = f"{what} {body[0]}"
        else:
            body.append(what)
        return name

    def _rule_matches(self, rule: dict, direction: str, ns: str, targets: list[dict],
                      tag: str) -> Iterable[tuple[str, str | None] | None]:
        """(match, None) lines accept what they match; (match, chain) lines hand over to an except chain;
        None ends the lines of one Calico rule the Kubernetes rule converts to.

        A match lists Felix's criteria in Felix's order (rules/policy.go `CalculateRuleMatch`): the
        protocol, the source net or set, the destination net or set, then the destination ports."""
        peers_key, side = ("from", "-s") if direction == _INGRESS else ("to", "-d")
        set_side = "src" if direction == _INGRESS else "dst"
        peers = rule.get(peers_key) or []
        ports = rule.get("ports") or []
        numbered = [p for p in ports if not isinstance(p.get("port"), str)]

        # the peer side: (address match, its ipBlock or None, its selector or None)
        peer_matches: list[tuple[str, dict | None, str | None]] = []
        if not peers:
            peer_matches.append(("", None, None))
        for j, peer in enumerate(peers):
            if peer.get("ipBlock") is not None:
                block = peer["ipBlock"]
                if _v4(block["cidr"]):
                    peer_matches.append((f"{side} {ipaddress.ip_network(block['cidr'], strict=False)}",
                                         dict(block, _chain=f"{tag}-{j}"), None))
            else:  # Felix's selector ipset for the converted peer (selector_ipsets.py); an egress rule with
                # only named ports matches its peer through Felix's named-port sets alone (rule_scanner.go)
                sel = sip.entity_selector(sip.k8s_peer_entity(peer), ns)
                only_named = direction == _EGRESS and ports and not numbered
                peer_matches.append(("" if only_named else self.sets.match(sel, set_side), None, sel))

        def line(*parts: str) -> str:
            return " ".join(p for p in parts if p)

        def with_except(proto: str, addr: str, block: dict | None, port: str) -> Iterable[tuple[str, str | None]]:
            if block is None or not [e for e in block.get("except") or [] if _v4(e)]:
                yield line(proto, addr, port), None
                return
            # cidr minus except: a chain that RETURNs for the excepted addresses, else accepts
            sub = "cali-ex-" + _hash(block["_chain"] + line(proto, port), 20)
            body = self.chain(sub)
            if not body:
                for e in block["except"]:
                    if _v4(e):
                        body.append(f"{side} {ipaddress.ip_network(e, strict=False)} "
                                    f"{_comment('ipBlock except')} -j RETURN")
                body.append(f"{_comment('in ipBlock cidr, outside except')} -j MARK --set-xmark {ACCEPT_MARK}")
            yield line(proto, addr, port), sub

        # conversion.go k8sRuleToCalico: one rule per protocol (sorted) and peer, the protocol's numbered
        # ports merged (SimplifyPorts) into one multiport match; a port entry without a number opens the
        # whole protocol. Named ports resolve on the destination pod: the isolated pod for ingress, the
        # peer's pods for egress.
        for proto, specs in sorted(_ports_by_protocol(ports).items()):
            proto_m = f"-p {proto.lower()}" if proto else ""
            nums = _simplify([(int(p["port"]), int(p.get("endPort") or p["port"]))
                              for p in specs or [] if not isinstance(p["port"], str)])
            port_ms = [""] if specs is None else multiport(nums, "dports")
            names = [p["port"] for p in specs or [] if isinstance(p["port"], str)]
            for addr, block, sel in peer_matches:
                for pm in port_ms:
                    yield from with_except(proto_m, addr, block, pm)
                for pname in names:
                    if direction == _INGRESS:
                        for t in targets:
                            for num in _named(t, pname, proto):
                                yield from with_except(proto_m, addr, block,
                                                       line(f"-d {t['ip']}/32", f"-m multiport --dports {num}"))
                    else:
                        for pod in self._egress_pods(block, sel):
                            for num in _named(pod, pname, proto):
                                yield line(proto_m, f"-d {pod['ip']}/32", f"-m multiport --dports {num}"), None
                yield None  # one Calico rule per protocol and peer

    def _egress_pods(self, block: dict | None, sel: str | None) -> list[dict]:
        """The pods an egress peer covers (named ports need a pod to resolve on)."""
        if block is not None:
            return [p for p in self.cluster.pods if netpol.ip_block_contains(block, p["ip"])]
        if sel is not None:
            return self.sets.pods_of(sel)
        return self.cluster.pods

    # -- one local pod ------------------------------------------------------------------------
    def endpoint_chain(self, pod: dict, direction: str, policies: list[dict]) -> str:
        """Felix's cali-tw-/cali-fw- chain: the default tier in policy order, then the profiles.

        The first Allow (accept mark) or Deny (DROP) decides; Pass sets the pass mark, which skips the
        remaining policies and the end-of-tier drop; a pod some policy selects and no rule decided is
        dropped at the end of the tier; otherwise the namespace profile allows (endpoints.go)."""
        iface = pod["interface"]
        name = ("cali-tw-" if direction == _INGRESS else "cali-fw-") + iface
        body = self.chain(name)
        body.append("-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
        body.append("-m conntrack --ctstate INVALID -j DROP")
        body.append("-j MARK --set-xmark 0x0/0x30000")
        if direction == _EGRESS:  # even without VXLAN or IPIP pools (endpoints.go, AllowVXLAN/IPIPPacketsFromWorkloads off)
            body.append(f"{_comment('Drop VXLAN encapped packets originating in workloads')} -p 17 "
                        "-m multiport --dports 4789 -j DROP")
            body.append(f"{_comment('Drop IPinIP encapped packets originating in workloads')} -p 4 -j DROP")
        selecting = [p for p in policies if self._selects(p, pod, direction)]
        for pol in selecting:
            targets = [t for t in self.local_pods if self._selects(pol, t, direction)]
            if pol.get("apiVersion") == "networking.k8s.io/v1":
                chain = self.policy_chain(pol, direction, targets)
            else:
                chain = self.calico.policy_chain(pol, direction, targets)
            body.append(f"-m mark --mark 0x0/0x20000 -j {chain}")
            body.append(f"{_comment('Return if policy accepted')} -m mark --mark {ACCEPT_MARK} -j RETURN")
        if selecting:
            body.append(f"{_comment('Drop if no policies passed packet')} -m mark --mark 0x0/0x20000 -j DROP")
        # the pod's profiles: its namespace's (one Allow) and its service account's (no rules)
        for profile in (self.profile_chain(pod["namespace"], direction),
                        self.profile_chain(pod["namespace"], direction, pod.get("service_account") or "default")):
            body.append(f"-j {profile}")
            body.append(f"{_comment('Return if profile accepted')} -m mark --mark {ACCEPT_MARK} -j RETURN")
        body.append(f"{_comment('Drop if no profiles matched')} -j DROP")
        return name

    def dispatch_chains(self, root: str, flag: str, prefix: str, unknown: str) -> None:
        """Felix's dispatch (rules/dispatch.go `buildSingleDispatchChains`): the sorted interface names
        are binned by their common prefix plus one more character; a bin of one name gets its goto in
        the root chain, a bigger bin a `<prefix><c>+` goto to a child chain `<root>-<c>` that lists
        its names and ends, as the root does (the caller adds it), in the "Unknown interface" drop."""
        names = sorted(p["interface"] for p in self.local_pods)
        common = os.path.commonprefix(names)
        bins: dict[str, list[str]] = {}
        for name in names:
            bins.setdefault(name[:len(common) + 1], []).append(name)
        for key, group in bins.items():
            if len(group) == 1:
                self.chain(root).append(f"{flag} {group[0]} -g {prefix}{group[0]}")
                continue
            child = f"{root}-{key[len(common):]}"
            self.chain(root).append(f"{flag} {key}+ -g {child}")
            self.chain(child).extend([f"{flag} {name} -g {prefix}{name}" for name in group] + [unknown])

    def profile_chain(self, ns: str, direction: str, service_account: str | None = None) -> str:
        """cali-pri-/cali-pro- + kns.<ns> (NamespaceToProfile: one Allow) or ksa.<ns>.<sa> (no rules)."""
        prefix = "cali-pri-" if direction == _INGRESS else "cali-pro-"
        profile = f"kns.{ns}" if service_account is None else f"ksa.{ns}.{service_account}"
        name = chain_name(prefix, profile)
        if name not in self.chains:
            what = _comment(f"Profile {profile} {direction.lower()}")
            if service_account is None:  # an Allow: set the accept mark, then return on it
                self.chain(name).extend([f"{what} -j MARK --set-xmark {ACCEPT_MARK}", f"-m mark --mark {ACCEPT_MARK} -j RETURN"])
            else:
                self.chain(name).append(what)
        return name

    def _selects(self, pol: dict, pod: dict, direction: str) -> bool:
        if pol.get("apiVersion") != "networking.k8s.io/v1":
            return cp.selects(pol, pod, direction, self.cluster.ns_labels)
        ns = pol["metadata"].get("namespace") or "default"
        spec = pol.get("spec") or {}
        return ns == pod["namespace"] and direction in netpol.policy_types(spec) and \
            netpol.selector_matches(spec.get("podSelector") or {}, pod["labels"])

    # -- the table --------------------------------------------------------------------------
    def render(self) -> list[str]:
        self.local_pods = [p for p in self.view.get("pods") or [] if p.get("interface") and p.get("ip")]
        self.calico = CalicoRules(self.chain, self.cluster.pods, self.cluster.ns_labels, self.sets)
        # one default tier: Kubernetes policies at order 1000, Calico's by their order (unset last)
        policies = sorted(list(self.view.get("network_policies") or []) + list(self.view.get("calico_policies") or []),
                          key=cp.sort_key)
        # Felix's static filter chains with their fixed ids (rules/static.go; research/felix-dataplane.md §1.3)
        ipip = any(p.ipip_mode != "Never" for p in self.view.get("pools") or [])
        vxlan = any(p.vxlan_mode != "Never" for p in self.view.get("pools") or [])
        fwd, inp, out = self.chain("cali-FORWARD"), self.chain("cali-INPUT"), self.chain("cali-OUTPUT")
        self.chain("cali-from-wl-dispatch"), self.chain("cali-to-wl-dispatch")
        for empty in ("cali-cidr-block", "cali-from-hep-forward", "cali-from-host-endpoint", "cali-to-hep-forward",
                      "cali-to-host-endpoint"):
            self.chain(empty)  # referenced, programmed, empty without host endpoints
        to_host = self.chain("cali-wl-to-host")
        fwd += [f"{_id('vjrMJCRpqwy5oRoX')} -j MARK --set-xmark 0x0/0xe0000",
                f"{_id('A_sPAO0mcxbT9mOV')} -m mark --mark 0x0/0x10000 -j cali-from-hep-forward",
                f"-i cali+ {_id('8ZoYfO5HKXWbB3pk')} -j cali-from-wl-dispatch",
                f"-o cali+ {_id('jdEuaPBe14V2hutn')} -j cali-to-wl-dispatch",
                f"{_id('12bc6HljsMKsmfr-')} -j cali-to-hep-forward",
                f"{_id('NOSxoaGx8OIstr1z')} -j cali-cidr-block"]
        if ipip:
            inp += [f"-p ipencap {_id('PajejrV4aFdkZojI')} {_comment('Allow IPIP packets from Calico hosts')} "
                    "-m set --match-set cali40all-hosts-net src -m addrtype --dst-type LOCAL -j ACCEPT",
                    f"-p ipencap {_id('_wjq-Yrma8Ly1Svo')} {_comment('Drop IPIP packets from non-Calico hosts')} -j DROP"]
        if vxlan:  # static.go filterInputChain, VXLANEnabled (VXLAN port 4789, Felix's default)
            inp += [f"{_comment('Allow IPv4 VXLAN packets from allowed hosts')} -p 17 -m multiport --dports 4789 "
                    "-m set --match-set cali40all-vxlan-net src -m addrtype --dst-type LOCAL -j ACCEPT",
                    f"{_comment('Drop IPv4 VXLAN packets from non-allowed hosts')} -p 17 -m multiport --dports 4789 "
                    "-m addrtype --dst-type LOCAL -j DROP"]
        static = ipip and not vxlan  # the fixed ids below follow the IPIP rules alone in Felix's hash chain
        inp += [f"-i cali+ {_id('8TZGxLWh_Eiz66wc', static)} -g cali-wl-to-host",
                f"{_id('6McIeIDvPdL6PE1T', static)} -m mark --mark {ACCEPT_MARK} -j ACCEPT",
                f"{_id('YGPbrUms7NId8xVa', static)} -j MARK --set-xmark 0x0/0xf0000",
                f"{_id('2gmY7Bg2i0i84Wk_', static)} -j cali-from-host-endpoint",
                f"{_id('q-Vz2ZT9iGE331LL', static)} {_comment('Host endpoint policy accepted packet.')} "
                f"-m mark --mark {ACCEPT_MARK} -j ACCEPT"]
        out += [f"{_id('Mq1_rAdXXH3YkrzW')} -m mark --mark {ACCEPT_MARK} -j ACCEPT",
                f"-o cali+ {_id('69FkRTJDvD5Vu6Vl')} -j RETURN"]
        if ipip:
            out.append(f"-p ipencap {_id('AnEsmO6bDZbQntWW')} {_comment('Allow IPIP packets to other Calico hosts')} "
                       "-m set --match-set cali40all-hosts-net dst -m addrtype --src-type LOCAL -j ACCEPT")
        if vxlan:  # static.go filterOutputChain
            out.append(f"{_comment('Allow IPv4 VXLAN packets to other allowed hosts')} -p 17 -m multiport --dports 4789 "
                       "-m addrtype --src-type LOCAL -m set --match-set cali40all-vxlan-net dst -j ACCEPT")
        out += [f"{_id('9e9Uf3GU5tX--Lxy', static)} -j MARK --set-xmark 0x0/0xf0000",
                f"{_id('0f3LDz_VKuHFaA2K', static)} -m conntrack ! --ctstate DNAT -j cali-to-host-endpoint",
                f"{_id('OgU2f8BVEAZ_fwkq', static)} {_comment('Host endpoint policy accepted packet.')} "
                f"-m mark --mark {ACCEPT_MARK} -j ACCEPT"]
        # calico.yaml sets FELIX_DEFAULTENDPOINTTOHOSTACTION=ACCEPT; a FelixConfiguration may say otherwise
        action = {"drop": "DROP", "return": "RETURN"}.get(
            str((self.view.get("felix") or {}).get("defaultEndpointToHostAction", "Accept")).lower(), "ACCEPT")
        to_host.append(f"{_id('Ee9Sbo10IpVujdIY')} -j cali-from-wl-dispatch")
        to_host.append(f"{_id('nSZbcOoG1xPONxb8', action == 'ACCEPT')} "
                       f"{_comment('Configured DefaultEndpointToHostAction')} -j {action}")
        for pod in sorted(self.local_pods, key=lambda p: p["interface"]):
            self.endpoint_chain(pod, _EGRESS, policies)
            self.endpoint_chain(pod, _INGRESS, policies)
        alone = not self.local_pods  # the fixed ids hold when "Unknown interface" is the only rule
        unknown = f"{_comment('Unknown interface')} -j DROP"
        for root, flag, prefix in (("cali-from-wl-dispatch", "-i", "cali-fw-"), ("cali-to-wl-dispatch", "-o", "cali-tw-")):
            self.dispatch_chains(root, flag, prefix, unknown)
        self.chains["cali-from-wl-dispatch"].append(f"{_id('zTj6P0TIgYvgz-md', alone)} {unknown}")
        self.chains["cali-to-wl-dispatch"].append(f"{_id('7KNphB1nNHw80nIO', alone)} {unknown}")
        lines = ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]"]
        lines += [f":{c} - [0:0]" for c in self.chains]
        lines += [f"-A INPUT {_id('Cz_u1IQiXIMmKD4c')} -j cali-INPUT",
                  f"-A FORWARD {_id('wUHhoiAYhphO9Mso')} -j cali-FORWARD",
                  f"-A OUTPUT {_id('tVnHkvAo15HuiPy0')} -j cali-OUTPUT"]
        for c, body in self.chains.items():
            lines += [f"-A {c} {rule}".rstrip() for rule in body]
        # appended at the end of FORWARD, after whatever else (kube-proxy) is there (StaticFilterForwardAppendRules)
        lines += [f"-A FORWARD {_id('S93hcgKJrXEqnTfs')} {_comment('Policy explicitly accepted packet.')} "
                  f"-m mark --mark {ACCEPT_MARK} -j ACCEPT",
                  f"-A FORWARD {_id('mp77cMpurHhyjLrM')} -j MARK --set-xmark 0x10000/0x10000"]
        lines.append("COMMIT")
        return lines


def filter_rules(view: dict) -> list[str]:
    """iptables-restore lines for one node's filter table (NetworkPolicy on its pods' interfaces)."""
    return _Renderer(view).render()


def filter_rules_and_sets(view: dict) -> tuple[list[str], dict[str, tuple[str, list[str]]]]:
    """The filter table's lines and the selector ipsets its rules match ({name: (type, members)}):
    Felix creates a set only for a selector some rule of this node's active policies uses."""
    renderer = _Renderer(view)
    lines = renderer.render()
    return lines, renderer.sets.sets()
