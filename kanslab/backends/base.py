"""The backend contract: what a backend must provide for `kanslab.Lab` to drive it.

`kanslab.Lab` is the one API of the chapters; a backend runs the lab behind it. Three exist:
`local` (the embedded lab: namespaces on this machine), `vagrant` (VMs, or any cluster, over SSH)
and `replay` (recorded transcripts of the embedded lab; nothing runs).

A new backend must provide everything in `Backend` (checked structurally: no base class to
inherit): a `name` for error messages, its `hosts` and `topology`, `up`/`down`, `status_rows`
(one dict per host, for `lab.status()`), `sh` (a shell command on a host; raise
`kanslab.CommandError` on a non-zero exit when `check`) and `exec_pod` (a command inside a pod,
"ns/pod" or "pod" meaning namespace default, with the same error rule). `lab.calicoctl`,
`lab.kubectl`, `lab.apply`/`delete`, `lab.pods()`, `lab.pod_ip()` and `lab.routes()` are built on
`sh` alone, so they work on every backend.

What else `Lab` can do depends on the optional capabilities below, one runtime-checkable protocol
each (`CAPABILITIES`). `Lab` asks `isinstance(backend, CanCapture)` and so on; a backend without
one gets `kanslab.NotSupported` naming the backend and the capability. The recorder
(`replay/recorder.py`) records the methods of exactly the capabilities its backend has and writes
their names into the transcript; the replay backend offers exactly those again.

Adding a capability: a protocol here, an entry in `CAPABILITIES` (its name is what transcripts
store), the `Lab` method that checks it, and the methods on the backends that can do it. A method
a backend has outside this contract (`LocalBackend.reconcile`, `VagrantBackend.sh_all`) is that
backend's own: reachable through `lab.backend`, neither recorded nor replayed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol, runtime_checkable

from ..errors import NotSupported

if TYPE_CHECKING:
    import pandas as pd

    from ..topology import Topology


@runtime_checkable
class Backend(Protocol):
    """What every backend provides."""

    name: str  # "local", "vagrant", "replay": the word errors name the backend by

    @property
    def hosts(self) -> list[str]:
        """The lab's hosts, router first, as `lab.hosts` lists them."""
        ...

    @property
    def topology(self) -> Topology:
        """The lab's topology (kanslab.topology.Topology): nodes, router, networks, the control plane."""
        ...

    def up(self, progress: Callable[[str], None] | None = ...) -> bool:
        """Bring the lab up (or connect to it); True when something was started. `progress(msg)` reports steps."""
        ...

    def down(self) -> list[str]:
        """Tear the lab down (or disconnect); a log of what was done."""
        ...

    def status_rows(self) -> list[dict]:
        """One dict per host: at least "host" and "running"."""
        ...

    def sh(self, host: str, cmd: str, timeout: float = 60, check: bool = True, input: str | None = None) -> str:
        """CMD in a shell on HOST (root, as `sudo` would), stdin from INPUT; its stdout."""
        ...

    def exec_pod(self, pod_key: str, cmd: str, timeout: float = 30, check: bool = True) -> str:
        """CMD inside the pod "ns/pod" (or "pod" in default); its stdout."""
        ...


class PacketCapture(Protocol):
    """What `capture` returns: a context manager, tcpdump running while its block runs."""

    host: str
    bpf: str
    iface: str
    path: Path | None  # the pcap on this machine, once the block ended (for Wireshark)

    def __enter__(self) -> PacketCapture: ...

    def __exit__(self, *exc: Any) -> Any: ...

    @property
    def packets(self) -> pd.DataFrame:
        """The capture parsed by `kanslab.parse.pcap`: outer and inner headers per packet."""
        ...


@runtime_checkable
class CanCapture(Protocol):
    def capture(self, host: str, bpf: str = "", iface: str = "any", count: int = 10000,
                seconds: float = 60) -> PacketCapture:
        """Real tcpdump on HOST, bounded by COUNT packets and SECONDS."""
        ...


@runtime_checkable
class CanProbe(Protocol):
    def probe(self, pairs: list[tuple[str, str]], port: int, protocol: str = "TCP",
              timeout: float = 1.0) -> list[bool]:
        """Real connection attempts, all at once: for each (client "ns/pod", server IP), did it connect?"""
        ...


@runtime_checkable
class ListsPodIPs(Protocol):
    def pod_ips(self) -> dict[str, str]:
        """{"ns/pod": IP} of every running pod (without it, `Lab` reads `kubectl get pods -A -o json`)."""
        ...


@runtime_checkable
class RunsPrometheus(Protocol):
    def prometheus(self) -> dict:
        """Start the lab's Prometheus unless it runs: {"host", "port", "config", "pid", ...}."""
        ...

    def prometheus_api(self, path: str, params: dict[str, str]) -> dict:
        """GET Prometheus's HTTP API (`/api/v1/...`); its JSON answer."""
        ...


@runtime_checkable
class Replayed(Protocol):
    """Not a capability: a backend whose answers were recorded elsewhere says where from, and
    `Lab` marks every DataFrame with it (attrs["replayed_from"])."""

    @property
    def replayed_from(self) -> str: ...


@dataclass(frozen=True)
class Capability:
    name: str       # what transcripts store
    protocol: type
    doing: str      # NotSupported: "the <backend> backend cannot <doing>"
    hint: str = ""

    @property
    def methods(self) -> tuple[str, ...]:
        return protocol_methods(self.protocol)


_PROMETHEUS_HINT = "deploy it as the write-up does (prometheus-pod) and query it with lab.sh and curl"
CAPABILITIES: tuple[Capability, ...] = (
    Capability("capture", CanCapture, "capture packets"),
    Capability("probe", CanProbe, "probe connections between pods"),
    Capability("pod_ips", ListsPodIPs, "list pod IPs from its datastore"),
    Capability("prometheus", RunsPrometheus, "run the lab's Prometheus", _PROMETHEUS_HINT),
)


def protocol_methods(protocol: type) -> tuple[str, ...]:
    """The public methods a protocol asks for, in the order it declares them."""
    return tuple(n for n, v in vars(protocol).items() if not n.startswith("_") and callable(v))


def protocol_members(protocol: type) -> tuple[str, ...]:
    """Everything a protocol asks for: attributes, properties and methods."""
    props = [n for n, v in vars(protocol).items() if not n.startswith("_") and isinstance(v, property)]
    return tuple(dict.fromkeys([*vars(protocol).get("__annotations__", {}), *props, *protocol_methods(protocol)]))


def lacks(backend: object, protocol: type) -> list[str]:
    """The members of PROTOCOL that BACKEND lacks, looked up without running a property: `isinstance`
    on a protocol with properties would read `hosts`, which on the vagrant backend connects."""
    import inspect

    missing = []
    for m in protocol_members(protocol):
        try:
            inspect.getattr_static(backend, m)
        except AttributeError:
            missing.append(m)
    return missing


def capability(name_or_protocol: str | type) -> Capability:
    for c in CAPABILITIES:
        if name_or_protocol in (c.name, c.protocol):
            return c
    raise KeyError(name_or_protocol)


def capabilities(backend: object) -> list[str]:
    """The names of the capabilities BACKEND has."""
    return [c.name for c in CAPABILITIES if isinstance(backend, c.protocol)]


def capabilities_from_methods(methods: list[str]) -> list[str]:
    """The capabilities a backend with these public methods has (transcripts before capability
    names were recorded held the recorded backend's method names)."""
    have = set(methods)
    return [c.name for c in CAPABILITIES if set(c.methods) <= have]


def require(backend: Backend, protocol: type) -> None:
    """`kanslab.NotSupported` naming the backend and the capability, unless BACKEND has it."""
    if not isinstance(backend, protocol):
        c = capability(protocol)
        raise NotSupported(getattr(backend, "name", type(backend).__name__), c.doing, c.hint)


__all__ = ["Backend", "CanCapture", "CanProbe", "ListsPodIPs", "RunsPrometheus", "Replayed", "PacketCapture",
           "Capability", "CAPABILITIES", "capabilities", "capabilities_from_methods", "capability", "lacks",
           "require", "protocol_members", "protocol_methods"]
