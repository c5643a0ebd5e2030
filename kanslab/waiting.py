"""Wait for a state, never a fixed time: routes follow a pool change, BGP sessions come up."""

from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


def wait_for(check: Callable[[], T], timeout: float = 20.0, interval: float = 0.1) -> T:
    """Call `check()` until it returns something true or `timeout` seconds pass; return its last value.

    `assert wait_for(lambda: ...)` reads as the state it expects."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)
