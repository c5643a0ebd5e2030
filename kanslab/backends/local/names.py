"""Every name the lab gives an object carries the lab prefix, so labs never collide.

The prefix names the lab itself: `kanslab --prefix NAME`, `connect("local", prefix=NAME)`, else
KANSLAB_PREFIX, else "kl" (`DEFAULT_PREFIX`, its one home)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from .record import state_dir

DEFAULT_PREFIX = "kl"


def default_prefix() -> str:
    """The lab's name when none is given: KANSLAB_PREFIX (read now, not at import), else "kl"."""
    return os.environ.get("KANSLAB_PREFIX") or DEFAULT_PREFIX


@dataclass(frozen=True)
class Names:
    prefix: str

    def host(self, host: str) -> str:
        return f"{self.prefix}-{host}"

    def switch(self, subnet: str) -> str:
        return f"{self.prefix}-sw-{subnet}"

    def pod(self, namespace: str, pod: str) -> str:
        # netns names are files: keep them short and unique with a hash
        h = hashlib.sha1(f"{namespace}/{pod}".encode()).hexdigest()[:8]
        return f"{self.prefix}-pod-{pod[:20]}-{h}"

    @property
    def dir(self) -> Path:
        return state_dir(self.prefix)

    def host_dir(self, host: str) -> Path:
        return self.dir / "hosts" / host

    def bird_ctl(self, host: str) -> Path:
        return self.host_dir(host) / "bird.ctl"

    def frr_pathspace(self) -> str:
        return f"{self.prefix}-router"

    @property
    def datastore(self) -> Path:
        return self.dir / "datastore.sqlite"

    @property
    def agent_socket(self) -> Path:
        return self.dir / "agent.sock"
