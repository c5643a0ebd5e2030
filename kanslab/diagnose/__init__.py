"""Troubleshooting: `diagnose` follows a connection hop by hop; `faults` breaks the lab on purpose.

`diagnose(lab, src, dst, port, protocol)` -> DataFrame (`step, host, check, result, detail`) with
attrs `verdict` (from the traced state alone), `probe` (one real attempt), `layer`, `cause`.
Built only on the public `Lab` API, so it reads a vagrant cluster the same way, read-only.
"""

from __future__ import annotations

import shlex

from .trace import LAYERS, Trace

COLUMNS = ["step", "host", "check", "result", "detail"]


def diagnose(lab, src: str, dst: str, port: int = 80, protocol: str = "TCP"):
    import pandas as pd

    t = Trace(lab, src, dst, port, protocol)
    t.run()
    verdict = "blocked" if t.failure else "reachable"
    layer, cause = t.failure or ("none", f"every hop from {src} to {dst} lets the packet through")
    probe, how = _probe(t)
    if probe is not None:
        agrees = probe == verdict
        note = how + ("" if agrees else f"; this DISAGREES with the trace, which says {verdict}")
        t.row("probe", "real connection", "ok" if probe == "reachable" else "fail", note)
    df = pd.DataFrame(t.rows, columns=COLUMNS)
    df.attrs.update(src=src, dst=dst, port=int(port), protocol=t.protocol, verdict=verdict, probe=probe or "not run",
                    probe_detail=how, layer=layer, cause=cause, agrees=probe in (None, verdict))
    return lab._mark(df) if hasattr(lab, "_mark") else df


def _probe(t: Trace) -> tuple[str | None, str]:
    """One real attempt from src to dst: ("reachable" | "blocked", what happened)."""
    s, d = getattr(t, "s", None), getattr(t, "d", None)
    if s is None or d is None:
        return None, "no probe: an end of the connection has no address"
    proto, lab = t.protocol, t.lab
    if d.kind == "host" and proto != "ICMP":
        flag = "t" if proto == "TCP" else "u"
        if not lab.sh(d.host, f"ss -H -l{flag}n 'sport = :{t.port}'", check=False).strip():
            proto = "ICMP"  # nothing listens there (a router serves no port 80): ask the kernel instead
    run = (lambda cmd: lab.exec(s.name, cmd, check=False)) if s.kind == "pod" else \
        (lambda cmd: lab.sh(s.host, cmd, check=False))
    if proto == "ICMP":
        out = run(f"ping -c 2 -i 0.2 -W 1 {d.ip} >/dev/null 2>&1 && echo ok")
        ok = "ok" in out
        small = f"ping {d.ip}: {'echo reply' if ok else 'no reply'}"
    elif s.kind == "pod" and d.kind == "pod":
        ok = bool(lab.reachability(port=t.port, protocol=proto, pods=list(dict.fromkeys([s.name, d.name])), timeout=2).loc[s.name, d.name])
        small = f"{proto} {d.ip}:{t.port} from {s.name}: {'connected' if ok else 'no connection'}"
    elif proto == "TCP":
        out = run(f"nc -z -w 2 {d.ip} {t.port} && echo ok")
        ok = "ok" in out
        small = f"nc -z {d.ip} {t.port}: {'connected' if ok else 'no connection'}"
    else:
        out = run(f"echo kanslab | nc -u -w 2 {d.ip} {t.port}")
        ok = bool(out.strip())
        small = f"UDP {d.ip}:{t.port}: {'echo came back' if ok else 'no echo'}"
    if ok and t.mtu_suspect and proto == "TCP":
        # a connection opens (SYNs are small); a full-size response is what an MTU black hole eats
        url = f"http://{d.ip}:{t.port}/data?size=4000"
        got = run(f"curl -s -m 3 -o /dev/null -w '%{{size_download}}' {shlex.quote(url)}").strip()
        big = got.isdigit() and int(got) >= 4000
        return ("reachable" if big else "blocked"), (f"{small}; curl {url}: "
                                                     f"{got or 0} of 4000 bytes arrived")
    return ("reachable" if ok else "blocked"), small


__all__ = ["diagnose", "LAYERS", "COLUMNS"]
