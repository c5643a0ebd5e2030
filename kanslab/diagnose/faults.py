"""Break-fix faults for instructors and exercises: `lab.faults()`, `lab.inject()`, `lab.heal()`.

Every fault is a real change made through the public API (calicoctl, kubectl, a command on a
host), so the data plane really breaks. Before it changes anything, `inject` writes what it is
about to change (the old values) into the lab's fault record; `heal` undoes the record newest
first, so it restores the lab exactly, also after several faults and from a new kernel.
The record lives in the lab's state directory (embedded lab) or in ~/.kanslab-faults.json on
the control plane (vagrant).
"""

from __future__ import annotations

import json
import random as _random
import shlex
from dataclasses import dataclass
from typing import Callable

from ..backends.base import Replayed
from ..errors import InvalidInput, NotSupported
from ..waiting import wait_for

ROUTER_WRONG_AS = 65000  # any AS but the router's own (64512 in KANS)
MTU_LOW = 1400           # below the 1500 bytes an IPIP packet from tunl0 (MTU 1480) takes on the wire


@dataclass
class Fault:
    name: str
    layer: str
    what: str
    symptom: str
    inject: Callable
    heal: Callable
    backends: tuple = ("local", "vagrant")


# -- the record ----------------------------------------------------------------------------

RECORD_REMOTE = "~/.kanslab-faults.json"


def _load(lab) -> list[dict]:
    if isinstance(lab.backend, Replayed):  # the recording read a local file: keep the record in memory
        return json.loads(getattr(lab.backend, "_faults_record", "[]"))
    names = getattr(lab.backend, "names", None)
    if names is not None:
        p = names.dir / "faults.json"
        return json.loads(p.read_text()) if p.exists() else []
    out = lab.sh(lab.topology.control_plane, f"cat {RECORD_REMOTE} 2>/dev/null", check=False)
    return json.loads(out) if out.strip() else []


def _save(lab, entries: list[dict]) -> None:
    text = json.dumps(entries, indent=1)
    if isinstance(lab.backend, Replayed):
        lab.backend._faults_record = text
        return
    names = getattr(lab.backend, "names", None)
    if names is not None:
        (names.dir / "faults.json").write_text(text)
        return
    lab.sh(lab.topology.control_plane, f"printf %s {shlex.quote(text)} > {RECORD_REMOTE}")


# -- helpers -------------------------------------------------------------------------------
def _pools(lab) -> list[dict]:
    return json.loads(lab.calicoctl("get ippool -o json")).get("items", [])


def _patch_pool(lab, name: str, spec: dict) -> None:
    lab.calicoctl(f"patch ippool {shlex.quote(name)} -p {shlex.quote(json.dumps({'spec': spec}))}")


def _worker(lab) -> str:
    """The first worker (k8s-w1 in KANS)."""
    return next(n.name for n in lab.topology.nodes if n.role == "worker")


def _await(check, timeout: float, what: str) -> None:
    from ..errors import LabError

    if not wait_for(check, timeout=timeout):
        raise LabError(f"timed out after {timeout:.0f} s waiting for {what}")


def _bird_dir(lab, node: str) -> str:
    # the node's birdcl names BIRD's control socket; bird.cfg and bird.pid live next to it
    path = lab.sh(node, "command -v birdcl").strip()
    text = lab.sh(node, f"cat {shlex.quote(path)}")
    sock = next(w for w in text.split() if w.endswith("bird.ctl"))
    return sock.rsplit("/", 1)[0]


def _sessions_down(lab, node: str, peer_ip: str) -> bool:
    out = lab.sh(node, "birdcl show protocols", check=False)
    tag = "_" + peer_ip.replace(".", "_")
    return any(tag in ln and "Established" not in ln for ln in out.splitlines())


def _all_established(lab) -> bool:
    for n in lab.topology.nodes:
        out = lab.sh(n.name, "birdcl show protocols", check=False)
        rows = [ln for ln in out.splitlines() if " BGP " in ln]
        if not rows or any("Established" not in ln for ln in rows):
            return False
    return True


# -- the faults ------------------------------------------------------------------------------
def _peer_inject(lab) -> dict:
    old = lab.calicoctl("get bgppeer kanslab-rtr -o json", check=False)
    router_ip = str(lab.topology.router.interfaces[next(iter(lab.topology.router.interfaces))][1].ip)
    lab.apply({"apiVersion": "projectcalico.org/v3", "kind": "BGPPeer", "metadata": {"name": "kanslab-rtr"},
               "spec": {"peerIP": router_ip, "asNumber": ROUTER_WRONG_AS}})
    return {"old": old if old.strip().startswith("{") else None}


def _peer_heal(lab, rec: dict) -> None:
    if rec.get("old"):
        obj = json.loads(rec["old"])
        obj["metadata"] = {"name": obj["metadata"]["name"]}
        lab.apply(obj)
    else:  # check=False: the student may have deleted it already while fixing the fault
        lab.calicoctl("delete bgppeer kanslab-rtr", check=False)


def _direct_inject(lab) -> dict:
    """Every encapsulating pool to Direct (a pod may hold an address from any of them)."""
    changed = {}
    for pool in _pools(lab):
        old = {k: pool["spec"].get(k, "Never") for k in ("ipipMode", "vxlanMode")}
        if old != {"ipipMode": "Never", "vxlanMode": "Never"}:
            _patch_pool(lab, pool["metadata"]["name"], {"ipipMode": "Never", "vxlanMode": "Never"})
            changed[pool["metadata"]["name"]] = old
    return {"pools": changed}


def _pools_heal(lab, rec: dict) -> None:
    for name, spec in rec["pools"].items():
        _patch_pool(lab, name, spec)


def _nat_inject(lab) -> dict:
    changed = {}
    for pool in _pools(lab):
        if pool["spec"].get("natOutgoing"):
            _patch_pool(lab, pool["metadata"]["name"], {"natOutgoing": False})
            changed[pool["metadata"]["name"]] = {"natOutgoing": True}
    return {"pools": changed}


def _disable_inject(lab) -> dict:
    enabled = [p["metadata"]["name"] for p in _pools(lab) if not p["spec"].get("disabled")]
    for name in enabled:
        _patch_pool(lab, name, {"disabled": True})
    return {"pools": enabled}


def _disable_heal(lab, rec: dict) -> None:
    for name in rec["pools"]:
        _patch_pool(lab, name, {"disabled": False})


def _mtu_node(lab) -> str:
    return _worker(lab)


def _mtu_inject(lab) -> dict:
    node = _mtu_node(lab)
    nic = lab.topology.node(node).nic
    old = json.loads(lab.sh(node, f"ip -j link show dev {nic}"))[0]["mtu"]
    lab.sh(node, f"ip link set dev {nic} mtu {MTU_LOW}")
    return {"node": node, "nic": nic, "mtu": old}


def _mtu_heal(lab, rec: dict) -> None:
    lab.sh(rec["node"], f"ip link set dev {rec['nic']} mtu {int(rec['mtu'])}")


def _deny_inject(lab) -> dict:
    lab.apply(DENY_EGRESS)
    return {}


def _deny_heal(lab, rec: dict) -> None:
    lab.kubectl("delete networkpolicy default-deny-egress -n default --ignore-not-found")


def _bird_node(lab) -> str:
    w = [n.name for n in lab.topology.nodes if n.role == "worker"]
    return w[1] if len(w) > 1 else w[0]


def _bird_inject(lab) -> dict:
    node = _bird_node(lab)
    d = _bird_dir(lab, node)
    ip = lab.topology.node(node).ip
    # SIGTERM: BIRD shuts down cleanly and sends a Cease to every peer, which withdraw its routes at
    # once. (After SIGKILL the peers would keep them as stale under graceful restart, up to 120 s.)
    lab.sh(node, f"kill -TERM $(cat {d}/bird.pid)")
    others = [n.name for n in lab.topology.nodes if n.name != node]
    _await(lambda: all(_sessions_down(lab, o, ip) for o in others), 20,
           f"the other nodes to see {node}'s BGP sessions close")
    return {"node": node, "dir": d}


def _bird_heal(lab, rec: dict) -> None:
    d, node = rec["dir"], rec["node"]
    if not lab.sh(node, f"kill -0 $(cat {d}/bird.pid) 2>/dev/null && echo alive", check=False).strip():
        # as the agent starts it (daemons.start_bird): in the foreground, logging to bird.log, not the console
        lab.sh(node, f"setsid -f bird -d -c {d}/bird.cfg -s {d}/bird.ctl -P {d}/bird.pid </dev/null >>{d}/bird.log 2>&1")
    _await(lambda: _all_established(lab), 30, "every BGP session Established again")


DENY_EGRESS = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
               "metadata": {"name": "default-deny-egress", "namespace": "default"},
               "spec": {"podSelector": {}, "policyTypes": ["Egress"]}}

FAULTS = [
    Fault("bgp-wrong-as", "bgp",
          f"a BGPPeer to the router with asNumber {ROUTER_WRONG_AS} (the router is AS 64512)",
          "`calicoctl node status` shows the router's session stuck (Active/Connect, 'Bad peer AS'); "
          "the router has no route to any pod block", _peer_inject, _peer_heal),
    Fault("direct-across-subnets", "routing",
          "the IP pools switched to Direct (ipipMode Never) while k8s-w0 sits on another subnet and the "
          "router learns no pod routes",
          "pods on 192.168.10.0/24 nodes cannot reach pods on k8s-w0: the router has no route for their block",
          _direct_inject, _pools_heal),
    Fault("mtu-blackhole", "mtu",
          f"k8s-w1's underlay NIC MTU lowered to {MTU_LOW}, below the 1500 bytes an IPIP packet needs",
          "connections to and from k8s-w1's pods open (SYNs are small) but large answers never arrive: "
          "`curl http://<pod>/data?size=4000` hangs", _mtu_inject, _mtu_heal),
    Fault("egress-deny", "policy",
          "a default-deny egress NetworkPolicy in namespace default with no allow rule (not even DNS)",
          "every connection from pods in default times out; on a real cluster name lookups to kube-dns "
          "(UDP 53) fail first", _deny_inject, _deny_heal),
    Fault("nat-outgoing-off", "nat",
          "natOutgoing switched off on every IP pool",
          "pods still reach each other, but not the router's IDC network (10.1.1.0/24): replies have no way back",
          _nat_inject, _pools_heal),
    Fault("bird-stopped", "bgp",
          "BIRD on k8s-w2 stopped with SIGTERM (a clean shutdown)",
          "the other nodes withdraw k8s-w2's pod block at once (`birdcl show route` on k8s-w1 lacks it; "
          "`birdcl` on k8s-w2 cannot connect): pods on k8s-w2 are cut off",
          _bird_inject, _bird_heal, backends=("local",)),
    Fault("pool-disabled", "ipam",
          "every IP pool set to disabled: true",
          "a new pod gets no IP (CNI: no configured Calico pools); pods that run keep theirs",
          _disable_inject, _disable_heal),
]
BY_NAME = {f.name: f for f in FAULTS}


def _backend_name(lab) -> str:
    """The backend whose faults apply: a replay offers those of the backend it was recorded on."""
    return getattr(lab.backend, "recorded_backend", None) or lab.backend.name


def _available(lab) -> list[Fault]:
    return [f for f in FAULTS if _backend_name(lab) in f.backends]


def catalog(lab):
    import pandas as pd

    return pd.DataFrame([{"name": f.name, "layer": f.layer, "what": f.what, "symptom": f.symptom}
                         for f in _available(lab)], columns=["name", "layer", "what", "symptom"])


def inject(lab, name: str | None = None, random: bool = False, seed: int | None = None) -> str:
    if random == (name is not None):
        raise InvalidInput("inject(name) or inject(random=True, seed=N): one of the two")
    done = _load(lab)
    if random:
        left = [f for f in _available(lab) if f.name not in {e["name"] for e in done}]
        if not left:
            raise InvalidInput("every fault is already injected; lab.heal() first")
        fault = _random.Random(seed).choice(left)
    else:
        if name not in BY_NAME:
            raise InvalidInput(f"no fault {name!r}; lab.faults() lists {', '.join(BY_NAME)}")
        fault = BY_NAME[name]
        if _backend_name(lab) not in fault.backends:
            raise NotSupported(lab.backend.name, f"inject the fault {name!r}")
        if any(e["name"] == name for e in done):
            raise InvalidInput(f"fault {name!r} is already injected; lab.heal() undoes it")
    entry = {"name": fault.name, "mystery": bool(random), "undo": None}
    done.append(entry)
    _save(lab, done)  # first the intent, so a crash mid-way still leaves something to heal
    try:
        entry["undo"] = fault.inject(lab)
    except Exception:
        done.pop()
        _save(lab, done)
        raise
    _save(lab, done)
    if random:
        return "a mystery fault is in the lab now: find it with lab.reachability() and lab.diagnose(...)"
    return f"injected {fault.name}: {fault.what}"


def heal(lab) -> list[str]:
    done = _load(lab)
    healed = []
    while done:
        entry = done[-1]
        if entry.get("undo") is not None:
            BY_NAME[entry["name"]].heal(lab, entry["undo"])
        healed.append(entry["name"])
        done.pop()
        _save(lab, done)
    return healed


def injected(lab) -> list[str]:
    return ["(mystery)" if e.get("mystery") else e["name"] for e in _load(lab)]


def broken_pair(lab, name: str) -> tuple[str, str, int, str] | None:
    """A (src, dst, port, protocol) that the fault breaks, among the lab's running pods; None if none fit.

    For tests and the chapter: which pair shows the fault best depends on where its pods run."""
    pods = lab.pods()
    # the workloads a student made: kube-system's are hostNetwork (calico-node) or cluster services
    pods = pods[(pods.phase == "Running") & (pods.namespace != "kube-system")]
    on = {n: [f"{r.namespace}/{r.name}" for r in pods.itertuples() if r.node == n]
          for n in {n.name for n in lab.topology.nodes}}
    w0 = next((n.name for n in lab.topology.nodes if n.subnet != lab.topology.node(_worker(lab)).subnet), None)
    w1, w2 = _mtu_node(lab), _bird_node(lab)
    router = lab.topology.router.name
    defaults = [f"{r.namespace}/{r.name}" for r in pods.itertuples() if r.namespace == "default"]
    pick = {
        "bgp-wrong-as": lambda: (router, (on[w1] or on[w2])[0]),
        "direct-across-subnets": lambda: (on[w1][0], on[w0][0]),
        "mtu-blackhole": lambda: (on[w1][0], on[w2][0]),
        "egress-deny": lambda: (defaults[0], next(p for p in pods_keys(pods) if p != defaults[0])),
        "nat-outgoing-off": lambda: (on[w1][0], router),
        "bird-stopped": lambda: (on[w1][0], on[w2][0]),
        "pool-disabled": lambda: ("default/new-pod", on[w1][0]),
    }
    try:
        src, dst = pick[name]()
    except (IndexError, StopIteration, KeyError, TypeError):
        return None
    return src, dst, 80, "TCP"


def pods_keys(pods) -> list[str]:
    return [f"{r.namespace}/{r.name}" for r in pods.itertuples()]
