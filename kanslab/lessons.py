"""What the chapters share, so that their cells show networking rather than plumbing (d2l-style):
`expect` (a check cell in one line), and the few helpers chapters 01-05 used to define themselves.

Everything here goes through the public `Lab` API, so it runs the same on every backend."""

from __future__ import annotations

import ipaddress
import json

from .errors import CommandError, InvalidInput, LabError
from .waiting import wait_for


class ExpectationFailed(AssertionError):
    """What the text claims is not what the lab shows (an AssertionError, so nbval and pytest fail)."""


def expect(condition, what: str, detail=None) -> bool:
    """Print "✓ <what>" when `condition` holds; raise ExpectationFailed naming it (and `detail`) otherwise.

    `condition` may be a callable: it is then polled with `wait_for` (a state that converges, never a
    fixed sleep), up to 20 seconds."""
    ok = wait_for(condition) if callable(condition) else condition
    if hasattr(ok, "all") and not isinstance(ok, bool):  # a pandas/numpy truth table: every cell must hold
        ok = bool(ok.all().all()) if hasattr(ok.all(), "all") else bool(ok.all())
    if not ok:
        raise ExpectationFailed(f"✗ {what}" + (f"\n{detail}" if detail is not None else ""))
    print(f"✓ {what}")
    return True


# --- pods ---------------------------------------------------------------------------------------------

IP_ADDRS, HW_ADDR = "cni.projectcalico.org/ipAddrs", "cni.projectcalico.org/hwAddr"


def pod_manifest(name: str, node: str, ip: str | None = None, mac: str | None = None, labels: dict | None = None,
                 namespace: str = "default", image: str = "traefik/whoami") -> dict:
    """A pod on `node`, with Calico's IPAM annotations when `ip` / `mac` are given (the MAC goes in
    cni.projectcalico.org/hwAddr; the write-up's `.../mac` is read by nothing)."""
    annotations = {}
    if ip:
        annotations[IP_ADDRS] = json.dumps([ip])  # a JSON list, at most one IPv4 and one IPv6 address
    if mac:
        annotations[HW_ADDR] = mac
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels or {}),
                         "annotations": annotations},
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": 0,
                     "containers": [{"name": "container", "image": image}]}}


def phase(lab, name: str):
    """The pod's phase (Running, Pending, ...), None when there is no such pod."""
    return lab.pods().set_index("name").phase.get(name)


def eth0(lab, pod: str) -> dict:
    """The pod's eth0 as `ip -j` reports it: ip, mac, mtu."""
    link = json.loads(lab.exec(pod, "ip -j link show eth0"))[0]
    addr = json.loads(lab.exec(pod, "ip -j -4 addr show eth0"))[0]["addr_info"][0]
    return {"pod": pod, "ip": addr["local"], "mac": link["address"], "mtu": link["mtu"]}


def try_start(lab, manifest: dict, timeout: float = 60) -> dict:
    """Create a pod; did it start? The API server accepts it whatever IPAM will say; when the CNI's ADD
    fails the pod stays ContainerCreating, and `wait_ready` raises with its FailedCreatePodSandBox event,
    as on a real cluster. A pod that did not start is deleted (it would wait there forever)."""
    name = manifest["metadata"]["name"]
    lab.apply(manifest)
    try:
        ns = manifest["metadata"].get("namespace", "default")
        lab.wait_ready(f"{ns}/{name}", timeout=timeout)
        return {"pod": name, "started": True, "message": ""}
    except LabError as e:
        lab.delete(manifest)
        return {"pod": name, "started": False, "message": str(e)}


# --- IPAM ---------------------------------------------------------------------------------------------

def free_ip(lab, cidr: str, start: int = 0) -> str:
    """The first address of `cidr`, from its `start`-th on, that IPAM has not assigned (earlier chapters'
    pods may hold some, and a pin on a taken address fails)."""
    for addr in list(ipaddress.ip_network(cidr))[start:]:
        if lab.calicoctl(f"ipam show --ip={addr}").strip().endswith("is not assigned"):
            return str(addr)
    raise InvalidInput(f"no free address in {cidr} from its {start}th on")


def block_of(lab) -> dict[str, str]:
    """{node: its pod block}, from the blackhole route each node keeps for its own block(s)."""
    from .parse import ip_route

    out = {}
    for n in lab.topology.nodes:
        for dst in ip_route(lab.sh(n.name, "ip -j route show type blackhole")).dst:
            out.setdefault(n.name, dst)
    return out


# --- packets --------------------------------------------------------------------------------------------

def ping_capture(lab, src: str, dst_ip: str, host: str = "router", bpf: str = "", count: int = 2):
    """Capture on `host` while pod `src` pings `dst_ip`: the packets as a DataFrame (outer and inner headers)."""
    with lab.capture(host, bpf=bpf, count=20, seconds=15) as cap:
        lab.exec(src, f"ping -c {count} -W 2 {dst_ip}", check=False)
    return cap.packets


def refused(fn, *args, **kwargs) -> str | None:
    """Run `fn`; the error's text when a lab command refused it (CommandError), None when it went through."""
    try:
        fn(*args, **kwargs)
    except CommandError as e:
        return (e.stderr or str(e)).strip()
    return None


# --- BGP ------------------------------------------------------------------------------------------------

def bgp_sessions(lab):
    """Every BGP session of the lab, one row per side: local, peer (address), kind (mesh | router),
    established, pfx_received / pfx_sent (the router's view; NA for the node-to-node mesh).
    Nodes from BIRD (`birdcl show protocols`), the router from FRR (`show bgp summary json`)."""
    import pandas as pd

    from .parse import bird_protocols, frr_bgp_summary

    router = lab.topology.router.name
    rows = []
    for n in lab.topology.nodes:
        for p in bird_protocols(lab.sh(n.name, "birdcl show protocols", check=False) or "").itertuples():
            if p.proto != "BGP":
                continue
            peer = ".".join(p.name.split("_")[1:5])  # Mesh_192_168_10_101 / Global_192_168_10_254 / Node_...
            rows.append({"local": n.name, "peer": peer, "kind": "mesh" if p.name.startswith("Mesh_") else "router",
                         "established": p.info.startswith("Established"), "pfx_received": pd.NA, "pfx_sent": pd.NA})
    try:
        summary = frr_bgp_summary(lab.sh(router, "vtysh -c 'show bgp summary json'", check=False))
    except Exception:  # noqa: BLE001 - no BGP neighbour yet: FRR prints no peers table
        summary = None
    if summary is not None:
        for s in summary.itertuples():
            rows.append({"local": router, "peer": s.neighbor, "kind": "router", "established": bool(s.established),
                         "pfx_received": s.pfxrcd, "pfx_sent": s.pfxsnt})
    return pd.DataFrame(rows, columns=["local", "peer", "kind", "established", "pfx_received", "pfx_sent"])


# --- metrics --------------------------------------------------------------------------------------------

def scrape(lab, ip: str, port: int = 9091, via: str = "k8s-m") -> str:
    """`curl -s http://<ip>:<port>/metrics`, asked from `via` as the write-up's Prometheus pod would."""
    return lab.sh(via, f"curl -s --max-time 5 http://{ip}:{port}/metrics", check=False)


def curl_exit(lab, ip: str, port: int = 9091, via: str = "k8s-m") -> int:
    """curl's exit status for `ip`'s metrics page, asked from `via` (0: answered; 7: nothing listens there)."""
    out = lab.sh(via, f"curl -s -o /dev/null --max-time 5 http://{ip}:{port}/metrics; echo $?", check=False)
    return int(out.split()[-1])


def sample(metrics, metric: str, **labels) -> float:
    """The one sample of `metric` with these labels in a `parse.prometheus` table."""
    rows = metrics[metrics.metric == metric]
    for k, v in labels.items():
        rows = rows[rows[k] == v]
    if len(rows) != 1:
        raise InvalidInput(f"{len(rows)} samples of {metric} {labels or ''}: expected exactly one")
    return rows.value.item()


# --- dashboards -----------------------------------------------------------------------------------------

def _legend(template: str, labels: dict, expr: str) -> str:
    """A Grafana legend: `{{label}}` replaced by the series' label value (Grafana leaves an unknown one
    empty); an empty template shows the series' labels, or the query for a label-less result."""
    import re

    if template:
        return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: str(labels.get(m.group(1), "")), template).strip() or expr
    shown = {k: v for k, v in labels.items() if k != "metric"}
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(shown.items())) + "}" if shown else expr


def dashboard(lab, which: str, start, end=None, step: str = "5s", server: str | None = None):
    """A Calico dashboard's panels as Grafana would draw them: every target's PromQL asked as a range
    query over [start, end]. `which`: "felix" (Calico v3.28.1's Felix dashboard, from its
    grafana-dashboards.yaml) or "kube_controllers" (the ipam_* panels: Calico ships no such
    dashboard). One row per panel, series and step: row, panel, type, expr, series (the panel's
    legend filled in), timestamp, value; `plot.dashboard` draws it."""
    import pandas as pd

    from .emulator.metric_table import dashboard_panels

    cols = ["row", "panel", "type", "expr", "series", "timestamp", "value"]
    frames = []
    for p in dashboard_panels(which):
        for t in p["targets"]:
            df = lab.prometheus_query_range(t["expr"], start=start, end=end, step=step, server=server)
            if df.empty:  # a panel with no data still shows (Grafana: "No data")
                frames.append(pd.DataFrame([{"row": p.get("row", ""), "panel": p["title"], "type": p["type"],
                                             "expr": t["expr"], "series": None, "timestamp": pd.NaT,
                                             "value": float("nan")}], columns=cols))
                continue
            labels = [c for c in df.columns if c not in ("timestamp", "value")]
            series = [_legend(t.get("legend", ""), {k: getattr(r, k) for k in labels}, t["expr"])
                      for r in df[labels].itertuples(index=False)]
            frames.append(pd.DataFrame({"row": p.get("row", ""), "panel": p["title"], "type": p["type"],
                                        "expr": t["expr"], "series": series,
                                        "timestamp": df.timestamp.reset_index(drop=True),
                                        "value": df.value.reset_index(drop=True)}, columns=cols))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)
