"""nbval runs the Korean edition on the English chapters' replay transcripts.

The Korean chapters' code cells are the English ones (`kanslab translate` copies them), so the
English recording answers them: `ko/01-modes.ipynb` replays `notebooks/replay/01-modes.json.gz`,
chosen by file name. The English chapters themselves run on the embedded lab (../conftest.py); the
same code need not run twice on a live lab.

The notebook's kernel starts when its first cell is set up and inherits this process's environment,
so the replay is chosen here, just before, and the environment is given back after every cell.
"""

import os
from pathlib import Path

import pytest

REPLAY_DIR = Path(__file__).resolve().parents[1] / "replay"
_saved: dict[str, str | None] = {}


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    env = {"KANSLAB_BACKEND": "replay", "KANSLAB_REPLAY_DIR": str(REPLAY_DIR),
           "KANSLAB_REPLAY": Path(str(item.fspath)).stem}   # the English chapter's transcript
    _saved.update({k: os.environ.get(k) for k in env})
    os.environ.update(env)


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item, nextitem):
    for k, v in _saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    _saved.clear()
