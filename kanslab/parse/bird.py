"""BIRD 1.6 (calico-node's `birdcl`, `birdc`) output -> DataFrames.

Hand-written: jc/ntc/ttp have no BIRD parser, and BIRD's columns are not aligned (long protocol
names push the rest of the row right), so rows are split on whitespace, not by position.
Accepted with or without the raw control-socket reply codes (`0001 BIRD ... ready.`, `2002-...`,
`1002-...`, continuation rows starting with a space, `0000`), as `nc -U bird.ctl` or
`birdc -v` print them.
"""

from __future__ import annotations

import re

import pandas as pd

from ._common import clean_numbered, fail, is_chatter

_CODE = re.compile(r"^(\d{4})(?:([ -])(.*))?$")
_GREETING = re.compile(r"^BIRD\b.*\bready\.$")
_PREAMBLE = re.compile(r"^(Defaulted container .*|Access restricted|bird\S*> .*)$")
_TIME = re.compile(r"^\d{1,2}:\d{2}:\d{2}(\.\d+)?$")
_STATES = {"down", "start", "wait", "feed", "up", "stop", "flush"}


def _decode(numbered: list[tuple[int, str]]) -> list[tuple[int, str | None, str]]:
    """-> (lineno, reply code or None, text). Reply codes are stripped; a continuation line (leading
    space) inherits the code above it. Plain `birdc` output has no codes (code None)."""
    raw = any(_CODE.match(s) for _, s in numbered)
    out = []
    code = None
    for ln, s in numbered:
        m = _CODE.match(s) if raw else None
        if m:
            code, s = m[1], m[3] or ""
        elif raw and s.startswith(" "):
            s = s[1:]
        out.append((ln, code, s))
    return out


def _check_reply(name: str, ln: int, code: str | None, s: str) -> None:
    if code and code[0] in "89":  # 8xxx run-time errors, 9xxx parse errors
        fail(name, "BIRD replied with an error", f"{code} {s}", ln)


PROTOCOL_COLUMNS = ["name", "proto", "table", "state", "since", "info"]


def bird_protocols(text: str | bytes) -> pd.DataFrame:
    """`birdcl show protocols` (or `show protocols all`) -> one row per protocol.

    Columns: name, proto, table, state, since (`HH:MM:SS`, `YYYY-MM-DD` or both), info (`Established`,
    `Active Socket: Connection refused`, `=> t_x` for pipes; "" when empty). The detail blocks of
    `show protocols all` are skipped.
    """
    name = "bird_protocols"
    numbered = clean_numbered(text)
    header_seen = False
    records = []
    for ln, code, s in _decode(numbered):
        _check_reply(name, ln, code, s)
        t = s.strip()
        if code in ("0001", "0000", "1006") or not t or _GREETING.match(t):
            continue  # greeting, end of reply, `show protocols all` details, blank lines
        words = t.split()
        if [w.lower() for w in words] == PROTOCOL_COLUMNS:
            header_seen = True
            continue
        if not header_seen:
            continue  # `Defaulted container ...`, `Access restricted`, a command echo
        if code is None and s[:1].isspace():
            continue  # `show protocols all` detail line
        if len(words) < 5 or words[3].lower() not in _STATES:
            if is_chatter(t):
                continue
            fail(name, "not a `show protocols` row (name proto table state since [info])", s, ln)
        n = 6 if len(words) > 5 and _TIME.match(words[5]) else 5
        since = " ".join(words[4:n])
        records.append(dict(zip(PROTOCOL_COLUMNS, [*words[:4], since, " ".join(words[n:])], strict=True)))
    if not header_seen:
        first = next(((ln, s) for ln, s in numbered if s.strip()), (None, None))
        fail(name, "no `name proto table state since info` header found", first[1], first[0])
    return pd.DataFrame(records, columns=PROTOCOL_COLUMNS)


ROUTE_COLUMNS = ["prefix", "gateway", "iface", "type", "protocol", "since", "from_peer", "best",
                 "preference", "igp_metric", "as_path", "origin"]
_PREFIX = re.compile(r"^[0-9A-Fa-f:.]+/\d{1,3}$")
_ROUTE = re.compile(
    r"^(?:(?P<prefix>[0-9A-Fa-f:.]+/\d{1,3})\s+)?"
    r"(?:via\s+(?P<gw>\S+)\s+on\s+(?P<iface>\S+)|dev\s+(?P<dev>\S+)"
    r"|(?P<type>blackhole|unreachable|prohibited|prohibit|multipath))"
    r"\s+\[(?P<proto>\S+)\s+(?P<since>[^\]]*?)(?:\s+from\s+(?P<from>\S+))?\]"
    r"(?P<best>\s+\*)?\s+\((?P<pref>\d+)(?:/(?P<igp>[^)]*))?\)"
    r"(?:\s+\[(?:AS(?P<asn>\d+))?(?P<origin>[ie?])\])?\s*$")
_NEXTHOP = re.compile(r"^via\s+(?P<gw>\S+)\s+on\s+(?P<iface>\S+)(\s+weight\s+\d+)?\s*$")  # multipath hops
_DETAIL = re.compile(r"^[A-Za-z][\w.]*:\s")  # `show route all`: `Type: BGP unicast univ`, `BGP.origin: IGP`


def bird_routes(text: str | bytes) -> pd.DataFrame:
    """`birdcl show route` -> one row per path; alternative paths (indented lines) repeat the prefix.

    Columns: prefix, gateway, iface, type (unicast, blackhole, unreachable, prohibit), protocol
    (`static1`, `kernel1`, `Mesh_10_250_12_185`, ...), since, from_peer (the `from` address, iBGP via
    a route reflector or mesh peer), best (the `*` path), preference, igp_metric (NA for `?`),
    as_path (BIRD 1.6's short form shows only the origin AS: `[AS65000?]` -> "65000", `[i]` -> "")
    and origin (`i`, `e`, `?`). A greeting alone (empty table) gives an empty frame.
    """
    name = "bird_routes"
    numbered = clean_numbered(text)
    greeting = False
    prefix = None
    records: list[dict] = []
    for ln, code, s in _decode(numbered):
        _check_reply(name, ln, code, s)
        t = s.strip()
        if code in ("0001", "0000") or not t or _PREAMBLE.match(t) or _GREETING.match(t):
            greeting = greeting or bool(_GREETING.match(t)) or code == "0001"
            continue
        m = _ROUTE.match(t)
        if m is None:
            hop = _NEXTHOP.match(t)
            if hop and records and records[-1]["type"] == "unicast" and records[-1]["gateway"] is None:
                records[-1].update(gateway=hop["gw"], iface=hop["iface"])  # first hop of a multipath route
                continue
            if hop and records:
                records.append({**records[-1], "gateway": hop["gw"], "iface": hop["iface"]})
                continue
            if (records or greeting) and (_DETAIL.match(t) or is_chatter(t)):
                continue
            if not records and not greeting and not _PREFIX.match(t.split()[0]):
                continue  # leading command echo
            fail(name, "not a `show route` line", s, ln)
        if m["prefix"]:
            prefix = m["prefix"]
        elif prefix is None:
            fail(name, "alternative path before any prefix", s, ln)
        kind = m["type"] or "unicast"
        records.append({
            "prefix": prefix, "gateway": m["gw"], "iface": m["iface"] or m["dev"],
            "type": {"prohibited": "prohibit", "multipath": "unicast"}.get(kind, kind),
            "protocol": m["proto"], "since": m["since"], "from_peer": m["from"], "best": bool(m["best"]),
            "preference": int(m["pref"]),
            "igp_metric": int(m["igp"]) if m["igp"] and m["igp"].isdigit() else None,
            "as_path": (m["asn"] or "") if m["origin"] else None, "origin": m["origin"],
        })
    if not records and not greeting:
        first = next(((ln, s) for ln, s in numbered if s.strip()), (None, None))
        fail(name, "no `show route` output found", first[1], first[0])
    df = pd.DataFrame(records, columns=ROUTE_COLUMNS)
    return df.astype({"best": "bool", "preference": "int64", "igp_metric": "Int64"})
