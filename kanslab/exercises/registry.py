"""The exercise registry: `Result` and the `@exercise` decorator each chapter's module registers with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass
class Result:
    passed: bool
    message: str

    def __repr__(self) -> str:
        return ("✓ " if self.passed else "✗ ") + self.message

    def _repr_markdown_(self) -> str:
        return ("✓ " if self.passed else "✗ ") + self.message.replace("\n", "  \n")


_REGISTRY: dict[str, tuple[str, str, Callable]] = {}


def exercise(id_: str, chapter: str, title: str):
    def wrap(fn: Callable) -> Callable:
        _REGISTRY[id_] = (chapter, title, fn)
        return fn
    return wrap
