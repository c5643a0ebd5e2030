"""Translated editions of the chapters: `notebooks/<lang>/` built from the English chapters plus a
translation file per chapter.

A translation file (`notebooks/<lang>/translations/<chapter>.yaml`) maps a markdown cell's id to the
translated text and the hash of the English source it was made from:

    a1b2c3d4:
      en: 5f0c1e2a9b3d4e6f      # sha256 of the English cell's source, first 16 hex digits
      text: |
        ## 이 장에서 볼 것 ...

The edition's code cells are the English ones, outputs included, so both editions run the same
code and share the replay transcripts (the replay backend picks a transcript by the notebook's file
name). A markdown cell whose English source changed since it was translated (the hash differs), or
that has no translation, makes `build` refuse, naming the cells, so a stale translation never ships.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .errors import InvalidInput


def source_hash(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()[:16]


@dataclass
class Gaps:
    """Markdown cells of one chapter that the translation does not cover."""

    chapter: str
    missing: list[str] = field(default_factory=list)   # cell ids with no translation
    stale: list[str] = field(default_factory=list)     # cell ids whose English changed since

    def __bool__(self) -> bool:
        return bool(self.missing or self.stale)

    def __str__(self) -> str:
        parts = []
        if self.missing:
            parts.append(f"{len(self.missing)} untranslated ({', '.join(self.missing)})")
        if self.stale:
            parts.append(f"{len(self.stale)} changed in English since translated ({', '.join(self.stale)})")
        return f"{self.chapter}: " + "; ".join(parts)


def translation_path(notebooks: Path, lang: str, chapter: str) -> Path:
    return notebooks / lang / "translations" / f"{Path(chapter).stem}.yaml"


def load_translation(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise InvalidInput(f"{path}: not valid YAML: {e}") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) and {"en", "text"} <= set(v) for v in data.values()):
        raise InvalidInput(f"{path}: expected a mapping of cell id -> {{en: <hash>, text: <translation>}}")
    return data


def _markdown_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "markdown"]


def gaps(nb, translation: dict, chapter: str) -> Gaps:
    g = Gaps(chapter)
    for cell in _markdown_cells(nb):
        entry = translation.get(cell.id)
        if entry is None:
            g.missing.append(cell.id)
        elif entry["en"] != source_hash(cell.source):
            g.stale.append(cell.id)
    return g


def translated(nb, translation: dict, lang: str):
    """The edition of `nb`: its markdown cells replaced by their translations, the rest untouched."""
    out = copy.deepcopy(nb)
    for cell in _markdown_cells(out):
        cell.source = translation[cell.id]["text"].rstrip("\n")
    out.metadata["kanslab"] = {**out.metadata.get("kanslab", {}), "edition": lang}
    return out


def chapters(notebooks: Path) -> list[Path]:
    return sorted(p for p in notebooks.glob("[0-9][0-9]-*.ipynb"))


def build(notebooks: str | Path = "notebooks", lang: str = "ko", check: bool = False) -> list[Path]:
    """Write `notebooks/<lang>/<chapter>.ipynb` for every chapter; with check=True write nothing and
    only verify that every edition is complete and up to date. Raises InvalidInput listing the gaps."""
    import nbformat

    notebooks = Path(notebooks)
    problems, written = [], []
    for chapter in chapters(notebooks):
        nb = nbformat.read(chapter, as_version=4)
        translation = load_translation(translation_path(notebooks, lang, chapter.name))
        g = gaps(nb, translation, chapter.name)
        if g:
            problems.append(str(g))
            continue
        edition = translated(nb, translation, lang)
        target = notebooks / lang / chapter.name
        if check:
            if not target.exists() or nbformat.writes(edition) != target.read_text(encoding="utf-8"):
                problems.append(f"{target}: out of date with {chapter.name} and its translation "
                                f"(run `kanslab translate --lang {lang}`)")
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(nbformat.writes(edition), encoding="utf-8")
        written.append(target)
    if problems:
        raise InvalidInput(f"the {lang} edition is incomplete:\n  " + "\n  ".join(problems))
    return written


def todo(notebooks: str | Path = "notebooks", lang: str = "ko") -> dict[str, dict]:
    """For translators: per chapter, the English source of every markdown cell still to translate
    (missing or stale), keyed by cell id with the hash to put in the translation file."""
    import nbformat

    notebooks = Path(notebooks)
    out = {}
    for chapter in chapters(notebooks):
        nb = nbformat.read(chapter, as_version=4)
        translation = load_translation(translation_path(notebooks, lang, chapter.name))
        g = gaps(nb, translation, chapter.name)
        cells = {c.id: c for c in _markdown_cells(nb)}
        if g:
            out[chapter.name] = {cid: {"en": source_hash(cells[cid].source), "english": cells[cid].source}
                                 for cid in g.missing + g.stale}
    return out
