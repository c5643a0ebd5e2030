"""The small flag scanner calicoctl's and kubectl's emulations share.

Positionals plus options that take a value (`-o wide`, `-owide`, `-o=wide`, `--output wide`,
`--output=wide`) and switches (`--show-labels`, `--overwrite=false`). No library parses both
tools' dialects (docopt for calicoctl, cobra for kubectl), hence this one.
"""

from __future__ import annotations


class Args:
    def __init__(self, argv: list[str], with_value: dict[str, str], switches: dict[str, str],
                 bool_switches: bool = False):
        """bool_switches: `--flag=false` gives False (kubectl); otherwise the raw text is kept (calicoctl)."""
        self.pos: list[str] = []
        self.opts: dict[str, object] = {}
        self.bad: str | None = None
        i = 0
        while i < len(argv):
            a = argv[i]
            if a.startswith("-") and a != "-":
                name, eq, value = a.partition("=")
                if name in switches:
                    self.opts[switches[name]] = (value.lower() != "false" if bool_switches else value) if eq else True
                elif name in with_value:
                    if not eq:
                        i += 1
                        if i >= len(argv):
                            self.bad = a
                            break
                        value = argv[i]
                    self.opts[with_value[name]] = value
                elif not name.startswith("--") and len(a) > 2 and a[:2] in with_value:
                    self.opts[with_value[a[:2]]] = a[2:].lstrip("=")  # -owide, -nkube-system
                else:
                    self.bad = a
                    break
            else:
                self.pos.append(a)
            i += 1
