"""networking.k8s.io/v1 NetworkPolicy: the API server's defaulting and validation, and the v1 semantics.

Sources: k8s.io/api networking/v1 types.go (field meanings), SetDefaults_NetworkPolicy (policyTypes:
Ingress, plus Egress iff the egress list is non-empty; ports[].protocol: TCP), and
pkg/apis/networking/validation (ValidateNetworkPolicySpec/Peer/Port, ValidateIPBlock,
ValidateLabelSelector), whose messages `validate` reproduces word for word.
"""

from __future__ import annotations

import copy
import ipaddress
import re
from collections.abc import Mapping

PROTOCOLS = ("TCP", "UDP", "SCTP")
OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")

_SPEC_FIELDS = {"podSelector", "policyTypes", "ingress", "egress"}
_RULE_FIELDS = {"ingress": {"from", "ports"}, "egress": {"to", "ports"}}
_PEER_FIELDS = {"podSelector", "namespaceSelector", "ipBlock"}
_PORT_FIELDS = {"port", "endPort", "protocol"}
_SELECTOR_FIELDS = {"matchLabels", "matchExpressions"}
_REQUIREMENT_FIELDS = {"key", "operator", "values"}
_IPBLOCK_FIELDS = {"cidr", "except"}

_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_CIDR_MSG = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"


# ---------------------------------------------------------------- defaulting

def defaulted(spec: dict) -> dict:
    """The spec as the API server stores it: policyTypes filled in, every port's protocol set."""
    out = copy.deepcopy(spec)
    if not out.get("policyTypes"):
        out["policyTypes"] = ["Ingress"] + (["Egress"] if out.get("egress") else [])
    for direction in ("ingress", "egress"):
        for rule in out.get(direction) or []:
            for port in (rule.get("ports") or []) if isinstance(rule, dict) else []:
                if isinstance(port, dict) and port.get("protocol") is None:
                    port["protocol"] = "TCP"
    return out


def policy_types(spec: dict) -> set[str]:
    """Ingress/Egress this policy isolates its pods for (defaulted when the spec leaves them out)."""
    return set(defaulted(spec)["policyTypes"])


# ---------------------------------------------------------------- matching

def selector_matches(selector: Mapping | None, labels: Mapping[str, str]) -> bool:
    """A metav1.LabelSelector: matchLabels AND every matchExpression; `{}` matches everything."""
    if selector is None:
        return False
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != str(v):
            return False
    for req in selector.get("matchExpressions") or []:
        key, op, values = req.get("key"), req.get("operator"), [str(v) for v in req.get("values") or []]
        if op == "In" and not (key in labels and labels[key] in values):
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
        if op not in OPERATORS:
            return False
    return True


def ip_block_contains(block: Mapping, ip: str) -> bool:
    addr = ipaddress.ip_address(ip)
    net = ipaddress.ip_network(block["cidr"], strict=False)
    if addr.version != net.version or addr not in net:
        return False
    return not any(addr in ipaddress.ip_network(e, strict=False) for e in block.get("except") or []
                   if ipaddress.ip_network(e, strict=False).version == addr.version)


# ---------------------------------------------------------------- validation

def unknown_fields(spec: Mapping) -> list[str]:
    """Field paths the v1 schema does not have (kubectl's strict field validation refuses them)."""
    bad: list[str] = []

    def check(obj, allowed: set[str], path: str) -> None:
        if isinstance(obj, Mapping):
            bad.extend(f"{path}.{k}" for k in obj if k not in allowed)

    def check_selector(sel, path: str) -> None:
        check(sel, _SELECTOR_FIELDS, path)
        if isinstance(sel, Mapping):
            for i, req in enumerate(_as_list(sel.get("matchExpressions"))):
                check(req, _REQUIREMENT_FIELDS, f"{path}.matchExpressions[{i}]")

    check(spec, _SPEC_FIELDS, "spec")
    check_selector(spec.get("podSelector"), "spec.podSelector")
    for direction, peers_key in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(_as_list(spec.get(direction))):
            rpath = f"spec.{direction}[{i}]"
            check(rule, _RULE_FIELDS[direction], rpath)
            if not isinstance(rule, Mapping):
                continue
            for j, peer in enumerate(_as_list(rule.get(peers_key))):
                ppath = f"{rpath}.{peers_key}[{j}]"
                check(peer, _PEER_FIELDS, ppath)
                if isinstance(peer, Mapping):
                    for s in ("podSelector", "namespaceSelector"):
                        check_selector(peer.get(s), f"{ppath}.{s}")
                    check(peer.get("ipBlock"), _IPBLOCK_FIELDS, f"{ppath}.ipBlock")
            for j, port in enumerate(_as_list(rule.get("ports"))):
                check(port, _PORT_FIELDS, f"{rpath}.ports[{j}]")
    return bad


def _as_list(value) -> list:
    return value if isinstance(value, list) else []


def _q(value) -> str:
    """How field.Invalid prints a value: strings quoted, numbers bare."""
    return f'"{value}"' if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else \
        "null" if value is None else str(value)


def _label_name_errors(key, path: str) -> list[str]:
    if not isinstance(key, str) or not key:
        return [f'{path}: Invalid value: {_q(key)}: name part must be non-empty']
    prefix, _, name = key.rpartition("/")
    errs = []
    if "/" in key and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        errs.append(f"{path}: Invalid value: {_q(key)}: prefix part a lowercase RFC 1123 subdomain must consist "
                    "of lower case alphanumeric characters, '-' or '.', and must start and end with an "
                    "alphanumeric character")
    if not name or len(name) > 63 or not _LABEL_NAME.match(name):
        errs.append(f"{path}: Invalid value: {_q(key)}: name part must consist of alphanumeric characters, "
                    "'-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  "
                    "or 'my.name',  or '123-abc', regex used for validation is "
                    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
    return errs


def _label_value_errors(value, path: str) -> list[str]:
    if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
        return [f"{path}: Invalid value: {_q(value)}: a valid label must be an empty string or consist of "
                "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
                "character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is "
                "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"]
    return []


def _selector_errors(sel, path: str) -> list[str]:
    if not isinstance(sel, Mapping):
        return [f"{path}: Invalid value: {_q(sel)}: must be a label selector (matchLabels, matchExpressions)"]
    errs: list[str] = []
    labels = sel.get("matchLabels")
    if labels is not None and not isinstance(labels, Mapping):
        errs.append(f"{path}.matchLabels: Invalid value: {_q(labels)}: must be a map of label keys to values")
    for k, v in (labels or {}).items() if isinstance(labels, Mapping) else []:
        errs += _label_name_errors(k, f"{path}.matchLabels")
        errs += _label_value_errors(v, f"{path}.matchLabels")
    exprs = sel.get("matchExpressions")
    if exprs is not None and not isinstance(exprs, list):
        errs.append(f"{path}.matchExpressions: Invalid value: {_q(exprs)}: must be a list of requirements")
    for i, req in enumerate(_as_list(exprs)):
        rpath = f"{path}.matchExpressions[{i}]"
        if not isinstance(req, Mapping):
            errs.append(f"{rpath}: Invalid value: {_q(req)}: must be {{key, operator, values}}")
            continue
        op, values = req.get("operator"), req.get("values")
        if values is not None and not isinstance(values, list):
            errs.append(f"{rpath}.values: Invalid value: {_q(values)}: must be a list of strings")
            values = []
        if op in ("In", "NotIn"):
            if not values:
                errs.append(f"{rpath}.values: Required value: must be specified when `operator` is 'In' or 'NotIn'")
        elif op in ("Exists", "DoesNotExist"):
            if values:
                errs.append(f"{rpath}.values: Forbidden: may not be specified when `operator` is 'Exists' or "
                            "'DoesNotExist'")
        else:
            errs.append(f"{rpath}.operator: Invalid value: {_q(op)}: not a valid selector operator "
                        f"(valid operators: {', '.join(OPERATORS)})")
        errs += _label_name_errors(req.get("key"), f"{rpath}.key")
        for j, v in enumerate(values or []):
            errs += _label_value_errors(v, f"{rpath}.values[{j}]")
    return errs


def _port_num_errors(value, path: str) -> list[str]:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        return [f"{path}: Invalid value: {_q(value)}: must be between 1 and 65535, inclusive"]
    return []


def _port_name_errors(name: str, path: str) -> list[str]:
    errs = []
    if len(name) > 15:
        errs.append("must be no more than 15 characters")
    if not re.fullmatch(r"[-a-z0-9]+", name):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search(r"[a-z]", name):
        errs.append("must contain at least one letter (a-z)")
    if "--" in name:
        errs.append("must not contain consecutive hyphens")
    if name.startswith("-") or name.endswith("-"):
        errs.append("must not begin or end with a hyphen")
    return [f"{path}: Invalid value: {_q(name)}: {m}" for m in errs]


def _port_errors(port, path: str) -> list[str]:
    if not isinstance(port, Mapping):
        return [f"{path}: Invalid value: {_q(port)}: must be {{protocol, port, endPort}}"]
    errs = []
    proto = port.get("protocol", "TCP")
    if proto not in PROTOCOLS:
        errs.append(f'{path}.protocol: Unsupported value: {_q(proto)}: supported values: "SCTP", "TCP", "UDP"')
    value, end = port.get("port"), port.get("endPort")
    if end is not None and (isinstance(end, bool) or not isinstance(end, int)):
        errs.append(f"{path}.endPort: Invalid value: {_q(end)}: must be an integer")
        end = None
    if value is None:
        if end is not None:
            errs.append(f"{path}.endPort: Invalid value: {end}: may not be specified when `port` is not specified")
    elif isinstance(value, int) and not isinstance(value, bool):
        errs += _port_num_errors(value, f"{path}.port")
        if end is not None:
            if end < value:
                errs.append(f"{path}.endPort: Invalid value: {end}: must be greater than or equal to `port` ({value})")
            errs += _port_num_errors(end, f"{path}.endPort")
    elif isinstance(value, str):
        if end is not None:
            errs.append(f"{path}.endPort: Invalid value: {end}: may not be specified when `port` is non-numeric "
                        f"(a named port, here {value!r}, stands for exactly one port)")
        errs += _port_name_errors(value, f"{path}.port")
    else:
        errs.append(f"{path}.port: Invalid value: {_q(value)}: must be a port number or a port name")
    return errs


def _cidr(value) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    if not isinstance(value, str) or "/" not in value:
        return None
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None


def _ip_block_errors(block, path: str) -> list[str]:
    if not isinstance(block, Mapping):
        return [f"{path}: Invalid value: {_q(block)}: must be {{cidr, except}}"]
    cidr = block.get("cidr")
    if not cidr:
        return [f"{path}.cidr: Required value"]
    net = _cidr(cidr)
    if net is None:
        return [f"{path}.cidr: Invalid value: {_q(cidr)}: {_CIDR_MSG}"]
    errs = []
    excepts = block.get("except")
    if excepts is not None and not isinstance(excepts, list):
        return [f"{path}.except: Invalid value: {_q(excepts)}: must be a list of CIDRs"]
    for i, e in enumerate(excepts or []):
        epath = f"{path}.except[{i}]"
        ex = _cidr(e)
        if ex is None:
            errs.append(f"{epath}: Invalid value: {_q(e)}: {_CIDR_MSG}")
        elif ex.version != net.version or not (ex.subnet_of(net) and ex.prefixlen > net.prefixlen):  # type: ignore[arg-type]
            errs.append(f"{epath}: Invalid value: {_q(e)}: must be a strict subset of `cidr` ({cidr})")
    return errs


def _peer_errors(peer, path: str) -> list[str]:
    if not isinstance(peer, Mapping):
        return [f"{path}: Invalid value: {_q(peer)}: must be a peer (podSelector, namespaceSelector or ipBlock)"]
    errs, count = [], 0
    for key in ("podSelector", "namespaceSelector"):
        if peer.get(key) is not None:
            count += 1
            errs += _selector_errors(peer[key], f"{path}.{key}")
    if peer.get("ipBlock") is not None:
        count += 1
        errs += _ip_block_errors(peer["ipBlock"], f"{path}.ipBlock")
    if count == 0:
        errs.append(f"{path}: Required value: must specify a peer")
    elif count > 1 and peer.get("ipBlock") is not None:
        errs.append(f"{path}: Forbidden: may not specify both ipBlock and another peer")
    return errs


def validate(spec) -> list[str]:
    """Every problem ValidateNetworkPolicySpec reports, as `field.path: Reason: detail` lines."""
    if not isinstance(spec, Mapping):
        return ["spec: Required value"]
    errs: list[str] = []
    if not isinstance(spec.get("podSelector"), Mapping):
        errs.append("spec.podSelector: Required value" if spec.get("podSelector") is None else
                    f"spec.podSelector: Invalid value: {_q(spec['podSelector'])}: must be a label selector")
    else:
        errs += _selector_errors(spec["podSelector"], "spec.podSelector")
    types = spec.get("policyTypes")
    if types is not None and not isinstance(types, list):
        errs.append(f'spec.policyTypes: Invalid value: {_q(types)}: must be a list of "Ingress" and "Egress"')
        types = []
    for i, t in enumerate(types or []):
        if t not in ("Ingress", "Egress"):
            errs.append(f'spec.policyTypes[{i}]: Unsupported value: {_q(t)}: supported values: "Egress", "Ingress"')
    if types and len(types) > 2:
        errs.append(f"spec.policyTypes: Invalid value: {types}: may not have more than 2 values")
    for direction, peers_key in (("ingress", "from"), ("egress", "to")):
        rules = spec.get(direction)
        if rules is not None and not isinstance(rules, list):
            errs.append(f"spec.{direction}: Invalid value: {_q(rules)}: must be a list of rules")
            continue
        for i, rule in enumerate(rules or []):
            rpath = f"spec.{direction}[{i}]"
            if rule is None:
                continue
            if not isinstance(rule, Mapping):
                errs.append(f"{rpath}: Invalid value: {_q(rule)}: must be a rule ({peers_key}, ports)")
                continue
            for key, check in ((peers_key, _peer_errors), ("ports", _port_errors)):
                items = rule.get(key)
                if items is not None and not isinstance(items, list):
                    errs.append(f"{rpath}.{key}: Invalid value: {_q(items)}: must be a list")
                    continue
                for j, item in enumerate(items or []):
                    errs += check(item, f"{rpath}.{key}[{j}]")
    return errs


def invalid_message(name: str, errors: list[str]) -> str:
    """kubectl's wording of an Invalid status: one cause inline, several as a bullet list."""
    if len(errors) == 1:
        return f'The NetworkPolicy "{name}" is invalid: {errors[0]}'
    return f'The NetworkPolicy "{name}" is invalid: \n' + "\n".join(f"* {e}" for e in errors)
