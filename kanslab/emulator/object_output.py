"""`-o yaml` / `-o json` the way kubectl and calicoctl print objects.

Both tools marshal through JSON, so YAML keys come out sorted and strings that could read as
numbers, booleans or timestamps are double-quoted (go-yaml's style, not PyYAML's single quotes).
kubectl's JSON is indented by 4 with sorted keys; calicoctl's by 2 in Go struct order.
"""

from __future__ import annotations

import json
import re

import yaml

_SINGLE_QUOTED = re.compile(r"(?<=: )'([^'\"\\\n]*)'$|(?<=- )'([^'\"\\\n]*)'$")


class _GoStyleDumper(yaml.SafeDumper):
    """SafeDumper already writes go-yaml's indentless lists ("items:\n- a"); only quoting differs."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    # multi-line strings (kubectl's last-applied-configuration) as literal blocks, as go-yaml writes them
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_GoStyleDumper.add_representer(str, _str)


def _requote(line: str) -> str:
    m = _SINGLE_QUOTED.search(line)
    if not m:
        return line
    inner = m.group(1) if m.group(1) is not None else m.group(2)
    return line[:m.start()] + f'"{inner}"'


def to_yaml(obj: object) -> str:
    text = yaml.dump(obj, Dumper=_GoStyleDumper, sort_keys=True, default_flow_style=False,
                     allow_unicode=True, width=1 << 30)
    return "\n".join(_requote(line) for line in text.split("\n"))


def kubectl_json(obj: object) -> str:
    return json.dumps(obj, indent=4, sort_keys=True) + "\n"


_CALICO_ORDER = ("kind", "apiVersion", "metadata", "spec", "status", "items")
_META_ORDER = ("name", "namespace", "uid", "resourceVersion", "creationTimestamp", "labels", "annotations")


def _ordered(d: dict, order: tuple[str, ...]) -> dict:
    out = {k: d[k] for k in order if k in d}
    out.update({k: v for k, v in d.items() if k not in out})
    return out


def calico_json(obj: dict) -> str:
    def fix(o: dict) -> dict:
        o = _ordered(o, _CALICO_ORDER)
        if isinstance(o.get("metadata"), dict):
            o["metadata"] = _ordered(o["metadata"], _META_ORDER)
        if isinstance(o.get("items"), list):
            o["items"] = [fix(i) for i in o["items"]]
        return o
    return json.dumps(fix(obj), indent=2) + "\n"
