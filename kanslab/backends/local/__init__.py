"""The embedded lab: the KANS cluster in network namespaces on this machine."""

from .backend import LocalBackend

__all__ = ["LocalBackend"]
