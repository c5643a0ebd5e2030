"""Test inputs kept in tests/unit/data and the one check every parser test makes."""

from __future__ import annotations

from pathlib import Path

import pytest

from kanslab.errors import ParseError

DATA = Path(__file__).parent / "data"


def real(name: str) -> str:
    """An output captured on this machine, as the command printed it."""
    return (DATA / name).read_text()


def sample(name: str) -> str:
    """A file copied from shared/samples: drop its `# source:` line."""
    first, rest = (DATA / name).read_text().split("\n", 1)
    assert first.startswith("# source:"), name
    return rest


def assert_parse_error(func, text, parser: str | None = None) -> ParseError:
    """`func(text)` must raise ParseError naming the parser (default: the function's name)."""
    parser = parser or func.__name__
    with pytest.raises(ParseError) as e:
        func(text)
    assert e.value.parser == parser and parser in str(e.value)
    return e.value
