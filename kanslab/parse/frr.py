"""FRR (`vtysh -c ...`) output -> DataFrames.

JSON (`... json`) is preferred and read as is; the text forms are parsed by hand because no
maintained parser reads them (ntc-templates' IOS templates return nothing on FRR text).
"""

from __future__ import annotations

import json
import re

import pandas as pd

from ._common import clean_numbered, fail, is_chatter, snake

Numbered = list[tuple[int, str]]


def _json(name: str, numbered: Numbered):
    """The JSON document in the text (after a prompt / command echo), or None if it is not JSON."""
    for i, (ln, s) in enumerate(numbered):
        if s.strip().startswith("{"):
            body = "\n".join(x for _, x in numbered[i:])
            try:
                return json.JSONDecoder().raw_decode(body.strip())[0]
            except json.JSONDecodeError as e:
                fail(name, f"invalid JSON: {e.msg}", s, ln)
        if s.strip() and not _looks_like_echo(s):
            return None
    return None


def _looks_like_echo(s: str) -> bool:
    return bool(re.match(r"^\s*(\S+[#>]\s*)?(sudo\s+)?(vtysh|show)\b", s))  # `router# show ip route`


def _first(numbered: Numbered) -> tuple[int | None, str | None]:
    return next(((ln, s) for ln, s in numbered if s.strip()), (None, None))


# ------------------------------------------------------------------------------------------------
# show ip route [json]

ROUTE_COLUMNS = ["prefix", "protocol", "selected", "installed", "distance", "metric", "nexthop",
                 "interface", "uptime", "info"]
# code letter -> protocol name as FRR's JSON spells it; the text's own legend overrides (`L - LDP`).
_CODES = {"K": "kernel", "C": "connected", "L": "local", "S": "static", "R": "rip", "O": "ospf",
          "I": "isis", "B": "bgp", "E": "eigrp", "N": "nhrp", "T": "table", "v": "vnc",
          "V": "vnc-direct", "A": "babel", "D": "sharp", "F": "pbr", "f": "openfabric", "P": "pim",
          "t": "table-direct"}
_LEGEND_NAMES = {"kernel route": "kernel", "is-is": "isis", "vnc-direct": "vnc-direct"}
_LEGEND = re.compile(r"(?:^|Codes:|,)\s*([A-Za-z]) - ([A-Za-z][\w -]*?)(?=,|$)")
_RTLINE = re.compile(r"^(?P<code>[A-Za-z])(?:\[\d+\])?(?P<flags>[>*qrbto=]*)"  # `B>*`, `O[2]>*`, `O   `
                     r"\s+(?P<prefix>[0-9A-Fa-f:.]+/\d{1,3})"
                     r"(?:\s+\[(?P<distance>\d+)/(?P<metric>\d+)\])?\s+(?P<rest>.*)$")
_CONT = re.compile(r"^\s+(?P<flags>[>*qrbto=]*)\s*(?P<rest>(via|is directly connected|unreachable|blackhole"
                   r"|reject|Null0)\b.*)$")
_UPTIME = re.compile(r"^(\d{2}:\d{2}:\d{2}|\d+d\d{2}h\d{2}m|\d+w\d+d\d{2}h|never)$")


def _nexthop(rest: str) -> dict:
    """`via 10.0.0.1, eth0, label 16, weight 1, 00:00:15` / `is directly connected, eth1, 00:00:32`."""
    parts = [p.strip() for p in rest.split(",")]
    out = {"nexthop": None, "interface": None, "uptime": None, "info": []}
    head = parts.pop(0).split()
    if head[:1] == ["via"]:
        out["nexthop"] = head[1]
        out["info"] += [w.strip("()") for w in head[2:]]  # `(recursive)`, `inactive`
    elif head[:3] != ["is", "directly", "connected"]:
        out["info"] += [w.strip("()") for w in head]  # `unreachable (blackhole)`, `Null0`
    if parts and _UPTIME.match(parts[-1]):
        out["uptime"] = parts.pop()
    for p in parts:
        words = p.split()
        if words[0] in ("weight", "label") or out["interface"] is not None:
            if words[0] != "weight":
                out["info"].append(p)
        else:
            out["interface"] = words[0]
            out["info"] += words[1:]  # `onlink`, `linkdown`, old `label 24000`
    out["info"] = " ".join(out["info"])
    return out


_NH_FLAGS = [("recursive", "recursive"), ("onLink", "onlink"), ("unreachable", "unreachable"),
             ("blackhole", "blackhole"), ("reject", "reject")]


def _routes_json(data: dict) -> list[dict]:
    rows = []
    for prefix, entries in data.items():
        for e in entries if isinstance(entries, list) else []:
            for nh in e.get("nexthops") or [{}]:
                info = [word for key, word in _NH_FLAGS if nh.get(key)]
                if nh.get("labels"):
                    info.append("label " + "/".join(str(x) for x in nh["labels"]))
                rows.append({
                    "prefix": e.get("prefix", prefix), "protocol": e.get("protocol"),
                    "selected": bool(e.get("selected")), "installed": bool(nh.get("fib")),
                    "distance": e.get("distance"), "metric": e.get("metric"),
                    "nexthop": nh.get("ip"), "interface": nh.get("interfaceName"),
                    "uptime": e.get("uptime"), "info": " ".join(info),
                })
    return rows


def frr_routes(text: str | bytes) -> pd.DataFrame:
    """`vtysh -c 'show ip route json'` (preferred) or `show ip route` text -> one row per nexthop.

    Columns: prefix, protocol (bgp, connected, kernel, static, ospf, ...), selected (`>`),
    installed (the nexthop is in the FIB: `*`), distance, metric, nexthop (NA when directly
    connected), interface, uptime, info (other words: `recursive`, `onlink`, `linkdown`,
    `label 16`, `blackhole`). ECMP continuation lines repeat the prefix. Empty frame (documented):
    JSON `{}` or the `Codes:` legend alone (no routes).
    """
    name = "frr_routes"
    numbered = clean_numbered(text)
    data = _json(name, numbered)
    if data is not None:
        if not isinstance(data, dict) or any(not isinstance(v, list) for v in data.values()):
            ln, s = _first(numbered)
            fail(name, "JSON is not `show ip route json` output (prefix -> list of routes)", s, ln)
        rows = _routes_json(data)
    else:
        rows = _routes_text(name, numbered)
    df = pd.DataFrame(rows, columns=ROUTE_COLUMNS)
    return df.astype({"selected": "bool", "installed": "bool", "distance": "Int64", "metric": "Int64"})


def _routes_text(name: str, numbered: Numbered) -> list[dict]:
    codes = dict(_CODES)
    legend: dict[str, str] = {}  # letters defined by the text's own `Codes:` legend
    rows: list[dict] = []
    last: dict | None = None
    for ln, s in numbered:
        t = s.strip()
        if not t:
            continue
        if t.startswith("Codes:") or (legend and not rows and _LEGEND.match(t)):
            for letter, word in _LEGEND.findall(t):  # first meaning wins: `t - Table-Direct`, `t - trapped`
                w = word.strip().lower()
                legend.setdefault(letter, _LEGEND_NAMES.get(w, w.replace(" ", "-")))
            codes = {**_CODES, **legend}
            continue
        m = _RTLINE.match(s)
        if m:
            last = {"prefix": m["prefix"], "protocol": codes.get(m["code"], m["code"]),
                    "selected": ">" in m["flags"], "distance": m["distance"], "metric": m["metric"]}
            if m["distance"] is None and last["protocol"] in ("connected", "local"):
                last["distance"] = last["metric"] = 0
            rows.append({**last, "installed": "*" in m["flags"], **_nexthop(m["rest"])})
            continue
        c = _CONT.match(s)
        if c and last is not None:
            rows.append({**last, "installed": "*" in c["flags"], **_nexthop(c["rest"])})
            continue
        if not rows and (_looks_like_echo(s) or (legend and s[:1].isspace())):
            continue  # command echo, wrapped legend lines
        if rows and is_chatter(s):
            continue
        if not rows and not legend:
            fail(name, "not `show ip route` output (expected the `Codes:` legend or a route line)", s, ln)
        fail(name, "not a `show ip route` line", s, ln)
    if not rows and not legend:
        ln, s = _first(numbered)
        fail(name, "no routes found", s, ln)
    for r in rows:
        for k in ("distance", "metric"):
            r[k] = None if r[k] is None else int(r[k])
    return rows


# ------------------------------------------------------------------------------------------------
# show [ip] bgp [ipv4 unicast] summary [json]

BGP_COLUMNS = ["neighbor", "v", "as", "msgrcvd", "msgsent", "tblver", "inq", "outq", "up_down", "state",
               "pfxrcd", "pfxsnt", "desc", "dynamic", "established", "peer_state", "afi"]
_INTS = ["v", "as", "msgrcvd", "msgsent", "tblver", "inq", "outq"]
_JSON_KEYS = {"v": "version", "as": "remoteAs", "msgrcvd": "msgRcvd", "msgsent": "msgSent",
              "tblver": "tableVersion", "inq": "inq", "outq": "outq", "up_down": "peerUptime",
              "state": "state", "pfxsnt": "pfxSnt", "desc": "desc", "peer_state": "peerState"}
_AFI_TITLE = re.compile(r"^(?P<afi>\S+ \S+) Summary( \(VRF \S+\))?:$")
_NO_NEIGHBORS = re.compile(r"^% No BGP neighbors found", re.I)
_SUMMARY_CHATTER = re.compile(r"^(BGP router identifier|BGP table version|RIB entries|Peers \d|Peer groups \d"
                              r"|Total number of neighbors|\* - dynamic neighbor|\d+ dynamic neighbor"
                              r"|Read-only mode|Update delay|BGP [Gg]raceful)")


def _camel_snake(key: str) -> str:
    return snake(re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", key))  # ipv4Unicast -> ipv4_unicast


def _peers_json(obj, path: tuple = ()) -> list[dict]:
    """Find every `peers` object (plain, nested under ipv4Unicast / ipv6Unicast, or per VRF)."""
    rows = []
    if isinstance(obj, dict) and isinstance(obj.get("peers"), dict):
        afi = next((_camel_snake(k) for k in reversed(path) if re.match(r"^(ipv[46]|l2vpn)", k)), None)
        for neighbor, p in obj["peers"].items():
            row = {col: p.get(key) for col, key in _JSON_KEYS.items()}
            established = p.get("state") == "Established"
            row.update(neighbor=neighbor, pfxrcd=p.get("pfxRcd") if established else None,
                       dynamic=bool(p.get("dynamicPeer")), established=established, afi=afi)
            rows.append(row)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            rows += _peers_json(v, (*path, k))
    return rows


def frr_bgp_summary(text: str | bytes) -> pd.DataFrame:
    """`vtysh -c 'show bgp summary json'` (also `show ip bgp summary`, `show bgp ipv4 unicast
    summary`, JSON or text) -> one row per neighbour.

    Columns (the text header's, snake_case): neighbor, v, as, msgrcvd, msgsent, tblver, inq, outq,
    up_down, state (`Established`, `Active`, `Connect`, `Idle (Admin)`, ...), pfxrcd (Int64, NA
    unless established), pfxsnt, desc (NA for `N/A`), plus dynamic (text: `*` before the address),
    established, peer_state (`OK`, `Policy`, `Admin`, `PfxCt`) and afi (`ipv4_unicast`, NA when the
    output does not say). Empty frame (documented): `{}` or `% No BGP neighbors found`.
    """
    name = "frr_bgp_summary"
    numbered = clean_numbered(text)
    data = _json(name, numbered)
    if data is not None:
        if not isinstance(data, dict) or (data and not _has_peers(data)):
            ln, s = _first(numbered)
            fail(name, "JSON is not `show bgp summary json` output (no `peers`)", s, ln)
        rows = _peers_json(data)
    else:
        rows = _summary_text(name, numbered)
    for r in rows:
        r["desc"] = None if r["desc"] == "N/A" else r["desc"]
    df = pd.DataFrame(rows, columns=BGP_COLUMNS)
    return df.astype({**dict.fromkeys(_INTS, "int64"), "pfxrcd": "Int64", "pfxsnt": "Int64",
                      "dynamic": "bool", "established": "bool"})


def _has_peers(obj) -> bool:
    return isinstance(obj, dict) and ("peers" in obj or any(_has_peers(v) for v in obj.values()))


def _summary_text(name: str, numbered: Numbered) -> list[dict]:
    rows: list[dict] = []
    header: list[str] | None = None
    afi = None
    seen = False
    pending: tuple[int, str] | None = None  # a long IPv6 neighbour alone on its line
    for ln, s in numbered:
        t = s.strip()
        if pending:
            ln, t = pending[0], f"{pending[1]} {t}"
            pending = None
        if not t:
            header = None if rows else header
            continue
        if m := _AFI_TITLE.match(t):
            afi, seen = snake(m["afi"]), True
            continue
        if _NO_NEIGHBORS.match(t):
            seen = True
            continue
        if t.startswith("% BGP instance not found") or t.startswith("% "):
            fail(name, "vtysh replied with an error", s, ln)
        if _SUMMARY_CHATTER.match(t):
            seen = True
            continue
        words = t.split()
        if words[0] == "Neighbor" and "AS" in words and "Up/Down" in words:
            header, seen = [snake(w) for w in words], True
            continue
        if header is None:
            if seen and not is_chatter(t):
                fail(name, "unexpected line in `show bgp summary` output", s, ln)
            continue  # command echo
        if len(words) == 1:
            pending = (ln, t)
            continue
        try:
            rows.append(_summary_row(words, header, afi))
        except (ValueError, IndexError):
            if is_chatter(t):
                continue
            fail(name, "not a `show bgp summary` row", s, ln)
    if not seen:
        ln, s = _first(numbered)
        fail(name, "no `Neighbor V AS MsgRcvd ...` table found", s, ln)
    return rows


def _summary_row(words: list[str], header: list[str], afi: str | None) -> dict:
    """One row, by the header's columns up to Up/Down (FRR's `wide` form adds LocalAS), then the
    State/PfxRcd cell (one or two words), PfxSnt and Desc."""
    row = {"neighbor": words[0].lstrip("*"), "dynamic": words[0].startswith("*"), "afi": afi}
    up = header.index("up_down")
    for col, w in zip(header[1:up], words[1:up], strict=True):
        row[col] = int(w)
    row["up_down"] = words[up]
    rest = words[up + 1:]
    state = rest.pop(0)
    if rest and rest[0].startswith("(") and state.isalpha():
        state += " " + rest.pop(0)  # `Idle (Admin)`, `Idle (PfxCt)`
    row["peer_state"] = next((p for p in ("Policy", "Admin", "PfxCt") if f"({p})" in state), "OK")
    row["established"] = state.isdigit() or state == "(Policy)"
    row["state"] = "Established" if row["established"] else state
    row["pfxrcd"] = int(state) if state.isdigit() else None
    row["pfxsnt"] = None
    if "pfxsnt" in header and rest:
        w = rest.pop(0)
        row["pfxsnt"] = int(w) if w.isdigit() else None
        if w == "(Policy)":
            row["peer_state"] = "Policy"
    row["desc"] = " ".join(rest) if "desc" in header and rest else None
    if rest and "desc" not in header:
        raise ValueError("extra cells")
    return row
