"""calicoctl output -> DataFrames.

Box tables (`calicoctl node status`, `calicoctl ipam show`) are read by hand: jc's asciitable needs
the table cut out of the surrounding text first and cannot merge wrapped INFO rows.
Whitespace tables (`calicoctl get ... [-o wide]`) are split on runs of 2+ spaces (calicoctl's
tabwriter pads with 3), and by the header's column positions when a cell is empty; jc's asciitable
only uses positions and mis-assigns the slightly misaligned rows found in real pastes.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

import pandas as pd

from ._common import clean_numbered, fail, is_chatter, snake, split_pct

Numbered = list[tuple[int, str]]

# ------------------------------------------------------------------------------------------------
# box tables (olekukonko/tablewriter)

_BORDER = re.compile(r"^\s*\+[-+=]*\+\s*$")
_BOXROW = re.compile(r"^\s*\|.*\|\s*$")


def _segments(numbered: Numbered) -> list[tuple]:
    """Split lines into ("table", [(lineno, cells, text), ...]) blocks and ("line", lineno, text) items."""
    out: list[tuple] = []
    i = 0
    while i < len(numbered):
        ln, s = numbered[i]
        if _BORDER.match(s) or _BOXROW.match(s):
            rows = []
            while i < len(numbered) and (_BORDER.match(numbered[i][1]) or _BOXROW.match(numbered[i][1])):
                ln, s = numbered[i]
                if _BOXROW.match(s):
                    rows.append((ln, [c.strip() for c in s.strip()[1:-1].split("|")], s))
                i += 1
            out.append(("table", rows))
        else:
            out.append(("line", ln, s))
            i += 1
    return out


def _merge_wrapped(name: str, rows: list[tuple], width: int) -> list[tuple[int, list[str], str]]:
    """Rows whose first cell is empty continue the previous row (tablewriter wraps long cells)."""
    merged: list[tuple[int, list[str], str]] = []
    for ln, cells, s in rows:
        if len(cells) != width:
            fail(name, f"expected {width} cells, found {len(cells)}", s, ln)
        if cells[0] == "":
            if not merged:
                fail(name, "continuation row without a row above it", s, ln)
            prev = merged[-1][1]
            for j, c in enumerate(cells):
                if c:
                    prev[j] = f"{prev[j]} {c}".strip()
        else:
            merged.append((ln, list(cells), s))
    return merged


# ------------------------------------------------------------------------------------------------
# calicoctl node status

NODE_STATUS_COLUMNS = ["peer_address", "peer_type", "state", "since", "info", "ip_version"]
_SECTION = re.compile(r"^IPv([46]) BGP status$", re.I)
_NO_PEERS = re.compile(r"^No IPv([46]) peers found\.?$", re.I)
_RUNNING = re.compile(r"^(Calico process is running\.?|calico-node container is running\b.*)$", re.I)
_NO_BIRD = re.compile(r"^(INFO: BIRD.*is not running\.?|The BGP backend process \(BIRD\) is not running\.?"
                      r"|Error querying BIRD\b.*)$", re.I)


def calico_node_status(text: str | bytes) -> pd.DataFrame:
    """`calicoctl node status` -> one row per BGP peer, IPv4 and IPv6 sections together.

    Columns: peer_address, peer_type (`node-to-node mesh`, `global`, `node specific`), state (BIRD's
    protocol state: up, start, ...), since, info (BGP state and error, wrapped cells merged) and
    ip_version (4/6, from the section title, else from the address). The `Calico process is
    running.` line and the section titles are optional (a pasted table alone is fine).
    Empty frame (documented): `No IPv4 peers found.` / `No IPv6 peers found.` only, or BIRD not
    running (VXLAN-only clusters). `Calico process is not running.` raises ParseError.
    """
    name = "calico_node_status"
    numbered = clean_numbered(text)
    version: int | None = None
    started = False
    records: list[dict] = []
    extra: list[str] = []
    for seg in _segments(numbered):
        if seg[0] == "line":
            _, ln, s = seg
            t = s.strip()
            if not t:
                continue
            if m := _SECTION.match(t):
                version, started = int(m[1]), True
            elif _NO_PEERS.match(t) or _RUNNING.match(t) or _NO_BIRD.match(t):
                started = True
            elif t.lower().startswith("calico process is not running"):
                fail(name, "Calico is not running on this node", s, ln)
            elif started and not is_chatter(t):
                fail(name, "unexpected line in `calicoctl node status` output", s, ln)
            continue  # lines before the output (command echo) are ignored
        rows = seg[1]
        if not rows:
            continue
        hln, hcells, hline = rows[0]
        header = [snake(c) for c in hcells]
        if "peer_address" not in header or "peer_type" not in header:
            fail(name, "not a `calicoctl node status` table (no PEER ADDRESS / PEER TYPE header)", hline, hln)
        extra += [h for h in header if h not in NODE_STATUS_COLUMNS + extra]
        started = True
        for ln, cells, s in _merge_wrapped(name, rows[1:], len(header)):
            rec = dict(zip(header, cells, strict=True))
            try:
                addr = ipaddress.ip_address(rec["peer_address"])
            except ValueError:
                fail(name, "PEER ADDRESS is not an IP address", s, ln)
            rec["ip_version"] = version or addr.version
            records.append(rec)
    if not started:
        first = next(((ln, s) for ln, s in numbered if s.strip()), (None, None))
        fail(name, "no `IPv4 BGP status` section or peer table found", first[1], first[0])
    columns = NODE_STATUS_COLUMNS + extra
    df = pd.DataFrame(records, columns=columns)
    return df.astype({"ip_version": "int64"})


# ------------------------------------------------------------------------------------------------
# calicoctl ipam show [--show-blocks]

IPAM_COLUMNS = ["grouping", "cidr", "ips_total", "ips_in_use", "ips_in_use_pct", "ips_free", "ips_free_pct"]
_INT64_MAX = 2**63 - 1


def _number(values: list) -> pd.Series:
    """ints stay int64; a column with IPv6-sized totals (1.2089e+24) becomes float64."""
    if all(isinstance(v, int) and abs(v) <= _INT64_MAX for v in values):
        return pd.Series(values, dtype="int64")
    return pd.Series([float(v) for v in values], dtype="float64")


def _one_table(name: str, text, header_hint: str, also_after: re.Pattern | None = None) -> list:
    """The one `|`-table of a calicoctl ipam output (its rows as _segments gives them); after it
    only chatter, or lines matching `also_after`, may follow."""
    numbered = clean_numbered(text)
    table = None
    for seg in _segments(numbered):
        if seg[0] == "line":
            _, ln, s = seg
            if table is not None and not is_chatter(s) and not (also_after and also_after.match(s.strip())):
                fail(name, "unexpected line after the table", s, ln)
            continue
        if not seg[1]:
            continue
        if table is not None:
            fail(name, "more than one table in the text", seg[1][0][2], seg[1][0][0])
        table = seg[1]
    if table is None:
        first = next(((ln, s) for ln, s in numbered if s.strip()), (None, None))
        fail(name, f"no `{header_hint}` table found", first[1], first[0])
    return table


def calico_ipam_blocks(text: str | bytes) -> pd.DataFrame:
    """`calicoctl ipam show [--show-blocks]` -> one row per `IP Pool` and per `Block`.

    Columns: grouping, cidr, ips_total, ips_in_use, ips_in_use_pct, ips_free, ips_free_pct.
    Counts are int (float for IPv6-sized totals such as `1.2089e+24`); percentages float.
    """
    name = "calico_ipam_blocks"
    table = _one_table(name, text, "GROUPING | CIDR | IPS TOTAL | ...")
    hln, hcells, hline = table[0]
    header = [snake(c) for c in hcells]
    if header[:2] != ["grouping", "cidr"] or "ips_in_use" not in header:
        fail(name, "not a `calicoctl ipam show` table", hline, hln)
    records = []
    for ln, cells, s in _merge_wrapped(name, table[1:], len(header)):
        rec = dict(zip(header, cells, strict=True))
        try:
            ipaddress.ip_network(rec["cidr"], strict=False)
            out = {"grouping": rec["grouping"], "cidr": rec["cidr"]}
            out["ips_total"] = split_pct(rec["ips_total"])[0]
            for col in ("ips_in_use", "ips_free"):
                out[col], out[col + "_pct"] = split_pct(rec[col])
        except (ValueError, KeyError) as e:
            fail(name, f"bad cell {e}", s, ln)
        records.append(out)
    df = pd.DataFrame(records, columns=IPAM_COLUMNS)
    for col in ("ips_total", "ips_in_use", "ips_free"):
        df[col] = _number(df[col].tolist())
    for col in ("ips_in_use_pct", "ips_free_pct"):
        df[col] = df[col].astype("float64")
    return df


# ------------------------------------------------------------------------------------------------
# calicoctl ipam show --show-borrowed

BORROWED_COLUMNS = ["ip", "borrowing_node", "block", "block_owner", "type", "allocated_to"]
_BORROWED_NOTE = re.compile(r"^Note: found \d+ IP allocations? without\b", re.I)


def calico_ipam_borrowed(text: str | bytes) -> pd.DataFrame:
    """`calicoctl ipam show --show-borrowed` -> one row per IP a node took from another node's block.

    Columns: ip, borrowing_node, block, block_owner, type (`pod`, or the tunnel type) and
    allocated_to (`namespace/pod` for pods). An empty table (nothing borrowed) gives an empty frame;
    calicoctl's `Note: found N IP allocations without an explicit node association` line is ignored.
    """
    name = "calico_ipam_borrowed"
    table = _one_table(name, text, "IP | BORROWING-NODE | BLOCK | ...", also_after=_BORROWED_NOTE)
    hln, hcells, hline = table[0]
    header = [snake(c) for c in hcells]
    if header[:2] != ["ip", "borrowing_node"] or "block_owner" not in header:
        fail(name, "not a `calicoctl ipam show --show-borrowed` table", hline, hln)
    records = []
    for ln, cells, s in _merge_wrapped(name, table[1:], len(header)):
        rec = dict(zip(header, cells, strict=True))
        try:
            ipaddress.ip_address(rec["ip"])
            ipaddress.ip_network(rec["block"])
        except (ValueError, KeyError) as e:
            fail(name, f"bad cell {e}", s, ln)
        records.append({c: rec.get(c, "") for c in BORROWED_COLUMNS})
    return pd.DataFrame(records, columns=BORROWED_COLUMNS, dtype="object")


# ------------------------------------------------------------------------------------------------
# calicoctl ipam show --show-configuration

IPAM_CONFIG_COLUMNS = ["property", "value"]
# the rows calicoctl's showConfiguration prints (calicoctl/commands/ipam/show.go)
_IPAM_PROPERTIES = {"StrictAffinity", "AutoAllocateBlocks", "MaxBlocksPerHost"}


def calico_ipam_config(text: str | bytes) -> pd.DataFrame:
    """`calicoctl ipam show --show-configuration` -> one row per property (StrictAffinity,
    AutoAllocateBlocks, MaxBlocksPerHost), values as printed (`true`, `0`)."""
    name = "calico_ipam_config"
    table = _one_table(name, text, "PROPERTY | VALUE")
    hln, hcells, hline = table[0]
    if [snake(c) for c in hcells] != IPAM_CONFIG_COLUMNS:
        fail(name, "not a `calicoctl ipam show --show-configuration` table", hline, hln)
    records = []
    for ln, cells, s in _merge_wrapped(name, table[1:], 2):
        if cells[0] not in _IPAM_PROPERTIES:
            fail(name, f"unknown property {cells[0]!r}", s, ln)
        records.append(dict(zip(IPAM_CONFIG_COLUMNS, cells, strict=True)))
    return pd.DataFrame(records, columns=IPAM_CONFIG_COLUMNS, dtype="object")


# ------------------------------------------------------------------------------------------------
# calicoctl get <kind> [-o wide]: whitespace tables

_RUN = re.compile(r"\S+(?: \S+)*")  # a cell: words separated by single spaces
_HEADER_WORD = re.compile(r"[A-Za-z][A-Za-z0-9-]*")


def _ws_table(name: str, text: str | bytes, required: set[str], command: str,
              convert: Callable[[dict], dict], allowed: set[str] | None = None) -> tuple[list[str], list[dict]]:
    """Find the header holding `required` words, then read rows up to the first empty line."""
    numbered = clean_numbered(text)
    hidx = None
    for i, (_, s) in enumerate(numbered):
        words = s.split()
        if words and required <= {w.upper() for w in words} and all(_HEADER_WORD.fullmatch(w) for w in words):
            hidx = i
            break
    if hidx is None:
        first = next(((ln, s) for ln, s in numbered if s.strip()), (None, None))
        fail(name, f"no `{command}` header ({' '.join(sorted(required))}) found", first[1], first[0])
    hln, hline = numbered[hidx]
    if allowed is not None and not {w.upper() for w in hline.split()} <= allowed:
        fail(name, f"not a `{command}` header", hline, hln)
    starts = [m.start() for m in re.finditer(r"\S+", hline)]
    header = [snake(w) for w in hline.split()]
    records = []
    for ln, s in numbered[hidx + 1:]:
        if not s.strip():
            break  # calicoctl ends its table with an empty line; what follows is not ours
        runs = list(_RUN.finditer(s))
        cells = [""] * len(header)
        if len(runs) == len(header):
            cells = [m.group() for m in runs]
        else:  # an empty cell: place each run under the header word it starts at (1 column slack)
            for m in runs:
                j = max([k for k, st in enumerate(starts) if st <= m.start() + 1] or [0])
                cells[j] = f"{cells[j]} {m.group()}".strip()
        if " " in cells[0] and is_chatter(s):
            continue  # a `date` line: resource names never contain spaces
        rec = {h: (c or None) for h, c in zip(header, cells, strict=True)}
        try:
            records.append(convert(rec))
        except (ValueError, KeyError, TypeError) as e:
            if is_chatter(s):
                continue
            fail(name, f"not a `{command}` row ({e})", s, ln)
    return header, records


def _bool(cell: str | None) -> bool:
    if cell is None or cell.lower() not in ("true", "false"):
        raise ValueError(f"expected true/false, got {cell!r}")
    return cell.lower() == "true"


def _cidr(cell: str | None) -> str:
    ipaddress.ip_network(cell, strict=False)
    return cell


def calico_ippools(text: str | bytes) -> pd.DataFrame:
    """`calicoctl get ippool [-o wide]` -> one row per pool.

    Columns are the table's own: name, cidr, nat, ipipmode, vxlanmode, disabled,
    disablebgpexport, selector with `-o wide` (disablebgpexport absent in older calicoctl);
    name, cidr, selector without. nat / disabled / disablebgpexport are bool.
    """
    def convert(rec: dict) -> dict:
        _cidr(rec["cidr"])
        for col in ("nat", "disabled", "disablebgpexport"):
            if col in rec:
                rec[col] = _bool(rec[col])
        return rec

    header, records = _ws_table("calico_ippools", text, {"NAME", "CIDR"}, "calicoctl get ippool", convert)
    return pd.DataFrame(records, columns=header)


_PEERIP = re.compile(r"\[(?P<v6>[^]]+)\](:\d+)?|(?P<v4>[\d.]+)(:\d+)?|(?P<ip>[0-9A-Fa-f:]+)")


def calico_bgppeers(text: str | bytes) -> pd.DataFrame:
    """`calicoctl get bgppeer [-o wide]` -> name, peerip, node (`(global)` for global peers,
    or the node selector), asn (int)."""
    def convert(rec: dict) -> dict:
        m = _PEERIP.fullmatch(rec["peerip"] or "")  # an IP, optionally with a port: `[fd00::1]:1790`
        ipaddress.ip_address(m and (m["v6"] or m["v4"] or m["ip"]))
        rec["asn"] = int(rec["asn"])
        return rec

    header, records = _ws_table("calico_bgppeers", text, {"NAME", "PEERIP"}, "calicoctl get bgppeer", convert)
    return pd.DataFrame(records, columns=header).astype({"asn": "int64"})


def calico_weps(text: str | bytes) -> pd.DataFrame:
    """`calicoctl get wep [-A | -n ns] [-o wide]` -> one row per workload endpoint.

    Columns are the table's own ([namespace], [name], workload, node, networks, interface,
    [profiles, nats]) plus `ip`: the first address of `networks` without its prefix length.
    """
    def convert(rec: dict) -> dict:
        nets = [n for n in (rec["networks"] or "").split(",") if n]
        rec["ip"] = str(ipaddress.ip_interface(nets[0]).ip) if nets else None
        for n in nets[1:]:
            ipaddress.ip_interface(n)
        return rec

    header, records = _ws_table("calico_weps", text, {"WORKLOAD", "NETWORKS"}, "calicoctl get wep", convert)
    return pd.DataFrame(records, columns=header + ["ip"])


_ASN = re.compile(r"^(\()?(\d+)(?(1)\))$")


def calico_nodes(text: str | bytes) -> pd.DataFrame:
    """`calicoctl get nodes -o wide` -> name, asn (Int64), asn_inherited, ipv4, ipv6.

    An ASN in parentheses, `(64512)`, is inherited from the global BGP configuration: `asn` is
    64512 and `asn_inherited` True. Plain `calicoctl get nodes` (NAME only) gives NA in the rest.
    """
    name = "calico_nodes"

    def convert(rec: dict) -> dict:
        if rec.get("asn") is None:
            rec["asn"], rec["asn_inherited"] = None, None
        else:
            m = _ASN.match(rec["asn"])
            if not m:
                raise ValueError(f"ASN {rec['asn']!r}")
            rec["asn"], rec["asn_inherited"] = int(m[2]), bool(m[1])
        for col in ("ipv4", "ipv6"):
            if rec.get(col):
                ipaddress.ip_interface(rec[col])
        return rec

    _, records = _ws_table(name, text, {"NAME"}, "calicoctl get nodes", convert,
                           allowed={"NAME", "ASN", "IPV4", "IPV6"})
    columns = ["name", "asn", "asn_inherited", "ipv4", "ipv6"]
    df = pd.DataFrame(records, columns=columns)
    return df.astype({"asn": "Int64", "asn_inherited": "boolean"})
