"""RecordingBackend: any backend, with every call through the backend contract written to a transcript.

What is recorded is the contract of `backends/base.py`: `Backend`'s methods (up, down,
status_rows, sh, exec_pod) and the methods of each capability the wrapped backend has. Each is
called as is; its arguments and answer (or the kanslab error it raised) are appended to the
transcript as the call returns. The recorder has exactly the wrapped backend's capabilities (its
class is made per set of capabilities, so `isinstance(recorder, CanProbe)` answers as for the
backend), and the transcript's header names them, so that the replay backend offers the same.
Attributes (`name`, `hosts`, `topology`) pass through unrecorded (the topology goes into the
header), as does anything outside the contract (`lab.backend.reconcile()`): it works while
recording and is not there on replay.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import threading
from pathlib import Path

from ..._version import __version__
from ..base import CAPABILITIES, Replayed, capabilities
from .transcript import FORMAT, encode, encode_error

CONTRACT_METHODS = ("up", "down", "status_rows", "sh", "exec_pod")


def _recorded(method: str):
    def call(self, *args, **kwargs):
        return self._call(method, args, kwargs)

    call.__name__ = call.__qualname__ = method
    return call


_classes: dict[tuple[str, ...], type] = {}


def _recording_class(caps: tuple[str, ...]) -> type:
    """RecordingBackend with the methods of these capabilities (one class per set, made once)."""
    if caps not in _classes:
        methods = {m: _recorded(m) for c in CAPABILITIES if c.name in caps for m in c.methods}
        if "capture" in methods:
            methods["capture"] = RecordingBackend._capture
        _classes[caps] = type("RecordingBackend", (RecordingBackend,), {**methods, "capability_names": caps})
    return _classes[caps]


class RecordingBackend:
    capability_names: tuple[str, ...] = ()

    def __new__(cls, inner, path: str | Path):
        return object.__new__(_recording_class(tuple(capabilities(inner))))

    def __init__(self, inner, path: str | Path):
        object.__setattr__(self, "_inner", inner)
        object.__setattr__(self, "_path", Path(path))
        object.__setattr__(self, "_lock", threading.Lock())
        object.__setattr__(self, "_n", 0)
        self._path.parent.mkdir(parents=True, exist_ok=True)
        if self._path.exists() and self._path.stat().st_size:
            # another connect() in the same run: continue the same transcript
            with self._path.open() as f:
                object.__setattr__(self, "_n", sum(1 for line in f if line.startswith('{"method"')))
        else:
            self._write({"header": self._header()})

    def __repr__(self) -> str:
        return f"<RecordingBackend of {self._inner!r} into {self._path}>"

    # -- the contract: attributes pass through, methods are recorded ----------------------------
    @property
    def name(self) -> str:
        return self._inner.name

    @property
    def hosts(self) -> list[str]:
        return self._inner.hosts

    @property
    def topology(self):
        return self._inner.topology

    up = _recorded("up")
    down = _recorded("down")
    status_rows = _recorded("status_rows")
    sh = _recorded("sh")
    exec_pod = _recorded("exec_pod")

    def _call(self, method: str, args, kwargs):
        try:
            result = getattr(self._inner, method)(*args, **kwargs)
        except Exception as e:
            self._record(method, args, kwargs, error=encode_error(e))
            raise
        self._record(method, args, kwargs, result=encode(result))
        return result

    def _header(self) -> dict:
        inner = self._inner
        topo = inner.topology
        source = getattr(topo, "source", "")
        topo_yaml = ""
        try:
            from importlib import resources

            if source.startswith("kanslab/topologies/"):
                topo_yaml = (resources.files("kanslab.topologies") / Path(source).name).read_text()
            elif source and Path(source).exists():
                topo_yaml = Path(source).read_text()
        except OSError:
            pass
        now = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
        return {"format": FORMAT, "recorded_at": now.isoformat().replace("+00:00", "Z"),
                "backend": inner.name, "prefix": getattr(inner, "prefix", None), "kanslab": __version__,
                "topology": {"name": topo.name, "source": source, "yaml": topo_yaml,
                             "workers": getattr(topo, "workers", None)},
                "hosts": list(inner.hosts), "protocols": list(self.capability_names)}

    def _write(self, rec: dict) -> None:
        line = json.dumps(rec, separators=(",", ":"))
        with self._lock, self._path.open("a") as f:
            f.write(line + "\n")

    def _record(self, method: str, args, kwargs, **outcome) -> int:
        with self._lock:
            n = self._n
            object.__setattr__(self, "_n", n + 1)
        self._write({"method": method, "args": encode(list(args)), "kwargs": encode(dict(kwargs)), **outcome})
        return n

    def __getattr__(self, name):
        """Anything outside the contract: the wrapped backend's own, unrecorded."""
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._inner, name)

    def __setattr__(self, name, value):
        setattr(self._inner, name, value)

    def __dir__(self):
        return sorted(set(dir(self._inner)) | {"_inner"})

    def _capture(self, *args, **kwargs):
        try:
            cap = self._inner.capture(*args, **kwargs)
        except Exception as e:
            self._record("capture", args, kwargs, error=encode_error(e))
            raise
        # the call's place in the transcript is now; its packets are filled in when the block ends
        n = self._record("capture", args, kwargs, result={"__capture__": {"pending": True}})
        return RecordingCapture(cap, self, n)


class RecordingCapture:
    """The real capture, unchanged; when its block ends, its pcap goes into the transcript."""

    def __init__(self, cap, recorder: RecordingBackend, n: int):
        self._cap, self._recorder, self._n = cap, recorder, n

    def __enter__(self):
        try:
            self._cap.__enter__()
        except Exception as e:
            self._recorder._write({"fill": self._n, "result": {"__capture__": {"error": encode_error(e)}}})
            raise
        return self

    def __exit__(self, *exc):
        out = self._cap.__exit__(*exc)
        path = Path(self._cap.path)
        data = path.read_bytes() if path.exists() else b""
        self._recorder._write({"fill": self._n, "result": {"__capture__": {
            "host": self._cap.host, "bpf": self._cap.bpf, "iface": self._cap.iface, "pcap": encode(data)}}})
        return out

    def __getattr__(self, name):
        return getattr(self._cap, name)


def maybe_record(backend):
    """The backend wrapped for recording when KANSLAB_RECORD names a transcript file."""
    path = os.environ.get("KANSLAB_RECORD")
    if not path or isinstance(backend, (RecordingBackend, Replayed)):
        return backend
    return RecordingBackend(backend, path)
