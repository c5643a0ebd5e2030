"""The SSH transport's errors, and `scrub`: what every error and log line goes through first.

A lab host's output can hold secrets: private keys (`cat id_rsa`), a kubeconfig's
`client-key-data` and tokens (`cat /etc/kubernetes/admin.conf`), passwords in a URL or a flag.
`scrub` replaces each with a marker, so none reaches an exception's text, a traceback or a log.
Certificates (`client-certificate-data`, `certificate-authority-data`) are public and kept.
"""

from __future__ import annotations

import re

from ...errors import LabError

REMOVED = "[removed]"

_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)", re.S)

# names whose value is a secret, as kubeconfig (client-go's clientcmd/api/v1 types), kubectl flags,
# and common config files spell them; a name inside a longer word (automountServiceAccountToken) is not one
_SECRET_NAMES = (r"client-key-data|client-key|token|id-token|refresh-token|access-token|client-secret|"
                 r"password|passwd")
_VALUE = r"(?:\"[^\"]*\"|'[^']*'|[^\s\"',}]+)"
_NAMED_VALUE = re.compile(rf"(?<![\w-])([\"']?(?:{_SECRET_NAMES})[\"']?\s*[:=]\s*){_VALUE}", re.I)  # token: x, "password": "x"
_FLAG_VALUE = re.compile(rf"(--(?:{_SECRET_NAMES})(?:=|\s+)){_VALUE}", re.I)  # --token x, --password=x
_BEARER = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+", re.I)
_URL_PASSWORD = re.compile(r"(://[^/\s:@]+:)[^@\s/]+@")


def scrub(text: str) -> str:
    """TEXT with private keys, kubeconfig keys/tokens, bearer tokens and passwords replaced."""
    if not text:
        return text
    if "PRIVATE KEY" in text:
        text = _PRIVATE_KEY.sub("[private key removed]", text)
    text = _NAMED_VALUE.sub(lambda m: m.group(1) + REMOVED, text)
    text = _FLAG_VALUE.sub(lambda m: m.group(1) + REMOVED, text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REMOVED}", text)
    return _URL_PASSWORD.sub(lambda m: m.group(1) + REMOVED + "@", text)


class SSHError(LabError):
    """Could not reach or log in to a lab host over SSH."""

    def __init__(self, host: str, message: str):
        self.host = host
        super().__init__(f"[{host}] {scrub(message)}")


class HostKeyRefused(SSHError):
    """The host's key is unknown (strict checking) or differs from the recorded one."""


class AuthenticationFailed(SSHError):
    """The host refused every key offered."""


class AuthenticationDisconnect(AuthenticationFailed):
    """The server closed the connection while we were logging in (MaxAuthTries, a refused user, ...)."""
