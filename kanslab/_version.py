"""kanslab's version: its one home (pyproject.toml reads it; transcripts record it).

A module of its own, importing nothing, so that a module deep in the package (the recorder) can
name the version without importing `kanslab/__init__`, which imports `lab.py`, which imports the
backends: that was an import cycle."""

__version__ = "0.1.0"
