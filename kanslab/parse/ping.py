"""`ping` (iputils on Linux, busybox as in alpine/busybox pods, BSD/macOS) via jc's `ping` parser.

One row per response: `type` ('reply', 'timeout', and for errors the message in snake_case, e.g.
'destination_host_unreachable'), `icmp_seq, ttl, time_ms, response_ip, bytes, duplicate`, plus the
run's summary repeated on every row: `destination, destination_ip, packets_transmitted,
packets_received, packet_loss_percent`. A run with no response at all (100% loss, nothing printed
per packet) gives ONE row: the summary, with NA in every per-response column, so the loss still
shows in the frame. Several runs in one text (`ping A; ping B`) give the rows of each in turn.
"""

from __future__ import annotations

import re

import pandas as pd

from ._common import clean_numbered, fail, is_chatter, snake, strip_echo

RESPONSE_COLUMNS = ["type", "icmp_seq", "ttl", "time_ms", "response_ip", "bytes", "duplicate"]
SUMMARY_COLUMNS = ["destination", "destination_ip", "packets_transmitted", "packets_received",
                   "packet_loss_percent"]
COLUMNS = RESPONSE_COLUMNS + SUMMARY_COLUMNS

_STATS = re.compile(r"^(\d+) packets transmitted, (\d+) (packets )?received")
_RTT = re.compile(r"^(rtt|round-trip) ")
_PIPE = re.compile(r"^pipe \d+$")
# iputils prints ICMP errors as `From 192.168.10.101 icmp_seq=1 Destination Host Unreachable`;
# jc's Linux branch skips these lines, so they are read here
_FROM = re.compile(r"^From (\S+?)(?: \(\S+\))?:? icmp_seq=(\d+) (.+)$")
# what may stand between the PING line and the statistics
_RESPONSE = re.compile(r"^(\[[\d.]+\] )?(\d+ bytes from |From |no answer yet |Request timeout |ping: |\^C$|"
                       r"--- .* ping statistics ---$|PATTERN: )")
# kubectl exec adds this line when ping exits non-zero (some loss)
_KUBECTL = re.compile(r"^command terminated with exit code \d+$")


def ping(text: str | bytes) -> pd.DataFrame:
    """`ping` output -> DataFrame; see the module docstring for the columns."""
    import jc

    name = "ping"
    pairs = clean_numbered(text)  # (line number in the text, cleaned line)
    lines = [ln for _, ln in pairs]
    body = strip_echo(lines, "ping", "ping6", "busybox")
    nums = [n for n, _ in pairs][len(lines) - len(body):]
    blocks = _blocks(name, body, nums)
    frames = []
    for first, block in blocks:
        try:
            # jc tells iputils from BSD/busybox by ' time ' in the 2nd or 3rd line from the end:
            # the trailing empty line keeps the statistics line there when no rtt line follows
            d = jc.parse("ping", "\n".join(block) + "\n\n", quiet=True)
        except Exception as e:  # jc raises IndexError/ValueError on text it cannot place
            fail(name, f"jc's ping parser failed ({type(e).__name__}: {e})", block[0], first)
        if not d or "packets_transmitted" not in d:
            fail(name, "no ping statistics", block[0], first)
        responses = [dict(r) for r in d.get("responses", []) if r.get("type") != "unparsable_line"]
        bad = [r for r in d.get("responses", []) if r.get("type") == "unparsable_line"]
        if bad:
            fail(name, "a response line jc could not read", bad[0].get("unparsed_line"))
        if "bytes of data" in block[0] or any(", time " in ln for ln in block):  # iputils
            for ln in block:
                m = _FROM.match(ln)
                if m:
                    responses.append({"type": snake(m.group(3)), "response_ip": m.group(1),
                                      "icmp_seq": int(m.group(2))})
            responses.sort(key=lambda r: (r.get("icmp_seq") is None, r.get("icmp_seq") or 0))
        summary = {c: d.get(c) for c in SUMMARY_COLUMNS}
        if not responses:
            responses = [{}]
        frames.append([[r.get(c) for c in RESPONSE_COLUMNS] + [summary[c] for c in SUMMARY_COLUMNS]
                       for r in responses])
    rows = [r for f in frames for r in f]
    df = pd.DataFrame(rows, columns=COLUMNS)
    for c in ("icmp_seq", "ttl", "bytes", "packets_transmitted", "packets_received"):
        df[c] = pd.array(df[c].tolist(), dtype="Int64")
    for c in ("time_ms", "packet_loss_percent"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
    df["duplicate"] = df["duplicate"].astype("boolean")
    return df


def _blocks(name: str, body: list[str], nums: list[int]) -> list[tuple[int, list[str]]]:
    """Split into runs: `PING ...` up to its statistics; anything else outside a run is an error."""
    blocks: list[tuple[int, list[str]]] = []
    cur: list[str] | None = None
    for k, raw in enumerate(body):
        line = raw.strip()
        lineno = nums[k]
        if line.startswith("PING "):
            if cur is not None:
                fail(name, "a new PING before the statistics of the previous one", raw, lineno)
            cur = [line]
            blocks.append((lineno, cur))
            continue
        if cur is None:
            if not line or is_chatter(line) or _KUBECTL.match(line):
                continue
            if line.startswith("ping: "):  # `ping: connect: No route to host`, bad host name ...
                fail(name, f"ping printed an error and no statistics: {line}", raw, lineno)
            fail(name, "expected `PING <host> ...`", raw, lineno)
        if not line:
            continue
        if _STATS.match(line) or _RTT.match(line) or _PIPE.match(line):
            cur.append(line)
            # the run ends with its statistics: `N packets transmitted ...`, then maybe the rtt
            # line and iputils' `pipe N` (probes outstanding at once)
            nxt = body[k + 1].strip() if k + 1 < len(body) else ""
            if not (_RTT.match(nxt) or _PIPE.match(nxt)):
                cur = None
            continue
        if not _RESPONSE.match(line) and not _FROM.match(line):
            fail(name, "not a ping response line", raw, lineno)
        cur.append(line)
    if not blocks:
        fail(name, "no `PING <host>` line: not ping output")
    if cur is not None:
        fail(name, "ping output without its statistics (interrupted or cut short?)", blocks[-1][1][0],
             blocks[-1][0])
    return blocks
