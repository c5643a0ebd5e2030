"""The lab on real VMs (the course's Vagrantfile) or any cluster reachable over SSH."""

from .backend import VagrantBackend

__all__ = ["VagrantBackend"]
