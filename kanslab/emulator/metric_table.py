"""Prometheus metric families as data (metric_families.yaml) and the text format client_golang writes.

Shared by the lab's Felix (:9091) and calico-kube-controllers (:9094). A sample is a tuple
(sample name, labels, value); a summary's samples are `<name>{quantile=...}`, `<name>_sum` and
`<name>_count`. A family with no sample is left out, as client_golang leaves out a *Vec family
that has no label values yet.
"""

from __future__ import annotations

import functools
import math
import threading
import time
from collections import deque
from decimal import Decimal
from pathlib import Path

import yaml

TABLE = Path(__file__).with_name("metric_families.yaml")
QUANTILES = (0.5, 0.9, 0.99)  # libcalico-go/lib/prometheus/summary.go's objectives
SUMMARY_MAX_AGE = 600.0       # client_golang's DefMaxAge (10 min) for a summary's quantiles

Sample = tuple[str, dict, float]


@functools.cache
def families(section: str) -> tuple[dict, ...]:
    """Rows {name, type, source, help} of one section: felix, kube_controllers, go_runtime."""
    return tuple(yaml.safe_load(TABLE.read_text())[section])


def family_of(sample: str, types: dict[str, str]) -> str:
    for suffix in ("_sum", "_count"):
        base = sample[: -len(suffix)]
        if sample.endswith(suffix) and types.get(base) == "summary":
            return base
    return sample


def _num(v: float) -> str:
    """A value as Go's strconv.FormatFloat(v, 'g', -1, 64) writes it (expfmt's writeFloat):
    shortest digits, exponent form when the exponent is < -4 or >= 6 (405, 9.425744e+06, 1e-05)."""
    v = float(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v == 0:
        return "0"
    sign, digits, exponent = Decimal(repr(abs(v))).normalize().as_tuple()
    d = "".join(map(str, digits))
    dp = len(d) + int(exponent)   # digits before the decimal point
    exp = dp - 1
    neg = "-" if v < 0 else ""
    if exp < -4 or exp >= 6:
        return f"{neg}{d[0]}{'.' + d[1:] if len(d) > 1 else ''}e{'+' if exp >= 0 else '-'}{abs(exp):02d}"
    if dp <= 0:
        return f"{neg}0.{'0' * -dp}{d}"
    if dp >= len(d):
        return neg + d + "0" * (dp - len(d))
    return f"{neg}{d[:dp]}.{d[dp:]}"


def _escape(v) -> str:
    return str(v).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def exposition(samples: list[Sample], *sections: str) -> str:
    """Text format 0.0.4: families in name order (as client_golang's registry gathers them), each
    with its HELP and TYPE, its samples sorted by labels; quantiles, then _sum, then _count."""
    table = {f["name"]: f for s in sections for f in families(s)}
    types = {n: f["type"] for n, f in table.items()}
    by_family: dict[str, list[Sample]] = {}
    for name, labels, value in samples:
        fam = family_of(name, types)
        if fam not in table:
            raise KeyError(f"{fam} is not in metric_families.yaml ({', '.join(sections)})")
        by_family.setdefault(fam, []).append((name, labels, value))
    out = []
    for fam in sorted(by_family):
        f = table[fam]
        out += [f"# HELP {fam} {f['help']}", f"# TYPE {fam} {f['type']}"]
        order = {fam: 0, fam + "_sum": 1, fam + "_count": 2}
        rows = sorted(by_family[fam], key=lambda s: (sorted((k, v) for k, v in s[1].items() if k != "quantile"),
                                                      order.get(s[0], 0), float(s[1].get("quantile", 0))))
        for name, labels, value in rows:
            lab = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items(), key=lambda kv: kv[0] == "quantile"))
            out.append(f"{name}{{{lab}}} {_num(value)}" if lab else f"{name} {_num(value)}")
    return "\n".join(out) + "\n"


class Summary:
    """A summary of real observations (e.g. how long the lab took to program a node): quantiles over
    the last 10 minutes, sum and count since start, as client_golang's Summary keeps them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.recent: deque[tuple[float, float]] = deque()
        self.sum, self.count = 0.0, 0

    def observe(self, value: float, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self.lock:
            self.recent.append((now, value))
            self.sum += value
            self.count += 1

    def samples(self, name: str, labels: dict | None = None, now: float | None = None) -> list[Sample]:
        now = time.monotonic() if now is None else now
        labels = labels or {}
        with self.lock:
            while self.recent and self.recent[0][0] < now - SUMMARY_MAX_AGE:
                self.recent.popleft()
            vals = sorted(v for _, v in self.recent)
            total, count = self.sum, self.count
        out = []
        for q in QUANTILES:  # NaN when nothing was observed in the window, as client_golang prints
            v = vals[min(len(vals) - 1, int(math.ceil(q * len(vals))) - 1)] if vals else float("nan")
            out.append((name, {**labels, "quantile": str(q)}, v))
        return out + [(name + "_sum", labels, total), (name + "_count", labels, count)]


def go_runtime(profile: dict, started: float, now: float, scrapes: int, go_version: str) -> list[Sample]:
    """go_*, process_* and promhttp_* samples of a Go daemon that has run since `started` (unix time).

    The lab runs no Go process for Felix or kube-controllers, so these are a model: a steady heap of
    `profile["heap"]` bytes, `profile["rss"]` resident, `profile["goroutines"]`, one GC every
    `profile["gc_every"]` seconds and `profile["cpu"]` CPU seconds per second of uptime. Counters grow
    with uptime only, so a rate() over them is steady; the magnitudes are those of a real Felix
    (the datadog fixture in ../shared/samples). Students cannot compare these with a real cluster's."""
    up = max(0.0, now - started)
    heap, rss = float(profile["heap"]), float(profile["rss"])
    gcs = int(up // profile["gc_every"])
    allocated = heap * (1 + gcs)            # each cycle frees about one heap's worth
    mallocs = int(allocated / 96)           # ~96-byte objects
    objects = int(heap / 96)
    pause = 0.0009
    sys_heap = heap * 5
    other = {"buck_hash_sys_bytes": 1.5e6, "gc_sys_bytes": 5.8e6, "mcache_inuse_bytes": 9600, "mcache_sys_bytes": 15600,
             "mspan_inuse_bytes": heap / 40, "mspan_sys_bytes": heap / 32, "other_sys_bytes": 9.2e5,
             "stack_inuse_bytes": profile["goroutines"] * 8192 * 2, "stack_sys_bytes": profile["goroutines"] * 8192 * 2}
    m = "go_memstats_"
    s: list[Sample] = [("go_gc_duration_seconds", {"quantile": q}, pause * f)
                       for q, f in (("0", 0.05), ("0.25", 0.4), ("0.5", 1.0), ("0.75", 1.4), ("1", 6.0))]
    s += [("go_gc_duration_seconds_sum", {}, pause * 1.1 * gcs), ("go_gc_duration_seconds_count", {}, gcs),
          ("go_goroutines", {}, profile["goroutines"]), ("go_info", {"version": go_version}, 1),
          (m + "alloc_bytes", {}, heap), (m + "alloc_bytes_total", {}, allocated),
          (m + "frees_total", {}, mallocs - objects),
          (m + "heap_alloc_bytes", {}, heap), (m + "heap_idle_bytes", {}, sys_heap - heap * 1.35),
          (m + "heap_inuse_bytes", {}, heap * 1.35), (m + "heap_objects", {}, objects),
          (m + "heap_released_bytes", {}, (sys_heap - heap * 1.35) * 0.95), (m + "heap_sys_bytes", {}, sys_heap),
          (m + "last_gc_time_seconds", {}, started + gcs * profile["gc_every"] if gcs else 0),
          (m + "lookups_total", {}, 0), (m + "mallocs_total", {}, mallocs),
          (m + "next_gc_bytes", {}, heap * 1.1),
          (m + "sys_bytes", {}, sys_heap + sum(other.values())),
          ("go_threads", {}, profile["threads"])]
    s += [(m + k, {}, v) for k, v in other.items()]
    s += [("process_cpu_seconds_total", {}, round(up * profile["cpu"], 2)), ("process_max_fds", {}, 1048576),
          ("process_open_fds", {}, profile["fds"]), ("process_resident_memory_bytes", {}, rss),
          ("process_start_time_seconds", {}, round(started, 2)), ("process_virtual_memory_bytes", {}, rss * 13),
          ("process_virtual_memory_max_bytes", {}, 1.8446744073709552e19),
          ("promhttp_metric_handler_requests_in_flight", {}, 1)]
    s += [("promhttp_metric_handler_requests_total", {"code": c}, scrapes if c == "200" else 0)
          for c in ("200", "500", "503")]
    return s


@functools.cache
def _dashboards() -> dict:
    import json

    return json.loads(TABLE.with_name("dashboards.json").read_text())


def dashboard_panels(which: str) -> list[dict]:
    """Panels {row, title, type, targets: [{expr, legend}]} of `felix` (Calico v3.28.1's Felix dashboard,
    manifests/grafana-dashboards.yaml) or `kube_controllers` (the ipam_* families: Calico ships no
    kube-controllers dashboard), for chapter 05 to query and plot."""
    return list(_dashboards()[which])
