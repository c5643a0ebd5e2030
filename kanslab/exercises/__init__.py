"""Exercises checked on the live lab: `list()` and `check(id, lab=lab)`.

Each chapter's module registers its checks with `@exercise(id, chapter, title)`; a check looks at
the lab and returns a `Result`: `.passed`, and a `.message` saying what is right, what is
missing and a hint, never the solution.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..errors import InvalidInput


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


def _load_all() -> None:
    from . import ch06  # noqa: F401  (registers its exercises)


def list():  # noqa: A001 - the public name issue 12 asks for
    import pandas as pd

    _load_all()
    return pd.DataFrame([{"id": k, "chapter": c, "title": t} for k, (c, t, _) in sorted(_REGISTRY.items())],
                        columns=["id", "chapter", "title"])


def check(id_: str, lab) -> Result:
    _load_all()
    if id_ not in _REGISTRY:
        raise InvalidInput(f"no exercise {id_!r}; kanslab.exercises.list() has them all")
    return _REGISTRY[id_][2](lab)


__all__ = ["Result", "check", "exercise", "list"]
