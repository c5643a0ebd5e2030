"""Validation and defaulting of projectcalico.org/v3 objects, worded as calicoctl v3.28 words it.

Order follows libcalico-go: clientv3's validateAndSetDefaults (CIDR, block size, overlap, "Cannot
enable both VXLAN and IPIP") first, then the struct validator (modes, selectors, names). Unknown
or mistyped fields fail the way calicoctl's strict YAML decoding does.
"""

from __future__ import annotations

import ipaddress
import re

from ..errors import InvalidInput
from .outcomes import ApplyError, calico_field_error
from .selectors import calico_selector

MODES = ("Always", "CrossSubnet", "Never")
LOG_LEVELS = ("Trace", "Debug", "Info", "Warning", "Error", "Fatal")
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

# spec fields calicoctl accepts per kind, with the Go type strict decoding checks ("" = any)
SPEC_FIELDS = {
    "IPPool": {"cidr": "string", "blockSize": "int", "ipipMode": "string", "vxlanMode": "string",
               "natOutgoing": "bool", "disabled": "bool", "disableBGPExport": "bool",
               "nodeSelector": "string", "allowedUses": "list", "assignmentMode": "string"},
    "BGPPeer": {"node": "string", "nodeSelector": "string", "peerIP": "string", "asNumber": "asn",
                "peerSelector": "string", "keepOriginalNextHop": "bool", "password": "",
                "sourceAddress": "string", "failureDetectionMode": "string", "restartMode": "string",
                "maxRestartTime": "string", "birdGatewayMode": "string", "numAllowedLocalASNumbers": "int",
                "ttlSecurity": "int", "filters": "list", "reachableBy": "string",
                "localWorkloadSelector": "string", "nextHopMode": "string"},
    "BGPConfiguration": {"logSeverityScreen": "string", "nodeToNodeMeshEnabled": "bool", "asNumber": "asn",
                         "serviceLoadBalancerIPs": "list", "serviceExternalIPs": "list",
                         "serviceClusterIPs": "list", "communities": "list", "prefixAdvertisements": "list",
                         "listenPort": "int", "bindMode": "string", "ignoredInterfaces": "list",
                         "nodeMeshPassword": "", "nodeMeshMaxRestartTime": "string",
                         "localWorkloadPeeringIPV4": "string", "localWorkloadPeeringIPV6": "string"},
    "IPReservation": {"reservedCIDRs": "list"},
}
# FelixConfiguration has ~150 fields; check the types of the ones the course touches, accept the rest
FELIX_TYPED = {"prometheusMetricsEnabled": "bool", "prometheusMetricsPort": "int", "wireguardEnabled": "bool",
               "bpfEnabled": "bool", "ipipEnabled": "bool", "vxlanEnabled": "bool", "vxlanVNI": "int",
               "vxlanPort": "int", "logSeverityScreen": "string", "ipipMTU": "int", "vxlanMTU": "int"}
_GO_TYPE = {"string": "string", "int": "int", "bool": "bool", "list": "[]string", "asn": "numorstring.ASNumber"}


def _type_ok(value: object, want: str) -> bool:
    if want in ("", None):
        return True
    if want == "string":
        return isinstance(value, str)
    if want == "bool":
        return isinstance(value, bool)
    if want == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if want == "list":
        return isinstance(value, list)
    if want == "asn":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, str) and re.fullmatch(r"\d+(\.\d+)?", value) is not None)
    return True


def _json_type(value: object) -> str:
    return {bool: "bool", int: "number", float: "number", str: "string", list: "array", dict: "object"}.get(
        type(value), "null")


def strict_decode(kind: str, obj: dict, fields: dict[str, str] | None = None, check_unknown: bool = True) -> None:
    """calicoctl's UnmarshalStrict: unknown spec fields and wrong types make the file invalid."""
    spec = obj.get("spec") or {}
    name = (obj.get("metadata") or {}).get("name", "")
    if not isinstance(spec, dict):
        raise ApplyError(kind, name, "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal "
                         f"{_json_type(spec)} into Go struct field {kind}.spec of type v3.{kind}Spec",
                         file_invalid=True)
    fields = SPEC_FIELDS.get(kind, {}) if fields is None else fields
    for key, value in spec.items():
        if key not in fields:
            if check_unknown:
                raise ApplyError(kind, name, "error unmarshaling JSON: while decoding JSON: json: unknown field "
                                 f'"{key}"', file_invalid=True)
            continue
        if value is not None and not _type_ok(value, fields[key]):
            raise ApplyError(kind, name, "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal "
                             f"{_json_type(value)} into Go struct field {kind}Spec.spec.{key} of type "
                             f"{_GO_TYPE.get(fields[key], fields[key])}", file_invalid=True)


def check_name(kind: str, name: str) -> None:
    if not name:
        raise ApplyError(kind, name, "error with field Metadata.Name (name is required)")
    if not _NAME.match(name) or len(name) > 253:
        raise ApplyError(kind, name, calico_field_error([(
            "Metadata.Name", name,
            "Reason: name must consist of lower case alphanumeric characters, '-' or '.', "
            "and must start and end with an alphanumeric character")]))


def _selector_reason(expr: str) -> str | None:
    try:
        calico_selector(expr)
    except InvalidInput as e:
        return f"Reason: {e}"
    return None


# ---------------------------------------------------------------- IPPool

def normalize_ippool(obj: dict, old: dict | None, others: list[dict]) -> dict:
    """Defaults and validates an IPPool (create when `old` is None); returns the object to store."""
    name = obj["metadata"]["name"]
    check_name("IPPool", name)
    strict_decode("IPPool", obj)
    spec = dict(obj.get("spec") or {})
    cidr_text = str(spec.get("cidr") or "")
    if not cidr_text:
        raise ApplyError("IPPool", name, calico_field_error([("IPPool.Spec.CIDR", None,
                                                              "IPPool CIDR must be specified")]))
    try:
        iface = ipaddress.ip_interface(cidr_text)
    except ValueError:
        raise ApplyError("IPPool", name, calico_field_error([("IPPool.Spec.CIDR", cidr_text,
                                                              "IPPool CIDR must be a valid subnet")])) from None
    net = iface.network
    if iface.version != 4:
        raise ApplyError("IPPool", name, "the embedded lab is IPv4-only (FELIX_IPV6SUPPORT=false, as in KANS)")
    errs: list[tuple[str, object, str]] = []
    if old is not None and old["spec"]["cidr"] != str(net):
        errs.append(("IPPool.Spec.CIDR", str(net), "IPPool CIDR cannot be modified"))
    block_size = spec.get("blockSize") or 26
    if old is not None and int(old["spec"].get("blockSize", 26)) != block_size:
        errs.append(("IPPool.Spec.BlockSize", block_size, "IPPool BlockSize cannot be modified"))
    if not 20 <= block_size <= 32:
        errs.append(("IPPool.Spec.BlockSize", block_size, "IPv4 block size must be between 20 and 32"))
    if not spec.get("disabled") and net.prefixlen > block_size:
        errs.append(("IPPool.Spec.CIDR", str(net), "IP pool size is too small for use with Calico IPAM. "
                     "It must be equal to or greater than the block size."))
    if old is None:
        for other in others:
            if other["metadata"]["name"] != name and net.overlaps(ipaddress.ip_network(other["spec"]["cidr"])):
                errs.append(("IPPool.Spec.CIDR", str(net),
                             f"IPPool({name}) CIDR overlaps with IPPool({other['metadata']['name']}) "
                             f"CIDR {other['spec']['cidr']}"))
    ipip = spec.get("ipipMode") or "Never"
    vxlan = spec.get("vxlanMode") or "Never"
    if ipip != "Never" and vxlan != "Never":
        errs.append(("IPPool.Spec.VXLANMode", vxlan, "Cannot enable both VXLAN and IPIP on the same IPPool"))
    if str(iface.ip) != str(net.network_address):
        errs.append(("IPPool.Spec.CIDR", cidr_text, "IPPool CIDR is not strictly masked"))
    if net.overlaps(ipaddress.ip_network("169.254.0.0/16")):
        errs.append(("IPPool.Spec.CIDR", str(net), "IPPool CIDR overlaps with IPv4 Link Local range 169.254.0.0/16"))
    if errs:
        raise ApplyError("IPPool", name, calico_field_error(errs))
    # the struct validator runs after defaulting
    for field, value in (("IPIPMode", ipip), ("VXLANMode", vxlan)):
        if value not in MODES:
            raise ApplyError("IPPool", name, calico_field_error([(field, value, f"Reason: allowed values are "
                                                                  f"{', '.join(MODES)}")]))
    selector = spec.get("nodeSelector") or "all()"
    bad = _selector_reason(selector)
    if bad:
        raise ApplyError("IPPool", name, calico_field_error([("NodeSelector", selector, bad)]))
    uses = spec.get("allowedUses") or ["Workload", "Tunnel"]
    for u in uses:
        if u not in ("Workload", "Tunnel", "LoadBalancer"):
            raise ApplyError("IPPool", name, calico_field_error([("IPpool.AllowedUses", uses, f"unknown use: {u}")]))
    out_spec = {"allowedUses": list(uses), "blockSize": block_size, "cidr": str(net), "ipipMode": ipip,
                "nodeSelector": selector, "vxlanMode": vxlan}
    for flag in ("natOutgoing", "disabled", "disableBGPExport"):
        if spec.get(flag):
            out_spec[flag] = True  # false is omitted, as Go's omitempty does
    return _calico_obj("IPPool", obj, out_spec)


def _calico_obj(kind: str, obj: dict, spec: dict) -> dict:
    meta = obj.get("metadata") or {}
    keep = {k: meta[k] for k in ("name", "labels", "annotations") if meta.get(k)}
    return {"apiVersion": "projectcalico.org/v3", "kind": kind, "metadata": keep, "spec": spec}


# ---------------------------------------------------------------- BGP

def parse_peer_ip(text: str) -> tuple[str, int | None]:
    """`192.168.10.254`, `192.168.10.254:179` or `[fd00::1]:179` -> (ip, port)."""
    m = re.fullmatch(r"\[([0-9a-fA-F:.]+)\]:(\d+)", text) or re.fullmatch(r"(\d+\.\d+\.\d+\.\d+):(\d+)", text)
    ip, port = (m.group(1), int(m.group(2))) if m else (text, None)
    ipaddress.ip_address(ip)
    return ip, port


def asn_value(value: object) -> int | None:
    """Calico's numorstring.ASNumber: 64512, "64512", or dotted "1.10" (= 1*65536+10)."""
    if value in (None, ""):
        return None
    text = str(value)
    if "." in text:
        hi, lo = text.split(".", 1)
        return int(hi) * 65536 + int(lo)
    return int(text)


def normalize_bgppeer(obj: dict) -> dict:
    name = obj["metadata"]["name"]
    check_name("BGPPeer", name)
    strict_decode("BGPPeer", obj)
    spec = {k: v for k, v in (obj.get("spec") or {}).items() if v not in (None, "")}
    errs = []
    if spec.get("node") and spec.get("nodeSelector"):
        errs.append(("Node", spec["node"], "Reason: Node field must be empty when NodeSelector is specified"))
    if spec.get("peerIP") and spec.get("peerSelector"):
        errs.append(("PeerIP", spec["peerIP"], "Reason: PeerIP field must be empty when PeerSelector is specified"))
    if spec.get("asNumber") is not None and spec.get("peerSelector"):
        errs.append(("ASNumber", spec["asNumber"],
                     "Reason: ASNumber field must be empty when PeerSelector is specified"))
    if spec.get("peerIP"):
        try:
            parse_peer_ip(str(spec["peerIP"]))
        except ValueError:
            errs.append(("PeerIP", spec["peerIP"], "Reason: failed to validate Field: PeerIP because of Tag: IP:port "))
    if spec.get("asNumber") is not None:
        try:
            asn = asn_value(spec["asNumber"])
            if not 0 <= asn <= 4294967295:
                raise ValueError
            spec["asNumber"] = asn
        except ValueError:
            errs.append(("ASNumber", spec["asNumber"], "Reason: AS number must be between 0 and 4294967295"))
    for field, key in (("NodeSelector", "nodeSelector"), ("PeerSelector", "peerSelector")):
        if spec.get(key):
            bad = _selector_reason(spec[key])
            if bad:
                errs.append((field, spec[key], bad))
    if errs:
        raise ApplyError("BGPPeer", name, calico_field_error(errs))
    return _calico_obj("BGPPeer", obj, spec)


def normalize_bgpconfig(obj: dict) -> dict:
    name = obj["metadata"]["name"]
    check_name("BGPConfiguration", name)
    strict_decode("BGPConfiguration", obj)
    spec = {k: v for k, v in (obj.get("spec") or {}).items() if v is not None}
    if "logSeverityScreen" in spec and spec["logSeverityScreen"] not in LOG_LEVELS:
        raise ApplyError("BGPConfiguration", name, calico_field_error([(
            "LogSeverityScreen", spec["logSeverityScreen"], f"Reason: allowed values are {', '.join(LOG_LEVELS)}")]))
    if spec.get("asNumber") is not None:
        try:
            spec["asNumber"] = asn_value(spec["asNumber"])
        except ValueError:
            raise ApplyError("BGPConfiguration", name, calico_field_error([(
                "ASNumber", spec["asNumber"], "Reason: AS number must be between 0 and 4294967295")])) from None
    return _calico_obj("BGPConfiguration", obj, spec)


def normalize_felixconfig(obj: dict) -> dict:
    name = obj["metadata"]["name"]
    check_name("FelixConfiguration", name)
    strict_decode("FelixConfiguration", obj, FELIX_TYPED, check_unknown=False)
    return _calico_obj("FelixConfiguration", obj, dict(obj.get("spec") or {}))


def reserved_network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """libcalico-go's ParseCIDROrIP: an address (a /32 or /128) or a CIDR, host bits allowed."""
    if "/" not in text:
        return ipaddress.ip_network(ipaddress.ip_address(text))
    return ipaddress.ip_interface(text).network


def normalize_ipreservation(obj: dict) -> dict:
    """An IPReservation: spec.reservedCIDRs, each an IP or a CIDR (struct tag `cidrs`, as Calico v3.28)."""
    name = obj["metadata"]["name"]
    check_name("IPReservation", name)
    strict_decode("IPReservation", obj)
    cidrs = (obj.get("spec") or {}).get("reservedCIDRs") or []
    bad = [c for c in cidrs if not isinstance(c, str)]
    if bad:
        raise ApplyError("IPReservation", name, "error unmarshaling JSON: while decoding JSON: json: cannot "
                         f"unmarshal {_json_type(bad[0])} into Go struct field IPReservationSpec.spec.reservedCIDRs "
                         "of type string", file_invalid=True)
    for c in cidrs:
        try:
            reserved_network(c)
        except ValueError:
            # Go's %v of a []string: [a b c]
            raise ApplyError("IPReservation", name, calico_field_error([(
                "ReservedCIDRs", "[" + " ".join(cidrs) + "]",
                "Reason: failed to validate Field: ReservedCIDRs because of Tag: cidrs ")])) from None
    return _calico_obj("IPReservation", obj, {"reservedCIDRs": list(cidrs)} if cidrs else {})


def normalize_kubecontrollersconfig(obj: dict) -> dict:
    name = obj["metadata"]["name"]
    if name != "default":
        raise ApplyError("KubeControllersConfiguration", name, calico_field_error([(
            "Metadata.Name", name, "Reason: KubeControllersConfiguration must be named default")]))
    return _calico_obj("KubeControllersConfiguration", obj, dict(obj.get("spec") or {}))


# ---------------------------------------------------------------- defaults created at bootstrap

# what a fresh KDD cluster's FelixConfiguration "default" holds: calico-node's startup creates it with
# reportingInterval 0s and logSeverityScreen (node/pkg/lifecycle/startup/startup.go); no healthPort,
# which only the tigera-operator sets
FELIX_DEFAULT_SPEC = {
    "bpfConnectTimeLoadBalancing": "TCP",
    "bpfHostNetworkedNATWithoutCTLB": "Enabled",
    "bpfLogLevel": "",
    "floatingIPs": "Disabled",
    "logSeverityScreen": "Info",
    "reportingInterval": "0s",
}
KUBE_CONTROLLERS_DEFAULT_SPEC = {  # calico-kube-controllers' defaults (port 9094: research 5.4)
    "controllers": {
        "namespace": {"reconcilerPeriod": "5m0s"},
        "node": {"leakGracePeriod": "15m0s", "reconcilerPeriod": "5m0s", "syncLabels": "Enabled"},
        "policy": {"reconcilerPeriod": "5m0s"},
        "serviceAccount": {"reconcilerPeriod": "5m0s"},
        "workloadEndpoint": {"reconcilerPeriod": "5m0s"},
    },
    "etcdV3CompactionPeriod": "10m0s",
    "healthChecks": "Enabled",
    "logSeverityScreen": "Info",
    "prometheusMetricsPort": 9094,
}
