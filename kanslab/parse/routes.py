"""Routing tables: `route -n` (and `netstat -rn`, `route -ne`, `route -n -A inet6`) and `ip route`.

`route_n` columns are the table's own headers in snake_case (`destination, gateway, genmask, flags,
metric, ref, use, iface` for `route -n`) plus `prefix` (`172.16.1.0/26`, from destination and
genmask). `route -n` cannot tell a blackhole from an unreachable route: Calico's blackhole block
shows as flags `U`, iface `*`; only `ip route` names the type.

`ip_route` columns: `dst` (as printed: a CIDR, `default`, or a bare host address such as
`172.16.158.1`), `type` (unicast, blackhole, unreachable, prohibit, local, broadcast, ...),
`gateway, dev, proto, scope, src, metric, table, onlink, linkdown`. It reads `ip route`, `ip -c
route` and `ip -j route` (JSON). A multipath route gives one row per `nexthop`.
"""

from __future__ import annotations

import json
import re

import pandas as pd

from ..errors import ParseError
from ._common import PROMPT, clean_lines, fail, is_chatter, no_gc, snake, strip_ansi, strip_echo


def _clean(text) -> tuple[list[str], _LineNumbers]:
    """clean_lines, and each kept line's number in the text (errors name the line the user sees)."""
    return clean_lines(text), _LineNumbers(text)


class _LineNumbers:
    """nums[k]: the line number in `text` of clean_lines(text)[k]. Worked out only when an error
    needs one (numbering costs a fifth of a 100k-line parse); nums[a:] shifts by a."""

    def __init__(self, text, offset: int = 0):
        self._text, self._offset, self._nums = text, offset, None

    def __getitem__(self, i):
        if isinstance(i, slice):
            return _LineNumbers(self._text, self._offset + (i.start or 0))
        if self._nums is None:  # the same filter as clean_lines
            t = self._text.decode("utf-8", "replace") if isinstance(self._text, bytes) else self._text
            t = strip_ansi(t).replace("\r\n", "\n").replace("\r", "\n")
            self._nums = [n for n, ln in enumerate(t.split("\n"), 1) if not PROMPT.match(ln.rstrip())]
        return self._nums[self._offset + i]


# ------------------------------------------------------------------------------------------------
# route -n

ROUTE_N_COLUMNS = ["destination", "gateway", "genmask", "flags", "metric", "ref", "use", "iface", "prefix"]
_STD_HEADER = ["Destination", "Gateway", "Genmask", "Flags", "Metric", "Ref", "Use", "Iface"]
_INT_HEADERS = {"metric", "ref", "use", "mss", "window", "irtt"}
_TITLE = re.compile(r"^\s*Kernel IP(v6)? routing table\s*$")
_DOTTED = re.compile(r"^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$")
_DIGITS_DOTS = str.maketrans("", "", "0123456789.\n")
_FLAGS = re.compile(r"^[A-Za-z!]+$")
# genmask -> prefix length; only contiguous masks exist in a routing table
_MASKLEN = {
    ".".join(str(((0xFFFFFFFF << (32 - n)) & 0xFFFFFFFF) >> s & 0xFF) for s in (24, 16, 8, 0)): n
    for n in range(33)
}


def _strip_comment(line: str) -> str:
    # Course material annotates rows (`... 0 tunl0 # IPIP mode`); no route column contains '#'.
    return line.split("#", 1)[0].rstrip() if "#" in line else line


def route_n(text: str | bytes, engine: str = "auto") -> pd.DataFrame:
    """`route -n` / `netstat -rn` text -> one row per route.

    Accepts the output with or without the `Kernel IP routing table` title, with or without the
    header (`route -n | grep UG` keeps only rows: the `route -n` layout is assumed), prompts, a
    leading command echo, colours and trailing chatter.

    `engine`: "auto" (default) reads the plain `route -n` layout with a fast splitter and hands
    every other layout (`netstat -rn`'s MSS/Window/irtt, `route -nee`, IPv6 `Next Hop`) to jc's
    `route` parser; "jc" forces jc, "fast" forbids it (used by the tests to compare the two).
    """
    name = "route_n"
    lines, nums = _clean(text)
    numbered = strip_echo(lines, "route", "netstat")
    nums = nums[len(lines) - len(numbered):]  # nums[k]: the text's line number of numbered[k]
    i = 0
    if i < len(numbered) and _TITLE.match(numbered[i]):
        i += 1
    while i < len(numbered) and is_chatter(numbered[i]):
        i += 1
    if i >= len(numbered):
        fail(name, "no routing table in the text (expected `Kernel IP routing table` or its header)")
    first = numbered[i].split()
    if first and first[0] == "Destination":
        header_line = numbered[i]
        i += 1
    else:
        if len(_strip_comment(numbered[i]).split()) != len(_STD_HEADER):
            fail(name, "expected the `Destination Gateway Genmask ...` header or a `route -n` row",
                 numbered[i], nums[i])
        header_line = "  ".join(_STD_HEADER)  # header-less (`route -n | grep UG`)

    header = _normalize_header(header_line)
    n = len(header)
    body = numbered[i:]
    end = len(body)
    while end and is_chatter(body[end - 1]):  # trailing blank / `date` lines
        end -= 1
    body = body[:end]
    linenos = nums[i:]
    if any(not ln.strip() for ln in body):  # blank lines inside the table: skip, keep line numbers
        linenos = [linenos[k] for k, ln in enumerate(body) if ln.strip()]
        body = [ln for ln in body if ln.strip()]
    if any("#" in ln for ln in body):
        body = [_strip_comment(ln) for ln in body]
    columns = [snake(h) for h in header]

    use_jc = engine == "jc" or (engine == "auto" and header != [h.lower() for h in _STD_HEADER])
    if use_jc:
        _check_widths(name, body, n, header, linenos)
        records = _route_n_jc(header_line, body)
        # jc's dicts, minus its own `flags_pretty` (not a column of the command)
        cols = [[r.get(c) for r in records] for c in columns]
        return _route_frame(name, columns, cols, body, linenos)
    # Fast path, for speed (jc's `route` reads ~120-190k rows/s here, the target is 200k): split
    # the whole table at once and slice the columns. A row with a missing or extra word shifts
    # every following row, which the per-column checks in _route_frame catch (a name lands in a
    # number or netmask column); the row-by-row check then names the line.
    tokens = " ".join(body).split()
    if len(tokens) != n * len(body):
        _check_widths(name, body, n, header, linenos)
    cols = [tokens[k::n] for k in range(n)]
    try:
        return _route_frame(name, columns, cols, body, linenos)
    except ParseError:
        _check_widths(name, body, n, header, linenos)
        raise


def _check_widths(name, body, n, header, linenos) -> None:
    for k, ln in enumerate(body):
        if len(ln.split()) != n:
            fail(name, f"expected {n} columns ({' '.join(header)})", ln, linenos[k])


def _normalize_header(header_line: str) -> list[str]:
    # the same renames jc's `route` parser makes, so both paths give the same column names
    h = header_line
    if " Next Hop " in h:
        h = h.replace(" If", " Iface")
    h = h.replace(" Next Hop ", " Next_Hop ").replace(" Flag ", " Flags ").replace(" Met ", " Metric ")
    return h.lower().split()


def _route_n_jc(header_line: str, body: list[str]) -> list[dict]:
    import jc

    return jc.parse("route", "Kernel IP routing table\n" + header_line + "\n" + "\n".join(body), quiet=True)


def _route_frame(name, columns, cols, body, linenos) -> pd.DataFrame:
    data = dict(zip(columns, cols, strict=True))
    out = {}
    for c in columns:
        col = data[c]
        if c in _INT_HEADERS:
            try:
                col = list(map(int, col))
            except (TypeError, ValueError):
                # `-` is what route prints for the Ref of a reject (unreachable/prohibit) route
                bad = next((k for k, v in enumerate(col)
                            if v not in ("-", None) and not re.fullmatch(r"-?\d+", str(v))), None)
                if bad is not None:
                    fail(name, f"`{c}` is not a number", body[bad], linenos[bad])
                col = pd.array([None if v in ("-", None) else int(v) for v in col], dtype="Int64")
        out[c] = col
    if "flags" in out:
        for f in set(out["flags"]):
            if not _FLAGS.match(f):
                k = out["flags"].index(f)
                fail(name, f"bad flags {f!r}", body[k], linenos[k])
    if "genmask" in out:
        masklen = _MASKLEN
        for m in set(out["genmask"]):
            if m not in masklen:
                k = out["genmask"].index(m)
                fail(name, f"genmask {m!r} is not a netmask", body[k], linenos[k])
        dests = out["destination"]
        joined = "\n".join(dests)
        # the usual all-numeric table, checked at C speed: only digits and dots, three dots each
        if not joined.translate(_DIGITS_DOTS) and joined.count(".") == 3 * len(dests):
            out["prefix"] = [f"{d}/{masklen[m]}" for d, m in zip(dests, out["genmask"], strict=True)]
        else:  # `route` without -n prints `default` and names from /etc/networks
            out["prefix"] = [f"{'0.0.0.0' if d == 'default' else d}/{masklen[m]}"
                             if d == "default" or _DOTTED.match(d) else None
                             for d, m in zip(dests, out["genmask"], strict=True)]
    elif "destination" in out:  # IPv6 table: the destination is already a prefix
        for k, d in enumerate(out["destination"]):
            if "/" not in d:
                fail(name, "IPv6 destination without a prefix length", body[k], linenos[k])
        out["prefix"] = list(out["destination"])
    df = pd.DataFrame(out)
    if df.empty:  # a header and no rows (`route -n | grep tunl0` on a node without tunnels)
        df = df.astype({c: "int64" if c in _INT_HEADERS else str for c in df.columns})
    return df


# ------------------------------------------------------------------------------------------------
# ip route

IP_ROUTE_COLUMNS = ["dst", "type", "gateway", "dev", "proto", "scope", "src", "metric", "table",
                    "onlink", "linkdown"]
ROUTE_TYPES = {"unicast", "blackhole", "unreachable", "prohibit", "local", "broadcast", "throw",
               "nat", "anycast", "multicast"}
# `ip -N route` prints the type as the kernel's RTN_* number; unlike protocol names (local
# configuration in rt_protos) these are fixed, so they are given by name
_TYPE_NUMBERS = {1: "unicast", 2: "local", 3: "broadcast", 4: "anycast", 5: "multicast", 6: "blackhole",
                 7: "unreachable", 8: "prohibit", 9: "throw", 10: "nat"}
# keys followed by one value; the ones without a column are read and dropped
_KEY_INDEX = {"via": 0, "dev": 1, "proto": 2, "scope": 3, "src": 4, "metric": 5, "table": 6}
_OTHER_KEYS = {"mtu", "advmss", "pref", "expires", "realm", "realms", "error", "weight", "nhid",
               "hoplimit", "initcwnd", "initrwnd", "rtt", "rttvar", "rto_min", "window", "ssthresh",
               "cwnd", "reordering", "quickack", "congctl", "features", "fastopen_no_cookie", "tos",
               "dsfield", "from", "uid", "age", "ipid", "used", "users", "mark", "iif", "oif",
               "preference", "priority"}
_FLAG_WORDS = {"onlink", "linkdown", "dead", "pervasive", "offload", "trap", "notify", "rt_offload",
               "rt_trap", "rt_offload_failed", "offload_failed", "cache", "lock"}
_DST = re.compile(r"^(default|[0-9A-Fa-f:.]+(/\d{1,3})?)$")


def ip_route(text: str | bytes) -> pd.DataFrame:
    """`ip route` / `ip -c route` / `ip -j route` -> one row per route (per nexthop if multipath).

    The text tokenizer is our own, not jc's `ip_route`: jc turns `blackhole 172.16.1.0/24 proto
    bird` into `{"ip": "blackhole"}` (the prefix is lost) and silently drops `onlink`, and Calico
    nodes always have both (research/parsing.md 1.1). Unknown protocol numbers stay strings
    (`proto 80` is Felix's; `proto 12` is `bird` on a host without the name in rt_protos).
    """
    with no_gc():
        return _ip_route(text)


def _ip_route(text: str | bytes) -> pd.DataFrame:
    name = "ip_route"
    lines, nums = _clean(text)
    body = strip_echo(lines, "ip", "route")
    nums = nums[len(lines) - len(body):]
    first = next((ln for ln in body if ln.strip()), "")
    if first.lstrip().startswith("["):
        return _ip_route_json(name, "\n".join(body), nums)
    rows: list[tuple] = []
    append = rows.append
    keys = _KEY_INDEX
    other = _OTHER_KEYS
    flagwords = _FLAG_WORDS
    types = ROUTE_TYPES
    dst_ok = _DST.match
    head = None  # (dst, type, values) of the last route, for `nexthop` continuation lines
    multipath_open = False
    for k, line in enumerate(body):
        tok = line.split()
        if not tok:
            if all(is_chatter(rest) for rest in body[k:]):
                break
            continue
        t0 = tok[0]
        if line[0] in " \t":  # continuation: `nexthop via ... dev ... weight 1` or `cache ...`
            if head is None:
                fail(name, "continuation line without a route", line, nums[k])
            if t0 != "nexthop":
                _pairs(name, tok, 0, [None] * 7, line, nums[k])  # `cache`, `cache expires 300sec`: drop
                continue
            dst, rtype, hv = head
            vals = list(hv)
            vals[0] = vals[1] = None  # gateway, dev: the nexthop's own
            onlink, linkdown = _pairs(name, tok, 1, vals, line, nums[k])
            if multipath_open:  # the head line of a multipath route has no row of its own
                multipath_open = False
                rows.pop()
        else:
            if t0 in types or (t0.isdigit() and int(t0) in _TYPE_NUMBERS and len(tok) > 1):
                if len(tok) < 2:
                    fail(name, "route type without a destination", line, nums[k])
                rtype, dst, j = _TYPE_NUMBERS.get(int(t0), t0) if t0.isdigit() else t0, tok[1], 2
            else:
                rtype, dst, j = "unicast", t0, 1
            if not dst_ok(dst) or ("." not in dst and ":" not in dst and dst != "default"):
                if all(is_chatter(rest) for rest in body[k:]):
                    break
                fail(name, "expected `[type] <destination> key value ...`", line, nums[k])
            vals = [None] * 7  # gateway, dev, proto, scope, src, metric, table
            onlink = linkdown = False
            m = len(tok)
            while j < m:  # (inlined _pairs: this loop is the parser's hot path)
                w = tok[j]
                i = keys.get(w)
                if i is not None and j + 1 < m:
                    v = tok[j + 1]
                    if i == 0 and v in ("inet", "inet6") and j + 2 < m:  # `via inet6 fe80::1`
                        j += 1
                        v = tok[j + 1]
                    vals[i] = v
                    j += 2
                elif w in flagwords:
                    if w == "onlink":
                        onlink = True
                    elif w == "linkdown":
                        linkdown = True
                    j += 1
                elif w in other and j + 1 < m:
                    j += 2
                else:
                    fail(name, f"unknown word {w!r}", line, nums[k])
            head = (dst, rtype, vals)
            multipath_open = vals[0] is None and vals[1] is None and rtype == "unicast"
        metric = vals[5]
        if metric is not None:
            if not metric.isdigit():
                fail(name, f"metric {metric!r} is not a number", line, nums[k])
            vals[5] = int(metric)
        append((dst, rtype, *vals, onlink, linkdown))
    if not rows and not any(ln.strip() for ln in body):
        fail(name, "no routes in the text")
    order = ["dst", "type", "gateway", "dev", "proto", "scope", "src", "metric", "table", "onlink", "linkdown"]
    cols = dict(zip(order, zip(*rows, strict=True), strict=True)) if rows else {c: [] for c in order}
    return _ip_route_frame({c: list(v) for c, v in cols.items()})


def _pairs(name, tok, j, vals, line, lineno) -> tuple[bool, bool]:
    """`key value` pairs and flag words from tok[j:] into vals; -> (onlink, linkdown)."""
    onlink = linkdown = False
    m = len(tok)
    while j < m:
        w = tok[j]
        i = _KEY_INDEX.get(w)
        if i is not None and j + 1 < m:
            v = tok[j + 1]
            if i == 0 and v in ("inet", "inet6") and j + 2 < m:
                j += 1
                v = tok[j + 1]
            vals[i] = v
            j += 2
        elif w in _FLAG_WORDS:
            onlink = onlink or w == "onlink"
            linkdown = linkdown or w == "linkdown"
            j += 1
        elif w in _OTHER_KEYS and j + 1 < m:
            j += 2
        else:
            fail(name, f"unknown word {w!r}", line, lineno)
    return onlink, linkdown


def _ip_route_frame(cols: dict) -> pd.DataFrame:
    df = pd.DataFrame({c: cols[c] for c in IP_ROUTE_COLUMNS})
    if df.empty:  # `ip -j route` on an empty table prints []
        df = df.astype(str)
    df["metric"] = pd.array(cols["metric"], dtype="Int64")
    df["onlink"] = df["onlink"].astype(bool)
    df["linkdown"] = df["linkdown"].astype(bool)
    return df


def _ip_route_json(name: str, text: str, nums: list[int]) -> pd.DataFrame:
    s = text.lstrip()
    try:
        data, end = json.JSONDecoder().raw_decode(s)
    except json.JSONDecodeError as e:
        k = text[:len(text) - len(s)].count("\n") + e.lineno - 1
        fail(name, f"bad JSON: {e.msg}", text.split("\n")[k], nums[k])
    if not all(is_chatter(ln) for ln in s[end:].splitlines()):
        extra = next(ln for ln in s[end:].splitlines() if not is_chatter(ln))
        fail(name, "text after the JSON route list", extra)
    if not isinstance(data, list):
        fail(name, "`ip -j route` prints a JSON list", s[:60])
    cols: dict[str, list] = {c: [] for c in IP_ROUTE_COLUMNS}
    for k, r in enumerate(data):
        if not isinstance(r, dict) or "dst" not in r:
            fail(name, f"JSON entry {k} is not a route (no `dst`)", json.dumps(r)[:120])
        hops = r.get("nexthops") or [r]
        for h in hops:
            flags = list(r.get("flags") or []) + (list(h.get("flags") or []) if h is not r else [])
            gw = h.get("gateway")
            if gw is None and isinstance(h.get("via"), dict):  # `via inet6 fe80::1`
                gw = h["via"].get("host")
            metric = r.get("metric")
            cols["dst"].append(r["dst"])
            cols["type"].append(r.get("type", "unicast"))
            cols["gateway"].append(gw)
            cols["dev"].append(h.get("dev"))
            cols["proto"].append(None if r.get("protocol") is None else str(r["protocol"]))
            cols["scope"].append(r.get("scope"))
            cols["src"].append(r.get("prefsrc"))
            cols["metric"].append(None if metric is None else int(metric))
            cols["table"].append(None if r.get("table") is None else str(r["table"]))
            cols["onlink"].append("onlink" in flags)
            cols["linkdown"].append("linkdown" in flags)
    return _ip_route_frame(cols)
