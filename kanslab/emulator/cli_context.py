"""`CliContext`: what an emulated `calicoctl`/`kubectl` command needs besides its argv.

Its own module, below `cli.py` and the two command modules that all use it (it lived in `cli.py`,
which imports those modules: an import cycle)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import InvalidInput
from .datastore import Datastore


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class CliContext:
    """What a command needs besides its argv.

    ds:       the lab's datastore
    topology: kanslab.topology.Topology (or its dict / name)
    stdin:    text piped to the command (`-f -`)
    node:     host the command runs on (`calicoctl node status` reports that host)
    bird_show_protocols: returns BIRD's raw reply to `show protocols` on that host (the socket
              format with 0001/2002-/1002-/0000 codes; birdc's human form is accepted too), or None
              / raises when BIRD is not running
    cwd:      directory relative `-f FILE` paths are read from (the lab host's working directory)
    clock:    now, for AGE columns (tests pin it)
    """

    ds: Datastore
    topology: Any
    stdin: str = ""
    node: str = "k8s-m"
    bird_show_protocols: Callable[[], str | None] | None = None
    cwd: str | Path | None = None
    clock: Callable[[], datetime] = field(default=_utc_now)

    def read_file(self, name: str) -> str:
        """`-f` argument: "-" is stdin; URLs cannot be fetched (the lab has no internet)."""
        if name == "-":
            return self.stdin
        if "://" in name:
            raise InvalidInput(f"the embedded lab has no internet access, so it cannot fetch {name}; download "
                               "the manifest beforehand and pass its text (lab.apply(text) or -f - with stdin)")
        path = Path(name)
        if not path.is_absolute() and self.cwd is not None:
            path = Path(self.cwd) / path
        try:
            return path.read_text()
        except OSError as e:
            raise InvalidInput(f'the path "{name}" does not exist') if isinstance(e, FileNotFoundError) \
                else InvalidInput(f"cannot read {name}: {e.strerror}") from e
