"""Felix's selector ipsets: the one selector a policy rule's peer becomes, its canonical string and
unique ID, the set's name, and its members (the IPs of every workload endpoint it selects).

How a peer becomes a set, as Calico v3.28 does it:

1. A Kubernetes NetworkPolicy peer is converted to a Calico entity rule
   (libcalico-go/lib/backend/k8s/conversion/conversion.go `k8sPeerToCalicoFields`,
   `k8sSelectorToCalico`): a podSelector becomes `projectcalico.org/orchestrator == 'k8s' && k == 'v'...`
   (matchLabels sorted by key, then matchExpressions in order); a missing podSelector becomes the
   orchestrator term alone; an empty namespaceSelector becomes `all()`, a missing one "".
2. The entity rule's selector, namespaceSelector and the policy's namespace become one selector
   (libcalico-go/lib/backend/syncersv1/updateprocessors/rules.go `getEndpointSelector`):
   namespaceSelector labels get the `pcns.` prefix (`parseSelectorAttachPrefix`), `all()` there
   means `has(projectcalico.org/namespace)`; without one, a namespaced policy pins its own namespace
   `projectcalico.org/namespace == '<ns>'`; the result is `(<ns part>) && (<selector>)`.
3. Felix's rule scanner folds a notSelector into a positive selector when there is one,
   `(<pos>) && (!(<neg>))`; otherwise the notSelector stays a negated set
   (felix/calc/rule_scanner.go `combineMatchesIfPossible`).
4. The selector is parsed and printed canonically (libcalico-go/lib/selector/parser ast.go
   `collectFragments`: `&&`/`||` groups in parentheses, double quotes unless the value has one, set
   values sorted and deduplicated, `!!x` is `x`); its ID is `s:` + unpadded base64url of
   SHA-224(`s:` + canonical) (lib/hash `MakeUniqueID`); the IPv4 set is `cali40` + ID cut to 31
   characters (felix/ipsets `NameForMainIPSet`), of type hash:net.

A workload endpoint's labels, as Felix's label index sees them: the pod's labels plus
`projectcalico.org/{namespace,orchestrator,serviceaccount}`, inheriting its namespace profile's
`pcns.<label>` (and `pcns.projectcalico.org/name`) and its service-account profile's
`pcsa.projectcalico.org/name` (conversion.go `NamespaceToProfile`, `ServiceAccountToProfile`).

Calico selectors are parsed here by hand: no Python library implements Calico's grammar, and the
canonical string must be Calico's to the character.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import re
from dataclasses import dataclass

from ..errors import InvalidInput

# -- the selector AST (ast.go): tuples (kind, ...) ---------------------------------------------
# ("all",) ("global",) ("has", k) ("op", k, op, v) for ==, !=, contains, starts with, ends with;
# ("in", k, values) ("notin", k, values); ("not", n) ("and", [n...]) ("or", [n...])

_LABEL = r"[a-zA-Z0-9_./-]{1,512}"  # tokenizer.go LabelKeyMatcher
_TOKENS = [
    ("has", re.compile(r"has\(\s*(" + _LABEL + r")\s*\)")), ("all", re.compile(r"all\(\s*\)")),
    ("global", re.compile(r"global\(\s*\)")), ("notin", re.compile(r"not\s*in\b")), ("in", re.compile(r"in\b")),
    ("contains", re.compile(r"contains")), ("starts with", re.compile(r"starts\s*with")),
    ("ends with", re.compile(r"ends\s*with")),
    ("str", re.compile(r'"([^"]*)"|\'([^\']*)\'')), ("sym", re.compile(r"==|!=|&&|\|\||[!(){},]")),
    ("label", re.compile(_LABEL)),
]


def _tokenize(text: str) -> list[tuple[str, str]]:
    out, i = [], 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return out + [("eof", "")]
        for kind, rx in _TOKENS:
            m = rx.match(text, i)
            if m:
                if kind == "has":
                    out.append(("has", m.group(1)))
                elif kind == "str":
                    out.append(("str", m.group(1) if m.group(1) is not None else m.group(2)))
                elif kind == "sym":
                    out.append((m.group(0), m.group(0)))
                else:
                    out.append((kind, m.group(0)))
                i = m.end()
                break
        else:
            raise InvalidInput(f"invalid selector {text!r}: unexpected character {text[i]!r} at position {i}")


class _Parser:
    """parser.go: `||` of `&&` of operations; a parenthesised group is its inner node; `!` toggles."""

    def __init__(self, text: str):
        self.text, self.toks, self.i = text, _tokenize(text), 0

    def fail(self, why: str):
        raise InvalidInput(f"invalid selector {self.text!r}: {why}")

    def peek(self) -> str:
        return self.toks[self.i][0]

    def take(self) -> tuple[str, str]:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def parse(self) -> tuple:
        if self.peek() == "eof":
            return ("all",)
        node = self.or_expr()
        if self.peek() != "eof":
            self.fail(f"unexpected {self.toks[self.i][1]!r} at the end")
        return node

    def or_expr(self) -> tuple:
        nodes = [self.and_expr()]
        while self.peek() == "||":
            self.take()
            nodes.append(self.and_expr())
        return nodes[0] if len(nodes) == 1 else ("or", nodes)

    def and_expr(self) -> tuple:
        nodes = [self.operation()]
        while self.peek() == "&&":
            self.take()
            nodes.append(self.operation())
        return nodes[0] if len(nodes) == 1 else ("and", nodes)

    def operation(self) -> tuple:
        negated = False
        while self.peek() == "!":
            self.take()
            negated = not negated
        kind, value = self.take()
        if kind == "has":
            node: tuple = ("has", value)
        elif kind in ("all", "global"):
            node = (kind,)
        elif kind == "(":
            node = self.or_expr()
            if self.take()[0] != ")":
                self.fail("expected )")
        elif kind == "label":
            op, _ = self.take()
            if op in ("==", "!=", "contains", "starts with", "ends with"):
                k, v = self.take()
                if k != "str":
                    self.fail("expected a quoted string")
                node = ("op", value, op, v)
            elif op in ("in", "notin"):
                if self.take()[0] != "{":
                    self.fail("expected a set literal")
                values = []
                while self.peek() == "str":
                    values.append(self.take()[1])
                    if self.peek() != ",":
                        break
                    self.take()
                if self.take()[0] != "}":
                    self.fail("expected }")
                node = (op, value, sorted(set(values)))  # ConvertToStringSetInPlace: sorted, deduplicated
            else:
                self.fail(f"expected == or != after {value!r}")
        else:
            self.fail(f"unexpected {value or kind!r}")
        return ("not", node) if negated else node


def parse(text: str | None) -> tuple:
    return _Parser(text or "").parse()


def _quote(s: str) -> str:
    q = "'" if '"' in s else '"'
    return q + s + q


def canonical(node: tuple) -> str:
    """ast.go collectFragments."""
    kind = node[0]
    if kind in ("all", "global"):
        return kind + "()"
    if kind == "has":
        return f"has({node[1]})"
    if kind == "op":
        return f"{node[1]} {node[2]} {_quote(node[3])}"
    if kind in ("in", "notin"):
        op = "in" if kind == "in" else "not in"
        return f"{node[1]} {op} {{" + ", ".join(_quote(v) for v in node[2]) + "}"
    if kind == "not":
        return "!" + canonical(node[1])
    sep = " && " if kind == "and" else " || "
    return "(" + sep.join(canonical(n) for n in node[1]) + ")"


def prefixed(node: tuple, prefix: str) -> tuple:
    """parser.PrefixVisitor: every label name gets `prefix`."""
    kind = node[0]
    if kind in ("has", "op", "in", "notin"):
        return (kind, prefix + node[1]) + tuple(node[2:])
    if kind == "not":
        return ("not", prefixed(node[1], prefix))
    if kind in ("and", "or"):
        return (kind, [prefixed(n, prefix) for n in node[1]])
    return node


def evaluate(node: tuple, labels: dict) -> bool:
    kind = node[0]
    if kind in ("all", "global"):  # ast.go: GlobalNode.Evaluate is true (a namespaceSelector's global() was
        return True                # rewritten to !has(projectcalico.org/namespace) before this)
    if kind == "has":
        return node[1] in labels
    if kind == "op":
        have, op, want = labels.get(node[1]), node[2], node[3]
        if op == "!=":
            return have != want
        if have is None:
            return False
        return {"==": have == want, "contains": want in have, "starts with": have.startswith(want),
                "ends with": have.endswith(want)}[op]
    if kind == "in":
        return labels.get(node[1]) in node[2]
    if kind == "notin":
        return labels.get(node[1]) not in node[2]
    if kind == "not":
        return not evaluate(node[1], labels)
    if kind == "and":
        return all(evaluate(n, labels) for n in node[1])
    return any(evaluate(n, labels) for n in node[1])


def unique_id(text: str | None) -> str:
    """hash.MakeUniqueID("s", canonical selector)."""
    digest = hashlib.sha224(("s:" + canonical(parse(text))).encode()).digest()
    return "s:" + base64.urlsafe_b64encode(digest).decode().rstrip("=")


def set_name(text: str | None) -> str:
    """The IPv4 ipset Felix names for the selector (ipsets.IPVersionConfig.NameForMainIPSet)."""
    return ("cali40" + unique_id(text))[:31]


# -- Kubernetes NetworkPolicy peers and Calico entity rules -> the selector --------------------

def k8s_selector(sel: dict | None, pod: bool) -> str:
    """conversion.go k8sSelectorToCalico (SelectorPod / SelectorNamespace)."""
    parts = ["projectcalico.org/orchestrator == 'k8s'"] if pod else []
    if sel is None:
        return " && ".join(parts)
    labels, exprs = sel.get("matchLabels") or {}, sel.get("matchExpressions") or []
    if not pod and not labels and not exprs:
        return "all()"
    parts += [f"{k} == '{labels[k]}'" for k in sorted(labels)]
    for e in exprs:
        values = "', '".join(e.get("values") or [])
        op = e.get("operator")
        if op == "In":
            parts.append(f"{e['key']} in {{ '{values}' }}")
        elif op == "NotIn":
            parts.append(f"{e['key']} not in {{ '{values}' }}")
        elif op == "Exists":
            parts.append(f"has({e['key']})")
        elif op == "DoesNotExist":
            parts.append(f"! has({e['key']})")
    return " && ".join(parts)


def k8s_peer_entity(peer: dict) -> dict:
    """conversion.go k8sPeerToCalicoFields for a podSelector/namespaceSelector peer."""
    ent = {"selector": k8s_selector(peer.get("podSelector"), pod=True)}
    ns_sel = k8s_selector(peer.get("namespaceSelector"), pod=False)
    if ns_sel:
        ent["namespaceSelector"] = ns_sel
    return ent


def entity_selector(ent: dict, ns: str | None) -> str:
    """updateprocessors/rules.go getEndpointSelector (service accounts aside): "" = no selector."""
    ns_sel_in, sel, not_sel = ent.get("namespaceSelector") or "", ent.get("selector") or "", ent.get("notSelector") or ""
    ns_sel = ""
    if ns_sel_in:
        ns_sel = canonical(prefixed(parse(ns_sel_in), "pcns."))
        ns_sel = ns_sel.replace("all()", "has(projectcalico.org/namespace)")
        ns_sel = ns_sel.replace("global()", "!has(projectcalico.org/namespace)")
    elif ns:
        ns_sel = f"projectcalico.org/namespace == '{ns}'"
    if ns_sel and (sel or not_sel or ns_sel_in):
        sel = f"({ns_sel}) && ({sel})" if sel else ns_sel
    return sel


def rule_side_selectors(ent: dict, ns: str | None) -> tuple[str, str]:
    """(positive, negated) selectors of one side of a rule after rule_scanner.go
    combineMatchesIfPossible; "" where there is none."""
    pos, neg = entity_selector(ent, ns), ent.get("notSelector") or ""
    if pos and neg:
        return f"({pos}) && (!({neg}))", ""
    return pos, neg


# -- the sets one node's rules use ------------------------------------------------------------

def endpoint_labels(pod: dict, ns_labels: dict) -> dict:
    """The labels Felix's label index evaluates for a workload endpoint (with its profiles')."""
    ns = pod["namespace"]
    sa = pod.get("service_account") or "default"
    labels = {f"pcns.{k}": v for k, v in (ns_labels.get(ns) or {}).items()}
    labels.setdefault("pcns.kubernetes.io/metadata.name", ns)  # the API server's own namespace label
    labels["pcns.projectcalico.org/name"] = ns
    labels["pcsa.projectcalico.org/name"] = sa
    labels.update(pod.get("labels") or {})
    labels.update({"projectcalico.org/namespace": ns, "projectcalico.org/orchestrator": "k8s",
                   "projectcalico.org/serviceaccount": sa})
    return labels


@dataclass
class SelectorSets:
    """Collects the selector sets one node's rules reference; members come from every endpoint
    of the cluster (`pods`: dicts with namespace, labels, ip), not only this node's."""

    pods: list
    ns_labels: dict

    def __post_init__(self):
        self.used: dict[str, str] = {}  # set name -> canonical selector
        self._labels = [(endpoint_labels(p, self.ns_labels), p) for p in self.pods]

    def match(self, selector: str, side: str, negated: bool = False) -> str:
        """`-m set [!] --match-set <name> src|dst` for `selector`, recording the set."""
        name = set_name(selector)
        self.used[name] = canonical(parse(selector))
        return f"-m set {'! ' if negated else ''}--match-set {name} {side}"

    def pods_of(self, selector: str) -> list[dict]:
        node = parse(selector)
        return [p for labels, p in self._labels if evaluate(node, labels)]

    def sets(self) -> dict[str, tuple[str, list[str]]]:
        """{name: ("hash:net", members)}: each endpoint's IPv4 address (Felix adds it as /32)."""
        out = {}
        for name, sel in sorted(self.used.items()):
            ips = {p["ip"] for p in self.pods_of(sel) if ipaddress.ip_address(p["ip"]).version == 4}
            out[name] = ("hash:net", sorted(ips, key=ipaddress.ip_address))
        return out
