"""`kanslab.Lab`: the one API notebooks and tests use, whatever backend runs the lab."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

import yaml

from .errors import InvalidInput, NotSupported

if TYPE_CHECKING:
    import pandas as pd

CALICO_GROUP = "projectcalico.org/"


def _manifest_objects(manifest) -> list[dict]:
    from .emulator.resources import load_manifest

    return load_manifest(manifest)


class Lab:
    def __init__(self, backend):
        self.backend = backend

    def __repr__(self) -> str:
        return f"<kanslab.Lab backend={self.backend.name!r} hosts={self.hosts}>"

    @property
    def hosts(self) -> list[str]:
        return list(self.backend.hosts)

    @property
    def topology(self):
        return self.backend.topology

    # lifecycle
    def up(self, progress=True) -> bool:
        return self.backend.up() if progress else self.backend.up(progress=None)

    def down(self):
        return self.backend.down()

    def status(self) -> pd.DataFrame:
        import pandas as pd

        return self._mark(pd.DataFrame(self.backend.status_rows()))

    def _mark(self, df: pd.DataFrame) -> pd.DataFrame:
        """On the replay backend a DataFrame says where its data comes from (attrs["replayed_from"])."""
        source = getattr(self.backend, "replayed_from", None)
        if source:
            df.attrs["replayed_from"] = source
        return df

    # commands
    def sh(self, host: str, cmd: str, timeout: float = 60, check: bool = True) -> str:
        return self.backend.sh(host, cmd, timeout=timeout, check=check)

    def calicoctl(self, args: str, input: str | None = None, check: bool = True) -> str:
        return self.backend.sh(self.topology.control_plane, f"calicoctl {args}", input=input, check=check)

    def kubectl(self, args: str, input: str | None = None, check: bool = True) -> str:
        return self.backend.sh(self.topology.control_plane, f"kubectl {args}", input=input, check=check)

    def apply(self, manifest) -> str:
        """Apply YAML text, a dict, a list of dicts or a path; Calico kinds go through calicoctl."""
        return self._send("apply", manifest)

    def delete(self, manifest) -> str:
        return self._send("delete", manifest)

    def _send(self, verb: str, manifest) -> str:
        objs = _manifest_objects(manifest)
        calico = [o for o in objs if str(o.get("apiVersion", "")).startswith(CALICO_GROUP)]
        kube = [o for o in objs if o not in calico]
        out = []
        for tool, group in (("calicoctl", calico), ("kubectl", kube)):
            if group:
                text = yaml.safe_dump_all(group, sort_keys=False)
                out.append(getattr(self, tool)(f"{verb} -f -", input=text))
        return "".join(out)

    def exec(self, pod: str, cmd: str, timeout: float = 30, check: bool = True) -> str:
        """Run a command inside a pod: "ns/pod" or "pod" (namespace default)."""
        return self.backend.exec_pod(pod, cmd, timeout=timeout, check=check)

    def capture(self, host: str, bpf: str = "", iface: str = "any", count: int = 10000, seconds: float = 60):
        if not hasattr(self.backend, "capture"):
            raise NotSupported(self.backend.name, "capture packets")
        return self.backend.capture(host, bpf=bpf, iface=iface, count=count, seconds=seconds)

    # DataFrame getters
    def pods(self) -> pd.DataFrame:
        import pandas as pd

        data = json.loads(self.kubectl("get pods -A -o json"))
        rows = [{"namespace": p["metadata"].get("namespace"), "name": p["metadata"]["name"],
                 "node": p["spec"].get("nodeName"), "ip": p.get("status", {}).get("podIP"),
                 "phase": p.get("status", {}).get("phase"), "labels": p["metadata"].get("labels", {})}
                for p in data.get("items", [])]
        return self._mark(pd.DataFrame(rows, columns=["namespace", "name", "node", "ip", "phase", "labels"]))

    def reachability(self, port: int = 80, protocol: str = "TCP", pods: list[str] | None = None,
                     timeout: float = 1.0) -> pd.DataFrame:
        """Who can open a connection to whom, measured with real connection attempts, all at once.

        A DataFrame of bool: rows are the clients ("ns/pod"), columns the servers, True where the
        client reached the server's IP on `port`/`protocol` (TCP: handshake done; UDP: echo came
        back) within `timeout` seconds. `pods`: "ns/pod" (or "pod" in default) to probe among;
        default every running pod."""
        import pandas as pd

        if not hasattr(self.backend, "probe"):
            raise NotSupported(self.backend.name, "probe connections between pods")
        protocol = str(protocol).upper()
        if protocol not in ("TCP", "UDP"):
            raise InvalidInput(f"protocol {protocol!r}: the lab's pods answer TCP and UDP probes")
        if hasattr(self.backend, "pod_ips"):
            ips = self.backend.pod_ips()
        else:
            ips = {f"{r.namespace}/{r.name}": r.ip for r in self.pods().itertuples() if r.phase == "Running" and r.ip}
        keys = sorted(ips) if pods is None else [p if "/" in p else f"default/{p}" for p in pods]
        missing = [k for k in keys if k not in ips]
        if missing:
            raise InvalidInput(f"not running (or no IP yet): {', '.join(missing)}")
        ok = self.backend.probe([(c, ips[s]) for c in keys for s in keys], int(port), protocol, timeout) if keys else []
        n = len(keys)
        df = pd.DataFrame([ok[i * n:(i + 1) * n] for i in range(n)], index=pd.Index(keys, name="from"),
                          columns=pd.Index(keys, name="to"), dtype=bool)
        df.attrs.update(port=int(port), protocol=protocol)
        return self._mark(df)

    # Prometheus
    def _prometheus(self, path: str, params: dict) -> dict:
        if not hasattr(self.backend, "prometheus_api"):
            raise NotSupported(self.backend.name, "run the lab's Prometheus",
                               "deploy it as the write-up does (prometheus-pod) and query it with lab.sh and curl")
        data = self.backend.prometheus_api(path, params)
        if data.get("status") != "success":
            raise InvalidInput(f"Prometheus: {data.get('errorType', 'error')}: {data.get('error', data)}")
        return data["data"]

    def prometheus(self) -> dict:
        """Start the lab's Prometheus unless it runs: {"host", "port", "config", "pid"} of it."""
        if not hasattr(self.backend, "prometheus"):
            raise NotSupported(self.backend.name, "run the lab's Prometheus",
                               "deploy it as the write-up does (prometheus-pod) and query it with lab.sh and curl")
        return {k: v for k, v in self.backend.prometheus().items() if k != "ok"}

    def prometheus_query(self, promql: str, time=None) -> pd.DataFrame:
        """An instant PromQL query against the lab's Prometheus (started on first use).

        One row per series: `metric` (the series' __name__, "" for computed values), one column
        per label (sorted by name), `timestamp` (UTC) and `value` (float)."""
        params = {"query": promql}
        if time is not None:
            params["time"] = str(_epoch(time))
        return self._mark(_prom_frame(self._prometheus("/api/v1/query", params)))

    def prometheus_query_range(self, promql: str, start, end=None, step: str | float = "1s") -> pd.DataFrame:
        """A PromQL range query: the same columns as `prometheus_query`, one row per series and step.

        `start`/`end`: datetimes, pandas Timestamps or Unix seconds; `end` defaults to now."""
        import time as _time

        params = {"query": promql, "start": str(_epoch(start)),
                  "end": str(_epoch(end) if end is not None else _time.time()), "step": str(step)}
        return self._mark(_prom_frame(self._prometheus("/api/v1/query_range", params)))

    def routes(self, host: str) -> pd.DataFrame:
        from .parse import ip_route

        return self._mark(ip_route(self.sh(host, "ip -j route")))

    # troubleshooting (kanslab.diagnose): hop-by-hop diagnosis and break-fix faults
    def diagnose(self, src: str, dst: str, port: int = 80, protocol: str = "TCP") -> pd.DataFrame:
        """Follow src -> dst ("ns/pod" or a host) hop by hop through the real state; attrs verdict/probe/layer/cause."""
        from .diagnose import diagnose

        return diagnose(self, src, dst, port, protocol)

    def faults(self) -> pd.DataFrame:
        """The break-fix faults: name, layer, what, symptom."""
        from .diagnose.faults import catalog

        return catalog(self)

    def inject(self, name: str | None = None, random: bool = False, seed: int | None = None) -> str:
        """Break the lab with one fault (by name, or a mystery one with random=True); heal() undoes it."""
        from .diagnose.faults import inject

        return inject(self, name, random=random, seed=seed)

    def heal(self) -> list[str]:
        """Undo every injected fault, newest first, exactly as recorded; returns the faults healed."""
        from .diagnose.faults import heal

        return heal(self)

    def injected(self) -> list[str]:
        """Faults injected and not healed (names hidden for a mystery fault)."""
        from .diagnose.faults import injected

        return injected(self)

    def pod_ip(self, pod: str) -> str:
        ns, _, name = pod.rpartition("/")
        out = self.kubectl(f"get pod {name} -n {ns or 'default'} -o json")
        ip = json.loads(out).get("status", {}).get("podIP")
        if not ip:
            raise InvalidInput(f"pod {pod} has no IP (not running?)")
        return ip


def _epoch(t) -> float:
    if isinstance(t, (int, float)):
        return float(t)
    import pandas as pd

    ts = pd.Timestamp(t)
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return ts.timestamp()


def _prom_frame(data: dict) -> pd.DataFrame:
    """Prometheus API `data` (vector, matrix or scalar) -> one row per sample."""
    import pandas as pd

    kind, result = data.get("resultType"), data.get("result")
    if kind in ("scalar", "string"):
        result = [{"metric": {}, "value": result}]
    rows = []
    for series in result or []:
        labels = dict(series.get("metric") or {})
        name = labels.pop("__name__", "")
        samples = series.get("values") if "values" in series else [series["value"]]
        for ts, value in samples:
            rows.append({"metric": name, **labels, "timestamp": float(ts), "value": float(value)})
    label_cols = sorted({k for r in rows for k in r} - {"metric", "timestamp", "value"})
    df = pd.DataFrame(rows, columns=["metric", *label_cols, "timestamp", "value"])
    df["timestamp"] = pd.to_datetime(df["timestamp"], unit="s", utc=True)
    df["value"] = df["value"].astype(float)
    return df


def connect(backend: str | None = None, **kwargs) -> Lab:
    """`kanslab.connect()`: KANSLAB_BACKEND or auto-detect; connect("local"|"vagrant"|"replay", ...)."""
    name = backend or os.environ.get("KANSLAB_BACKEND") or "local"
    if name == "replay":  # recorded answers of the embedded lab (Binder: no root, nothing runs)
        from .backends.replay import ReplayBackend

        return Lab(ReplayBackend(**kwargs))
    if name == "local":
        from .backends.local import LocalBackend

        b = LocalBackend(**kwargs)
    elif name == "vagrant":
        from .backends.vagrant import VagrantBackend

        b = VagrantBackend(**kwargs)
    else:
        raise InvalidInput(f"unknown backend {name!r}; choose local, vagrant or replay")
    from .backends.replay.recorder import maybe_record

    return Lab(maybe_record(b))  # KANSLAB_RECORD=<file>: every backend call goes into a transcript


__all__ = ["Lab", "connect"]
