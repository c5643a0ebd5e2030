"""Test inputs kept in tests/unit/data and the one check every parser test makes."""

from __future__ import annotations

from pathlib import Path

import pytest

from kanslab.errors import ParseError

DATA = Path(__file__).parent / "data"


def real(name: str) -> str:
    """An output captured on this machine, as the command printed it."""
    return (DATA / name).read_text()


def sample(name: str) -> str:
    """A file copied from shared/samples: drop its `# source:` line."""
    first, rest = (DATA / name).read_text().split("\n", 1)
    assert first.startswith("# source:"), name
    return rest


def assert_parse_error(func, text, parser: str | None = None) -> ParseError:
    """`func(text)` must raise ParseError naming the parser (default: the function's name)."""
    parser = parser or func.__name__
    with pytest.raises(ParseError) as e:
        func(text)
    assert e.value.parser == parser and parser in str(e.value)
    return e.value


def cli_lab(tmp_path):
    """A bootstrapped KANS3 datastore behind the emulated calicoctl/kubectl (no namespaces, no root)."""
    from kanslab.emulator import resources as res
    from kanslab.emulator.cli import CliContext
    from kanslab.emulator.datastore import Datastore
    from kanslab.topology import load_topology

    topo = load_topology("kans3")
    ds = Datastore(tmp_path / "ds.sqlite")
    res.bootstrap(ds, topo)
    return CliContext(ds, topo, cwd=tmp_path)


def cctl(ctx, line, stdin=""):
    """`calicoctl LINE` against CTX: (exit status, stdout, stderr)."""
    from kanslab.emulator.cli import calicoctl

    ctx.stdin = stdin
    return calicoctl(line.split(), ctx)


def kctl(ctx, line, stdin=""):
    """`kubectl LINE` against CTX: (exit status, stdout, stderr)."""
    from kanslab.emulator.cli import kubectl

    ctx.stdin = stdin
    return kubectl(line.split(), ctx)


def assert_sandbox_refused(ds, name: str, match: str, namespace: str = "default") -> str:
    """The pod was created but its CNI ADD failed, as on a cluster: Pending, ContainerCreating, no IP,
    and a FailedCreatePodSandBox event whose message matches. Returns that message."""
    import re

    pod = ds.get("Pod", name, namespace)
    assert pod is not None, f"pod {namespace}/{name} was not created"
    st = pod["status"]
    assert st["phase"] == "Pending" and not st.get("podIP")
    assert all(c["state"] == {"waiting": {"reason": "ContainerCreating"}} for c in st["containerStatuses"])
    events = [e for e in ds.list("Event", namespace)
              if e["involvedObject"]["name"] == name and e["reason"] == "FailedCreatePodSandBox"]
    assert events, f"no FailedCreatePodSandBox event for {namespace}/{name}"
    message = events[-1]["message"]
    assert message.startswith("Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup "
                              'network for sandbox "') and 'plugin type="calico" failed (add): ' in message
    assert re.search(match, message), message
    return message
