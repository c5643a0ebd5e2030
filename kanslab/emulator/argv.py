"""The small flag scanner calicoctl's and kubectl's emulations share.

Positionals plus options that take a value (`-o wide`, `-owide`, `-o=wide`, `--output wide`,
`--output=wide`) and switches (`--show-labels`, `--overwrite=false`). No library parses both
tools' dialects (docopt for calicoctl, cobra for kubectl), hence this one.
"""

from __future__ import annotations


class Args:
    def __init__(self, argv: list[str], with_value: dict[str, str], switches: dict[str, str],
                 bool_switches: bool = False, repeatable: frozenset[str] = frozenset()):
        """bool_switches: `--flag=false` gives False (kubectl); otherwise the raw text is kept (calicoctl).
        repeatable: options (by their key) that may come again, kept as a list (`-f a.yaml -f b.yaml`)."""
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
                    self._set(with_value[name], value, repeatable)
                elif not name.startswith("--") and len(a) > 2 and a[:2] in with_value:
                    self._set(with_value[a[:2]], a[2:].lstrip("="), repeatable)  # -owide, -nkube-system
                else:
                    self.bad = a
                    break
            else:
                self.pos.append(a)
            i += 1

    def _set(self, key: str, value: str, repeatable: frozenset[str]) -> None:
        if key in repeatable:
            self.opts.setdefault(key, []).append(value)  # type: ignore[union-attr]
        else:
            self.opts[key] = value
