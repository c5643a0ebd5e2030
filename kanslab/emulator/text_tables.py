"""The table printers the real tools use, reproduced byte for byte.

- Go's text/tabwriter: calicoctl `get` (minwidth 5, padding 3, every cell tab-terminated, so every
  line ends in padding spaces) and kubectl `get` (minwidth 6, padding 3, last cell unterminated).
- olekukonko/tablewriter (calicoctl `node status`, `ipam show`): `+---+` borders, headers centred,
  cells that look like numbers right-aligned, others left-aligned, cells wider than 30 wrapped with
  tablewriter's minimum-raggedness word wrap.
- Kubernetes' HumanDuration for AGE columns.
"""

from __future__ import annotations

import re


def go_tabwriter(rows: list[list[str]], *, minwidth: int, padding: int, terminate_last: bool) -> str:
    """Lines of tab-separated cells aligned as text/tabwriter does (flags 0, pad char ' ')."""
    if not rows:
        return ""
    ncols = max(len(r) for r in rows)
    aligned_cols = ncols if terminate_last else ncols - 1
    widths = []
    for c in range(aligned_cols):
        cell_max = max((len(r[c]) for r in rows if c < len(r)), default=0)
        widths.append(max(minwidth, cell_max + padding))
    out = []
    for r in rows:
        line = ""
        for c, cell in enumerate(r):
            line += cell.ljust(widths[c]) if c < aligned_cols else cell
        out.append(line)
    return "\n".join(out) + "\n"


def calicoctl_table(headings: list[str], rows: list[list[str]]) -> str:
    """calicoctl get's table plus the blank line it prints after every table."""
    return go_tabwriter([headings] + rows, minwidth=5, padding=3, terminate_last=True) + "\n"


def kubectl_table(headings: list[str], rows: list[list[str]]) -> str:
    return go_tabwriter([headings] + rows, minwidth=6, padding=3, terminate_last=False)


# ---------------------------------------------------------------- tablewriter

_DECIMAL = re.compile(r"^-?(?:\d{1,3}(?:,\d{3})*|\d+)(?:\.\d+)?$")
_MAX_CELL = 30         # tablewriter's MAX_ROW_WIDTH: cells are wrapped beyond it
_PENALTY = 100000      # tablewriter's defaultPenalty for over-long lines


def _wrap_words(words: list[str], lim: int) -> list[list[str]]:
    """tablewriter.WrapWords: split words into lines of minimal raggedness."""
    n = len(words)
    length = [[0] * n for _ in range(n)]
    for i in range(n):
        length[i][i] = len(words[i])
        for j in range(i + 1, n):
            length[i][j] = length[i][j - 1] + 1 + len(words[j])
    nbrk, cost = [0] * n, [2 ** 31 - 1] * n
    for i in range(n - 1, -1, -1):
        if length[i][n - 1] <= lim:
            cost[i], nbrk[i] = 0, n
            continue
        for j in range(i + 1, n):
            d = lim - length[i][j - 1]
            c = d * d + cost[j]
            if length[i][j - 1] > lim:
                c += _PENALTY
            if c < cost[i]:
                cost[i], nbrk[i] = c, j
    lines, i = [], 0
    while i < n:
        lines.append(words[i:nbrk[i]])
        i = nbrk[i]
    return lines


def _cell_lines(text: str) -> list[str]:
    raw = text.split("\n")
    width = min(max(len(line) for line in raw), _MAX_CELL)
    out: list[str] = []
    for k, para in enumerate(raw):
        words = para.replace("\n", " ").split(" ")
        lim = max([width] + [len(w) for w in words])
        if k > 0:
            out.append(" ")
        out += [" ".join(line) for line in _wrap_words(words, lim)]
    return out


def _pad_center(s: str, width: int) -> str:
    gap = width - len(s)
    left = gap // 2  # tablewriter's Pad puts the odd space on the right
    return " " * left + s + " " * (gap - left)


def box_table(headers: list[str], rows: list[list[str]]) -> str:
    """olekukonko/tablewriter's default rendering (Render() with a header, no footer)."""
    head_cells = [_cell_lines(h.replace("_", " ").upper()) for h in headers]
    body = [[_cell_lines(c) for c in r] for r in rows]
    widths = [max(len(line) for line in cell) for cell in head_cells]
    for r in body:
        for i, cell in enumerate(r):
            widths[i] = max(widths[i], max(len(line) for line in cell))
    border = "+" + "+".join("-" * (w + 2) for w in widths) + "+\n"

    def render(cells: list[list[str]], header: bool) -> str:
        height = max(len(c) for c in cells)
        text = ""
        for k in range(height):
            parts = []
            for i, cell in enumerate(cells):
                s = cell[k] if k < len(cell) else ""
                if header:
                    parts.append(_pad_center(s, widths[i]))
                elif _DECIMAL.match(s.strip()):
                    parts.append(s.rjust(widths[i]))
                else:
                    parts.append(s.ljust(widths[i]))
            text += "| " + " | ".join(parts) + " |\n"
        return text

    out = border + render(head_cells, True) + border
    for r in body:
        out += render(r, False)
    return out + border


# ---------------------------------------------------------------- durations

def human_duration(seconds: float) -> str:
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration, as kubectl prints AGE."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m" if s % 60 == 0 else f"{minutes}m{s % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if dy == 0 else f"{hours // 24 // 365}y{dy}d"
    return f"{hours // 24 // 365}y"
