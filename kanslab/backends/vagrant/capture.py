"""`lab.capture(...)` on a VM: the SSH transport's capture (tcpdump on the host, pcap downloaded)."""

from ..ssh.capture import SSHCapture

__all__ = ["SSHCapture"]
