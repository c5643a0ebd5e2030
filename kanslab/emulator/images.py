"""What the course's container images hold, as far as `kubectl exec` can tell.

The embedded lab's pods are network namespaces, not containers: `kubectl exec` runs the node's
own tools inside the pod's namespace. On a real cluster it runs what the image contains, and
traefik/whoami (the course's web pod) holds a single binary and no shell, so
`kubectl exec webpod1 -- ping ...` fails there. The lab refuses the same way for the images it
knows; any other image is taken to have what the command needs, as far as the machine has it.

nicolaka/netshoot (the write-up's pod1-3) is a toolbox: zsh, bash, ping, curl, ip, tcpdump... The
lab's netshoot pods run the machine's own copies inside the pod's network, mount and UTS namespaces,
so they see the pod's hostname, /etc/hosts, resolv.conf and service-account token.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable

# image (no registry, no tag) -> the only programs in it
SINGLE_PROGRAM_IMAGES = {"traefik/whoami": {"/whoami", "whoami"}}
# images that are shells with the usual network tools (scripts/install.sh installs zsh for them)
SHELL_IMAGES = {"nicolaka/netshoot"}


def image_name(image: str) -> str:
    """`docker.io/traefik/whoami:v1.10` -> `traefik/whoami`."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)
    if ":" in last[-1]:
        name = name[: name.rindex(":")]
    parts = name.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]  # a registry host
    if parts[:1] == ["library"]:
        parts = parts[1:]
    return "/".join(parts)


def exec_refusal(image: str, program: str, program_exists: Callable[[str], bool] | None = None) -> str | None:
    """What `kubectl exec` (containerd) prints when IMAGE has no PROGRAM; None when it may have it.

    PROGRAM_EXISTS (given for pods that run the machine's tools) says whether the machine has it."""
    only = SINGLE_PROGRAM_IMAGES.get(image_name(image))
    if only is None:
        if program_exists is None or program_exists(program):
            return None
    elif program in only:
        return None
    return (f"OCI runtime exec failed: exec failed: unable to start container process: exec: \"{program}\": "
            "executable file not found in $PATH: unknown\ncommand terminated with exit code 126\n")


def on_machine(program: str) -> bool:
    """Whether the machine can run PROGRAM (a path, or a name on PATH): what a pod's exec runs."""
    if "/" in program:
        return os.access(program, os.X_OK)
    return shutil.which(program) is not None
