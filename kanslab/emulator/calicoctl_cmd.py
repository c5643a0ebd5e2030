"""The embedded lab's `calicoctl` (v3.28.1, KDD mode): the subcommands the course uses, printed as
calicoctl prints them (research/kans-lab.md 3.1-3.3)."""

from __future__ import annotations

import ipaddress
import json
import re
from typing import TYPE_CHECKING

from ..errors import InvalidInput
from . import ipam
from . import resources as res
from .argv import Args
from .object_output import calico_json, to_yaml
from .outcomes import ApplyError
from .text_tables import box_table, calicoctl_table

if TYPE_CHECKING:
    from .cli_context import CliContext

Result = tuple[int, str, str]

VERSION_TEXT = ("Client Version:    v3.28.1\nGit commit:        601856343\n"
                "Cluster Version:   v3.28.1\nCluster Type:      k8s,bgp,kubeadm,kdd\n")

# alias -> canonical kind (calicoctl lower-cases what the user typed)
KIND_ALIASES = {}
for _kind, _names in {
    "IPPool": ("ippool", "ippools", "ipp", "ipps", "pool", "pools"),
    "BGPPeer": ("bgppeer", "bgppeers", "bgpp", "bgpps", "bp", "bps"),
    "BGPConfiguration": ("bgpconfiguration", "bgpconfigurations", "bgpconfig", "bgpconfigs"),
    "FelixConfiguration": ("felixconfiguration", "felixconfigurations", "felixconfig", "felixconfigs"),
    "KubeControllersConfiguration": ("kubecontrollersconfiguration", "kubecontrollersconfigurations",
                                     "kubecontrollersconfig", "kubecontrollersconfigs"),
    "CalicoNode": ("node", "nodes", "no", "nos"),
    "WorkloadEndpoint": ("workloadendpoint", "workloadendpoints", "wep", "weps"),
    "IPReservation": ("ipreservation", "ipreservations", "reservation", "reservations"),
    # resourcemgr/networkpolicy.go and globalnetworkpolicy.go
    "CalicoNetworkPolicy": ("networkpolicy", "networkpolicies", "policy", "np", "policies", "pol", "pols"),
    "GlobalNetworkPolicy": ("globalnetworkpolicy", "globalnetworkpolicies", "gnp", "gnps"),
}.items():
    for _n in _names:
        KIND_ALIASES[_n] = _kind
NOT_EMULATED_KINDS = ("hostendpoint", "hostendpoints", "hep", "profile", "profiles", "pro",
                      "networkset", "networksets", "netsets", "globalnetworkset", "globalnetworksets",
                      "tier", "tiers", "bgpfilter", "bgpfilters",
                      "clusterinformation", "clusterinformations", "caliconodestatus", "caliconodestatuses",
                      "ipamconfiguration", "ipamconfigurations", "ipamconfig", "ipamconfigs")
SUPPORTED = ("calicoctl get|apply|create|delete|patch|label, node status, ipam show "
             "[--show-blocks|--show-borrowed|--show-configuration|--ip=IP], "
             "ipam configure --strictaffinity=true|false, version")
SUPPORTED_KINDS = "ippool, bgppeer, bgpconfiguration, felixconfiguration, kubecontrollersconfiguration, node, " \
                  "workloadendpoint, ipreservation, networkpolicy, globalnetworkpolicy"
SHOWN_KIND = {"CalicoNode": "Node", "CalicoNetworkPolicy": "NetworkPolicy"}
NAMESPACED = ("WorkloadEndpoint", "CalicoNetworkPolicy")


def _unsupported(what: str) -> Result:
    return 1, "", (f"the embedded lab's calicoctl does not emulate {what}; it supports {SUPPORTED} "
                   f"(kinds: {SUPPORTED_KINDS})\n")




def _kind_of(word: str) -> str | None:
    return KIND_ALIASES.get(word.lower())


def _fmt_error(e: Exception) -> str:
    return e.reason if isinstance(e, ApplyError) else str(e)


# ---------------------------------------------------------------- get

def _objects(ctx: CliContext, kind: str, name: str | None, ns: str | None, all_ns: bool) -> list[dict]:
    if kind == "CalicoNode":
        objs = res.calico_nodes(ctx.ds) if name is None else [res.calico_node(ctx.ds, name)]
        return [o for o in objs if o is not None]
    if kind in NAMESPACED:
        namespace = None if all_ns else (ns or "default")
        if name is None and kind == "CalicoNetworkPolicy":
            return ctx.ds.list(kind, namespace)
        if name is None:
            # Calico's KDD builds WorkloadEndpoints from the pod list, so they come in pod order
            return sorted(ctx.ds.list(kind, namespace),
                          key=lambda w: (w["metadata"]["namespace"], w["spec"].get("pod", "")))
        o = ctx.ds.get(kind, name, namespace)
        return [o] if o else []
    if name is None:
        return ctx.ds.list(kind)
    o = ctx.ds.get(kind, name)
    return [o] if o else []


def _global_as(ctx: CliContext) -> str:
    conf = ctx.ds.get("BGPConfiguration", "default")
    asn = (conf or {}).get("spec", {}).get("asNumber")
    return str(asn) if asn is not None else "64512"


def _join_and_truncate(items: list[str], sep: str, limit: int) -> str:
    """calicoctl's `joinAndTruncate` template function: joined, cut to `limit` with "..." at the end."""
    text = sep.join(items)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _row(kind: str, o: dict, headings: list[str], ctx: CliContext) -> list[str]:
    s, m = o.get("spec") or {}, o["metadata"]
    cells = {"NAME": m["name"], "NAMESPACE": m.get("namespace", "")}
    if kind == "IPPool":
        cells.update({"CIDR": s.get("cidr", ""), "NAT": str(bool(s.get("natOutgoing"))).lower(),
                      "IPIPMODE": s.get("ipipMode") or "Never", "VXLANMODE": s.get("vxlanMode") or "Never",
                      "DISABLED": str(bool(s.get("disabled"))).lower(),
                      "DISABLEBGPEXPORT": str(bool(s.get("disableBGPExport"))).lower(),
                      "SELECTOR": s.get("nodeSelector", "")})
    elif kind == "BGPPeer":
        cells.update({"PEERIP": s.get("peerIP", ""),
                      "NODE": s.get("node") or s.get("nodeSelector") or "(global)",
                      "ASN": str(s.get("asNumber", 0))})
    elif kind == "BGPConfiguration":
        mesh = s.get("nodeToNodeMeshEnabled")
        cells.update({"LOGSEVERITY": s.get("logSeverityScreen", ""),
                      "MESHENABLED": "-" if mesh is None else str(mesh).lower(),
                      "ASNUMBER": str(s["asNumber"]) if s.get("asNumber") is not None else "-"})
    elif kind == "CalicoNode":
        bgp = s.get("bgp")
        asn = "" if bgp is None else (str(bgp["asNumber"]) if bgp.get("asNumber") else f"({_global_as(ctx)})")
        cells.update({"ASN": asn, "IPV4": (bgp or {}).get("ipv4Address", ""), "IPV6": (bgp or {}).get("ipv6Address", "")})
    elif kind in ("CalicoNetworkPolicy", "GlobalNetworkPolicy"):
        # the templates print {{.Spec.Order}} (a *float64: "<nil>" when unset) and {{.Spec.Selector}}
        order = s.get("order")
        cells.update({"ORDER": "<nil>" if order is None else _go_float(order), "SELECTOR": s.get("selector", "")})
    elif kind == "IPReservation":
        cells["CIDRS"] = _join_and_truncate(s.get("reservedCIDRs") or [], ",", 80)
    elif kind == "WorkloadEndpoint":
        cells.update({"WORKLOAD": s.get("workload") or s.get("pod", ""), "NODE": s.get("node", ""),
                      "NETWORKS": ",".join(s.get("ipNetworks") or []), "INTERFACE": s.get("interfaceName", ""),
                      "PROFILES": ",".join(s.get("profiles") or []), "NATS": ",".join(s.get("ipNATs") or [])})
    return [cells.get(h, "") for h in headings]


HEADINGS = {
    "IPPool": (["NAME", "CIDR", "SELECTOR"],
               ["NAME", "CIDR", "NAT", "IPIPMODE", "VXLANMODE", "DISABLED", "DISABLEBGPEXPORT", "SELECTOR"]),
    "BGPPeer": (["NAME", "PEERIP", "NODE", "ASN"], ["NAME", "PEERIP", "NODE", "ASN"]),
    "BGPConfiguration": (["NAME", "LOGSEVERITY", "MESHENABLED", "ASNUMBER"],
                         ["NAME", "LOGSEVERITY", "MESHENABLED", "ASNUMBER"]),
    "FelixConfiguration": (["NAME"], ["NAME"]),
    "KubeControllersConfiguration": (["NAME"], ["NAME"]),
    "CalicoNode": (["NAME"], ["NAME", "ASN", "IPV4", "IPV6"]),
    "IPReservation": (["NAME"], ["NAME", "CIDRS"]),
    "CalicoNetworkPolicy": (["NAME"], ["NAME", "ORDER", "SELECTOR"]),
    "GlobalNetworkPolicy": (["NAME"], ["NAME", "ORDER", "SELECTOR"]),
    "WorkloadEndpoint": (["WORKLOAD", "NODE", "NETWORKS", "INTERFACE"],
                         ["NAME", "WORKLOAD", "NODE", "NETWORKS", "INTERFACE", "PROFILES", "NATS"]),
}


def _calico_view(kind: str, o: dict) -> dict:
    """An object as calicoctl returns it: projectcalico.org/v3, datastore-only fields dropped."""
    o = json.loads(json.dumps(o))
    o["apiVersion"] = "projectcalico.org/v3"
    o["kind"] = SHOWN_KIND.get(kind, kind)
    return o


def _go_float(x: float) -> str:
    """Go's %v of a float64: shortest digits, exponent form below 1e-4 or from 1e+06 on (strconv 'g', -1)."""
    x = float(x)
    if x == int(x) and abs(x) < 1e6:
        return str(int(x))
    if 1e-4 <= abs(x) < 1e6:
        return repr(x)
    mant, _, exp = f"{x:e}".partition("e")
    digits = repr(x / 10 ** int(exp)).rstrip("0").rstrip(".")
    return f"{digits}e{int(exp):+03d}"


def _not_exist(kind: str, name: str, ns: str | None = None) -> str:
    shown = SHOWN_KIND.get(kind, kind)
    if kind in ("CalicoNetworkPolicy", "GlobalNetworkPolicy"):
        # policies are stored as default.<name> (clientv3 convertPolicyNameForStorage)
        ident = f"{ns or 'default'}/{name}" if kind == "CalicoNetworkPolicy" else name
        plural = "networkpolicies" if kind == "CalicoNetworkPolicy" else "globalnetworkpolicies"
        return f'resource does not exist: {shown}({ident}) with error: {plural}.crd.projectcalico.org "default.{name}" not found'
    plural = {"IPPool": "ippools", "BGPPeer": "bgppeers", "BGPConfiguration": "bgpconfigurations",
              "FelixConfiguration": "felixconfigurations", "KubeControllersConfiguration":
              "kubecontrollersconfigurations", "WorkloadEndpoint": "workloadendpoints",
              "IPReservation": "ipreservations"}.get(kind)
    detail = f'nodes "{name}" not found' if kind == "CalicoNode" else f'{plural}.crd.projectcalico.org "{name}" not found'
    return f"resource does not exist: {shown}({name}) with error: {detail}"


def cmd_get(argv: list[str], ctx: CliContext) -> Result:
    a = Args(argv, {"-o": "output", "--output": "output", "-n": "namespace", "--namespace": "namespace",
                     "-c": "config", "--config": "config", "--context": "context"},
              {"-A": "all", "--all-namespaces": "all", "--export": "export", "--allow-version-mismatch": "avm"})
    if a.bad:
        return _unsupported(f"the option {a.bad!r} of calicoctl get")
    if not a.pos:
        return 1, "", "Invalid option: 'calicoctl get'. Use flag '--help' to read about a specific subcommand.\n"
    word = a.pos[0]
    kind = _kind_of(word)
    if kind is None:
        if word.lower() in NOT_EMULATED_KINDS:
            return _unsupported(f"resource type '{word}'")
        return 1, "", f"Failed to get resources: resource type '{word}' is not supported\n"
    output = str(a.opts.get("output", "ps"))
    if output not in ("ps", "wide", "yaml", "json"):
        return _unsupported(f"the output format '{output}'")
    names = a.pos[1:] or [None]
    ns = a.opts.get("namespace") if isinstance(a.opts.get("namespace"), str) else None
    all_ns = bool(a.opts.get("all"))
    namespaced = kind in NAMESPACED
    if not namespaced and (ns or all_ns):
        return 1, "", f"Failed to get resources: {SHOWN_KIND.get(kind, kind)} is not namespaced\n"
    if all_ns and ns:
        return 1, "", "Failed to get resources: cannot use both --namespace and --all-namespaces flags at the same time\n"
    found, errors = [], []
    for name in names:
        if name is not None and all_ns and namespaced:
            errors.append("cannot use --all-namespace flag for getting a single resource")
            continue
        objs = _objects(ctx, kind, name, ns, all_ns)
        if name is not None and not objs:
            errors.append(_not_exist(kind, name, ns))
        found.append((name, objs))
    if errors:
        return 1, "", "\n".join(errors) + "\n"
    if output in ("yaml", "json"):
        docs = []
        for name, objs in found:
            if name is None:
                docs.append({"apiVersion": "projectcalico.org/v3", "items": [_calico_view(kind, o) for o in objs],
                             "kind": f"{SHOWN_KIND.get(kind, kind)}List",
                             "metadata": {"resourceVersion": str(ctx.ds.revision())}})
            else:
                docs.append(_calico_view(kind, objs[0]))
        doc = docs[0] if len(docs) == 1 else docs
        if output == "yaml":
            return 0, to_yaml(doc), ""
        return 0, calico_json(doc) if isinstance(doc, dict) else json.dumps(doc, indent=2) + "\n", ""
    headings = list(HEADINGS[kind][1 if output == "wide" else 0])
    if namespaced and (all_ns or ns):
        headings = ["NAMESPACE"] + headings
    out = ""
    for _name, objs in found:
        out += calicoctl_table(headings, [_row(kind, o, headings, ctx) for o in objs])
    return 0, out, ""


# ---------------------------------------------------------------- apply / create / delete / patch

def _read_file(argv_file: str, ctx: CliContext) -> str:
    return ctx.read_file(argv_file)


def _manifest_error(e: InvalidInput) -> str:
    if getattr(e, "line", None):
        return f"Failed to execute command: error converting YAML to JSON: yaml: line {e.line}: {e.problem}\n"
    return f"Failed to execute command: {e}\n"


def _kinds_word(kinds: list[str]) -> str | None:
    shown = {SHOWN_KIND.get(k, k) for k in kinds}
    return shown.pop() if len(shown) == 1 else None


def cmd_apply(argv: list[str], ctx: CliContext, mode: str) -> Result:
    a = Args(argv, {"-f": "file", "--filename": "file", "-n": "namespace", "--namespace": "namespace",
                     "-c": "config", "--config": "config", "--context": "context"},
              {"--skip-exists": "skip", "--skip-empty": "skipempty", "-R": "rec", "--recursive": "rec",
               "--allow-version-mismatch": "avm"})
    verb = "apply" if mode == "apply" else "create"
    if a.bad or a.pos:
        return _unsupported(f"'calicoctl {verb} {' '.join(argv)}' (use calicoctl {verb} -f FILE or -f -)")
    if "file" not in a.opts:
        return 1, "", f"Invalid option: 'calicoctl {verb} {' '.join(argv)}'. Use flag '--help' to read about a specific subcommand.\n"
    try:
        text = _read_file(str(a.opts["file"]), ctx)
        objs = res.load_manifest(text, source=str(a.opts["file"]))
    except InvalidInput as e:
        return 1, "", _manifest_error(e)
    if not objs:
        return 1, "", f"No resources specified in file {a.opts['file']}\n"
    for o in objs:
        if o.get("apiVersion") != "projectcalico.org/v3" or o.get("kind") not in res.CALICO_KINDS:
            if o.get("kind") in res.KNOWN_ELSEWHERE and o.get("apiVersion") == "projectcalico.org/v3":
                return _unsupported(f"kind {o.get('kind')}")
            return 1, "", (f"Failed to execute command: Unknown resource type ({o.get('kind')}) and/or version "
                           f"({o.get('apiVersion')})\n")
    kinds = [res.CALICO_KINDS[o["kind"]] for o in objs]
    single = _kinds_word(kinds)
    try:
        changes = res.apply_changes(ctx.ds, ctx.topology, objs, mode=mode, only="calico")
    except ApplyError as e:
        if e.file_invalid:
            return 1, "", f"Failed to execute command: {e.reason}\n"
        if mode == "create" and e.status == "AlreadyExists" and a.opts.get("skip"):
            return 0, f"Successfully created {len(objs)} '{single}' resource(s)\n", ""
        if len(objs) == 1:
            return 1, "", f"Failed to {verb} '{single}' resource: [{e.reason}]\n"
        which = f"any '{single}' resources" if single else "any resources"
        return 1, "", f"Failed to {verb} {which}: [{e.reason}]\n"
    except InvalidInput as e:
        return 1, "", f"Failed to {verb} resources: {e}\n"
    done = "applied" if mode == "apply" else "created"
    what = f"'{single}' resource(s)" if single else "resource(s)"
    return 0, f"Successfully {done} {len(changes)} {what}\n", ""


def cmd_delete(argv: list[str], ctx: CliContext) -> Result:
    a = Args(argv, {"-f": "file", "--filename": "file", "-n": "namespace", "--namespace": "namespace",
                     "-c": "config", "--config": "config", "--context": "context"},
              {"--skip-not-exists": "skip", "-R": "rec", "--recursive": "rec", "--allow-version-mismatch": "avm"})
    if a.bad:
        return _unsupported(f"the option {a.bad!r} of calicoctl delete")
    ns = a.opts.get("namespace") if isinstance(a.opts.get("namespace"), str) else None
    if "file" in a.opts:
        try:
            objs = res.load_manifest(_read_file(str(a.opts["file"]), ctx), source=str(a.opts["file"]))
        except InvalidInput as e:
            return 1, "", _manifest_error(e)
        for o in objs:
            if o.get("apiVersion") != "projectcalico.org/v3" or o.get("kind") not in res.CALICO_KINDS:
                return 1, "", (f"Failed to execute command: Unknown resource type ({o.get('kind')}) and/or version "
                               f"({o.get('apiVersion')})\n")
        single = _kinds_word([res.CALICO_KINDS[o["kind"]] for o in objs])
        try:
            changes = res.delete_changes(ctx.ds, ctx.topology, objs, only="calico")
        except ApplyError as e:
            if e.status == "NotFound" and a.opts.get("skip"):
                return 0, f"Successfully deleted {len(objs)} '{single}' resource(s)\n", ""
            label = f"'{single}' resource" if single else "resource"
            return 1, "", f"Failed to delete {label}: {e.reason}\n"
        what = f"'{single}' resource(s)" if single else "resource(s)"
        return 0, f"Successfully deleted {len(changes)} {what}\n", ""
    if len(a.pos) < 2:
        return 1, "", f"Invalid option: 'calicoctl delete {' '.join(argv)}'. Use flag '--help' to read about a specific subcommand.\n"
    kind = _kind_of(a.pos[0])
    if kind is None:
        if a.pos[0].lower() in NOT_EMULATED_KINDS:
            return _unsupported(f"resource type '{a.pos[0]}'")
        return 1, "", f"resource type '{a.pos[0]}' is not supported\n"
    if kind == "WorkloadEndpoint":
        return _unsupported("deleting WorkloadEndpoints (the CNI plugin owns them: delete the pod with kubectl)")
    shown = SHOWN_KIND.get(kind, kind)
    names = a.pos[1:]
    if a.opts.get("skip"):
        names = [n for n in names if _objects(ctx, kind, n, ns, False)]
    try:
        res.delete_objects(ctx.ds, ctx.topology, [(kind, n, ns) for n in names])
    except ApplyError as e:
        return 1, "", f"Failed to delete '{shown}' resource: {e.reason}\n"
    return 0, f"Successfully deleted {len(a.pos) - 1} '{shown}' resource(s)\n", ""


def cmd_patch(argv: list[str], ctx: CliContext) -> Result:
    a = Args(argv, {"-p": "patch", "--patch": "patch", "-t": "type", "--type": "type", "-n": "namespace",
                     "--namespace": "namespace", "-c": "config", "--config": "config", "--context": "context"},
              {"--allow-version-mismatch": "avm"})
    if a.bad:
        return _unsupported(f"the option {a.bad!r} of calicoctl patch")
    if len(a.pos) != 2 or "patch" not in a.opts:
        return 1, "", f"Invalid option: 'calicoctl patch {' '.join(argv)}'. Use flag '--help' to read about a specific subcommand.\n"
    if str(a.opts.get("type", "strategic")) not in ("strategic", "merge"):
        return _unsupported(f"patch type {a.opts['type']!r} (use strategic or merge)")
    kind = _kind_of(a.pos[0])
    if kind is None or kind == "WorkloadEndpoint":
        return _unsupported(f"patching resource type '{a.pos[0]}'")
    shown = SHOWN_KIND.get(kind, kind)
    try:
        patch_obj = json.loads(str(a.opts["patch"]))
    except ValueError as e:
        return 1, "", f"Hit error: permorming strategic merge patch: invalid character in patch: {e}\n"
    try:
        res.patch(ctx.ds, ctx.topology, kind, a.pos[1], patch_obj)
    except ApplyError as e:
        if e.status == "NotFound":
            return 1, "", f"Hit error: {e.reason}\n"
        return 1, "", f"Hit error: updating existing resource: {e.reason}\n"
    return 0, f"Successfully patched 1 '{shown}' resource\n", ""


def cmd_label(argv: list[str], ctx: CliContext) -> Result:
    a = Args(argv, {"-n": "namespace", "--namespace": "namespace", "-c": "config", "--config": "config",
                     "--context": "context"},
              {"--overwrite": "overwrite", "--remove": "remove", "--allow-version-mismatch": "avm"})
    if a.bad or len(a.pos) != 3:
        return 1, "", f"Invalid option: 'calicoctl label {' '.join(argv)}'. Use flag '--help' to read about a specific subcommand.\n"
    word, name, kv = a.pos
    kind = _kind_of(word)
    if kind not in ("CalicoNode", "IPPool", "BGPPeer", "BGPConfiguration", "FelixConfiguration"):
        return _unsupported(f"labelling resource type '{word}'")
    current = res.calico_node(ctx.ds, name) if kind == "CalicoNode" else ctx.ds.get(kind, name)
    if current is None:
        return 1, "", f"failed to get {word} {name}, error {_not_exist(kind, name)}\n"
    labels = current["metadata"].get("labels") or {}
    if a.opts.get("remove"):
        key = kv
        if key not in labels:
            return 1, "", f"can not remove label of {word} {name}, key {key} does not exist\n"
        res.set_labels(ctx.ds, ctx.topology, kind, name, {key: None})
        return 0, f"Successfully removed label {key} from {word} {name}\n", ""
    parts = kv.split("=")
    if len(parts) != 2:
        return 1, "", f"invalid label {kv}\n"
    key, value = parts
    overwritten = key in labels
    if overwritten and labels[key] != value and not a.opts.get("overwrite"):
        return 1, "", (f"failed to update label of {word} {name}, key {key} is already present. "
                       "please use '--overwrite' to set a new value.\n")
    res.set_labels(ctx.ds, ctx.topology, kind, name, {key: value})
    verb = "updated" if overwritten else "set"
    return 0, f"Successfully {verb} label {key} on {word} {name}\n", ""


# ---------------------------------------------------------------- node status

_PEER_NAME = re.compile(r"^(Global|Node|Mesh)_(.+)$")
_PEER_TYPE = {"Global": "global", "Mesh": "node-to-node mesh", "Node": "node specific"}
_HEADINGS = ["name", "proto", "table", "state", "since", "info"]


def _bird_rows(reply: str) -> list[str]:
    """Data rows of BIRD's `show protocols`, from the socket's raw reply (0001/2002-/1002-/ /0000),
    or from birdc/birdcl's human form (banner, heading, rows) as the lab may capture that instead."""
    lines = [ln for ln in reply.replace("\r", "").split("\n") if ln != ""]
    raw = any(re.match(r"^\d{4}[ -]", ln) for ln in lines)
    rows = []
    for ln in lines:
        if raw:
            if ln.startswith("0000"):
                break
            if ln.startswith("0001"):
                continue
            if ln.startswith("2002"):
                if ln[5:].split() != _HEADINGS:
                    raise ValueError("unknown BIRD table output format")
            elif ln.startswith("1002"):
                rows.append(ln[5:])
            elif ln.startswith(" "):
                rows.append(ln[1:])
            else:
                raise ValueError("unexpected output line from BIRD")
        else:
            if ln.split()[:6] == _HEADINGS or re.match(r"^BIRD .* ready\.$", ln) or ln.startswith("Access "):
                continue
            rows.append(ln)
    return rows


def node_status_text(bird_reply: str | None) -> Result:
    """calicoctl node status, from BIRD's reply (None: BIRD is not running)."""
    out = "Calico process is running.\n"
    if bird_reply is None:
        # calicoctl v3.28 status.go: bird missing while bird6 runs (calico-node runs both; the lab's
        # faults stop the IPv4 one) prints this line, then the IPv6 table as usual
        # (research/kans-lab.md 3.1)
        return 0, out + "\nINFO: BIRDv4 process: 'bird' is not running.\n\nIPv6 BGP status\nNo IPv6 peers found.\n\n", ""
    out += "\nIPv4 BGP status\n"
    try:
        rows = _bird_rows(bird_reply)
    except ValueError as e:
        return 1, out, f"Error executing command: {e}\n"
    peers = []
    for line in rows:
        cols = line.split()
        if len(cols) < 6 or cols[1] != "BGP":
            continue
        m = _PEER_NAME.match(cols[0])
        if not m:
            continue
        info = cols[5] + (" " + " ".join(cols[6:]) if len(cols) > 6 else "")
        peers.append([m.group(2).replace("_", "."), _PEER_TYPE[m.group(1)], cols[3], cols[4], info])
    if peers:
        out += box_table(["Peer address", "Peer type", "State", "Since", "Info"], peers)
    else:
        out += "No IPv4 peers found.\n"
    # calico-node runs bird6 too; the lab has no IPv6, so it never has peers
    out += "\nIPv6 BGP status\nNo IPv6 peers found.\n\n"
    return 0, out, ""


def cmd_node(argv: list[str], ctx: CliContext) -> Result:
    if argv[:1] != ["status"] or len(argv) > 1:
        return _unsupported(f"'calicoctl node {' '.join(argv)}' (only `calicoctl node status`)")
    if ctx.node not in [n["metadata"]["name"] for n in ctx.ds.list("Node")]:
        return 1, "", "Calico process is not running.\n"
    reply = None
    if ctx.bird_show_protocols is not None:
        try:
            reply = ctx.bird_show_protocols()
        except Exception:  # noqa: BLE001 - any failure to reach BIRD reads as "not running"
            reply = None
    return node_status_text(reply)


# ---------------------------------------------------------------- ipam

def _pct_row(kind: str, cidr: str, capacity: int, in_use: int) -> list[str]:
    def with_pct(n: int) -> str:
        return f"{float(n):.5g} ({100 * n / capacity:.0f}%)"
    return [kind, cidr, f"{float(capacity):.5g}", with_pct(in_use), with_pct(capacity - in_use)]


def cmd_ipam(argv: list[str], ctx: CliContext) -> Result:
    if not argv:
        return 1, "", "Invalid option: 'calicoctl ipam'. Use flag '--help' to read about a specific subcommand.\n"
    sub, rest = argv[0], argv[1:]
    if sub == "show":
        a = Args(rest, {"--ip": "ip", "-c": "config", "--config": "config", "--context": "context"},
                  {"--show-blocks": "blocks", "--show-borrowed": "borrowed", "--show-configuration": "conf",
                   "--allow-version-mismatch": "avm"})
        if a.bad or a.pos:
            return _unsupported(f"'calicoctl ipam show {' '.join(rest)}'")
        with ctx.ds.snapshot() as tx:
            if "ip" in a.opts:
                ip = str(a.opts["ip"])
                try:
                    ipaddress.ip_address(ip)
                except ValueError:
                    return 1, "", f"invalid IP address specified: {ip}\n"
                found = ipam.find_allocation(tx, ip)
                if not found:
                    return 0, f"{ip} is not assigned\n", ""
                attrs = found[2].get("attrs") or {}
                text = f"IP {ip} is in use\n"
                text += "Attributes:\n" + "".join(f"  {k}: {attrs[k]}\n" for k in sorted(attrs)) if attrs \
                    else "No attributes defined\n"
                return 0, text, ""
            if a.opts.get("conf"):
                cfg = ipam.ipam_config(tx)
                rows = [["StrictAffinity", str(cfg["strictAffinity"]).lower()],
                        ["AutoAllocateBlocks", str(cfg["autoAllocateBlocks"]).lower()],
                        ["MaxBlocksPerHost", str(int(cfg["maxBlocksPerHost"]))]]
                return 0, box_table(["PROPERTY", "VALUE"], rows), ""
            if a.opts.get("borrowed"):
                rows = [[b["ip"], b["borrowing_node"], b["block"], b["block_owner"], b["type"], b["allocated_to"]]
                        for b in ipam.borrowed_ips(tx)]
                return 0, box_table(["IP", "BORROWING-NODE", "BLOCK", "BLOCK OWNER", "TYPE", "ALLOCATED-TO"],
                                    rows), ""
            rows = []
            for pool in ipam.utilization(tx):
                rows.append(_pct_row("IP Pool", pool["cidr"], pool["capacity"], pool["in_use"]))
                if a.opts.get("blocks"):
                    rows += [_pct_row("Block", b["cidr"], b["capacity"], b["in_use"]) for b in pool["blocks"]]
            return 0, box_table(["GROUPING", "CIDR", "IPS TOTAL", "IPS IN USE", "IPS FREE"], rows), ""
    if sub == "configure":
        a = Args(rest, {"--strictaffinity": "strict", "-c": "config", "--config": "config",
                         "--context": "context"}, {"--allow-version-mismatch": "avm"})
        if a.bad or a.pos or "strict" not in a.opts:
            return _unsupported(f"'calicoctl ipam configure {' '.join(rest)}' (use --strictaffinity=true|false)")
        value = str(a.opts["strict"]).lower()
        if value not in ("true", "false"):
            return 1, "", f"invalid value for --strictaffinity: {a.opts['strict']} (true or false)\n"
        with ctx.ds.transaction() as tx:
            ipam.set_strict_affinity(tx, value == "true")
        return 0, f"Successfully set StrictAffinity to: {value}\n", ""
    return _unsupported(f"'calicoctl ipam {sub}'")


# ---------------------------------------------------------------- entry

def calicoctl(argv: list[str], ctx: CliContext) -> Result:
    if argv[:1] == ["calicoctl"]:
        argv = argv[1:]
    # global options calicoctl accepts before the subcommand, irrelevant to the emulation
    while argv and argv[0] in ("--allow-version-mismatch",):
        argv = argv[1:]
    if not argv:
        return 1, "", "Invalid option: ''. Use flag '--help' to read about a specific subcommand.\n"
    cmd, rest = argv[0], argv[1:]
    if cmd == "version":
        return 0, VERSION_TEXT, ""
    if cmd == "get":
        return cmd_get(rest, ctx)
    if cmd in ("apply", "create"):
        return cmd_apply(rest, ctx, mode=cmd)
    if cmd == "delete":
        return cmd_delete(rest, ctx)
    if cmd == "patch":
        return cmd_patch(rest, ctx)
    if cmd == "label":
        return cmd_label(rest, ctx)
    if cmd == "node":
        return cmd_node(rest, ctx)
    if cmd == "ipam":
        return cmd_ipam(rest, ctx)
    return _unsupported(f"'calicoctl {cmd}'")
