"""Talk to the lab agent over its unix socket (one JSON line each way)."""

from __future__ import annotations

import json
import socket


def request(sock_path: str, op: str, timeout: float = 60) -> dict:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(sock_path)
    with s, s.makefile("rwb") as f:
        f.write((json.dumps({"op": op}) + "\n").encode())
        f.flush()
        line = f.readline()
    if not line:
        raise ConnectionError("the lab agent closed the connection")
    return json.loads(line)
