"""Chapters 01–03 as on a laptop where a new pod takes seconds to start (its image being pulled):
with KANSLAB_POD_START_DELAY=4 every pod is Pending right after `apply`, and the chapters must still
pass under nbval, because they wait for states instead of assuming an instant start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import kanslab

pytestmark = pytest.mark.lab
ROOT = Path(__file__).resolve().parents[2]
CHAPTERS = ["notebooks/01-modes.ipynb", "notebooks/02-bgp-frr.ipynb", "notebooks/03-policy.ipynb"]


def test_chapters_01_to_03_pass_when_pods_take_4_s_to_start():
    if os.geteuid() != 0:
        pytest.skip("needs root")
    prefix = f"ksl{os.getpid() % 10000}"
    env = dict(os.environ, KANSLAB_POD_START_DELAY="4", KANSLAB_PREFIX=prefix)
    try:
        # its own pytest, so nbval runs the chapters in kernels that inherit the delay and the prefix
        run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *CHAPTERS],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
        assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
        assert "failed" not in run.stdout.splitlines()[-1]
    finally:
        kanslab.connect("local", prefix=prefix).down()
