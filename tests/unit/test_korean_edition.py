"""The Korean edition (notebooks/ko/) has every chapter, up to date with its English chapter: the same
code cells (source, tags, metadata, outputs), so both run on the same replay transcripts, and Korean
in every prose cell. A chapter whose English prose changed since it was translated fails here until
its translation file catches up and `kanslab translate --lang ko` rebuilds it."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from kanslab import i18n
from kanslab.errors import InvalidInput

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
CHAPTERS = [p.name for p in i18n.chapters(NOTEBOOKS)]
HANGUL = re.compile(r"[\uac00-\ud7a3]")


def test_every_chapter_has_a_complete_and_current_korean_edition():
    try:
        i18n.build(NOTEBOOKS, "ko", check=True)
    except InvalidInput as e:
        pytest.fail(str(e), pytrace=False)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_the_korean_chapter_has_the_english_code_and_korean_prose(chapter):
    ko_path = NOTEBOOKS / "ko" / chapter
    assert ko_path.exists(), (f"no Korean edition of {chapter}: `kanslab translate --lang ko --todo FILE` lists its "
                              "cells to translate; `kanslab translate --lang ko` builds it")
    en = nbformat.read(NOTEBOOKS / chapter, as_version=4)
    ko = nbformat.read(ko_path, as_version=4)
    assert [(c.id, c.cell_type) for c in ko.cells] == [(c.id, c.cell_type) for c in en.cells]
    for e, k in zip(en.cells, ko.cells, strict=True):
        if e.cell_type == "code":
            assert k == e, f"{chapter}: code cell {e.id} differs from the English chapter"
        else:
            assert k.metadata == e.metadata
            assert HANGUL.search(k.source), f"{chapter}: prose cell {e.id} has no Korean: {k.source[:80]!r}"
    assert ko.metadata["kanslab"]["edition"] == "ko"
    assert {k: v for k, v in ko.metadata.items() if k != "kanslab"} == \
        {k: v for k, v in en.metadata.items() if k != "kanslab"}   # same kernel: nbval starts the same one
