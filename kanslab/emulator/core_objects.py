"""Core objects a course applies that the lab stores and shows but does not act on: ConfigMap, Secret,
ServiceAccount, Role, ClusterRole, RoleBinding, ClusterRoleBinding (RBAC is stored, not enforced).

Validation follows kube-apiserver v1.30 (pkg/apis/core/validation ValidateConfigMap/ValidateSecret,
pkg/apis/rbac/validation ValidatePolicyRule/ValidateRoleBinding) for the mistakes a student makes:
bad keys, missing verbs/apiGroups/resources, a roleRef of the wrong kind, a subject without a
namespace. Each error is raised as kubectl prints it (`The ClusterRole "x" is invalid: ...`) with the
field causes attached (`ApplyError.causes`), which the API server puts in the Status details.

Each namespace gets what kube-controller-manager gives it: the `default` ServiceAccount
(serviceaccounts-controller) and the `kube-root-ca.crt` ConfigMap (root-ca-cert-publisher) once the
lab's CA is known (`publish_root_ca`, called when the API server's PKI is made).
"""

from __future__ import annotations

import base64
import binascii
import json
import re

from . import k8s_objects as k8s
from .kinds import Run, merged_meta, meta_changed, stored_for_write
from .outcomes import ApplyError, Change

RBAC_GROUP = "rbac.authorization.k8s.io"
API_VERSION = {"ConfigMap": "v1", "Secret": "v1", "ServiceAccount": "v1", "Role": f"{RBAC_GROUP}/v1",
               "ClusterRole": f"{RBAC_GROUP}/v1", "RoleBinding": f"{RBAC_GROUP}/v1",
               "ClusterRoleBinding": f"{RBAC_GROUP}/v1"}
CLUSTER_SCOPED = ("ClusterRole", "ClusterRoleBinding")
# the fields each kind stores besides metadata (what `apply` replaces)
CONTENT = {"ConfigMap": ("data", "binaryData", "immutable"), "Secret": ("data", "type", "immutable"),
           "ServiceAccount": ("secrets", "imagePullSecrets", "automountServiceAccountToken"),
           "Role": ("rules",), "ClusterRole": ("rules", "aggregationRule"),
           "RoleBinding": ("subjects", "roleRef"), "ClusterRoleBinding": ("subjects", "roleRef")}
ROOT_CA = "kube-root-ca.crt"
_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_CONFIG_KEY_MSG = ("a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  "
                   "or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')")


def invalid(kind: str, name: str, ns: str | None, causes: list[tuple[str, str]]) -> ApplyError:
    """field.ErrorList.ToAggregate(): one error plain, several as [a, b]."""
    texts = [f"{f}: {m}" for f, m in causes]
    joined = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    err = ApplyError(kind, name, f'The {kind} "{name}" is invalid: {joined}', namespace=ns)
    err.causes = causes
    return err


def undecodable(kind: str, name: str, ns: str | None, why: str) -> ApplyError:
    return ApplyError(kind, name, f'{kind} in version "v1" cannot be handled as a {kind}: {why}',
                      namespace=ns, status="BadRequest")


# fields each kind's Go type has besides apiVersion/kind/metadata (k8s.io/api core/v1, rbac/v1, apps/v1)
FIELDS = {**{k: set(v) for k, v in CONTENT.items()}, "Secret": {"data", "stringData", "type", "immutable"},
          "Deployment": {"spec", "status"}, "ReplicaSet": {"spec", "status"}, "DaemonSet": {"spec", "status"}}
SPEC_FIELDS = {"Deployment": {"replicas", "selector", "template", "strategy", "minReadySeconds",
                              "revisionHistoryLimit", "paused", "progressDeadlineSeconds"},
               "ReplicaSet": {"replicas", "minReadySeconds", "selector", "template"},
               "DaemonSet": {"selector", "template", "updateStrategy", "minReadySeconds", "revisionHistoryLimit"}}


def check_known_fields(kind: str, obj: dict) -> None:
    """kubectl sends fieldValidation=Strict: an unknown field is refused, not dropped (a typo like `datas`)."""
    meta = obj.get("metadata") or {}
    name, ns = meta.get("name", ""), None if kind in CLUSTER_SCOPED else meta.get("namespace") or "default"
    unknown = [k for k in obj if k not in FIELDS[kind] | {"apiVersion", "kind", "metadata"}]
    spec = obj.get("spec")
    if kind in SPEC_FIELDS and isinstance(spec, dict):
        unknown += [f"spec.{k}" for k in spec if k not in SPEC_FIELDS[kind]]
    if unknown:
        raise undecodable(kind, name, ns, "strict decoding error: " + ", ".join(f'unknown field "{f}"'
                                                                              for f in unknown))


def _go_type(v: object) -> str:
    return {bool: "bool", int: "number", float: "number", list: "array", dict: "object"}.get(type(v), "string")


# ---------------------------------------------------------------- per-kind checks

def _string_map(kind: str, name: str, ns: str | None, obj: dict, fld: str) -> dict:
    m = obj.get(fld)
    if m is None:
        return {}
    if not isinstance(m, dict):
        raise undecodable(kind, name, ns, f"json: cannot unmarshal {_go_type(m)} into Go struct field "
                                          f"{kind}.{fld} of type map[string]string")
    for v in m.values():
        if not isinstance(v, str):
            raise undecodable(kind, name, ns, f"json: cannot unmarshal {_go_type(v)} into Go struct field "
                                              f"{kind}.{fld} of type string")
    return m


def _check_keys(kind: str, name: str, ns: str | None, maps: dict[str, dict]) -> None:
    causes = []
    seen: set[str] = set()
    for fld, m in maps.items():
        for key in m:
            if not _CONFIG_KEY.match(key) or len(key) > 253:
                causes.append((f"{fld}[{key}]", f'Invalid value: "{key}": {_CONFIG_KEY_MSG}'))
            elif key in seen:
                causes.append((f"{fld}[{key}]", f'Invalid value: "{key}": duplicate of key present in data'))
            seen.add(key)
    if causes:
        raise invalid(kind, name, ns, causes)


def _configmap(name: str, ns: str, obj: dict) -> dict:
    data = _string_map("ConfigMap", name, ns, obj, "data")
    binary = _string_map("ConfigMap", name, ns, obj, "binaryData")
    for v in binary.values():
        _b64("ConfigMap", name, ns, v)
    _check_keys("ConfigMap", name, ns, {"data": data, "binaryData": binary})
    return {"data": data or None, "binaryData": binary or None, "immutable": obj.get("immutable")}


def _b64(kind: str, name: str, ns: str | None, v: str) -> None:
    try:
        base64.b64decode(v, validate=True)
    except (binascii.Error, ValueError):
        pos = next((i for i, ch in enumerate(v) if not (ch.isalnum() or ch in "+/=")), len(v) - len(v) % 4)
        raise undecodable(kind, name, ns, f"illegal base64 data at input byte {pos}") from None


def _secret(name: str, ns: str, obj: dict) -> dict:
    data = dict(_string_map("Secret", name, ns, obj, "data"))
    for v in data.values():
        _b64("Secret", name, ns, v)
    # stringData is write-only: the API server merges it into data, base64-encoded (pkg/apis/core/v1 conversion)
    for k, v in _string_map("Secret", name, ns, obj, "stringData").items():
        data[k] = base64.b64encode(v.encode()).decode()
    _check_keys("Secret", name, ns, {"data": data})
    typ = obj.get("type") or "Opaque"
    if typ == "kubernetes.io/service-account-token" and not (obj.get("metadata", {}).get("annotations") or {}).get(
            "kubernetes.io/service-account.name"):
        raise invalid("Secret", name, ns, [("metadata.annotations[kubernetes.io/service-account.name]",
                                            "Required value")])
    return {"data": data or None, "type": typ, "immutable": obj.get("immutable")}


def _service_account(name: str, ns: str, obj: dict) -> dict:
    out = {}
    for fld in ("secrets", "imagePullSecrets"):
        v = obj.get(fld)
        if v is not None and not (isinstance(v, list) and all(isinstance(x, dict) for x in v)):
            raise undecodable("ServiceAccount", name, ns, f"json: cannot unmarshal {_go_type(v)} into Go struct "
                                                          f"field ServiceAccount.{fld} of type []v1."
                                                          f"{'ObjectReference' if fld == 'secrets' else 'LocalObjectReference'}")
        out[fld] = v or None
    auto = obj.get("automountServiceAccountToken")
    if auto is not None and not isinstance(auto, bool):
        raise undecodable("ServiceAccount", name, ns, f"json: cannot unmarshal {_go_type(auto)} into Go struct "
                                                      "field ServiceAccount.automountServiceAccountToken of type bool")
    out["automountServiceAccountToken"] = auto
    return out


def _rules(kind: str, name: str, ns: str | None, obj: dict) -> list:
    rules = obj.get("rules")
    if rules is None:
        return []
    if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
        raise undecodable(kind, name, ns, f"json: cannot unmarshal {_go_type(rules)} into Go struct field "
                                          f"{kind}.rules of type []v1.PolicyRule")
    causes = []
    for i, r in enumerate(rules):
        for fld in ("verbs", "apiGroups", "resources", "resourceNames", "nonResourceURLs"):
            v = r.get(fld)
            if v is not None and not (isinstance(v, list) and all(isinstance(x, str) for x in v)):
                raise undecodable(kind, name, ns, f"json: cannot unmarshal {_go_type(v)} into Go struct field "
                                                  f"PolicyRule.rules.{fld} of type []string")
        where = f"rules[{i}]"
        if not r.get("verbs"):   # ValidatePolicyRule
            causes.append((f"{where}.verbs", "Required value: verbs must contain at least one value"))
        if r.get("nonResourceURLs"):
            if kind == "Role":
                causes.append((f"{where}.nonResourceURLs", "Invalid value: " + _go_list(r["nonResourceURLs"]) +
                               ": namespaced rules cannot apply to non-resource URLs"))
            if r.get("apiGroups") or r.get("resources") or r.get("resourceNames"):
                causes.append((f"{where}.nonResourceURLs", "Invalid value: " + _go_list(r["nonResourceURLs"]) +
                               ": rules cannot apply to both regular resources and non-resource URLs"))
            continue
        if not r.get("apiGroups"):
            causes.append((f"{where}.apiGroups", "Required value: resource rules must supply at least one api group"))
        if not r.get("resources"):
            causes.append((f"{where}.resources", "Required value: resource rules must supply at least one resource"))
    if causes:
        raise invalid(kind, name, ns, causes)
    return rules


def _go_list(v: list) -> str:
    return "[]string{" + ", ".join(json.dumps(x) for x in v) + "}"


def _role(kind: str, name: str, ns: str | None, obj: dict) -> dict:
    out = {"rules": _rules(kind, name, ns, obj)}
    if kind == "ClusterRole":
        out["aggregationRule"] = obj.get("aggregationRule")
        if out["aggregationRule"]:
            out["rules"] = out["rules"] or None
    return out


def _role_ref_text(ref: dict) -> str:
    return (f'rbac.RoleRef{{APIGroup:"{ref.get("apiGroup", "")}", Kind:"{ref.get("kind", "")}", '
            f'Name:"{ref.get("name", "")}"}}')


def _binding(kind: str, name: str, ns: str | None, obj: dict, old: dict | None) -> dict:
    ref = obj.get("roleRef")
    if not isinstance(ref, dict):
        ref = {}
    subjects = obj.get("subjects")
    if subjects is not None and not (isinstance(subjects, list) and all(isinstance(s, dict) for s in subjects)):
        raise undecodable(kind, name, ns, f"json: cannot unmarshal {_go_type(subjects)} into Go struct field "
                                          f"{kind}.subjects of type []v1.Subject")
    causes = []
    kinds = ("Role", "ClusterRole") if kind == "RoleBinding" else ("ClusterRole",)
    if ref.get("apiGroup") != RBAC_GROUP:
        causes.append(("roleRef.apiGroup", f'Unsupported value: "{ref.get("apiGroup", "")}": supported values: '
                                           f'"{RBAC_GROUP}"'))
    if ref.get("kind") not in kinds:
        causes.append(("roleRef.kind", f'Unsupported value: "{ref.get("kind", "")}": supported values: ' +
                       ", ".join(f'"{k}"' for k in kinds)))
    if not ref.get("name"):
        causes.append(("roleRef.name", "Required value"))
    out_subjects = []
    for i, s in enumerate(subjects or []):
        where = f"subjects[{i}]"
        sk = s.get("kind")
        if sk not in ("ServiceAccount", "User", "Group"):
            causes.append((f"{where}.kind", f'Unsupported value: "{sk or ""}": supported values: "ServiceAccount", '
                                            '"User", "Group"'))
        if not s.get("name"):
            causes.append((f"{where}.name", "Required value"))
        s = dict(s)
        if sk == "ServiceAccount":
            s.setdefault("namespace", "" if kind == "ClusterRoleBinding" else ns)  # RoleBinding defaults it
            if not s["namespace"]:
                causes.append((f"{where}.namespace", "Required value"))
            if s.get("apiGroup"):
                causes.append((f"{where}.apiGroup", f'Unsupported value: "{s["apiGroup"]}": supported values: ""'))
        elif sk in ("User", "Group"):
            s.setdefault("apiGroup", RBAC_GROUP)   # SetDefaults_Subject
        out_subjects.append(s)
    if old is not None and old.get("roleRef") != ref:
        causes.append(("roleRef", f"Invalid value: {_role_ref_text(ref)}: cannot change roleRef"))
    if causes:
        raise invalid(kind, name, ns, causes)
    return {"subjects": out_subjects or None, "roleRef": ref}


# ---------------------------------------------------------------- apply

def apply_core(run: Run, kind: str, obj: dict) -> Change:
    meta = obj["metadata"]
    name = meta["name"]
    ns = None if kind in CLUSTER_SCOPED else (meta.get("namespace") or "default")
    k8s.check_k8s_name(kind, name, ns)
    check_known_fields(kind, obj)
    old = stored_for_write(run, kind, obj, name, ns)
    if kind == "ConfigMap":
        content = _configmap(name, ns, obj)
    elif kind == "Secret":
        content = _secret(name, ns, obj)
    elif kind == "ServiceAccount":
        content = _service_account(name, ns, obj)
    elif kind in ("Role", "ClusterRole"):
        content = _role(kind, name, ns, obj)
    else:
        content = _binding(kind, name, ns, obj, old)
    content = {k: v for k, v in content.items() if v is not None}
    if old is not None and old.get("immutable") and any(old.get(f) != content.get(f) for f in ("data", "binaryData")):
        raise invalid(kind, name, ns, [("data", "Forbidden: field is immutable when `immutable` is set")])
    labels, ann = merged_meta(old, obj, run.mode)
    if old is not None and all(old.get(f) == content.get(f) for f in CONTENT[kind]) and \
            not meta_changed(old, labels, ann):
        return Change(kind, name, ns, "unchanged")
    new_meta = {"name": name, "labels": labels, "annotations": ann}
    if ns is not None:
        new_meta["namespace"] = ns
    run.tx.put({"apiVersion": API_VERSION[kind], "kind": kind, "metadata": new_meta, **content})
    return Change(kind, name, ns, "configured" if old else "created")


# ---------------------------------------------------------------- what kube-controller-manager adds

def ensure_namespace_defaults(tx, ns: str) -> None:
    """The `default` ServiceAccount and, once the CA is published, `kube-root-ca.crt` in namespace `ns`."""
    if tx.get("ServiceAccount", "default", ns) is None:
        tx.put({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": ns}})
    source = next((cm for cm in tx.list("ConfigMap") if cm["metadata"]["name"] == ROOT_CA), None)
    if source is not None and tx.get("ConfigMap", ROOT_CA, ns) is None:
        tx.put(_root_ca(ns, source["data"]["ca.crt"]))


def _root_ca(ns: str, pem: str) -> dict:
    # root-ca-cert-publisher (pkg/controller/certificates/rootcacertpublisher) sets this annotation
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": ROOT_CA, "namespace": ns,
                         "annotations": {"kubernetes.io/description": (
                             "Contains a CA bundle that can be used to verify the kube-apiserver when using "
                             "internal endpoints such as the internal service IP or kubernetes.default.svc. No "
                             "other usage is guaranteed across distributions of Kubernetes clusters.")}},
            "data": {"ca.crt": pem}}


def publish_root_ca(ds, pem: str) -> None:
    """Put the lab CA's certificate in `kube-root-ca.crt` of every namespace (and keep it current)."""
    with ds.transaction() as tx:
        for n in tx.list("Namespace"):
            ns = n["metadata"]["name"]
            cm = tx.get("ConfigMap", ROOT_CA, ns)
            if cm is None or (cm.get("data") or {}).get("ca.crt") != pem:
                tx.put(_root_ca(ns, pem))
