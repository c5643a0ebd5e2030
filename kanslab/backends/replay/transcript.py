"""Transcripts: every call through a backend's interface, in order, with its answer or its error.

A transcript is recorded as JSON lines while a chapter runs (one line per call, appended as the
call returns, so a kernel that dies still leaves what it did) and compacted into one gzip'd JSON
file (`<chapter>.json.gz`) whose repeated answers are stored once. `load()` reads either form.

Values are JSON with a few tagged types: bytes ({"__bytes__": base64}), DataFrames
({"__dataframe__": pandas' "table" JSON, which keeps dtypes}), captures ({"__capture__": {...,
"pcap": bytes}}); tuples become lists.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import re
from pathlib import Path

from ... import errors as kerrors

FORMAT = "kanslab-transcript/1"
# arguments that differ from run to run without changing the question (Prometheus' query times,
# timeouts): left out when a call is matched against the recording
VOLATILE_KWARGS = {"timeout"}
VOLATILE_PROM_PARAMS = {"start", "end", "time"}
# the same times in a query sent to an in-lab Prometheus with curl (Lab._prometheus with `server=`)
_VOLATILE_CURL_PARAMS = re.compile(r" --data-urlencode '?(?:start|end|time)=[^ ']*'?")


def encode(value):
    """A JSON-safe form of a backend call's argument or answer."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, (bytes, bytearray)):
        return {"__bytes__": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, Path):
        return str(value)
    if callable(value):
        return "<callable>"
    try:
        import pandas as pd

        if isinstance(value, pd.DataFrame):
            return {"__dataframe__": value.to_json(orient="table", date_unit="ns")}
    except ImportError:  # pragma: no cover
        pass
    return {"__repr__": repr(value)}


def decode(value):
    if isinstance(value, list):
        return [decode(v) for v in value]
    if isinstance(value, dict):
        if "__bytes__" in value and len(value) == 1:
            return base64.b64decode(value["__bytes__"])
        if "__dataframe__" in value and len(value) == 1:
            import pandas as pd

            return pd.read_json(io.StringIO(value["__dataframe__"]), orient="table")
        return {k: decode(v) for k, v in value.items()}
    return value


def encode_error(e: BaseException) -> dict:
    fields = {k: encode(v) for k, v in vars(e).items() if not k.startswith("_")}
    return {"type": type(e).__name__, "module": type(e).__module__, "message": str(e), "fields": fields}


def decode_error(err: dict) -> BaseException:
    """The recorded error again, of its own kanslab type with its fields (host, cmd, exit_status, ...)."""
    cls = getattr(kerrors, err.get("type", ""), None)
    if not (isinstance(cls, type) and issubclass(cls, kerrors.KanslabError)):
        builtin = __builtins__.get(err.get("type", "")) if isinstance(__builtins__, dict) else getattr(
            __builtins__, err.get("type", ""), None)
        if isinstance(builtin, type) and issubclass(builtin, Exception):
            return builtin(err.get("message", ""))
        return kerrors.LabError(f"{err.get('type')}: {err.get('message', '')}")
    e = cls.__new__(cls)
    Exception.__init__(e, err.get("message", ""))
    for k, v in (err.get("fields") or {}).items():
        setattr(e, k, decode(v))
    return e


def call_key(method: str, args: list, kwargs: dict) -> str:
    """What identifies a call when it is replayed: method and arguments, minus volatile ones."""
    kw = {k: v for k, v in kwargs.items() if k not in VOLATILE_KWARGS}
    a = list(args)
    if method == "prometheus_api":
        if len(a) > 1 and isinstance(a[1], dict):
            a[1] = {k: v for k, v in a[1].items() if k not in VOLATILE_PROM_PARAMS}
        if isinstance(kw.get("params"), dict):
            kw["params"] = {k: v for k, v in kw["params"].items() if k not in VOLATILE_PROM_PARAMS}
    if method == "sh" and len(a) > 1 and isinstance(a[1], str) and "/api/v1/query" in a[1]:
        a[1] = _VOLATILE_CURL_PARAMS.sub("", a[1])
    if method == "up":  # up(progress=...) is the same question however progress is shown
        a, kw = [], {}
    return json.dumps([method, a, kw], sort_keys=True, separators=(",", ":"))


def describe(method: str, args: list, kwargs: dict, limit: int = 160) -> str:
    """`sh('k8s-w1', 'route -n', check=True)`, shortened for messages."""
    parts = [_short(repr(a)) for a in args] + [f"{k}={_short(repr(v))}" for k, v in kwargs.items()]
    text = f"{method}({', '.join(parts)})"
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _short(s: str, n: int = 70) -> str:
    return s if len(s) <= n else s[:n - 1] + "…"


class Transcript:
    """A loaded transcript: `header` (recorded_at, topology, protocols, ...) and `calls`."""

    def __init__(self, header: dict, calls: list[dict], path: str = ""):
        self.header, self.calls, self.path = header, calls, path

    @property
    def name(self) -> str:
        return self.header.get("chapter") or Path(self.path).name.split(".")[0]

    @property
    def recorded_at(self) -> str:
        return self.header.get("recorded_at", "?")

    @property
    def capabilities(self) -> list[str]:
        """The capabilities (`backends/base.py` CAPABILITIES) the recorded backend had: the header's
        "protocols"; older transcripts list the backend's public methods ("capabilities") instead."""
        if "protocols" in self.header:
            return list(self.header["protocols"])
        from ..base import capabilities_from_methods

        return capabilities_from_methods(self.header.get("capabilities") or [])

    def label(self) -> str:
        return f"{Path(self.path).name or self.name} (recorded {self.recorded_at} on the {self.header.get('backend', '?')} lab)"


def load(path: str | Path) -> Transcript:
    """A compacted `.json.gz` transcript or a raw JSON-lines recording."""
    p = Path(path)
    raw = p.read_bytes()
    if raw[:2] == b"\x1f\x8b":  # compacted
        data = json.loads(gzip.decompress(raw))
        if data.get("format") != FORMAT:
            raise kerrors.InvalidInput(f"{p} is not a kanslab transcript ({FORMAT})")
        values = data.get("values", [])
        calls = []
        for c in data["calls"]:
            c = dict(c)
            if "value" in c:  # index into the shared answers
                c["result"] = values[c.pop("value")]
            calls.append(c)
        return Transcript(data["header"], calls, str(p))
    return _from_lines(raw.decode(), str(p))


def _from_lines(text: str, path: str) -> Transcript:
    header: dict = {}
    calls: list[dict] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        rec = json.loads(line)
        if "header" in rec:
            if not header:
                header = rec["header"]
        elif "fill" in rec:  # a capture's packets, known only when its block ended
            calls[rec["fill"]]["result"] = rec["result"]
        else:
            calls.append(rec)
    if not header:
        raise kerrors.InvalidInput(f"{path} is not a kanslab transcript (no header)")
    return Transcript(header, calls, path)


def compact(src: str | Path, dest: str | Path, chapter: str | None = None, **header_extra) -> Path:
    """Raw JSON lines -> one gzip'd JSON file; answers that repeat are stored once."""
    t = load(src)
    header = dict(t.header)
    if chapter:
        header["chapter"] = chapter
    header.update(header_extra)
    values: list = []
    index: dict[str, int] = {}
    calls = []
    for c in t.calls:
        c = dict(c)
        if "result" in c:
            s = json.dumps(c.pop("result"))  # key order kept: it is column order
            if s not in index:
                index[s] = len(values)
                values.append(json.loads(s))
            c["value"] = index[s]
        calls.append(c)
    data = {"format": FORMAT, "header": header, "values": values, "calls": calls}
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    blob = json.dumps(data, separators=(",", ":")).encode()
    dest.write_bytes(gzip.compress(blob, 9, mtime=0))
    return dest
