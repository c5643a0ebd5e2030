"""`calicoctl` and `kubectl` of the embedded lab: argv in, (exit status, stdout, stderr) out.

The dataplane calls these when a student runs either command on a lab host; they read and write
only the datastore, never the host. Every failure exits 1 and changes nothing.
"""

from __future__ import annotations

from .calicoctl_cmd import calicoctl as _calicoctl
from .calicoctl_cmd import node_status_text
from .cli_context import CliContext
from .kubectl_cmd import kubectl as _kubectl

__all__ = ["CliContext", "calicoctl", "kubectl", "node_status_text"]


def calicoctl(argv: list[str], ctx: CliContext) -> tuple[int, str, str]:
    """Run `calicoctl ARGV` against the lab's datastore; returns (rc, stdout, stderr)."""
    return _calicoctl(list(argv), ctx)


def kubectl(argv: list[str], ctx: CliContext) -> tuple[int, str, str]:
    """Run `kubectl ARGV` against the lab's datastore; returns (rc, stdout, stderr)."""
    return _kubectl(list(argv), ctx)
