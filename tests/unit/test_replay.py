"""The replay backend on the committed transcripts (recorded from the real embedded lab): the same
answers in the recorded order, recorded errors raised again with their type and fields, a clear
error for anything not recorded, no process started; the chapters run on it unchanged (no lab);
and the Binder files point at what exists."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest

import kanslab
from kanslab.backends.replay import ReplayBackend
from kanslab.backends.replay.transcript import Transcript, compact, decode, encode, load

ROOT = Path(__file__).resolve().parents[2]
REPLAY = ROOT / "notebooks" / "replay"
CHAPTERS = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))


def transcript(chapter: str) -> Path:
    return REPLAY / f"{chapter}.json.gz"


def replay(chapter: str) -> kanslab.Lab:
    return kanslab.connect("replay", transcript=transcript(chapter), quiet=True)


def test_every_chapter_has_a_small_transcript():
    sizes = {c: transcript(c).stat().st_size for c in CHAPTERS}
    assert all(s > 0 for s in sizes.values())
    assert sum(sizes.values()) < 3 * 1024 * 1024, sizes
    for c in CHAPTERS:
        t = load(transcript(c))
        assert t.header["backend"] == "local" and t.header["recorded_at"].endswith("Z")
        assert t.calls and t.calls[0]["method"] == "up"  # every chapter starts with lab.up()


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_each_transcript_was_recorded_from_the_chapter_as_it_is(chapter):
    """A transcript holds what one version of the chapter asked; a chapter whose code changed since
    needs recording again (its replay would stop at the first new call)."""
    from kanslab.backends.replay.record import chapter_code_sha256

    recorded = load(transcript(chapter)).header.get("code_sha256")
    assert recorded == chapter_code_sha256(ROOT / "notebooks" / f"{chapter}.ipynb"), (
        f"notebooks/{chapter}.ipynb changed since its transcript was recorded: run `sudo .venv/bin/kanslab record "
        f"{chapter[:2]}` and commit notebooks/replay/{chapter}.json.gz")


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_replaying_every_recorded_call_gives_its_recorded_answer(chapter, monkeypatch):
    """Each call of the recording, asked again in order, answers what the lab answered (or raises the
    recorded error again, with its type and fields) -- and nothing starts a process."""
    def no_process(*a, **k):
        raise AssertionError(f"replay started a process: {a}")

    monkeypatch.setattr(subprocess.Popen, "__init__", no_process)
    t = load(transcript(chapter))
    b = ReplayBackend(transcript=t, quiet=True)
    errors = 0
    for call in t.calls:
        method, args, kwargs = call["method"], decode(call["args"]), decode(call["kwargs"])
        fn = getattr(b, method)
        if "error" in call:
            with pytest.raises(kanslab.KanslabError) as info:
                fn(*args, **kwargs)
            assert type(info.value).__name__ == call["error"]["type"]
            assert str(info.value) == call["error"]["message"]
            errors += 1
        elif method == "capture":
            with fn(*args, **kwargs) as cap:
                pass
            assert cap.path.read_bytes() == decode(call["result"]["__capture__"]["pcap"])
            assert cap.packets.attrs["replayed_from"].startswith(f"{chapter}.json.gz")
        elif method == "status_rows":
            rows = fn(*args, **kwargs)
            assert [{k: v for k, v in r.items() if k != "replayed"} for r in rows] == decode(call["result"])
            assert all(r["replayed"] == f"recorded {t.recorded_at}" for r in rows)
        else:
            assert fn(*args, **kwargs) == decode(call["result"])


def test_recorded_command_errors_come_back_with_their_fields():
    lab = replay("01-modes")
    t = load(transcript("01-modes"))
    failed = [c for c in t.calls if c.get("error", {}).get("type") == "CommandError"]
    assert failed, "chapter 01 records a ping that fails and a refused pool patch"
    # walk the recording up to the first failing call, then ask it
    b = lab.backend
    for c in t.calls[:t.calls.index(failed[0])]:
        if c["method"] == "capture":
            with b.capture(*decode(c["args"]), **decode(c["kwargs"])):
                pass
        else:
            getattr(b, c["method"])(*decode(c["args"]), **decode(c["kwargs"]))
    with pytest.raises(kanslab.CommandError) as info:
        b.exec_pod(*decode(failed[0]["args"]), **decode(failed[0]["kwargs"]))
    fields = failed[0]["error"]["fields"]
    assert (info.value.host, info.value.cmd, info.value.exit_status) == (fields["host"], fields["cmd"],
                                                                         fields["exit_status"])
    assert info.value.exit_status != 0 and info.value.stdout == fields["stdout"]


def test_a_call_that_was_not_recorded_names_itself_and_the_nearest_recorded_one():
    lab = replay("00-lab")
    lab.up(progress=False)
    with pytest.raises(kanslab.ReplayMismatch) as info:
        lab.sh("k8s-w1", "route -nn")
    msg = str(info.value)
    assert "sh('k8s-w1', 'route -nn'" in msg and "00-lab.json.gz" in msg
    assert "nearest recorded call" in msg and "'route -n'" in msg
    assert isinstance(info.value, kanslab.NotSupported) and info.value.backend == "replay"
    # the recording goes on from where it was: the chapter's next call still answers
    assert lab.status().running.all()


def test_answers_come_in_recorded_order_and_a_cell_run_again_gets_the_last_one(capsys):
    """A call made twice gets its two recorded answers in turn; asked a third time (a cell run
    again) it gets its last answer, with a note; with repeat=False that is a ReplayMismatch."""
    lab = replay("00-lab")
    lab.up(progress=False)
    lab.status()
    first = lab.sh("k8s-w1", "route -n")
    assert lab.sh("k8s-w1", "route -n") == first  # the chapter asked twice
    capsys.readouterr()
    assert lab.sh("k8s-w1", "route -n") == first
    assert "fewer times than it is asked now" in capsys.readouterr().err
    strict = kanslab.connect("replay", transcript=transcript("00-lab"), quiet=True, repeat=False)
    strict.up(progress=False)
    with pytest.raises(kanslab.ReplayMismatch, match="answered as many times already"):
        strict.up(progress=False)


def test_replay_says_so():
    lab = replay("00-lab")
    assert lab.backend.name == "replay" and "backend='replay'" in repr(lab)
    assert lab.hosts == ["router", "k8s-m", "k8s-w1", "k8s-w2", "k8s-w0"]
    assert lab.topology.control_plane == "k8s-m"
    lab.up(progress=False)
    status = lab.status()
    recorded = load(transcript("00-lab")).recorded_at
    assert set(status.replayed) == {f"recorded {recorded}"}
    assert status.attrs["replayed_from"].startswith("00-lab.json.gz (recorded " + recorded)


def test_banner_on_connect(capsys):
    kanslab.connect("replay", transcript=transcript("00-lab"))
    err = capsys.readouterr().err
    assert "REPLAY" in err and "00-lab.json.gz" in err and "ReplayMismatch" in err


def test_the_chapter_is_found_from_the_calls_when_the_kernel_does_not_know_its_notebook(monkeypatch):
    """KANSLAB_BACKEND=replay with only the directory: every transcript is a candidate; the chapter's
    own calls pick its transcript (chapter 03 asks for pods in its namespaces, 00 does not)."""
    monkeypatch.setenv("KANSLAB_BACKEND", "replay")
    monkeypatch.setenv("KANSLAB_REPLAY_DIR", str(REPLAY))
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.delenv("KANSLAB_REPLAY", raising=False)
    lab = kanslab.connect(quiet=True)
    assert len(lab.backend.transcripts) == len(CHAPTERS)
    lab.up(progress=False)
    lab.status()
    assert [t.name for t in lab.backend.transcripts] == ["00-lab"]


def test_the_notebook_named_by_jupyter_server_picks_its_transcript(monkeypatch):
    monkeypatch.setenv("KANSLAB_REPLAY_DIR", str(REPLAY))
    monkeypatch.setenv("JPY_SESSION_NAME", "/home/jovyan/notebooks/03-policy.ipynb")
    monkeypatch.delenv("KANSLAB_REPLAY", raising=False)
    lab = kanslab.connect("replay", quiet=True)
    assert [t.name for t in lab.backend.transcripts] == ["03-policy"]
    monkeypatch.setenv("KANSLAB_REPLAY", "02")  # a chapter chosen explicitly wins
    assert [t.name for t in kanslab.connect("replay", quiet=True).backend.transcripts] == ["02-bgp-frr"]


def test_no_transcript_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("KANSLAB_REPLAY_DIR", str(tmp_path))
    monkeypatch.delenv("KANSLAB_REPLAY", raising=False)
    with pytest.raises(kanslab.InvalidInput, match="no transcripts"):
        kanslab.connect("replay")
    with pytest.raises(kanslab.InvalidInput, match="no such transcript"):
        kanslab.connect("replay", transcript=tmp_path / "missing.json.gz")


def test_values_round_trip_dataframes_with_their_dtypes():
    df = pd.DataFrame({"host": ["a", "b"], "n": [1, 2], "ok": [True, False], "x": [0.5, float("nan")],
                       "t": pd.to_datetime([1_700_000_000, 1_700_000_001], unit="s", utc=True)})
    back = decode(encode({"df": df, "raw": b"\x00\xff", "pairs": [("a", "1.2.3.4")]}))
    pd.testing.assert_frame_equal(back["df"], df, check_dtype=False)  # datetime unit may be ns for us
    assert [d.kind for d in back["df"].dtypes] == [d.kind for d in df.dtypes]
    assert str(back["df"].t.dt.tz) == "UTC"
    assert back["raw"] == b"\x00\xff" and back["pairs"] == [["a", "1.2.3.4"]]


def test_compacting_keeps_every_call(tmp_path):
    t = load(transcript("02-bgp-frr"))
    lines = tmp_path / "raw.jsonl"
    import json

    with lines.open("w") as f:
        f.write(json.dumps({"header": t.header}) + "\n")
        for c in t.calls:
            f.write(json.dumps(c) + "\n")
    out = compact(lines, tmp_path / "x.json.gz")
    again = load(out)
    assert isinstance(again, Transcript) and again.calls == t.calls


def _kernel_without_privileges(tmp_path: Path) -> tuple[str, dict]:
    """A kernelspec whose kernel runs with no capability at all (as root: setpriv drops them all,
    so no namespace, route or raw socket could be made), like a Binder user; (name, env)."""
    import json
    import shutil
    import sys

    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    if os.geteuid() == 0 and shutil.which("setpriv"):
        argv = [shutil.which("setpriv"), "--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all",
                "--no-new-privs", *argv]
    spec = tmp_path / "jupyter" / "kernels" / "kr9-unprivileged"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "unprivileged",
                                                  "language": "python"}))
    return "kr9-unprivileged", {"JUPYTER_PATH": str(tmp_path / "jupyter")}


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_runs_unchanged_on_the_replay_backend(chapter, tmp_path):
    """The chapter, unchanged, in a kernel with KANSLAB_BACKEND=replay, no lab anywhere and no
    privilege (not one capability): every check cell holds on the recorded answers (01: captures
    after mode switches; 03: reachability matrices; 05: Prometheus queries whose times differ
    from the recording's)."""
    import nbclient
    import nbformat  # installed with jupyterlab: a test dependency, not optional
    path = ROOT / "notebooks" / f"{chapter}.ipynb"
    nb = nbformat.read(path, as_version=4)
    n_cells = len(nb.cells)
    nb.cells.append(nbformat.v4.new_code_cell(
        "print('CapEff', open('/proc/self/status').read().split('CapEff:')[1].split()[0])\n"
        "print('transcripts', *[t.name for t in lab.backend.transcripts])"))
    kernel, kenv = _kernel_without_privileges(tmp_path)
    env = {"KANSLAB_BACKEND": "replay", "KANSLAB_REPLAY_DIR": str(REPLAY), "KANSLAB_PREFIX": "kr9none", **kenv}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        nbclient.NotebookClient(nb, timeout=120, kernel_name=kernel,
                                resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    checks = [c for c in nb.cells[:n_cells] if c.cell_type == "code" and "assert" in c.source]
    assert len(checks) >= 3
    first = next(c for c in nb.cells if c.cell_type == "code")
    assert "kanslab.connect()" in first.source or "scale.connect(" in first.source
    banner = "".join(o.get("text", "") for o in first.outputs if o.get("name") == "stderr")
    assert "REPLAY" in banner
    said = nb.cells[-1].outputs[0]["text"].splitlines()
    assert said[1].split() == ["transcripts", chapter]  # its own transcript, picked by its calls
    if os.geteuid() == 0:
        assert said[0].split() == ["CapEff", "0000000000000000"]
    assert not (Path("/run/netns") / "kr9none-router").exists()


def test_binder_files_run_the_course_on_replay():
    binder = ROOT / "binder"
    req = (binder / "requirements.txt").read_text()
    assert any(line.strip() in ("-e .", ".") for line in req.splitlines())
    start = (binder / "start").read_text()
    assert start.startswith("#!") and os.access(binder / "start", os.X_OK)
    assert "KANSLAB_BACKEND=replay" in start and 'exec "$@"' in start
    line = next(ln for ln in start.splitlines() if "KANSLAB_REPLAY_DIR=" in ln)
    assert line.rstrip().rstrip('"').endswith("/notebooks/replay")
    assert list((ROOT / "notebooks" / "replay").glob("*.json.gz"))
    assert (binder / "runtime.txt").read_text().strip().startswith("python-3.1")


def test_recording_a_chapter_tells_its_kernel_the_lab_and_leaves_our_environment_alone(tmp_path):
    """`kanslab record` passes the lab's prefix (and the transcript) to the chapter's kernel in the
    kernel's own environment; the recording process's os.environ does not change."""
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("nbclient")
    from kanslab.backends.replay.record import record_chapter

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import kanslab\nlab = kanslab.connect()\nassert lab.backend.prefix == 'kr9env', lab.backend.prefix")])
    chapter = tmp_path / "99-env.ipynb"
    nbformat.write(nb, chapter)
    before = dict(os.environ)
    out = record_chapter(chapter, tmp_path / "replay", "kr9env", timeout=60)
    assert dict(os.environ) == before
    header = load(out).header
    assert (header["prefix"], header["backend"], header["chapter"]) == ("kr9env", "local", "99-env")


def test_query_times_sent_with_curl_do_not_change_the_question():
    from kanslab.backends.replay.transcript import call_key

    def ask(start, end):
        return call_key("sh", ["k8s-m", "curl -sS -G --max-time 10 http://192.168.10.10:30001/api/v1/query_range "
                               f"--data-urlencode query=up --data-urlencode start={start} "
                               f"--data-urlencode end={end} --data-urlencode step=1s"], {})

    assert ask(1.5, 9.5) == ask(100.25, 200.75)
    assert ask(1.5, 9.5) != call_key("sh", ["k8s-m", "curl http://192.168.10.10:30001/api/v1/query_range "
                                            "--data-urlencode query=rate(up[1m]) --data-urlencode step=1s"], {})
