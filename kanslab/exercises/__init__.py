"""Exercises checked on the live lab: `list()` and `check(id, lab=lab)`.

Each chapter's module registers its checks with `@exercise(id, chapter, title)`; a check looks at
the lab and returns a `Result`: `.passed`, and a `.message` saying what is right, what is
missing and a hint, never the solution.
"""

from __future__ import annotations

from ..errors import InvalidInput
from .registry import _REGISTRY, Result, exercise  # noqa: F401  (exercise: the chapters' decorator)


def _load_all() -> None:
    from . import ch01, ch02, ch03, ch04, ch05, ch06, ch07  # noqa: F401  (they register their exercises)


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
