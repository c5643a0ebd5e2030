"""Calico's own policy kinds (projectcalico.org/v3 NetworkPolicy and GlobalNetworkPolicy): validation
worded as calicoctl v3.28 words it, clientv3's defaulting, and which endpoints a policy selects.

Sources (projectcalico/calico v3.28.1): api/pkg/apis/projectcalico/v3/{policy_common,networkpolicy,
globalnetworkpolicy}.go (fields and validate tags), libcalico-go/lib/validator/v3/validator.go
(validateRule, validateICMPFields, validatePort, validateProtocol, validateNetworkPolicy,
validateGlobalNetworkPolicy: the reasons below are its strings), clientv3 `defaultPolicyTypesField`
(types from the rules present), and the Felix-side names and order (research/felix-dataplane.md §1.6, §4).
"""

from __future__ import annotations

import copy
import ipaddress
import re

from ..errors import InvalidInput
from .outcomes import ApplyError, calico_field_error
from .selectors import calico_selector

ACTIONS = ("Allow", "Deny", "Log", "Pass")
PROTOCOLS = ("TCP", "UDP", "ICMP", "ICMPv6", "SCTP", "UDPLite")
PORT_PROTOCOLS = ("TCP", "UDP", "SCTP")  # numorstring.Protocol.SupportsPorts
K8S_ORDER = 1000.0  # Kubernetes NetworkPolicies enter the default tier at order 1000 (K8sNetworkPolicyToCalico)
_NAME_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_NP_NAME = re.compile(rf"^(({_NAME_LABEL})|((?:knp|ossg)\.default\.({_NAME_LABEL}(\.{_NAME_LABEL})*)))$")
_GNP_NAME = re.compile(rf"^({_NAME_LABEL})$")

_COMMON = {"order", "ingress", "egress", "selector", "types", "serviceAccountSelector", "performanceHints"}
SPEC_FIELDS = {"CalicoNetworkPolicy": _COMMON,
               "GlobalNetworkPolicy": _COMMON | {"doNotTrack", "preDNAT", "applyOnForward", "namespaceSelector"}}
_RULE_FIELDS = {"action", "ipVersion", "protocol", "icmp", "notProtocol", "notICMP", "source", "destination",
                "http", "metadata"}
_ENTITY_FIELDS = {"nets", "selector", "namespaceSelector", "services", "ports", "notNets", "notSelector",
                  "notPorts", "serviceAccounts"}
SHOWN = {"CalicoNetworkPolicy": "NetworkPolicy", "GlobalNetworkPolicy": "GlobalNetworkPolicy"}


def _tag_error(field: str, value, tag: str) -> tuple[str, object, str]:
    # extractReason for a failed validate tag (no custom reason): note the trailing space
    return field, value, f"Reason: failed to validate Field: {field.split('.')[-1]} because of Tag: {tag} "


def _selector_ok(expr) -> bool:
    if not isinstance(expr, str):
        return False
    try:
        calico_selector(expr)
    except InvalidInput:
        return False
    return True


def _go_list(values: list) -> str:
    return "[" + " ".join(str(v) for v in values) + "]"


def parse_port(value) -> tuple[int, int] | str:
    """numorstring.Port: a number, "min:max", or a port name."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int):
        return value, value
    text = str(value)
    m = re.fullmatch(r"(\d+)(?::(\d+))?", text)
    if m:
        lo = int(m.group(1))
        return lo, int(m.group(2) or lo)
    if re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", text):
        return text
    raise ValueError(value)


def _port_errors(ports, field: str) -> list[tuple[str, object, str]]:
    errs = []
    for p in ports:
        try:
            parsed = parse_port(p)
        except ValueError:
            errs.append((field, p, "Reason: failed to validate Field: Ports because of Tag: port "))
            continue
        if isinstance(parsed, tuple):
            lo, hi = parsed
            if lo > hi:
                errs.append(("Port", hi, "port range invalid"))
            elif lo < 1 or hi > 65535:
                errs.append(("Port", lo, "port range invalid, port number must be between 1 and 65535"))
    return errs


def _net_ok(n) -> bool:
    try:
        ipaddress.ip_network(str(n), strict=False)
        return isinstance(n, str)
    except ValueError:
        return False


def _rule_errors(rule, where: str) -> list[tuple[str, object, str]]:
    errs: list[tuple[str, object, str]] = []
    if not isinstance(rule, dict):
        return [(where, rule, "must be a rule")]
    if rule.get("action") not in ACTIONS:
        errs.append(_tag_error("Action", rule.get("action", ""), "action"))
    for key in ("protocol", "notProtocol"):
        proto = rule.get(key)
        if proto is None:
            continue
        if isinstance(proto, int) and not isinstance(proto, bool):
            if not 1 <= proto <= 255:
                errs.append(("Protocol", proto, "protocol number invalid"))
        elif str(proto) not in PROTOCOLS:
            errs.append(("Protocol", proto, "protocol name invalid"))
    proto = rule.get("protocol")
    for key in ("icmp", "notICMP"):
        icmp = rule.get(key)
        if icmp is None:
            continue
        if not isinstance(icmp, dict):
            errs.append((key.upper() if key == "icmp" else "NotICMP", icmp, "must be {type, code}"))
            continue
        t, c = icmp.get("type"), icmp.get("code")
        if t is not None and not (isinstance(t, int) and 0 <= t <= 254):
            errs.append(_tag_error("Type", t, "lte" if isinstance(t, int) and t > 254 else "gte"))
        if c is not None and not (isinstance(c, int) and 0 <= c <= 255):
            errs.append(_tag_error("Code", c, "lte" if isinstance(c, int) and c > 255 else "gte"))
        if c is not None and t is None:
            errs.append(("Code", c, "ICMP code specified without an ICMP type"))
    if rule.get("icmp") is not None and proto not in ("ICMP", "ICMPv6"):
        errs.append(("ICMP", rule["icmp"], "rules that specify ICMP fields must set protocol to ICMP"))
    for side in ("source", "destination"):
        ent = rule.get(side) or {}
        cap = side.capitalize()
        if not isinstance(ent, dict):
            errs.append((cap, ent, "must be an entity rule"))
            continue
        for key in ("selector", "notSelector", "namespaceSelector"):
            if key in ent and not _selector_ok(ent[key]):
                errs.append(_tag_error(key[0].upper() + key[1:], ent[key], "selector"))
        if "global()" in str(ent.get("selector", "")):
            errs.append(("Selector field", ent["selector"],
                         "global() can only be used in an EntityRule namespaceSelector"))
        for key in ("nets", "notNets"):
            for n in ent.get(key) or []:
                if not _net_ok(n):
                    errs.append((f"{cap}.{key[0].upper() + key[1:]}", n, "invalid CIDR"))
        for key in ("ports", "notPorts"):
            ports = ent.get(key) or []
            if ports and str(proto) not in PORT_PROTOCOLS:
                errs.append((f"{cap}.{key[0].upper() + key[1:]}", _go_list(ports),
                             "rules that specify ports must set protocol to TCP or UDP or SCTP"))
            errs += _port_errors(ports, f"{cap}.{key}")
    return errs


def _unknown(obj: dict, kind: str) -> str | None:
    """calicoctl's strict decoding: the first unknown field, in its JSON path."""
    spec = obj.get("spec") or {}
    for k in spec:
        if k not in SPEC_FIELDS[kind]:
            return k
    for direction in ("ingress", "egress"):
        for rule in spec.get(direction) or []:
            if isinstance(rule, dict):
                for k in rule:
                    if k not in _RULE_FIELDS:
                        return k
                for side in ("source", "destination"):
                    for k in (rule.get(side) or {}) if isinstance(rule.get(side), dict) else {}:
                        if k not in _ENTITY_FIELDS:
                            return k
    return None


def normalize(kind: str, obj: dict) -> dict:
    """Validate a NetworkPolicy/GlobalNetworkPolicy and return what clientv3 stores (types defaulted).

    Raises ApplyError with calicoctl's wording; nothing is stored on error."""
    meta = obj.get("metadata") or {}
    name, ns = meta.get("name", ""), meta.get("namespace")
    spec = obj.get("spec") or {}
    shown = SHOWN[kind]
    if not isinstance(spec, dict):
        raise ApplyError(kind, name, f"error unmarshaling JSON: json: cannot unmarshal into Go struct field "
                         f"{shown}.spec of type v3.{shown}Spec", file_invalid=True, namespace=ns)
    bad = _unknown(obj, kind)
    if bad:
        raise ApplyError(kind, name, f'error unmarshaling JSON: while decoding JSON: json: unknown field "{bad}"',
                         file_invalid=True, namespace=ns)
    errs: list[tuple[str, object, str]] = []
    order = spec.get("order")
    if order is not None and (isinstance(order, bool) or not isinstance(order, (int, float))):
        raise ApplyError(kind, name, "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal "
                         f"string into Go struct field {shown}Spec.spec.order of type float64",
                         file_invalid=True, namespace=ns)
    for key in ("selector", "serviceAccountSelector", "namespaceSelector"):
        if key in spec and not _selector_ok(spec[key]):
            errs.append(_tag_error(key[0].upper() + key[1:], spec[key], "selector"))
    if "global()" in str(spec.get("selector", "")):
        errs.append((f"{shown}Spec.Selector", spec["selector"],
                     "global() can only be used in an EntityRule namespaceSelector"))
    types = spec.get("types") or []
    seen = set()
    for i, t in enumerate(types):
        if t not in ("Ingress", "Egress"):
            errs.append(_tag_error(f"Types[{i}]", t, "policyType"))
        elif t in seen:
            errs.append((f"{shown}Spec.Types", _go_list(types), f"'{t}' type specified more than once"))
        seen.add(t)
    for direction in ("ingress", "egress"):
        for i, rule in enumerate(spec.get(direction) or []):
            errs += _rule_errors(rule, f"{direction}[{i}]")
    regex = _GNP_NAME if kind == "GlobalNetworkPolicy" else _NP_NAME
    if len(name) > 253:
        errs.append(("Metadata.Name", name, f"name is too long by {len(name) - 253} bytes"))
    if not regex.match(name):
        errs.append(("Metadata.Name", name, "name must consist of lower case alphanumeric characters or '-' "
                     f"(regex: {_NAME_LABEL})"))
    if errs:
        raise ApplyError(kind, name, calico_field_error(errs), namespace=ns)
    if kind == "CalicoNetworkPolicy" and name.startswith(("knp.default.", "ossg.default.")):
        raise ApplyError(kind, name, f"operation create or apply is not supported on {name}: kubernetes network "
                         "policies must be managed through the kubernetes API", namespace=ns, status="Forbidden")
    out_spec = copy.deepcopy(spec)
    if not out_spec.get("types"):  # clientv3 defaultPolicyTypesField
        if not out_spec.get("egress"):
            out_spec["types"] = ["Ingress"]
        elif not out_spec.get("ingress"):
            out_spec["types"] = ["Egress"]
        else:
            out_spec["types"] = ["Ingress", "Egress"]
    out_meta = {"name": name}
    if kind == "CalicoNetworkPolicy":
        out_meta["namespace"] = ns or "default"
    for key in ("labels", "annotations"):
        if meta.get(key):
            out_meta[key] = dict(meta[key])
    return {"apiVersion": "projectcalico.org/v3", "kind": kind, "metadata": out_meta, "spec": out_spec}


# ---------------------------------------------------------------- what Felix sees

def felix_name(pol: dict) -> str:
    """The policy name Felix sorts and names chains by: `default.X`, `ns/default.X`, `ns/knp.default.X`."""
    meta = pol["metadata"]
    if pol.get("apiVersion") == "networking.k8s.io/v1":
        return f"{meta.get('namespace') or 'default'}/knp.default.{meta['name']}"
    if pol.get("kind") == "GlobalNetworkPolicy":
        return f"default.{meta['name']}"
    return f"{meta.get('namespace') or 'default'}/default.{meta['name']}"


def order_of(pol: dict) -> float | None:
    if pol.get("apiVersion") == "networking.k8s.io/v1":
        return K8S_ORDER
    order = (pol.get("spec") or {}).get("order")
    return None if order is None else float(order)


def sort_key(pol: dict) -> tuple:
    """calc/policy_sorter.go PolKVLess: order ascending, unset order last, then the name's bytes."""
    order = order_of(pol)
    return (order is None, order or 0.0, felix_name(pol).encode())


def endpoint_labels(pod: dict) -> dict:
    """A workload endpoint's labels as Calico selectors see them (pod labels plus Calico's own)."""
    labels = dict(pod.get("labels") or {})
    labels.update({"projectcalico.org/namespace": pod["namespace"], "projectcalico.org/orchestrator": "k8s",
                   "projectcalico.org/serviceaccount": pod.get("service_account") or "default"})
    return labels


def namespace_labels(ns: str, labels: dict | None) -> dict:
    out = dict(labels or {})
    out.setdefault("kubernetes.io/metadata.name", ns)
    out["projectcalico.org/name"] = ns
    return out


def selects(pol: dict, pod: dict, direction: str, ns_labels: dict) -> bool:
    """Does Calico policy `pol` apply to `pod` in `direction` (Ingress/Egress)?"""
    spec = pol.get("spec") or {}
    if direction not in (spec.get("types") or []):
        return False
    if pol["kind"] == "CalicoNetworkPolicy" and pol["metadata"].get("namespace") != pod["namespace"]:
        return False
    if not calico_selector(spec.get("selector") or "all()")(endpoint_labels(pod)):
        return False
    if spec.get("serviceAccountSelector"):
        sa = {"projectcalico.org/name": pod.get("service_account") or "default"}
        if not calico_selector(spec["serviceAccountSelector"])(sa):
            return False
    if pol["kind"] == "GlobalNetworkPolicy" and spec.get("namespaceSelector"):
        nsl = namespace_labels(pod["namespace"], ns_labels.get(pod["namespace"]))
        if not calico_selector(spec["namespaceSelector"])(nsl):
            return False
    return True
