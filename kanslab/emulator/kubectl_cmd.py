"""The embedded lab's `kubectl` (v1.30): get, apply, create, delete, label, patch, version, for the
kinds the lab emulates, printed as kubectl prints them."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING

from ..errors import InvalidInput
from . import kubectl_via_api as via_api
from . import resources as res
from .argv import Args
from .jsonpath import render as jsonpath_render
from .kinds import classify
from .kubeapi import tables as api_tables
from .object_output import kubectl_json, to_yaml
from .outcomes import KUBECTL_RESOURCE, PLURAL, ApplyError
from .selectors import k8s_label_selector
from .text_tables import human_duration, kubectl_table

if TYPE_CHECKING:
    from .cli_context import CliContext

Result = tuple[int, str, str]

TYPES = {}
for _kind, _names in {
    "Pod": ("pods", "pod", "po"),
    "Node": ("nodes", "node", "no"),
    "Namespace": ("namespaces", "namespace", "ns"),
    "NetworkPolicy": ("networkpolicies", "networkpolicy", "netpol", "networkpolicies.networking.k8s.io",
                      "networkpolicy.networking.k8s.io"),
    "ConfigMap": ("configmaps", "configmap", "cm"),
    "Secret": ("secrets", "secret"),
    "ServiceAccount": ("serviceaccounts", "serviceaccount", "sa"),
    "Role": ("roles", "role", "roles.rbac.authorization.k8s.io"),
    "ClusterRole": ("clusterroles", "clusterrole", "clusterroles.rbac.authorization.k8s.io"),
    "RoleBinding": ("rolebindings", "rolebinding", "rolebindings.rbac.authorization.k8s.io"),
    "ClusterRoleBinding": ("clusterrolebindings", "clusterrolebinding",
                           "clusterrolebindings.rbac.authorization.k8s.io"),
    "Deployment": ("deployments", "deployment", "deploy", "deployments.apps"),
    "ReplicaSet": ("replicasets", "replicaset", "rs", "replicasets.apps"),
    "DaemonSet": ("daemonsets", "daemonset", "ds", "daemonsets.apps"),
    "Service": ("services", "service", "svc"),
    "Endpoints": ("endpoints", "ep"),
    "EndpointSlice": ("endpointslices", "endpointslice", "endpointslices.discovery.k8s.io",
                      "endpointslice.discovery.k8s.io"),
}.items():
    for _n in _names:
        TYPES[_n] = _kind
NOT_EMULATED_TYPES = ("statefulsets", "sts", "all", "ingress", "ing", "jobs", "cronjobs",
                      "ippools", "ippool", "ipamblocks", "blockaffinities", "bgppeers", "felixconfigurations",
                      "crd", "customresourcedefinitions", "pv", "pvc")
NAMESPACED = ("Pod", "NetworkPolicy", "ConfigMap", "Secret", "ServiceAccount", "Role", "RoleBinding", "Deployment",
              "ReplicaSet", "DaemonSet", "Service", "Endpoints", "EndpointSlice")
SUPPORTED = ("kubectl get pods|nodes|namespaces|networkpolicies|configmaps|secrets|serviceaccounts|roles|"
             "clusterroles|rolebindings|clusterrolebindings|deployments|replicasets|daemonsets|services|endpoints|"
             "endpointslices [NAME] [-n NS|-A] [-o wide|yaml|json|name|"
             "jsonpath=...] [-l SELECTOR] [--show-labels], apply -f, create -f, delete, label, patch, version, wait --for=condition=Ready "
             "(kubectl exec runs through the lab's dataplane: lab.exec)")
VERSION_TEXT = ("Client Version: v1.30.5\nKustomize Version: v5.0.4-0.20230601165947-6ce0bf390ce3\n"
                "Server Version: v1.30.5\n")


def _unsupported(what: str) -> Result:
    return 1, "", f"error: the embedded lab's kubectl does not emulate {what}; it supports {SUPPORTED}\n"




def _age(obj: dict, now: datetime) -> str:
    ts = obj["metadata"].get("creationTimestamp")
    if not ts:
        return "<unknown>"
    created = datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=now.tzinfo)
    return human_duration((now - created).total_seconds())


def _labels_text(labels: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "<none>"


def _selector_text(sel: dict) -> str:
    """metav1.FormatLabelSelector."""
    parts = [f"{k}={v}" for k, v in sorted((sel.get("matchLabels") or {}).items())]
    for e in sel.get("matchExpressions") or []:
        op = {"In": "in", "NotIn": "notin"}.get(e.get("operator"))
        if op:
            parts.append(f"{e['key']} {op} ({','.join(sorted(e.get('values') or []))})")
        elif e.get("operator") == "Exists":
            parts.append(e["key"])
        elif e.get("operator") == "DoesNotExist":
            parts.append(f"!{e['key']}")
    return ",".join(parts) or "<none>"


def _row(kind: str, o: dict, wide: bool, now: datetime) -> list[str]:
    m, s, st = o["metadata"], o.get("spec") or {}, o.get("status") or {}
    if kind == "Pod":
        containers = s.get("containers") or []
        ready = sum(1 for c in st.get("containerStatuses") or [] if c.get("ready"))
        # kubectl's printPod: a container's waiting reason (ContainerCreating, ...) replaces the phase
        reason = st.get("phase", "Pending")
        for c in st.get("containerStatuses") or []:
            reason = ((c.get("state") or {}).get("waiting") or {}).get("reason") or reason
        row = [m["name"], f"{ready}/{len(containers)}", reason,
               str(sum(c.get("restartCount", 0) for c in st.get("containerStatuses") or [])), _age(o, now)]
        if wide:
            row += [st.get("podIP") or "<none>", s.get("nodeName") or "<none>", "<none>", "<none>"]
        return row
    if kind == "Node":
        labels = m.get("labels") or {}
        roles = ",".join(sorted(k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/"))) \
            or "<none>"
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in st.get("conditions") or [])
        info = st.get("nodeInfo") or {}
        row = [m["name"], "Ready" if ready else "NotReady", roles, _age(o, now), info.get("kubeletVersion", "")]
        if wide:
            internal = next((a["address"] for a in st.get("addresses") or [] if a["type"] == "InternalIP"), "<none>")
            row += [internal, "<none>", info.get("osImage", ""), info.get("kernelVersion", ""),
                    info.get("containerRuntimeVersion", "")]
        return row
    if kind == "Namespace":
        return [m["name"], st.get("phase", "Active"), _age(o, now)]
    if kind in API_PRINTED:  # kube-apiserver's printers (kubeapi/tables.py); priority-1 columns for -o wide
        cols = api_tables.COLUMNS[kind]
        return [str(c) for c, d in zip(api_tables.cells(kind, o, now), cols, strict=True)
                if wide or not d["priority"]]
    return [m["name"], _selector_text(s.get("podSelector") or {}), _age(o, now)]


HEADINGS = {
    "Pod": (["NAME", "READY", "STATUS", "RESTARTS", "AGE"], ["IP", "NODE", "NOMINATED NODE", "READINESS GATES"]),
    "Node": (["NAME", "STATUS", "ROLES", "AGE", "VERSION"],
             ["INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"]),
    "Namespace": (["NAME", "STATUS", "AGE"], []),
    "NetworkPolicy": (["NAME", "POD-SELECTOR", "AGE"], []),
}
API_PRINTED = ("Service", "Endpoints", "EndpointSlice")
for _kind in API_PRINTED:
    HEADINGS[_kind] = ([c["name"].upper() for c in api_tables.COLUMNS[_kind] if not c["priority"]],
                       [c["name"].upper() for c in api_tables.COLUMNS[_kind] if c["priority"]])


def _api_rows(kind: str, objs: list[dict], wide: bool, now: datetime) -> tuple[list[str], list[list[str]]]:
    """The API server's Table for `kind` (kubeapi/tables.py), printed as kubectl prints a Table: priority-1
    columns only with -o wide, headers upper-cased (a "Created At" date prints as the timestamp it is)."""
    t = api_tables.table(kind, "", objs, "", now)
    keep = [i for i, c in enumerate(t["columnDefinitions"]) if wide or c["priority"] == 0]
    headings = [t["columnDefinitions"][i]["name"].upper() for i in keep]
    rows = []
    for r in t["rows"]:
        rows.append([str(r["cells"][i]) for i in keep])
    return headings, rows


def _get_many(argv: list[str], words: list[str], ctx: CliContext) -> Result:
    """`kubectl get ds,deploy,rs`: one table per type, names as <resource>/<name>, a blank line between."""
    outs, errs, rc = [], "", 0
    for w in words:
        i = argv.index(",".join(words))
        r, out, err = cmd_get(argv[:i] + [w] + argv[i + 1:], ctx, show_kind=True)
        rc = max(rc, r)
        if out:
            outs.append(out)
        elif not err.startswith("No resources found"):
            errs += err
    if not outs and not errs:
        a = Args(argv, {"-n": "namespace", "--namespace": "namespace"}, {"-A": "all"}, bool_switches=True)
        where = "" if a.opts.get("all") else f" in {a.opts.get('namespace') or 'default'} namespace"
        return rc, "", f"No resources found{where}.\n"
    return rc, "\n".join(outs), errs


def cmd_get(argv: list[str], ctx: CliContext, show_kind: bool = False) -> Result:
    a = Args(argv, {"-o": "output", "--output": "output", "-n": "namespace", "--namespace": "namespace",
                     "-l": "selector", "--selector": "selector", "--field-selector": "fieldselector",
                     "--sort-by": "sortby"},
              {"-A": "all", "--all-namespaces": "all", "--show-labels": "labels", "--no-headers": "noheaders"}, bool_switches=True)
    if a.bad:
        return _unsupported(f"the flag {a.bad!r} of kubectl get")
    if not a.pos:
        return 1, "", ("You must specify the type of resource to get. Use \"kubectl api-resources\" for a complete "
                       "list of supported resources.\n\nerror: Required resource not specified.\n")
    word, names = a.pos[0], a.pos[1:]
    if "," in word and not names and all(TYPES.get(w.lower()) for w in word.split(",")):
        return _get_many(argv, word.split(","), ctx)
    if "/" in word and not names:
        word, name = word.split("/", 1)
        names = [name]
    kind = TYPES.get(word.lower())
    if kind is None or "fieldselector" in a.opts or "sortby" in a.opts:
        served = via_api.resource(word)
        if served is not None:  # events, and every kind the lab's API serves: read through that API
            return via_api.get(served, a, names, ctx)
    if kind is None:
        if word.lower() in NOT_EMULATED_TYPES or "," in word:
            return _unsupported(f"'kubectl get {word}'")
        return 1, "", f'error: the server doesn\'t have a resource type "{word}"\n'
    output = str(a.opts.get("output", ""))
    ns = str(a.opts["namespace"]) if "namespace" in a.opts else None
    all_ns = bool(a.opts.get("all")) and kind in NAMESPACED
    if all_ns and names:
        return 1, "", "error: a resource cannot be retrieved by name across all namespaces\n"
    namespace = (None if all_ns else (ns or "default")) if kind in NAMESPACED else None
    try:
        sel = k8s_label_selector(str(a.opts["selector"])) if "selector" in a.opts else None
    except InvalidInput as e:
        return 1, "", f"{e}\n"
    errors, objs = [], []
    if names:
        for n in names:
            o = ctx.ds.get(kind, n, namespace)
            if o is None:
                errors.append(f'Error from server (NotFound): {PLURAL[kind]} "{n}" not found')
            else:
                objs.append(o)
    else:
        objs = ctx.ds.list(kind, namespace)
        if sel is not None:
            objs = [o for o in objs if sel(o["metadata"].get("labels") or {})]
    err_text = "".join(e + "\n" for e in errors)
    rc = 1 if errors else 0
    structured = output in ("yaml", "json") or output.startswith("jsonpath=")
    if not objs and not names and not structured:  # -o json/yaml/jsonpath print an empty List instead
        where = f" in {namespace} namespace" if namespace else ""
        return 0, "", f"No resources found{where}.\n"
    single = len(names) == 1 and len(objs) == 1
    if output in ("yaml", "json"):
        if not objs and names:
            return rc, "", err_text
        doc = objs[0] if single else {"apiVersion": "v1", "items": objs, "kind": "List",
                                      "metadata": {"resourceVersion": ""}}
        return rc, (to_yaml(doc) if output == "yaml" else kubectl_json(doc)), err_text
    if output == "name":
        resource = KUBECTL_RESOURCE.get(kind, kind.lower())
        return rc, "".join(f"{resource}/{o['metadata']['name']}\n" for o in objs), err_text
    if output.startswith("jsonpath="):
        template = output[len("jsonpath="):]
        if len(template) >= 2 and template[0] == template[-1] and template[0] in "'\"":
            template = template[1:-1]
        data = objs[0] if single else {"apiVersion": "v1", "items": objs, "kind": "List",
                                       "metadata": {"resourceVersion": ""}}
        try:
            return rc, jsonpath_render(template, data), err_text
        except InvalidInput as e:
            return 1, "", f"{e}\n"
    if output not in ("", "wide"):
        return _unsupported(f"the output format '{output}'")
    wide = output == "wide"
    now = ctx.clock()
    if kind in HEADINGS:
        base, extra = HEADINGS[kind]
        headings = base + (extra if wide else [])
        rows = [_row(kind, o, wide, now) for o in objs]
    else:
        headings, rows = _api_rows(kind, objs, wide, now)
    if show_kind:
        for r in rows:
            r[0] = f"{KUBECTL_RESOURCE.get(kind, kind.lower())}/{r[0]}"
    if all_ns:
        headings = ["NAMESPACE"] + headings
        rows = [[o["metadata"].get("namespace", "")] + r for o, r in zip(objs, rows, strict=True)]
    if a.opts.get("labels"):
        headings = headings + ["LABELS"]
        rows = [r + [_labels_text(o["metadata"].get("labels") or {})] for o, r in zip(objs, rows, strict=True)]
    if not rows:
        return rc, "", err_text
    table = kubectl_table(headings, rows)
    if a.opts.get("noheaders"):
        table = table.split("\n", 1)[1]
    return rc, table, err_text


# ---------------------------------------------------------------- apply / create / delete

def _error_text(e: Exception, verb: str, source: str) -> str:
    if not isinstance(e, ApplyError):
        if getattr(e, "line", None):
            return f"error: error parsing {e.source}: error converting YAML to JSON: yaml: line {e.line}: {e.problem}\n"
        return f"error: {e}\n"
    acting = {"apply": "applying", "create": "creating", "delete": "deleting"}.get(verb, verb)
    if e.status == "UnknownKind":
        hint = " (Calico resources go through calicoctl in this lab, as in KANS)" \
            if getattr(e, "api_version", "") == "projectcalico.org/v3" else ""
        return (f'error: resource mapping not found for name: "{e.name}" namespace: "{e.namespace or ""}" from '
                f'"{source}": {e.reason}\nensure CRDs are installed first{hint}\n')
    if e.status == "NotEmulated":
        return f"error: {e.reason}\n"
    if e.status == "CNIError":
        return (f"error: pod {e.namespace}/{e.name} cannot start: {e.reason}\n(a real cluster would leave the pod "
                "in ContainerCreating with this event; the embedded lab refuses it and changes nothing)\n")
    if e.status == "Invalid" and " is invalid" in e.reason:
        return e.reason + "\n"
    if e.status == "BadRequest":
        return f"error: {e.reason}\n"
    if e.status == "Conflict" and e.kind not in res.CALICO_CANONICAL:
        return (f"Error from server (Conflict): error when {acting} \"{source}\": Operation cannot be fulfilled on "
                f'{PLURAL.get(e.kind, e.kind)} "{e.name}": the object has been modified; please apply your '
                "changes to the latest version and try again\n")
    return f'Error from server ({e.status}): error when {acting} "{source}": {e.reason}\n'


def _load(path: str, ctx: CliContext, ns: str | None) -> list[dict]:
    objs = res.load_manifest(ctx.read_file(path), source="STDIN" if path == "-" else path)
    for o in objs:
        meta = o.setdefault("metadata", {})
        kind = o.get("kind")
        if ns and kind in NAMESPACED:
            if meta.get("namespace") and meta["namespace"] != ns:
                raise InvalidInput(f'the namespace from the provided object "{meta["namespace"]}" does not match '
                                   f'the namespace "{ns}". You must pass \'--namespace={meta["namespace"]}\' to '
                                   "perform this operation.")
            meta["namespace"] = ns
    return objs


_FILES = frozenset({"file"})


def _load_files(a: Args, ctx: CliContext, ns: str | None) -> list[tuple[str, list[dict]]]:
    """Every `-f` file, read and parsed before anything changes: (source as kubectl names it, objects)."""
    return [("STDIN" if f == "-" else f, _load(f, ctx, ns)) for f in a.opts["file"]]  # type: ignore[union-attr]


def _each_file(files: list[tuple[str, list[dict]]], verb: str, act) -> Result:
    """Act on each file in turn, as kubectl does: a file the server refuses is reported and the rest go on."""
    out, err = [], []
    for source, objs in files:
        try:
            out += [c.kubectl() + "\n" for c in act(source, objs)]
        except InvalidInput as e:
            err.append(_error_text(e, verb, source))
    return (1 if err else 0), "".join(out), "".join(err)


def cmd_apply(argv: list[str], ctx: CliContext, mode: str) -> Result:
    a = Args(argv, {"-f": "file", "--filename": "file", "-n": "namespace", "--namespace": "namespace"},
              {"--validate": "validate", "--save-config": "save", "--dry-run": "dryrun"}, bool_switches=True,
              repeatable=_FILES)
    if a.bad or a.pos or "file" not in a.opts:
        return _unsupported(f"'kubectl {mode} {' '.join(argv)}' (use kubectl {mode} -f FILE or -f -)")
    if a.opts.get("dryrun"):
        return _unsupported("--dry-run")
    try:
        files = _load_files(a, ctx, a.opts.get("namespace"))  # type: ignore[arg-type]
    except InvalidInput as e:
        return 1, "", _error_text(e, mode, getattr(e, "source", "STDIN"))
    changes: list = []

    def act(source, objs):
        done = res.apply_changes(ctx.ds, ctx.topology, objs, mode=mode, only="k8s", source=source)
        changes.extend(done)
        return done
    rc, out, err = _each_file(files, mode, act)
    warn = "".join(f"Warning: {c.warning}\n" for c in changes if c.warning)
    return rc, out, warn + err


def _present(ctx: CliContext, obj: dict) -> bool:
    kind = classify(obj, "k8s")
    meta = obj["metadata"]
    return ctx.ds.get(kind, meta["name"], (meta.get("namespace") or "default") if kind in NAMESPACED else None) \
        is not None


def cmd_delete(argv: list[str], ctx: CliContext) -> Result:
    a = Args(argv, {"-f": "file", "--filename": "file", "-n": "namespace", "--namespace": "namespace",
                     "--grace-period": "grace", "-l": "selector", "--selector": "selector"},
              {"--force": "force", "--now": "now", "--wait": "wait", "--ignore-not-found": "ignore",
               "--all": "all"}, bool_switches=True, repeatable=_FILES)
    if a.bad:
        return _unsupported(f"the flag {a.bad!r} of kubectl delete")
    ns = str(a.opts["namespace"]) if "namespace" in a.opts else None
    verb = "force deleted" if a.opts.get("force") else "deleted"
    warn = ("Warning: Immediate deletion does not wait for confirmation that the running resource has been "
            "terminated. The resource may continue to run on the cluster indefinitely.\n") if a.opts.get("force") else ""
    if "file" in a.opts:
        try:
            files = _load_files(a, ctx, ns)
        except InvalidInput as e:
            return 1, "", warn + _error_text(e, "delete", getattr(e, "source", "STDIN"))

        def act(source, objs):
            if a.opts.get("ignore"):  # kubectl skips what is already gone, silently
                objs = [o for o in objs if _present(ctx, o)]
            return res.delete_changes(ctx.ds, ctx.topology, objs, only="k8s", source=source) if objs else []
        rc, out, err = _each_file(files, "delete", act)
        return rc, out.replace(" deleted\n", f" {verb}\n"), warn + err
    if not a.pos:
        return 1, "", ("error: You must provide one or more resources by argument or filename.\n")
    # `delete pod a b` or `delete pod/a node/b`
    if "/" in a.pos[0]:
        targets = [tuple(w.split("/", 1)) for w in a.pos]
    else:
        targets = [(a.pos[0], n) for n in a.pos[1:]]
    word = a.pos[0].split("/", 1)[0]
    kinds = {t: TYPES.get(t.lower()) for t in {t for t, _ in targets} | {word}}
    for t, k in kinds.items():
        if k is None:
            if t.lower() in NOT_EMULATED_TYPES:
                return _unsupported(f"'kubectl delete {t}'")
            return 1, "", f'error: the server doesn\'t have a resource type "{t}"\n'
    if a.opts.get("all") or "selector" in a.opts:
        kind = kinds[word]
        objs = ctx.ds.list(kind, (ns or "default") if kind in NAMESPACED else None)
        if "selector" in a.opts:
            sel = k8s_label_selector(str(a.opts["selector"]))
            objs = [o for o in objs if sel(o["metadata"].get("labels") or {})]
        targets = [(word, o["metadata"]["name"]) for o in objs]
        if not targets:
            return 0, "", "No resources found\n"
    if not targets:
        return 1, "", "error: resource(s) were provided, but no name was specified\n"
    triples = []
    for t, name in targets:
        kind = TYPES[t.lower()]
        namespace = (ns or "default") if kind in NAMESPACED else None
        if a.opts.get("ignore") and ctx.ds.get(kind, name, namespace) is None:
            continue
        triples.append((kind, name, namespace))
    try:
        # one transaction: a name that fails leaves the others in place too
        changes = res.delete_objects(ctx.ds, ctx.topology, triples)
    except ApplyError as e:
        return 1, "", warn + f"Error from server ({e.status}): {e.reason}\n"
    return 0, "".join(c.kubectl().replace(" deleted", f" {verb}") + "\n" for c in changes), warn


# ---------------------------------------------------------------- label / patch

def cmd_label(argv: list[str], ctx: CliContext) -> Result:
    a = Args(argv, {"-n": "namespace", "--namespace": "namespace"}, {"--overwrite": "overwrite"}, bool_switches=True)
    if a.bad:
        return _unsupported(f"the flag {a.bad!r} of kubectl label")
    pos = list(a.pos)
    if not pos:
        return 1, "", "error: one or more resources must be specified as <resource> <name> or <resource>/<name>\n"
    if "/" in pos[0]:
        t, _, name = pos[0].partition("/")
        rest = pos[1:]
    elif len(pos) >= 2:
        t, name, rest = pos[0], pos[1], pos[2:]
    else:
        return 1, "", "error: one or more resources must be specified as <resource> <name> or <resource>/<name>\n"
    kind = TYPES.get(t.lower())
    if kind is None:
        return _unsupported(f"labelling '{t}'")
    if not rest:
        return 1, "", "error: at least one label update is required\n"
    ns = (str(a.opts["namespace"]) if "namespace" in a.opts else "default") if kind in NAMESPACED else None
    current = ctx.ds.get(kind, name, ns)
    if current is None:
        return 1, "", f'Error from server (NotFound): {PLURAL[kind]} "{name}" not found\n'
    labels = current["metadata"].get("labels") or {}
    updates: dict[str, str | None] = {}
    notes = ""
    for item in rest:
        if item.endswith("-") and "=" not in item:
            key = item[:-1]
            if key not in labels:
                notes += f'label "{key}" not found.\n'
            updates[key] = None
            continue
        key, eq, value = item.partition("=")
        if not eq or not key:
            return 1, "", f"error: invalid label spec: {item}\n"
        if key in labels and labels[key] != value and not a.opts.get("overwrite"):
            return 1, "", f"error: '{key}' already has a value ({labels[key]}), and --overwrite is false\n"
        updates[key] = value
    change = res.set_labels(ctx.ds, ctx.topology, kind, name, updates, ns)
    resource = {"NetworkPolicy": "networkpolicy.networking.k8s.io"}.get(kind, kind.lower())
    return 0, notes + f"{resource}/{name} {change.verb}\n", ""


def cmd_patch(argv: list[str], ctx: CliContext) -> Result:
    a = Args(argv, {"-p": "patch", "--patch": "patch", "--type": "type", "-n": "namespace",
                     "--namespace": "namespace"}, {}, bool_switches=True)
    if a.bad or len(a.pos) not in (1, 2) or "patch" not in a.opts:
        return _unsupported(f"'kubectl patch {' '.join(argv)}' (use kubectl patch TYPE NAME -p JSON)")
    if str(a.opts.get("type", "strategic")) not in ("strategic", "merge"):
        return _unsupported(f"patch type {a.opts['type']!r} (strategic or merge)")
    t, name = (a.pos[0].split("/", 1) if len(a.pos) == 1 else a.pos)
    kind = TYPES.get(t.lower())
    if kind is None:
        return _unsupported(f"patching '{t}'")
    try:
        body = json.loads(str(a.opts["patch"]))
    except ValueError as e:
        return 1, "", f"error: unable to parse \"{a.opts['patch']}\": {e}\n"
    ns = (str(a.opts["namespace"]) if "namespace" in a.opts else "default") if kind in NAMESPACED else None
    try:
        change = res.patch(ctx.ds, ctx.topology, kind, name, body, ns)
    except ApplyError as e:
        if " is invalid" in e.reason:
            return 1, "", e.reason + "\n"
        return 1, "", f"Error from server ({e.status}): {e.reason}\n"
    resource = {"NetworkPolicy": "networkpolicy.networking.k8s.io"}.get(kind, kind.lower())
    verb = "patched" if change.verb == "patched" else "patched (no change)"
    return 0, f"{resource}/{name} {verb}\n", ""


# ---------------------------------------------------------------- entry

def kubectl(argv: list[str], ctx: CliContext) -> Result:
    if argv[:1] == ["kubectl"]:
        argv = argv[1:]
    if not argv:
        return 1, "", f"error: no command given; the embedded lab's kubectl supports {SUPPORTED}\n"
    cmd, rest = argv[0], argv[1:]
    if cmd == "get":
        return cmd_get(rest, ctx)
    if cmd in ("apply", "create"):
        return cmd_apply(rest, ctx, cmd)
    if cmd == "delete":
        return cmd_delete(rest, ctx)
    if cmd == "label":
        return cmd_label(rest, ctx)
    if cmd == "patch":
        return cmd_patch(rest, ctx)
    if cmd == "version":
        return 0, VERSION_TEXT, ""
    if cmd == "wait":
        from .kubectl_wait import cmd_wait

        return cmd_wait(rest, ctx)
    if cmd == "exec":
        return 1, "", ("error: kubectl exec runs in the lab's dataplane, not in its control-plane emulation: "
                       "use lab.exec(\"NAMESPACE/POD\", \"COMMAND\") or lab.kubectl(\"exec ...\") on the local "
                       "backend\n")
    return _unsupported(f"'kubectl {cmd}'")
