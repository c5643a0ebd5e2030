"""Shared text clean-up for the parsers: one place for ANSI, CRLF, prompts and header names."""

from __future__ import annotations

import contextlib
import gc
import re

from ..errors import ParseError

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
# `root@k8s-m:~# cmd`, `user@host:/x$ cmd`, `(⎈|Calico-Lab:N/A) root@k8s-m:~# cmd`, `$ cmd`, `# cmd`
PROMPT = re.compile(r"^\s*(\(.*?\)\s*)?(\S+@[\w.-]+(:\S*)?\s*[#$%>]|[#$>])\s")


def strip_ansi(text: str) -> str:
    return ANSI.sub("", text)


def clean_lines(text: str | bytes) -> list[str]:
    """Text -> lines without colours, CRs, prompt/command-echo lines and trailing blanks."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = strip_ansi(text).replace("\r\n", "\n").replace("\r", "\n")
    lines = [ln.rstrip() for ln in text.split("\n")]
    return [ln for ln in lines if not PROMPT.match(ln)]


def snake(header: str) -> str:
    """`PEER ADDRESS` -> `peer_address`, `Up/Down` -> `up_down`, `IPS IN USE` -> `ips_in_use`."""
    s = re.sub(r"[^0-9a-zA-Z]+", "_", header.strip()).strip("_")
    return s.lower()


def fail(parser: str, message: str, line: str | None = None, lineno: int | None = None):
    raise ParseError(parser, message, line, lineno)


def split_pct(cell: str) -> tuple[int | float, float | None]:
    """`7 (0%)` -> (7, 0.0); `65529` -> (65529, None); `1.0486e+06` -> 1048600."""
    m = re.fullmatch(r"\s*([0-9.eE+-]+)\s*(?:\((\d+(?:\.\d+)?)%\))?\s*", cell)
    if not m:
        raise ValueError(cell)
    num = float(m.group(1))
    value = int(num) if num.is_integer() else num
    return value, (float(m.group(2)) if m.group(2) is not None else None)


# --- Added for the route/iptables/ping parsers: leading echoes and trailing chatter. ---

# `date` in the C, en_US and ko_KR locales, `date -Is`/`-R`: a clock time and a 4-digit year, short line.
_DATE = re.compile(r"^(?=.*\b\d{1,2}:\d{2}(:\d{2})?\b)(?=.*\b(19|20)\d{2}\b)[\w\s.,:+()/-]{4,64}$")
# the header `watch` prints: `Every 2.0s: route -n        k8s-w1: Tue Nov 26 10:00:00 2024`
_WATCH = re.compile(r"^Every \d+(\.\d+)?s: ")
# the RHEL/CentOS prompt `[root@centos7 ~]# cmd`, which PROMPT does not cover
_BRACKET_PROMPT = r"\[[^\]\s]+@[^\]]+\]\s*[#$]"


def is_chatter(line: str) -> bool:
    """Blank lines, a `date` line, a `watch` header, a bare prompt (`root@k8s-w1:~#`, which
    clean_lines keeps once its trailing space is gone): what a terminal shows around an output."""
    s = line.strip()
    return (not s or bool(_DATE.match(s)) or bool(_WATCH.match(s)) or bool(re.match(_BRACKET_PROMPT, s))
            or bool(PROMPT.match(s + " ")))


@contextlib.contextmanager
def no_gc():
    """Pause the cyclic garbage collector while a parser builds 100,000s of small tuples and lists
    that hold no cycles: the collections it would trigger cost ~10% of a big parse."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def strip_echo(lines: list[str], *commands: str) -> list[str]:
    """Drop leading chatter and lines echoing one of `commands` (`route -n | egrep ...`, `sudo ip route`,
    `watch -d 'route -n'`, `kubectl exec pod -- ping ...`): what is left starts with the output."""
    echo = re.compile(r"^\s*(" + _BRACKET_PROMPT + r"\s*)?(sudo\s+|watch\s+(-\S+\s+)*['\"]?|\S+\s+exec\s+.*--\s+)?(" +
                      "|".join(re.escape(c) for c in commands) + r")(\s|$)")
    i = 0
    while i < len(lines) and (is_chatter(lines[i]) or echo.match(lines[i])):
        i += 1
    return lines[i:]


# --- Added for the calico/bird/frr parsers: line numbers that survive the clean-up. ---


def clean_numbered(text: str | bytes) -> list[tuple[int, str]]:
    """`clean_lines`, keeping each line's 1-based number in the given text (for `fail(..., lineno=)`)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = strip_ansi(text).replace("\r\n", "\n").replace("\r", "\n")
    return [(n, ln.rstrip()) for n, ln in enumerate(text.split("\n"), 1) if not PROMPT.match(ln)]
