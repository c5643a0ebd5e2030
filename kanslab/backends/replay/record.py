"""`kanslab record`: run the chapters on a fresh embedded lab with recording on, one transcript each.

The chapters are executed from copies (nbclient, in memory): their stored outputs never change.
Each chapter gets a fresh lab (its own prefix, rebuilt between chapters, so a transcript does not
depend on what an earlier chapter left behind); the lab is torn down at the end, also on failure.
The chapter's kernel learns which lab and which transcript from its own environment
(KANSLAB_PREFIX, KANSLAB_BACKEND, KANSLAB_RECORD); this process's environment never changes.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from .transcript import compact


def _chapters(notebooks: Path, names: list[str]) -> list[Path]:
    every = sorted(notebooks.glob("[0-9][0-9]-*.ipynb"))
    if not names:
        return every
    picked = []
    for n in names:
        p = Path(n)
        if p.suffix == ".ipynb" and p.exists():
            picked.append(p)
            continue
        match = [c for c in every if c.name.startswith(n) or c.stem == n]
        if not match:
            raise SystemExit(f"kanslab record: no chapter {n!r} in {notebooks}")
        picked += match
    return picked


def code_sha256(nb) -> str:
    """A chapter's code (its code cells' sources, in order): a transcript is valid for this code only."""
    import hashlib

    text = "\n\x00\n".join(c.source for c in nb.cells if c.cell_type == "code")
    return hashlib.sha256(text.encode()).hexdigest()


def chapter_code_sha256(path: str | Path) -> str:
    import nbformat

    return code_sha256(nbformat.read(str(path), as_version=4))


def record_chapter(path: Path, out: Path, prefix: str, timeout: int = 600) -> Path:
    """Execute one chapter (a copy) against the embedded lab PREFIX; write out/<stem>.json.gz."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    code = code_sha256(nb)
    with tempfile.TemporaryDirectory(prefix="kanslab-record-") as tmp:
        raw = Path(tmp) / f"{path.stem}.jsonl"
        kernel_env = os.environ | {"KANSLAB_RECORD": str(raw), "KANSLAB_BACKEND": "local", "KANSLAB_PREFIX": prefix}
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent.resolve())}}).execute(env=kernel_env)
        return compact(raw, out / f"{path.stem}.json.gz", chapter=path.stem, code_sha256=code)


def record_chapters(names: list[str], out: str | None = None, notebooks: str = "notebooks",
                    prefix: str = "kr0", timeout: int = 600) -> list[str]:
    """Record each chapter on a fresh lab, torn down after; the chapters that failed."""
    from ..local import LocalBackend

    nbdir = Path(notebooks)
    chapters = _chapters(nbdir, names)
    dest = Path(out) if out else nbdir / "replay"
    backend = LocalBackend(prefix=prefix)
    if backend.rec.exists():
        backend.down()
    failed = []
    try:
        for ch in chapters:
            t0 = time.monotonic()
            if backend.rec.exists():
                backend.down()
            backend.up()
            print(f"recording {ch.name} on lab {prefix!r} ...", file=sys.stderr, flush=True)
            try:
                written = record_chapter(ch, dest, prefix, timeout=timeout)
            except Exception as e:  # a failing check cell: no transcript for this chapter
                failed.append(ch.name)
                print(f"  {ch.name} FAILED: {type(e).__name__}: {str(e)[-2000:]}", file=sys.stderr, flush=True)
                continue
            print(f"  {written} ({written.stat().st_size / 1024:.0f} KiB) in {time.monotonic() - t0:.0f} s",
                  file=sys.stderr, flush=True)
    finally:
        backend.down()
    return failed
