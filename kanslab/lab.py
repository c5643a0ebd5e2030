"""`kanslab.Lab`: the one API notebooks and tests use, whatever backend runs the lab.

The backend implements `kanslab.backends.base.Backend`; what only some backends can do (capture,
probe, Prometheus) `Lab` checks with `isinstance` on the capability protocols there, and raises
`kanslab.NotSupported` naming the backend and the capability where one is missing."""

from __future__ import annotations

import json
import os
import time
from typing import TYPE_CHECKING

import yaml

from .backends.base import (
    Backend,
    CanCapture,
    CanProbe,
    ListsPodIPs,
    Replayed,
    RunsPrometheus,
    lacks,
    require,
)
from .errors import CommandError, InvalidInput, LabError

_WAIT_SLICE_S = 10  # wait_ready checks for refused sandboxes this often

if TYPE_CHECKING:
    import pandas as pd

CALICO_GROUP = "projectcalico.org/"


def _manifest_objects(manifest) -> list[dict]:
    from .emulator.resources import load_manifest

    return load_manifest(manifest)


class Lab:
    def __init__(self, backend: Backend):
        missing = lacks(backend, Backend)
        if missing:
            raise InvalidInput(f"{type(backend).__name__} is not a kanslab backend: it lacks {', '.join(missing)} "
                               "(kanslab/backends/base.py says what a backend provides)")
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
        if isinstance(self.backend, Replayed):
            df.attrs["replayed_from"] = self.backend.replayed_from
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

    def wait_ready(self, pods, timeout: float = 180) -> str:
        """Wait until pods ("ns/pod" or "pod", one or a list) are Ready: `kubectl wait
        --for=condition=Ready` on the control plane, on every backend (a real cluster pulls images
        for tens of seconds). Raises LabError naming a pod that is not Ready, with its state."""
        names = [pods] if isinstance(pods, str) else list(pods)
        by_ns: dict[str, list[str]] = {}
        for pod in names:
            ns, _, name = str(pod).rpartition("/")
            if not name:
                raise InvalidInput(f"wait_ready: {pod!r} is not a pod name (\"ns/pod\" or \"pod\")")
            by_ns.setdefault(ns or "default", []).append(name)
        out = []
        deadline = time.monotonic() + timeout
        for ns, group in by_ns.items():
            while True:
                # in slices, so a pod the CNI refuses (it stays ContainerCreating with a
                # FailedCreatePodSandBox event, as on a cluster) is reported within seconds, not at the timeout
                left = max(1, min(_WAIT_SLICE_S, int(deadline - time.monotonic())))
                cmd = f"kubectl wait --for=condition=Ready {' '.join('pod/' + n for n in group)} -n {ns} " \
                      f"--timeout={left}s"
                try:
                    out.append(self.backend.sh(self.topology.control_plane, cmd, timeout=left + 30))
                    break
                except CommandError as e:
                    refused = self._sandbox_failures(ns, group)
                    if refused or time.monotonic() >= deadline:
                        why = refused or f"{self._pod_states(ns, group)} ({e.stderr.strip() or e})"
                        raise LabError(f"pods not Ready after {int(timeout - (deadline - time.monotonic()))} s: "
                                       f"{why}") from None
        return "".join(out)

    def _sandbox_failures(self, ns: str, names: list[str]) -> str:
        """"ns/pod: <the event's message>" for pods whose sandbox (network) could not be created."""
        from .diagnose.state import sandbox_failure

        found = [(name, sandbox_failure(self, f"{ns}/{name}")) for name in names]
        return "; ".join(f"{ns}/{name}: Pending (ContainerCreating), FailedCreatePodSandBox: {why}"
                         for name, why in found if why)

    def _pod_states(self, ns: str, names: list[str]) -> str:
        """"ns/pod: Pending (ContainerCreating), last event: ..." for each pod, as far as the cluster says."""
        states = []
        for name in names:
            out = self.kubectl(f"get pod {name} -n {ns} -o json", check=False)
            try:
                st = json.loads(out).get("status") or {}
            except ValueError:
                states.append(f"{ns}/{name}: not found")
                continue
            waiting = [((c.get("state") or {}).get("waiting") or {}).get("reason")
                       for c in st.get("containerStatuses") or []]
            reasons = ", ".join(r for r in waiting if r)
            text = f"{ns}/{name}: {st.get('phase', 'Unknown')}" + (f" ({reasons})" if reasons else "")
            events = self.kubectl(f"get events -n {ns} --field-selector involvedObject.name={name} "
                                  "--sort-by=.lastTimestamp", check=False).strip().splitlines()
            if len(events) > 1 and not events[0].startswith("error"):
                text += f", last event: {' '.join(events[-1].split())}"
            states.append(text)
        return "; ".join(states)

    def capture(self, host: str, bpf: str = "", iface: str = "any", count: int = 10000, seconds: float = 60):
        require(self.backend, CanCapture)
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

        require(self.backend, CanProbe)
        protocol = str(protocol).upper()
        if protocol not in ("TCP", "UDP"):
            raise InvalidInput(f"protocol {protocol!r}: the lab's pods answer TCP and UDP probes")
        if isinstance(self.backend, ListsPodIPs):
            ips = self.backend.pod_ips()
        else:
            ips = {f"{r.namespace}/{r.name}": r.ip for r in self.pods().itertuples() if r.phase == "Running" and r.ip}
        # default: the workload pods; kube-system's are the cluster's own (and mostly hostNetwork)
        keys = sorted(k for k in ips if not k.startswith("kube-system/")) if pods is None \
            else [p if "/" in p else f"default/{p}" for p in pods]
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
    def _prometheus(self, path: str, params: dict, server: str | None = None) -> dict:
        if server is None:
            require(self.backend, RunsPrometheus)
            data = self.backend.prometheus_api(path, params)
        else:  # a Prometheus inside the lab (the write-up's, on its NodePort), asked from the control plane
            import shlex

            args = " ".join(f"--data-urlencode {shlex.quote(f'{k}={v}')}" for k, v in params.items())
            out = self.sh(self.topology.control_plane, f"curl -sS -G --max-time 10 http://{server}{path} {args}".rstrip())
            try:
                data = json.loads(out)
            except json.JSONDecodeError:
                raise InvalidInput(f"Prometheus at {server}: not the HTTP API's JSON: {out[:200]!r}") from None
        if data.get("status") != "success":
            raise InvalidInput(f"Prometheus: {data.get('errorType', 'error')}: {data.get('error', data)}")
        return data["data"]

    def prometheus_targets(self, server: str | None = None) -> pd.DataFrame:
        """Prometheus's active targets (/api/v1/targets): job, instance, health, scrape_url, last_error,
        last_scrape, one row each. `server`: `host:port` of a Prometheus in the lab (e.g. the
        write-up's on 192.168.10.10:30001); None: the lab's own."""
        import pandas as pd

        rows = [{"job": t["labels"].get("job"), "instance": t["labels"].get("instance"), "health": t.get("health"),
                 "scrape_url": t.get("scrapeUrl"), "last_error": t.get("lastError"),
                 "last_scrape": pd.to_datetime(t.get("lastScrape"), utc=True, errors="coerce")}
                for t in self._prometheus("/api/v1/targets", {"state": "active"}, server).get("activeTargets") or []]
        cols = ["job", "instance", "health", "scrape_url", "last_error", "last_scrape"]
        return self._mark(pd.DataFrame(rows, columns=cols).sort_values(["job", "instance"], ignore_index=True))

    def prometheus(self) -> dict:
        """Start the lab's Prometheus unless it runs: {"host", "port", "config", "pid"} of it."""
        require(self.backend, RunsPrometheus)
        return {k: v for k, v in self.backend.prometheus().items() if k != "ok"}

    def prometheus_query(self, promql: str, time=None, server: str | None = None) -> pd.DataFrame:
        """An instant PromQL query against the lab's Prometheus (started on first use), or against
        the Prometheus at `server` (`host:port` inside the lab, e.g. "192.168.10.10:30001").

        One row per series: `metric` (the series' __name__, "" for computed values), one column
        per label (sorted by name), `timestamp` (UTC) and `value` (float)."""
        from .parse import prometheus_api

        params = {"query": promql}
        if time is not None:
            params["time"] = str(_epoch(time))
        return self._mark(prometheus_api(self._prometheus("/api/v1/query", params, server)))

    def prometheus_query_range(self, promql: str, start, end=None, step: str | float = "1s",
                               server: str | None = None) -> pd.DataFrame:
        """A PromQL range query: the same columns as `prometheus_query`, one row per series and step.

        `start`/`end`: datetimes, pandas Timestamps or Unix seconds; `end` defaults to now."""
        import time as _time

        from .parse import prometheus_api

        params = {"query": promql, "start": str(_epoch(start)),
                  "end": str(_epoch(end) if end is not None else _time.time()), "step": str(step)}
        return self._mark(prometheus_api(self._prometheus("/api/v1/query_range", params, server)))

    def routes(self, host: str) -> pd.DataFrame:
        from .parse import ip_route

        return self._mark(ip_route(self.sh(host, "ip -j route")))

    def pod_routes(self, node: str = "k8s-w1", routes: pd.DataFrame | None = None) -> pd.DataFrame:
        """Where `node` sends each pod block, one row per block: owner, kind (ipip, vxlan, direct,
        router, local), gateway, dev, proto, route. Read from `node`'s route table (or `routes`, a
        parsed table of it) and every node's blackholes (a block lives where its blackhole is)."""
        from .parse import ip_route
        from .plot.topology import block_routes

        owners = {n.name: list(ip_route(self.sh(n.name, "ip -j route show type blackhole")).dst)
                  for n in self.topology.nodes}
        table = self.routes(node) if routes is None else routes
        return self._mark(block_routes(table, self.topology, node, owners))

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

    def expect(self, condition, what: str, detail=None) -> bool:
        """A check cell in one line: print "✓ <what>" or fail naming it (kanslab.lessons.expect)."""
        from .lessons import expect

        return expect(condition, what, detail)

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
