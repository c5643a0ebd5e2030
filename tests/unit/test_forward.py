"""`kanslab forward`: target parsing, and the loopback forwarder over real sockets."""

import socket
import threading

import pytest

from kanslab.backends.local.forward import Forwarder, parse_target
from kanslab.errors import InvalidInput
from kanslab.topology import load_topology


def test_parse_target():
    topo = load_topology("kans3")
    assert parse_target("30001", topo) == ("192.168.10.10", 30001)
    assert parse_target("k8s-w1:9091", topo) == ("192.168.10.101", 9091)
    assert parse_target("192.168.10.10:30001", topo) == ("192.168.10.10", 30001)
    for bad in ("http", "k8s-w9:80", "0", "70000", "example.com:80"):
        with pytest.raises(InvalidInput):
            parse_target(bad, topo)


def test_forwarder_copies_both_ways_on_loopback_and_stops():
    upstream = socket.socket()
    upstream.bind(("127.0.0.1", 0))
    upstream.listen(1)

    def answer():
        c, _ = upstream.accept()
        data = c.recv(100)
        c.sendall(b"echo:" + data)
        c.close()
    threading.Thread(target=answer, daemon=True).start()
    fwd = Forwarder(upstream.getsockname(), None, 0)
    t = threading.Thread(target=fwd.serve_forever, daemon=True)
    t.start()
    try:
        assert fwd.listener.getsockname()[0] == "127.0.0.1" and fwd.url == f"http://127.0.0.1:{fwd.port}/"
        with socket.create_connection(("127.0.0.1", fwd.port), timeout=5) as c:
            c.sendall(b"hello")
            c.shutdown(socket.SHUT_WR)
            got = b""
            while chunk := c.recv(100):
                got += chunk
        assert got == b"echo:hello"
        with pytest.raises(InvalidInput, match="cannot listen"):
            Forwarder(upstream.getsockname(), None, fwd.port)  # the port is taken
    finally:
        fwd.stop.set()
        t.join(5)
        upstream.close()
    assert not t.is_alive()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", fwd.port), timeout=1)
