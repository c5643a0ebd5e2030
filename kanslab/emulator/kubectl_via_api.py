"""`kubectl get` for every resource the lab's Kubernetes API serves, answered by that API.

The emulator's own `get` prints pods, nodes, namespaces and NetworkPolicies from the datastore. Any
other resource the lab's API serves (events, and each kind another part of the lab stores) is read
through the API handler in-process, the way kubectl reads it: a meta.k8s.io/v1 Table for the text
forms, the List for -o json|yaml|name. The columns are then the API server's own (kubeapi/tables.py),
printed as kubectl's table printer prints them: upper-cased headers, priority-1 columns only with
-o wide, NAMESPACE first with -A (k8s.io/cli-runtime printers/tableprinter.go).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from .jsonpath import render as jsonpath_render
from .kubeapi import catalog
from .kubeapi.handler import KubeAPI
from .object_output import kubectl_json, to_yaml
from .text_tables import kubectl_table

if TYPE_CHECKING:
    from .argv import Args
    from .cli_context import CliContext

Result = tuple[int, str, str]
_TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


def resource(word: str) -> catalog.Resource | None:
    """The served resource `word` names: plural, singular, short name or `plural.group`."""
    w = word.lower()
    for r in catalog.served():
        names = {r.plural, r.singular, *r.short_names}
        if r.group:
            names |= {f"{r.plural}.{r.group}", f"{r.singular}.{r.group}"}
        if w in names:
            return r
    return None


def _path(r: catalog.Resource, ns: str | None, name: str | None = None) -> str:
    base = f"/apis/{r.group}/{r.version}" if r.group else f"/api/{r.version}"
    if ns and r.namespaced:
        base += f"/namespaces/{ns}"
    base += f"/{r.plural}"
    return base + (f"/{name}" if name else "")


def _sort_key(path: str):
    """--sort-by with a simple field path (`.lastTimestamp`, `{.metadata.name}`)."""
    template = path if path.startswith("{") else "{" + path + "}"

    def key(obj: dict):
        try:
            text = jsonpath_render(template, obj)
        except Exception:  # a missing field sorts first, as kubectl's sorter treats it as empty
            text = ""
        return (0, float(text)) if text.replace(".", "", 1).isdigit() else (1, text)
    return key


def get(r: catalog.Resource, a: Args, names: list[str], ctx: CliContext) -> Result:
    api = KubeAPI(ctx.ds, ctx.topology, clock=ctx.clock)
    all_ns = bool(a.opts.get("all")) and r.namespaced
    ns = None if all_ns or not r.namespaced else str(a.opts.get("namespace") or "default")
    output = str(a.opts.get("output", ""))
    query = {k: str(a.opts[o]) for k, o in (("labelSelector", "selector"), ("fieldSelector", "fieldselector"))
             if o in a.opts}
    objs, errors = [], []
    if names:
        for n in names:
            resp = api.handle("GET", _path(r, ns, n), "", {"accept": "application/json"}, b"")
            if resp.code == 200:
                objs.append(resp.body)
            else:
                errors.append(f'Error from server (NotFound): {r.plural} "{n}" not found')
    else:
        resp = api.handle("GET", _path(r, ns), urlencode(query), {"accept": "application/json"}, b"")
        if resp.code != 200:
            return 1, "", f"Error from server ({resp.body.get('reason', 'BadRequest')}): {resp.body.get('message')}\n"
        objs = [dict(o, apiVersion=r.api_version, kind=r.kind) for o in resp.body.get("items") or []]
    if "sortby" in a.opts:
        objs.sort(key=_sort_key(str(a.opts["sortby"])))
    err_text = "".join(e + "\n" for e in errors)
    rc = 1 if errors else 0
    single = len(names) == 1 and len(objs) == 1
    listed = {"apiVersion": "v1", "items": objs, "kind": "List", "metadata": {"resourceVersion": ""}}
    if output in ("yaml", "json"):
        if not objs and names:
            return rc, "", err_text
        doc = objs[0] if single else listed
        return rc, (to_yaml(doc) if output == "yaml" else kubectl_json(doc)), err_text
    if output.startswith("jsonpath="):
        template = output[len("jsonpath="):].strip("'\"")
        return rc, jsonpath_render(template, objs[0] if single else listed), err_text
    resource_name = f"{r.singular}.{r.group}" if r.group else r.singular
    if output == "name":
        return rc, "".join(f"{resource_name}/{o['metadata']['name']}\n" for o in objs), err_text
    if output not in ("", "wide"):
        return 1, "", f"error: the embedded lab's kubectl does not emulate the output format '{output}'\n"
    if not objs:
        if names:
            return rc, "", err_text
        where = f" in {ns} namespace" if ns else ""
        return 0, "", f"No resources found{where}.\n"
    from .kubeapi import tables  # the API's printers, for the same objects in the order just chosen
    table = tables.table(r.kind, r.api_version, objs, "", now=ctx.clock(), include="None")
    cols = [c for c in table["columnDefinitions"] if output == "wide" or c.get("priority", 0) == 0]
    keep = [i for i, c in enumerate(table["columnDefinitions"]) if c in cols]
    headings = [c["name"].upper() for c in cols]
    rows = [[_cell(row["cells"][i]) for i in keep] for row in table["rows"]]
    if all_ns:
        headings = ["NAMESPACE"] + headings
        rows = [[o["metadata"].get("namespace", "")] + row for o, row in zip(objs, rows, strict=True)]
    text = kubectl_table(headings, rows)
    if a.opts.get("noheaders"):
        text = text.split("\n", 1)[1]
    return rc, text, err_text


def _cell(value) -> str:
    """kubectl prints a Table cell with fmt's %v: nil as <none>, lists and maps as Go prints them."""
    if value is None:
        return "<none>"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)
