"""Label selectors: Calico's expression syntax and Kubernetes' `-l` syntax, compiled to predicates.

Calico (libcalico-go/lib/selector): `all()`, `has(k)`, `k == "v"`, `k != "v"`, `k in {"a","b"}`,
`k not in {...}`, `k contains "s"`, `k starts with "s"`, `k ends with "s"`, `!`, `&&`, `||`,
parentheses; values are quoted with ' or ". `!=` and `not in` also match when the label is absent,
as in Calico. Kubernetes (`kubectl -l`): `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`,
`k`, `!k`, comma = and.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from ..errors import InvalidInput

Labels = Mapping[str, str]
Predicate = Callable[[Labels], bool]

_CALICO_TOKEN = re.compile(r"""
    \s*(?:
      (?P<str>"[^"]*"|'[^']*')
    | (?P<op>&&|\|\||==|!=|!|\(|\)|\{|\}|,)
    | (?P<word>[A-Za-z0-9_./-]+)
    )""", re.VERBOSE)


class _Tokens:
    def __init__(self, expr: str):
        self.expr, self.items, pos = expr, [], 0
        while pos < len(expr):
            if expr[pos:].strip() == "":
                break
            m = _CALICO_TOKEN.match(expr, pos)
            if not m or m.end() == pos:
                raise _error(expr, f"unexpected character {expr[pos:].lstrip()[:1]!r}", pos)
            kind = m.lastgroup
            text = m.group(kind)
            self.items.append((kind, text, m.start(kind)))
            pos = m.end()
        self.i = 0

    def peek(self, k: int = 0) -> tuple[str, str, int] | None:
        j = self.i + k
        return self.items[j] if j < len(self.items) else None

    def take(self) -> tuple[str, str, int]:
        tok = self.peek()
        if tok is None:
            raise _error(self.expr, "unexpected end of selector", len(self.expr))
        self.i += 1
        return tok

    def expect(self, text: str) -> None:
        kind, got, pos = self.take()
        if got != text:
            raise _error(self.expr, f"expected {text!r} but found {got!r}", pos)

    def at(self, *texts: str) -> bool:
        tok = self.peek()
        return tok is not None and tok[1] in texts


def _error(expr: str, why: str, pos: int) -> InvalidInput:
    return InvalidInput(f"invalid selector {expr!r}: {why} at position {pos}")


def _string(tokens: _Tokens) -> str:
    kind, text, pos = tokens.take()
    if kind != "str":
        raise _error(tokens.expr, f"expected a quoted value but found {text!r} (values need quotes: \"v\")", pos)
    return text[1:-1]


def _or(tokens: _Tokens) -> Predicate:
    left = _and(tokens)
    while tokens.at("||"):
        tokens.take()
        right = _and(tokens)
        left = (lambda a, b: lambda lb: a(lb) or b(lb))(left, right)
    return left


def _and(tokens: _Tokens) -> Predicate:
    left = _unary(tokens)
    while tokens.at("&&"):
        tokens.take()
        right = _unary(tokens)
        left = (lambda a, b: lambda lb: a(lb) and b(lb))(left, right)
    return left


def _unary(tokens: _Tokens) -> Predicate:
    if tokens.at("!"):
        tokens.take()
        inner = _unary(tokens)
        return lambda lb: not inner(lb)
    return _primary(tokens)


def _primary(tokens: _Tokens) -> Predicate:
    kind, text, pos = tokens.take()
    if text == "(":
        inner = _or(tokens)
        tokens.expect(")")
        return inner
    if kind != "word":
        raise _error(tokens.expr, f"unexpected {text!r}", pos)
    if text in ("all", "global") and tokens.at("("):
        tokens.expect("(")
        tokens.expect(")")
        return lambda lb: True
    if text == "has" and tokens.at("("):
        tokens.expect("(")
        k_kind, key, k_pos = tokens.take()
        if k_kind != "word":
            raise _error(tokens.expr, f"has() needs a label name, found {key!r}", k_pos)
        tokens.expect(")")
        return lambda lb: key in lb
    key = text
    op_tok = tokens.peek()
    if op_tok is None:
        raise _error(tokens.expr, f"label {key!r} needs an operator (==, !=, in, not in, contains, ...)", pos)
    op = op_tok[1]
    if op in ("==", "!="):
        tokens.take()
        value = _string(tokens)
        if op == "==":
            return lambda lb: lb.get(key) == value
        return lambda lb: lb.get(key) != value
    if op == "in" or (op == "not" and tokens.peek(1) and tokens.peek(1)[1] == "in"):
        negate = op == "not"
        tokens.take()
        if negate:
            tokens.take()
        values = _set(tokens)
        if negate:
            return lambda lb: lb.get(key) not in values
        return lambda lb: key in lb and lb[key] in values
    if op == "contains":
        tokens.take()
        value = _string(tokens)
        return lambda lb: key in lb and value in lb[key]
    if op in ("starts", "ends") and tokens.peek(1) and tokens.peek(1)[1] == "with":
        tokens.take()
        tokens.take()
        value = _string(tokens)
        if op == "starts":
            return lambda lb: key in lb and lb[key].startswith(value)
        return lambda lb: key in lb and lb[key].endswith(value)
    raise _error(tokens.expr, f"unknown operator {op!r} after label {key!r}", op_tok[2])


def _set(tokens: _Tokens) -> frozenset[str]:
    tokens.expect("{")
    values: set[str] = set()
    if tokens.at("}"):
        tokens.take()
        return frozenset()
    while True:
        values.add(_string(tokens))
        if tokens.at(","):
            tokens.take()
            continue
        tokens.expect("}")
        return frozenset(values)


def calico_selector(expr: str | None) -> Predicate:
    """Compile a Calico selector to `f(labels) -> bool`; raises InvalidInput naming the problem."""
    if expr is None or not str(expr).strip():
        return lambda lb: True  # an empty selector selects everything, as all()
    tokens = _Tokens(str(expr))
    pred = _or(tokens)
    leftover = tokens.peek()
    if leftover is not None:
        raise _error(tokens.expr, f"unexpected {leftover[1]!r}", leftover[2])
    return pred


_K8S_SET = re.compile(r"^\s*(!?)\s*([A-Za-z0-9_./-]+)\s*(?:(in|notin)\s*\(([^)]*)\)|(==|=|!=)\s*([A-Za-z0-9_.-]*))?\s*$")


def _split_k8s(expr: str) -> list[str]:
    # commas separate requirements, except inside "in (a,b)"
    parts, depth, cur = [], 0, ""
    for ch in expr:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return parts


def k8s_label_selector(expr: str | None) -> Predicate:
    """Compile a kubectl `-l` selector; raises InvalidInput like kubectl's parse error."""
    if expr is None or not expr.strip():
        return lambda lb: True
    preds: list[Predicate] = []
    for part in _split_k8s(expr):
        m = _K8S_SET.match(part)
        if not m or (m.group(1) and (m.group(3) or m.group(5))):
            raise InvalidInput(f"error: unable to parse requirement: {part.strip()!r} in selector {expr!r}")
        neg, key, setop, setvals, op, val = m.groups()
        if setop:
            vals = frozenset(v.strip() for v in setvals.split(",") if v.strip())
            if setop == "in":
                preds.append(lambda lb, k=key, vs=vals: lb.get(k) in vs)
            else:
                preds.append(lambda lb, k=key, vs=vals: lb.get(k) not in vs)
        elif op in ("=", "=="):
            preds.append(lambda lb, k=key, v=val: k in lb and lb[k] == v)
        elif op == "!=":
            preds.append(lambda lb, k=key, v=val: lb.get(k) != v)
        elif neg:
            preds.append(lambda lb, k=key: k not in lb)
        else:
            preds.append(lambda lb, k=key: k in lb)
    return lambda lb: all(p(lb) for p in preds)
