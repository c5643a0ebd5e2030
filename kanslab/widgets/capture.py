"""`CaptureView(lab, host, bpf)`: tcpdump on a lab host, started and stopped by hand, counted as it runs."""

from __future__ import annotations

import struct
import threading
from pathlib import Path

import ipywidgets as w
import pandas as pd

from .. import plot
from ..errors import InvalidInput
from ._base import LabWidget, figure_html, show, table_html

_MAGIC = {b"\xd4\xc3\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">", b"\x4d\x3c\xb2\xa1": "<", b"\xa1\xb2\x3c\x4d": ">"}


def count_packets(path) -> int | None:
    """Complete packet records in a pcap file tcpdump is still writing (None: not a pcap yet).
    Hand-written on purpose: dpkt's reader raises on the record tcpdump is halfway through writing."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    if len(data) < 24 or data[:4] not in _MAGIC:
        return None
    order, off, n = _MAGIC[data[:4]], 24, 0
    while off + 16 <= len(data):
        incl = struct.unpack_from(order + "I", data, off + 8)[0]
        if off + 16 + incl > len(data):
            break
        off += 16 + incl
        n += 1
    return n


class CaptureView(LabWidget):
    title = "kanslab.widgets.CaptureView"
    needs_live = "Capturing"

    def __init__(self, lab, host: str, bpf: str = "", iface: str = "any", count: int = 10000,
                 seconds: float = 300, columns: list[str] | None = None):
        super().__init__(lab)
        if host not in lab.hosts:
            raise InvalidInput(f"no lab host {host!r}; the hosts are {', '.join(lab.hosts)}")
        self.host, self.bpf, self.iface, self.count, self.seconds = host, bpf, iface, count, seconds
        self.columns = columns or ["time", "outer_src", "outer_dst", "encap", "vni", "src", "dst", "proto",
                                   "dport", "icmp_type"]
        self.start_button = w.Button(description="Start", button_style="success", icon="play")
        self.stop_button = w.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self.counter = w.IntText(value=0, description="packets", disabled=True)
        self.table_out, self.fig_out = w.Output(), w.Output()
        self.packets: pd.DataFrame | None = None
        self._fig = None
        self._cap = None
        self._stop_counting = threading.Event()
        self._counter_thread: threading.Thread | None = None
        self.children = [w.HTML(f"<b>tcpdump</b> on <code>{host}</code> -i {iface} <code>{bpf}</code>"),
                         w.HBox([self.start_button, self.stop_button, self.counter]), self.status,
                         self.table_out, self.fig_out]
        self.say("info", "press Start, make some traffic, press Stop")
        self.start_button.on_click(lambda _b: self.run_action(self.start, "Capturing"))
        self.stop_button.on_click(lambda _b: self.run_action(self.stop, "Capturing"))

    def start(self) -> None:
        if self._cap is not None:
            raise InvalidInput("a capture is already running: Stop it first")
        cap = self.lab.capture(self.host, bpf=self.bpf, iface=self.iface, count=self.count, seconds=self.seconds)
        cap.__enter__()  # returns once tcpdump says it is listening
        self._cap = cap
        self.counter.value = 0
        self.start_button.disabled, self.stop_button.disabled = True, False
        self._stop_counting.clear()
        self._counter_thread = threading.Thread(target=self._count_loop, daemon=True)
        self._counter_thread.start()
        self.say("wait", f"capturing on {self.host} ...")

    def _count_loop(self) -> None:
        path = getattr(self._cap, "path", None)
        while not self._stop_counting.wait(0.5):  # the live count, read from tcpdump's file as it grows
            n = count_packets(path) if path else None
            if n is not None and n != self.counter.value:
                self.counter.value = n

    def stop(self) -> pd.DataFrame:
        if self._cap is None:
            raise InvalidInput("no capture is running: Start one first")
        cap, self._cap = self._cap, None
        self._stop_counting.set()
        try:
            cap.__exit__(None, None, None)
        finally:
            if self._counter_thread is not None:
                self._counter_thread.join(timeout=2)
            self.start_button.disabled, self.stop_button.disabled = False, True
        pk = cap.packets
        self.packets = pk
        self.counter.value = len(pk)
        cols = [c for c in self.columns if c in pk.columns]
        self._fig = plot.flows(pk, names=self.lab.topology, title=f"{self.host} -i {self.iface} {self.bpf}".strip()) \
            if len(pk) else None
        show(self.table_out, pk[cols])
        show(self.fig_out, *([self._fig] if self._fig is not None else []))
        self.say("ok", f"{len(pk)} packets; the pcap is at {cap.path}")
        return pk

    def static_parts(self) -> list[str]:
        parts = []
        if self.packets is not None:
            parts.append(table_html(self.packets[[c for c in self.columns if c in self.packets.columns]]))
        if self._fig is not None:
            parts.append(figure_html(self._fig))
        return parts or ["<p>(no capture yet)</p>"]
