"""`birdcl` on a lab node: Debian's BIRD 1.6 client on the node's control socket, printing what
calico-node's birdcl prints.

The lab's BIRD config adds two protocols Calico's template does not have (emulator/bird.py: the
pipe `calico_pipe` and the kernel protocol `calico_krt`, which hand BGP-learned pool routes to the
lab's Felix); a student comparing `birdcl show protocols` with the write-up must not see them. The
greeting is calico/node's BIRD build's (sample birdcl_show_protocols_all__ddella_calico_mesh.txt:
"BIRD v0.3.3+birdv1.6.8 ready.") rather than Debian's version line.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

LAB_PROTOCOLS = ("calico_pipe", "calico_krt")
CALICO_GREETING = "BIRD v0.3.3+birdv1.6.8 ready."
_GREETING = re.compile(r"^BIRD [0-9][^ ]* ready\.$")


def calico_view(text: str) -> str:
    """birdc output without the lab's own protocols (and their `show protocols all` details)."""
    out, skipping = [], False
    for line in text.splitlines(keepends=True):
        if _GREETING.match(line.rstrip("\n")):
            out.append(CALICO_GREETING + "\n")
            continue
        first = line.split(" ", 1)[0].strip()
        if line[:1] not in (" ", "\t", "\n") and line.strip():
            skipping = first in LAB_PROTOCOLS
        elif skipping and not line.strip():
            skipping = False
            continue
        if not skipping:
            out.append(line)
    return "".join(out)


def main(argv: list[str]) -> int:
    ctl, args = argv[0], argv[1:]
    if not args or args[0].startswith("-"):   # interactive or options: the client as it is
        os.execv("/usr/sbin/birdc", ["birdc", "-s", ctl, *args])
    p = subprocess.run(["/usr/sbin/birdc", "-s", ctl, *args], capture_output=True, text=True)
    sys.stdout.write(calico_view(p.stdout))
    sys.stderr.write(p.stderr)
    return p.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
