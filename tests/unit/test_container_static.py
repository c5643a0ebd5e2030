"""Static checks of the container path (Dockerfile, .devcontainer, scripts); tests/container runs it."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from tests.tools import need_tool

ROOT = Path(__file__).resolve().parents[2]


def test_scripts_are_shellcheck_clean():
    scripts = sorted((ROOT / "scripts").glob("*.sh"))
    assert {s.name for s in scripts} >= {"install.sh", "container-smoke.sh", "container-entrypoint.sh"}
    p = subprocess.run([need_tool("shellcheck"), "--severity=style", *map(str, scripts)], capture_output=True,
                       text=True)
    assert p.returncode == 0, p.stdout + p.stderr


def test_make_test_installs_every_tool_of_the_tests():
    p = subprocess.run(["make", "-n", "test"], cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 0 and "./scripts/install.sh --test" in p.stdout, p.stdout + p.stderr
    install = (ROOT / "scripts" / "install.sh").read_text()
    for pkg in ("ruby", "shellcheck", "vagrant", "docker.io", "debootstrap", "chromium"):
        assert re.search(rf"\b{re.escape(pkg)}\b", install.split('"--test" ]; then', 1)[1].split("fi", 1)[0]), pkg
    assert "playwright" in (ROOT / "pyproject.toml").read_text()


def test_the_image_starts_the_lab_then_jupyterlab():
    docker = (ROOT / "Dockerfile").read_text()
    assert docker.splitlines()[[ln.startswith("FROM") for ln in docker.splitlines()].index(True)] == \
        "FROM debian:bookworm"
    assert "./scripts/install.sh" in docker and "container-entrypoint.sh" in docker
    assert '"--ip=0.0.0.0", "--port=8888"' in docker
    entry = (ROOT / "scripts" / "container-entrypoint.sh").read_text()
    assert entry.index("kanslab up") < entry.index('exec "$@"')


def test_devcontainer_runs_the_image_with_what_the_lab_needs():
    text = (ROOT / ".devcontainer" / "devcontainer.json").read_text()
    conf = json.loads("\n".join(ln for ln in text.splitlines() if not ln.strip().startswith("//")))  # JSONC
    assert conf["build"]["dockerfile"] == "../Dockerfile" and "--privileged" in conf["runArgs"]
    assert 8888 in conf["forwardPorts"]


def test_smoke_runs_with_the_capabilities_this_machine_grants():
    smoke = (ROOT / "scripts" / "container-smoke.sh").read_text()
    for flag in ("--cap-add ALL", "--cap-drop SYS_RESOURCE", "seccomp=unconfined", "apparmor=unconfined",
                 "--network none", "--bridge=none", "--iptables=false", "--ip-forward=false", "debootstrap",
                 "pytest", "notebooks/01-modes.ipynb"):
        assert flag in smoke, flag
