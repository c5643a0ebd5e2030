"""A running local lab as found from its prefix: names, topology, record and datastore."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property

from ...errors import LabError
from ...topology import Topology, load_topology
from .names import Names
from .record import Record


@dataclass
class LabInfo:
    names: Names
    topology: Topology
    record: Record

    def datastore(self):
        from ...emulator.datastore import Datastore

        return Datastore(str(self.names.datastore))

    @cached_property
    def meta(self) -> dict:
        return json.loads((self.names.dir / "lab.json").read_text())


def write_lab(names: Names, topo: Topology) -> None:
    names.dir.mkdir(parents=True, exist_ok=True)
    (names.dir / "lab.json").write_text(json.dumps({"prefix": names.prefix, "topology": topo.source,
                                                        "workers": topo.workers}))


def load_lab(prefix: str) -> LabInfo:
    names = Names(prefix)
    try:
        meta = json.loads((names.dir / "lab.json").read_text())
    except OSError:
        raise LabError(f"no lab {prefix!r} is running (no {names.dir / 'lab.json'}); start it with `kanslab up`") from None
    src = meta["topology"]
    topo = load_topology(src.removeprefix("kanslab/topologies/").removesuffix(".yaml") if src.startswith("kanslab/") else src,
                         meta.get("workers"))
    return LabInfo(names, topo, Record(prefix))
