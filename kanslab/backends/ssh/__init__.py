"""The SSH transport: every lab host reached over one kept paramiko connection.

Used by the vagrant backend (VMs, any cluster from a hosts YAML) and by the local backend when a
non-root user drives the embedded lab through its SSH door. Modules, by concern:

- `config`: `Endpoint` and `parse_ssh_config`/`read_ssh_config` (the format `vagrant ssh-config` prints);
- `hostkeys`: whether a host's key is trusted (known_hosts, pinned keys, trust on first use);
- `connection`: `SSHHost`, one host's connection: log in, reconnect, run commands, move files;
- `process`: how a command is started and killed on the host, `RemoteProcess` for streams;
- `pool`: `SSHPool`, every host by name, fan-out; `tunnel`: `LocalForward` (ssh -L);
- `capture`: `SSHCapture`, tcpdump on a host with the pcap downloaded;
- `errors`: `SSHError` and its kinds, and `scrub`, which keeps keys, tokens and passwords out of
  every error and log.

What a backend gets: `SSHPool.sh(host, cmd, timeout=, check=, input=, sudo=)` (a command that
times out is killed on the host and raises `CommandError`), `sh_all` in parallel, `stream` for
long-running commands, `upload`/`download` (SFTP, or `cat` where there is none or sudo is needed),
and transparent reconnect to a host that rebooted.
"""

from .capture import SSHCapture
from .config import Endpoint, parse_ssh_config, read_ssh_config
from .connection import Result, SSHHost
from .errors import AuthenticationDisconnect, AuthenticationFailed, HostKeyRefused, SSHError, scrub
from .hostkeys import default_known_hosts
from .pool import SSHPool
from .process import RemoteProcess
from .tunnel import LocalForward

__all__ = ["Endpoint", "parse_ssh_config", "read_ssh_config", "SSHPool", "SSHHost", "RemoteProcess", "Result",
           "LocalForward", "SSHCapture", "SSHError", "HostKeyRefused", "AuthenticationFailed",
           "AuthenticationDisconnect", "scrub", "default_known_hosts"]
