"""What the course's container images hold, as far as `kubectl exec` can tell.

The embedded lab's pods are network namespaces, not containers: `kubectl exec` runs the node's
own tools inside the pod's namespace. On a real cluster it runs what the image contains, and
traefik/whoami (the course's web pod) holds a single binary and no shell, so
`kubectl exec webpod1 -- ping ...` fails there. The lab refuses the same way for the images it
knows; any other image is taken to have what the command needs.
"""

from __future__ import annotations

# image (no registry, no tag) -> the only programs in it
SINGLE_PROGRAM_IMAGES = {"traefik/whoami": {"/whoami", "whoami"}}


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


def exec_refusal(image: str, program: str) -> str | None:
    """What `kubectl exec` (containerd) prints when IMAGE has no PROGRAM; None when it may have it."""
    only = SINGLE_PROGRAM_IMAGES.get(image_name(image))
    if only is None or program in only:
        return None
    return (f"OCI runtime exec failed: exec failed: unable to start container process: exec: \"{program}\": "
            "executable file not found in $PATH: unknown\ncommand terminated with exit code 126\n")
