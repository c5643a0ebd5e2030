"""RecordingBackend: any backend, with every call through its interface written to a transcript.

One proxy, delegation by method name: a public method of the wrapped backend is called as is and
its arguments and answer (or the kanslab error it raised) are appended to the transcript as the
call returns. Attributes that are not methods (`name`, `hosts`, `topology`) pass through
unrecorded; the topology goes into the transcript's header instead.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import threading
from pathlib import Path

from ..._version import __version__
from .transcript import FORMAT, encode, encode_error


def capabilities(backend) -> list[str]:
    """The public methods a backend has (the facade asks `hasattr` for some of them)."""
    cls = type(backend)
    return sorted(n for n in dir(cls) if not n.startswith("_") and callable(getattr(cls, n, None)))


class RecordingBackend:
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
                "topology": {"name": topo.name, "source": source, "yaml": topo_yaml},
                "hosts": list(inner.hosts), "capabilities": capabilities(inner)}

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
        value = getattr(self._inner, name)
        if name.startswith("_") or not callable(value) or not callable(getattr(type(self._inner), name, None)):
            return value
        if name == "capture":
            return self._capture

        def call(*args, **kwargs):
            try:
                result = value(*args, **kwargs)
            except Exception as e:
                self._record(name, args, kwargs, error=encode_error(e))
                raise
            self._record(name, args, kwargs, result=encode(result))
            return result

        call.__name__ = name
        call.__doc__ = getattr(value, "__doc__", None)
        return call

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
    if not path or isinstance(backend, RecordingBackend) or getattr(backend, "name", "") == "replay":
        return backend
    return RecordingBackend(backend, path)
