"""`kubectl exec` against the lab's API: pods/exec over WebSocket with the v5/v4 channel protocols.

kubectl 1.30 opens `GET .../pods/NAME/exec?command=...&stdout=true&stderr=true` as a WebSocket
(subprotocols v5.channel.k8s.io, v4.channel.k8s.io, ...; client-go remotecommand/websocket.go).
Every binary message starts with a channel byte: 0 stdin, 1 stdout, 2 stderr, 3 the error channel
(a metav1.Status at the end: Success, or NonZeroExitCode with the exit code as cause), 4 resize,
255 (v5) closes a stream. The command runs as the lab's `kubectl exec` runs it: in the pod's
network namespace with the node's tools (the node's own namespace for hostNetwork pods), unless
the image is known to lack the program. Framing (RFC 6455) is hand-written: the standard library
has no WebSocket server and the framing is a few lines.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import subprocess
import threading
from urllib.parse import parse_qs

from ...emulator.images import exec_refusal, on_machine
from .mntns import enter_argv
from .names import Names
from .network import host_env

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def is_exec_upgrade(path: str, headers: dict) -> bool:
    return path.rstrip("/").endswith("/exec") and "/pods/" in path and \
        headers.get("upgrade", "").lower() == "websocket"


class _WS:
    def __init__(self, rfile, wfile):
        self.rfile, self.wfile, self.lock = rfile, wfile, threading.Lock()

    def send(self, payload: bytes, opcode: int = 0x2) -> None:
        n = len(payload)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([n])
        elif n < 65536:
            head += bytes([126]) + struct.pack(">H", n)
        else:
            head += bytes([127]) + struct.pack(">Q", n)
        with self.lock:
            self.wfile.write(head + payload)
            self.wfile.flush()

    def channel(self, ch: int, data: bytes) -> None:
        self.send(bytes([ch]) + data)

    def recv(self) -> tuple[int, bytes] | None:
        head = self.rfile.read(2)
        if len(head) < 2:
            return None
        opcode, n = head[0] & 0x0F, head[1] & 0x7F
        if n == 126:
            n = struct.unpack(">H", self.rfile.read(2))[0]
        elif n == 127:
            n = struct.unpack(">Q", self.rfile.read(8))[0]
        mask = self.rfile.read(4) if head[1] & 0x80 else b"\0\0\0\0"
        data = bytes(b ^ mask[i % 4] for i, b in enumerate(self.rfile.read(n)))
        return opcode, data


def _status(rc: int, message: str = "") -> bytes:
    if rc == 0:
        return json.dumps({"metadata": {}, "status": "Success"}).encode()
    return json.dumps({"metadata": {}, "status": "Failure", "message": message, "reason": "NonZeroExitCode",
                       "details": {"causes": [{"reason": "ExitCode", "message": str(rc)}]}}).encode()


def serve_exec(handler, names: Names, ds, path: str, query: str, headers: dict) -> None:
    """Answer the upgrade on `handler` (a BaseHTTPRequestHandler) and run the command."""
    q = parse_qs(query, keep_blank_values=True)
    parts = path.strip("/").split("/")
    ns, pod_name = parts[parts.index("namespaces") + 1], parts[parts.index("pods") + 1]
    cmd = q.get("command") or []
    want_stdin = (q.get("stdin") or ["false"])[-1] == "true"
    offered = [p.strip() for p in headers.get("sec-websocket-protocol", "").split(",")]
    proto = next((p for p in PROTOCOLS if p in offered), None)
    pod = ds.get("Pod", pod_name, ns)
    error = None
    if pod is None:
        error = (404, f'pods "{pod_name}" not found')
    elif proto is None:
        error = (400, "the lab's API serves exec over WebSocket with v5.channel.k8s.io or v4.channel.k8s.io")
    elif not cmd:
        error = (400, "you must specify at least 1 command")
    if error:
        body = json.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                           "message": error[1], "reason": "NotFound" if error[0] == 404 else "BadRequest",
                           "code": error[0]}).encode()
        handler.send_response(error[0])
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
        return
    accept = base64.b64encode(hashlib.sha1((headers["sec-websocket-key"] + _GUID).encode()).digest()).decode()
    handler.send_response(101, "Switching Protocols")
    handler.send_header("Upgrade", "websocket")
    handler.send_header("Connection", "Upgrade")
    handler.send_header("Sec-WebSocket-Accept", accept)
    handler.send_header("Sec-WebSocket-Protocol", proto)
    handler.end_headers()
    handler.wfile.flush()
    handler.close_connection = True
    ws = _WS(handler.rfile, handler.wfile)
    containers = pod["spec"]["containers"]
    cname = (q.get("container") or [None])[-1]
    chosen = next((c for c in containers if c["name"] == cname), None) if cname else containers[0]
    if chosen is None:
        ws.channel(3, _status(1, f"container {cname} not found in pod {pod_name}"))
        ws.send(struct.pack(">H", 1000), 0x8)  # close: normal closure
        return
    refusal = exec_refusal(chosen.get("image", ""), cmd[0], None if pod["spec"].get("hostNetwork") else on_machine)
    if refusal:  # containerd's message arrives on stdout, the exit code on the error channel
        ws.channel(1, refusal.split("command terminated with exit code")[0].encode())
        ws.channel(3, _status(126, f"command terminated with non-zero exit code: error executing command "
                                   f"{cmd}, exit code 126"))
        ws.send(struct.pack(">H", 1000), 0x8)  # close: normal closure
        return
    node = pod["spec"].get("nodeName") or ""
    netns = names.host(node) if pod["spec"].get("hostNetwork") else names.pod(ns, pod_name)
    stdin_data = b""
    if want_stdin:  # whole stdin first: enough for piped input (an interactive shell is not served)
        while True:
            frame = ws.recv()
            if frame is None or frame[0] == 0x8:
                break
            op, data = frame
            if op == 0x9:
                ws.send(data, 0xA)
            elif data[:1] == b"\x00":
                stdin_data += data[1:]
            elif data[:2] == b"\xff\x00":  # v5: stdin closed
                break
    key = node if pod["spec"].get("hostNetwork") else netns
    p = subprocess.Popen([*enter_argv(names, key, netns, wd=None if key == node else "/root"), *cmd], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=host_env(names, node))

    def pump(stream, ch):
        for chunk in iter(lambda: stream.read1(65536), b""):
            ws.channel(ch, chunk)

    threads = [threading.Thread(target=pump, args=(p.stdout, 1)), threading.Thread(target=pump, args=(p.stderr, 2))]
    for t in threads:
        t.start()
    try:
        p.stdin.write(stdin_data)
        p.stdin.close()
    except BrokenPipeError:
        pass
    rc = p.wait()
    for t in threads:
        t.join()
    ws.channel(3, _status(rc, f"command terminated with non-zero exit code: error executing command {cmd}, "
                              f"exit code {rc}"))
    ws.send(struct.pack(">H", 1000), 0x8)  # close: normal closure
