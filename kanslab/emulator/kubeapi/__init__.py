"""The embedded lab's Kubernetes REST API, served from the emulator's datastore (no sockets here:
kanslab.backends.local.kubeapi_server serves it over TLS)."""

from .handler import KubeAPI, Response

__all__ = ["KubeAPI", "Response"]
