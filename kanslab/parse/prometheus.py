"""Prometheus answers: the text exposition format (`curl -s http://<node>:9091/metrics`) via
prometheus_client (`prometheus`), and the HTTP API's JSON (`/api/v1/query`, `query_range`:
`prometheus_api`).

One row per sample, columns in this order:

- `metric`: the sample's name exactly as the text writes it, which is the name Prometheus stores
  and PromQL queries (`felix_iptables_restore_calls`; a summary's `..._sum`/`..._count` rows);
- `type`: its family's `# TYPE` (gauge, counter, summary, histogram, untyped);
- one column per label name found anywhere in the text, sorted by name (`ip_version`, `table`,
  `quantile`, ...), None where a sample does not carry that label;
- `value` (float) and `help` (the family's `# HELP` text).

prometheus_client's parser rewrites a counter declared without the `_total` suffix (as Go's
client_golang and Felix write them) to `<name>_total`, the OpenMetrics spelling; this parser puts
the written name back, so `metric` matches what Prometheus scrapes.
"""

from __future__ import annotations

import json
import re

import pandas as pd

from ._common import fail, strip_ansi

_TYPE = re.compile(r"^#\s*TYPE\s+(\S+)\s+(\S+)")
# a shell prompt and command echo in front of the output (`root@k8s-m:~# curl ...`); a bare
# `# ...` line is a comment in this format, never a prompt
_PROMPT = re.compile(r"^\s*(\(.*?\)\s*)?\S+@[\w.-]+(:\S*)?\s*[#$%>]\s")


def prometheus(text: str | bytes) -> pd.DataFrame:
    """Prometheus text format -> DataFrame; see the module docstring for the columns."""
    from prometheus_client.parser import text_string_to_metric_families

    name = "prometheus"
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    lines = [ln.rstrip() for ln in strip_ansi(text).replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    lines = [ln for ln in lines if not _PROMPT.match(ln)]
    body = "\n".join(lines).strip("\n") + "\n"
    if not body.strip():
        fail(name, "no metrics in the text (empty output: is the metrics port open?)")
    counters_written = {m.group(1) for ln in lines if (m := _TYPE.match(ln.strip())) and m.group(2) == "counter"}
    rows = []
    try:
        for fam in text_string_to_metric_families(body):
            for s in fam.samples:
                metric = s.name
                if fam.type == "counter" and fam.name in counters_written and metric == fam.name + "_total":
                    metric = fam.name  # written without _total: keep the name Prometheus stores
                rows.append({"metric": metric, "type": fam.type, **s.labels, "value": float(s.value),
                             "help": fam.documentation})
    except ValueError as e:
        bad = _first_bad_line(lines)
        fail(name, f"not the Prometheus text format ({e})" if str(e) else "not the Prometheus text format",
             bad[1] if bad else None, bad[0] if bad else None)
    if not rows:
        fail(name, "no samples in the text, only comments", lines[0] if lines else None, 1)
    labels = sorted({k for r in rows for k in r} - {"metric", "type", "value", "help"})
    df = pd.DataFrame(rows, columns=["metric", "type", *labels, "value", "help"])
    for col in labels:
        df[col] = df[col].astype(object).where(df[col].notna(), None)
    return df


def _first_bad_line(lines: list[str]) -> tuple[int, str] | None:
    """The first line prometheus_client cannot read on its own, for the error message."""
    from prometheus_client.parser import text_string_to_metric_families

    for i, ln in enumerate(lines, 1):
        if not ln.strip() or ln.lstrip().startswith("#"):
            continue
        try:
            list(text_string_to_metric_families(ln + "\n"))
        except ValueError:
            return i, ln
    return None


def prometheus_api(answer: str | bytes | dict) -> pd.DataFrame:
    """A Prometheus HTTP API answer (`curl -s 'http://<prometheus>:9090/api/v1/query?query=up'`, as
    text or decoded; the whole answer or its `data`) -> one row per sample.

    Columns: `metric` (the series' __name__, "" for computed values), one column per label
    (sorted by name), `timestamp` (UTC) and `value` (float). Vector, matrix, scalar and string
    results; an answer with `"status": "error"` raises ParseError with Prometheus' own message."""
    name = "prometheus_api"
    data = answer
    if isinstance(answer, (str, bytes)):
        try:
            data = json.loads(answer)
        except ValueError as e:
            first = (answer.decode("utf-8", "replace") if isinstance(answer, bytes) else answer).strip()
            fail(name, f"not a Prometheus API answer (not JSON: {e})", first.split("\n")[0][:200] or None, 1)
    if not isinstance(data, dict):
        fail(name, f"not a Prometheus API answer (a JSON {type(data).__name__}, not an object)")
    if "status" in data:
        if data["status"] != "success":
            fail(name, f"Prometheus: {data.get('errorType', 'error')}: {data.get('error', data)}")
        data = data.get("data") or {}
    kind, result = data.get("resultType"), data.get("result")
    if kind not in ("vector", "matrix", "scalar", "string"):
        fail(name, f"not a Prometheus API answer (resultType {kind!r})")
    if kind in ("scalar", "string"):
        result = [{"metric": {}, "value": result}]
    rows = []
    try:
        for series in result or []:
            labels = dict(series.get("metric") or {})
            metric = labels.pop("__name__", "")
            samples = series.get("values") if "values" in series else [series["value"]]
            for ts, value in samples:
                rows.append({"metric": metric, **labels, "timestamp": float(ts), "value": float(value)})
    except (AttributeError, KeyError, TypeError, ValueError) as e:
        fail(name, f"a {kind} result with a malformed sample ({type(e).__name__}: {e})")
    label_cols = sorted({k for r in rows for k in r} - {"metric", "timestamp", "value"})
    df = pd.DataFrame(rows, columns=["metric", *label_cols, "timestamp", "value"])
    df["timestamp"] = pd.to_datetime(df["timestamp"], unit="s", utc=True)
    df["value"] = df["value"].astype(float)
    return df
