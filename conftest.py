"""For the whole test run (tests/ and notebooks/): scratch files go to one directory, removed at the end.

Captures keep their pcap for Wireshark (`cap.path`) in the temp directory; a student wants them
kept, a test run must not leave hundreds behind. Child processes (notebook kernels, the lab's
agent) inherit TMPDIR.
"""

import os
import shutil
import tempfile

_scratch: list[str] = []


def pytest_configure(config):
    d = tempfile.mkdtemp(prefix="kanslab-tests-")
    os.chmod(d, 0o755)  # the SSH tests' unprivileged servers read files written here
    _scratch.append(d)
    os.environ["TMPDIR"] = d
    tempfile.tempdir = d


def pytest_unconfigure(config):
    for d in _scratch:
        shutil.rmtree(d, ignore_errors=True)
