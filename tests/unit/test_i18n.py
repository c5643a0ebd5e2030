"""The translated edition is built from the English chapters plus a translation file, and refuses to
build when a markdown cell has no translation or its English changed since it was translated."""

from __future__ import annotations

import nbformat
import pytest
import yaml

from kanslab import i18n
from kanslab.errors import InvalidInput


def _chapter(tmp_path, prose: str):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(prose, id="intro"),
                nbformat.v4.new_code_cell("print(1)", id="code1",
                                          outputs=[nbformat.v4.new_output("stream", text="1\n")])]
    nbformat.write(nb, tmp_path / "01-x.ipynb")
    return nb


def _translate(tmp_path, english: str, korean: str):
    path = i18n.translation_path(tmp_path, "ko", "01-x.ipynb")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"intro": {"en": i18n.source_hash(english), "text": korean}},
                                   allow_unicode=True), encoding="utf-8")


def test_the_edition_has_the_translated_prose_and_the_same_code_and_outputs(tmp_path):
    nb = _chapter(tmp_path, "## What you will see")
    _translate(tmp_path, "## What you will see", "## 이 장에서 볼 것\n")
    [written] = i18n.build(tmp_path, "ko")
    ko = nbformat.read(written, as_version=4)
    assert ko.cells[0].source == "## 이 장에서 볼 것"
    assert ko.cells[1] == nb.cells[1]  # code and outputs identical
    i18n.build(tmp_path, "ko", check=True)  # up to date: no error


def test_a_missing_or_stale_translation_refuses_to_build_and_names_the_cell(tmp_path):
    _chapter(tmp_path, "## What you will see")
    with pytest.raises(InvalidInput, match=r"01-x.ipynb: 1 untranslated \(intro\)"):
        i18n.build(tmp_path, "ko")
    _translate(tmp_path, "## What you will see", "## 이 장에서 볼 것")
    i18n.build(tmp_path, "ko")
    _chapter(tmp_path, "## What you will see now")  # the English changed after translation
    with pytest.raises(InvalidInput, match=r"changed in English since translated \(intro\)"):
        i18n.build(tmp_path, "ko", check=True)
    assert list(i18n.todo(tmp_path, "ko")["01-x.ipynb"]) == ["intro"]


def test_a_translation_file_that_is_not_a_mapping_is_refused(tmp_path):
    _chapter(tmp_path, "x")
    path = i18n.translation_path(tmp_path, "ko", "01-x.ipynb")
    path.parent.mkdir(parents=True)
    path.write_text("- just\n- a list\n")
    with pytest.raises(InvalidInput, match="expected a mapping"):
        i18n.build(tmp_path, "ko")
