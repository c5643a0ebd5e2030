"""/openapi/v3: just enough of kube-apiserver's OpenAPI v3 documents for `kubectl apply`.

kubectl 1.30 validates by default (--validate=strict) and first asks whether the server validates
fields itself: cli-runtime's queryParamVerifierV3 looks up the group-version's document, finds the
PATCH operation tagged with the kind's x-kubernetes-group-version-kind and checks that it takes
the `fieldValidation` query parameter. When it does, kubectl leaves validation to the server (the
emulator's apply path) and downloads no schema. The documents therefore list each served
resource's paths with that operation and parameter; schemas are left out.
"""

from __future__ import annotations

import hashlib
import json

from . import catalog


def _gv_key(r: catalog.Resource) -> str:
    return f"api/{r.version}" if not r.group else f"apis/{r.group}/{r.version}"


def _gv_doc(key: str) -> dict | None:
    mine = [r for r in catalog.served() if _gv_key(r) == key]
    if not mine:
        return None
    paths = {}
    for r in mine:
        base = f"/{key}/" + ("namespaces/{namespace}/" if r.namespaced else "") + r.plural + "/{name}"
        gvk = {"group": r.group, "version": r.version, "kind": r.kind}
        op = {"operationId": f"patch{r.kind}", "x-kubernetes-action": "patch",
              "x-kubernetes-group-version-kind": gvk,
              "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"},
                              "uniqueItems": True},
                             {"name": "fieldManager", "in": "query", "schema": {"type": "string"},
                              "uniqueItems": True}],
              "responses": {"200": {"description": "OK"}}}
        paths[base] = {"get": {"operationId": f"read{r.kind}", "x-kubernetes-action": "get",
                               "x-kubernetes-group-version-kind": gvk,
                               "responses": {"200": {"description": "OK"}}},
                       "patch": op}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": catalog.GIT_VERSION},
            "paths": paths, "components": {"schemas": {}}}


def document(path: str) -> dict | None:
    path = path.split("?", 1)[0].rstrip("/")
    if path == "/openapi/v3":
        out = {}
        for key in sorted({_gv_key(r) for r in catalog.served()}):
            digest = hashlib.sha512(json.dumps(_gv_doc(key), sort_keys=True).encode()).hexdigest()[:128].upper()
            out[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest}"}
        return {"paths": out}
    if path.startswith("/openapi/v3/"):
        return _gv_doc(path[len("/openapi/v3/"):])
    return None
