"""ReplayBackend: the embedded lab's recorded answers, in the order they were recorded.

It implements `backends/base.py`'s `Backend` and exactly the capabilities the recorded backend
had (the transcript's header names them; a transcript from before names were recorded lists the
recorded backend's methods, from which the same follow): a replay of a lab that could not capture
cannot capture either, and says so with `kanslab.NotSupported` like that lab did.

Nothing runs: no root, no process, namespace or daemon. Each call is answered with the next
recorded call of the same method and arguments (a call made several times, as `wait_for` polls,
gets its recorded answers in turn); a recorded error is raised again with its type and fields; a
call the recording does not hold raises `kanslab.ReplayMismatch` naming the nearest recorded one.

Which transcript: `transcript=` (a file, or several), else KANSLAB_REPLAY (a file or a chapter
name), else the directory KANSLAB_REPLAY_DIR (default: ./replay, then the repository's
notebooks/replay). In a directory, the notebook's own transcript is taken when the kernel knows
its notebook (JPY_SESSION_NAME, set by Jupyter Server); otherwise every transcript there is a
candidate and the calls themselves pick it: the candidates that cannot answer a call drop out,
and of the rest the one answering in its recorded order (fewest calls skipped) answers.
"""

from __future__ import annotations

import atexit
import difflib
import os
import shutil
import sys
import tempfile
from pathlib import Path

from ...errors import InvalidInput, LabError, ReplayMismatch
from ..base import CAPABILITIES
from .transcript import Transcript, call_key, decode, decode_error, describe, encode, load

SUFFIX = ".json.gz"


def default_dirs() -> list[Path]:
    env = os.environ.get("KANSLAB_REPLAY_DIR")
    if env:
        return [Path(env)]
    repo = Path(__file__).resolve().parents[3] / "notebooks" / "replay"
    return [Path.cwd() / "replay", repo]


def find_transcripts(transcript=None, chapter: str | None = None) -> list[Path]:
    """The transcript files to replay, by the rules in this module's docstring."""
    if transcript is not None:
        items = transcript if isinstance(transcript, (list, tuple)) else [transcript]
        paths = [Path(t) for t in items]
    else:
        chapter = chapter or os.environ.get("KANSLAB_REPLAY")
        if chapter and Path(chapter).is_file():
            return [Path(chapter)]
        dirs = [d for d in default_dirs() if d.is_dir() and any(d.glob("*" + SUFFIX))]
        if not dirs:
            raise InvalidInput("the replay backend found no transcripts: set KANSLAB_REPLAY_DIR (or pass "
                               f"transcript=...); looked in {', '.join(str(d) for d in default_dirs())}")
        every = sorted(dirs[0].glob("*" + SUFFIX))
        session = os.environ.get("JPY_SESSION_NAME")  # the notebook's path, when Jupyter Server started us
        want = chapter or (Path(session).name.removesuffix(".ipynb") if session else None)
        if want:
            picked = [p for p in every if p.name.removesuffix(SUFFIX) == want]
            if not picked and chapter:
                picked = [p for p in every if p.name.startswith(chapter)]
            if picked:
                return picked[:1]
            if chapter:
                raise InvalidInput(f"no transcript for chapter {chapter!r} in {dirs[0]}; there are: "
                                   + ", ".join(p.name for p in every))
        return every
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise InvalidInput(f"no such transcript: {', '.join(missing)}")
    return paths


class _Player:
    """One transcript's calls and which of them have been answered."""

    def __init__(self, t: Transcript):
        self.t = t
        self.keys = [call_key(c["method"], c.get("args", []), c.get("kwargs", {})) for c in t.calls]
        self.used = [False] * len(self.keys)
        self.cursor = 0  # the first call not answered yet
        self.skipped = 0  # how far out of recorded order the answers so far have been

    def find(self, key: str) -> int | None:
        for i in range(self.cursor, len(self.keys)):
            if not self.used[i] and self.keys[i] == key:
                return i
        return None

    def last_answered(self, key: str) -> int | None:
        for i in range(len(self.keys) - 1, -1, -1):
            if self.used[i] and self.keys[i] == key:
                return i
        return None

    def take(self, i: int) -> dict:
        self.skipped += sum(1 for j in range(self.cursor, i) if not self.used[j])
        self.used[i] = True
        while self.cursor < len(self.used) and self.used[self.cursor]:
            self.cursor += 1
        return self.t.calls[i]

    def call_text(self, i: int) -> str:
        c = self.t.calls[i]
        return f"#{i} {describe(c['method'], c.get('args', []), c.get('kwargs', {}))}"

    def nearest(self, method: str, text: str, key: str) -> str:
        """The recorded call most like this one (same method; an unanswered one on a tie)."""
        same = [i for i in range(len(self.keys)) if self.keys[i] == key]
        if same:
            return (f"{self.call_text(same[0])}, recorded {len(same)} time(s) and answered as many times "
                    "already")
        pool = [i for i in range(len(self.keys)) if self.t.calls[i]["method"] == method]
        if not pool:
            return ""

        def score(i):
            c = self.t.calls[i]
            ratio = difflib.SequenceMatcher(None, text, describe(method, c.get("args", []), c.get("kwargs", {}))).ratio()
            return (round(ratio, 3), not self.used[i], -abs(i - self.cursor))

        return self.call_text(max(pool, key=score))


def _answering(method: str):
    def call(self, *args, **kwargs):
        return decode(self._answer(method, args, kwargs))

    call.__name__ = call.__qualname__ = method
    return call


_classes: dict[tuple[str, ...], type] = {}


def _replay_class(caps: tuple[str, ...]) -> type:
    """ReplayBackend with the methods of these capabilities (one class per set, made once)."""
    if caps not in _classes:
        methods = {m: _answering(m) for c in CAPABILITIES if c.name in caps for m in c.methods}
        if "capture" in methods:
            methods["capture"] = ReplayBackend._capture
        _classes[caps] = type("ReplayBackend", (ReplayBackend,), {**methods, "capability_names": caps})
    return _classes[caps]


def _transcripts(transcript, chapter) -> list[Transcript]:
    if isinstance(transcript, Transcript):
        return [transcript]
    if isinstance(transcript, (list, tuple)) and transcript and all(isinstance(t, Transcript) for t in transcript):
        return list(transcript)
    return [load(p) for p in find_transcripts(transcript, chapter)]


def _for_workers(ts: list[Transcript], workers: int | None) -> list[Transcript]:
    """`connect(workers=N)` (chapter 07's `kanslab.scale.connect`) is answered by the transcripts recorded
    on a lab of that size, and its topology is theirs."""
    if workers is None:
        return ts
    return [t for t in ts if (t.header.get("topology") or {}).get("workers") == workers] or ts


class ReplayBackend:
    name = "replay"
    capability_names: tuple[str, ...] = ()

    def __new__(cls, transcript=None, chapter: str | None = None, *args, **kwargs):
        ts = _for_workers(_transcripts(transcript, chapter), kwargs.get("workers"))
        # the union over the candidate transcripts: any of them may turn out to be the chapter's
        caps = tuple(c.name for c in CAPABILITIES if any(c.name in t.capabilities for t in ts))
        self = object.__new__(_replay_class(caps))
        self._loaded = ts
        return self

    def __init__(self, transcript=None, chapter: str | None = None, quiet: bool = False, repeat: bool = True,
                 **_ignored):
        """`repeat`: a call asked more often than recorded (a cell run twice) gets its last recorded
        answer again; with repeat=False it raises ReplayMismatch."""
        self.repeat = repeat
        self._repeated: set[str] = set()
        ts = self._loaded
        self._players = [_Player(t) for t in ts]
        self._first = ts[0]
        self._topo = None
        self._tmp: str | None = None
        if not quiet:
            print(f"kanslab: REPLAY — no lab runs here; every answer comes from a recording of the embedded lab "
                  f"({self.replayed_from}). Calls it does not hold raise kanslab.ReplayMismatch.",
                  file=sys.stderr, flush=True)

    # -- what this replay is ------------------------------------------------------------------
    @property
    def transcripts(self) -> list[Transcript]:
        return [p.t for p in self._players]

    @property
    def replayed_from(self) -> str:
        alive = self._players
        if len(alive) == 1:
            return alive[0].t.label()
        dates = sorted({p.t.recorded_at for p in alive})
        return (f"{len(alive)} chapter transcripts ({', '.join(p.t.name for p in alive)}), recorded "
                f"{dates[0] if len(dates) == 1 else dates[0] + ' .. ' + dates[-1]} on the "
                f"{self._first.header.get('backend', '?')} lab")

    @property
    def recorded_at(self) -> str:
        return self._players[0].t.recorded_at

    @property
    def recorded_backend(self) -> str:
        """The name of the backend the transcript was recorded on ("local" for the embedded lab)."""
        return self._players[0].t.header.get("backend", "local")

    @property
    def topology(self):
        if self._topo is None:
            from ...topology import load_topology

            info = self._first.header.get("topology") or {}
            if info.get("yaml"):
                with tempfile.TemporaryDirectory(prefix="kanslab-replay-") as d:
                    p = Path(d) / f"{info.get('name') or 'recorded'}.yaml"
                    p.write_text(info["yaml"])
                    self._topo = load_topology(p, info.get("workers"))
                    self._topo.source = info.get("source") or self._topo.source
            else:
                self._topo = load_topology(info.get("name") or "kans3", info.get("workers"))
        return self._topo

    @property
    def hosts(self) -> list[str]:
        return list(self._first.header.get("hosts") or self.topology.hosts)

    # -- answering ----------------------------------------------------------------------------
    def _answer(self, method: str, args: tuple, kwargs: dict):
        a, kw = encode(list(args)), encode(dict(kwargs))
        key = call_key(method, a, kw)
        found = [(p, i) for p in self._players if (i := p.find(key)) is not None]
        if not found and self.repeat:  # a cell run again: the last answer this call got
            again = [(p, i) for p in self._players if (i := p.last_answered(key)) is not None]
            if again:
                p, i = min(again, key=lambda pi: (pi[0].skipped, self._players.index(pi[0])))
                if key not in self._repeated:
                    self._repeated.add(key)
                    print(f"kanslab replay: {describe(method, a, kw)} was recorded fewer times than it is asked now; "
                          "answering with its last recorded answer", file=sys.stderr, flush=True)
                rec = p.t.calls[i]
                if "error" in rec:
                    raise decode_error(rec["error"])
                return rec.get("result")
        if not found:
            best = min(self._players, key=lambda p: p.skipped)
            text = describe(method, a, kw)
            nxt = best.call_text(best.cursor) if best.cursor < len(best.keys) else "(the end of the recording)"
            raise ReplayMismatch(text, best.t.label(), best.nearest(method, text, key), nxt)
        if len(found) < len(self._players):  # the chapter is telling which transcript it is
            self._players = [p for p, _ in found]
        answers = {}
        for p, i in found:
            answers[id(p)] = p.take(i)
        chosen = min(self._players, key=lambda p: (p.skipped, self._players.index(p)))
        rec = answers[id(chosen)]
        if "error" in rec:
            raise decode_error(rec["error"])
        return rec.get("result")

    # -- the contract ---------------------------------------------------------------------------
    up = _answering("up")
    down = _answering("down")
    sh = _answering("sh")
    exec_pod = _answering("exec_pod")

    def status_rows(self) -> list[dict]:
        rows = decode(self._answer("status_rows", (), {}))
        return [{**r, "replayed": f"recorded {self.recorded_at}"} for r in rows]

    def _capture(self, *args, **kwargs):
        result = self._answer("capture", args, kwargs) or {}
        return ReplayCapture(result.get("__capture__") or {}, self)

    def _scratch(self) -> str:
        if self._tmp is None:
            self._tmp = tempfile.mkdtemp(prefix="kanslab-replay-")
            atexit.register(shutil.rmtree, self._tmp, True)
        return self._tmp


class ReplayCapture:
    """A recorded capture: the same pcap (at `.path`, for Wireshark) and `.packets` parsed from it."""

    def __init__(self, rec: dict, backend: ReplayBackend):
        self._rec, self._backend = rec, backend
        self.host, self.bpf, self.iface = rec.get("host"), rec.get("bpf"), rec.get("iface")
        self.path: Path | None = None
        self._packets = None

    def __enter__(self) -> "ReplayCapture":
        if "error" in self._rec:
            raise decode_error(self._rec["error"])
        if "pcap" not in self._rec:
            raise LabError("the recording holds this capture's start but not its packets (the recorded run stopped "
                           "inside the capture block)")
        fd, path = tempfile.mkstemp(prefix=f"kanslab-{self.host}-", suffix=".pcap", dir=self._backend._scratch())
        with os.fdopen(fd, "wb") as f:
            f.write(decode(self._rec["pcap"]))
        self.path = Path(path)
        return self

    def __exit__(self, *exc) -> None:
        return None

    @property
    def packets(self):
        if self._packets is None:
            from ...parse import pcap

            if self.path is None:
                self.__enter__()
            self._packets = pcap(str(self.path))
            self._packets.attrs["replayed_from"] = self._backend.replayed_from
        return self._packets
