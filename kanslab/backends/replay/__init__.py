"""The replay backend: recorded transcripts of the embedded lab, answered in order, no root needed."""

from .backend import ReplayBackend
from .recorder import RecordingBackend

__all__ = ["ReplayBackend", "RecordingBackend"]
