"""kanslab: a hands-on course on Kubernetes networking with Calico, on a real lab."""

from . import exercises
from ._version import __version__
from .errors import (
    CommandError,
    InvalidInput,
    KanslabError,
    LabError,
    NotFound,
    NotSupported,
    ParseError,
    ReplayMismatch,
)
from .lab import Lab, connect
from .lessons import expect
from .waiting import wait_for

__all__ = ["connect", "Lab", "expect", "wait_for", "KanslabError", "CommandError", "ParseError", "InvalidInput", "NotFound",
           "NotSupported", "LabError", "ReplayMismatch", "exercises", "__version__"]
