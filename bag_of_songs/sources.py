"""Folder sources: the clips of a folder of genre subfolders, flat or nested, as items.

Two layouts:

- flat, ``ROOT/<genre>/<file>``: ``label`` = the genre folder (plus ``fst_level_label``,
  Classic / Non_classic, when some genres are Classic);
- nested, ``ROOT/<level-1>/<level-2>/.../<file>``: one label column per depth (``levels``),
  numeric prefixes such as ``3_`` stripped, so CCMusic's extracted ``audio.zip``
  (``1_Classic/3_Symphony/...``) and the way many people sort their music both read as a
  label hierarchy.

Also the label vocabulary of CCMusic (:data:`LEVELS`, :data:`CCMUSIC_CLASSES`,
:data:`CCMUSIC_HIERARCHY`) and :class:`Item`, one clip to prepare. Re-exported by
:mod:`bag_of_songs.data`.

Explained in ``notebooks/1-data-preparation.ipynb`` (section 1, a folder source).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .files import file_stamp

__all__ = [
    "LEVELS",
    "CCMUSIC_CLASSES",
    "CCMUSIC_HIERARCHY",
    "CLASSIC_FOLDER_NAMES",
    "DataSourceError",
    "Item",
    "list_folder_items",
    "strip_number_prefix",
    "level_names",
]

#: The three CCMusic label levels, coarse to fine.
LEVELS = ("fst_level_label", "sec_level_label", "thr_level_label")

#: CCMusic class names per level, in the order of the dataset's ``ClassLabel``s.
CCMUSIC_CLASSES = {
    "fst_level_label": ["Classic", "Non_classic"],
    "sec_level_label": [
        "Symphony", "Opera", "Solo", "Chamber", "Pop", "Dance_and_house", "Indie",
        "Soul_or_RnB", "Rock",
    ],
    "thr_level_label": [
        "Symphony", "Opera", "Solo", "Chamber", "Pop_vocal_ballad", "Adult_contemporary",
        "Teen_pop", "Contemporary_dance_pop", "Dance_pop", "Classic_indie_pop",
        "Chamber_cabaret_and_art_pop", "Soul_or_RnB", "Adult_alternative_rock",
        "Uplifting_anthemic_rock", "Soft_rock", "Acoustic_pop",
    ],
}

#: How the CCMusic levels nest: second-level class -> (first-level class, third-level classes).
CCMUSIC_HIERARCHY = {
    "Symphony": ("Classic", ["Symphony"]),
    "Opera": ("Classic", ["Opera"]),
    "Solo": ("Classic", ["Solo"]),
    "Chamber": ("Classic", ["Chamber"]),
    "Pop": ("Non_classic", ["Pop_vocal_ballad", "Adult_contemporary", "Teen_pop"]),
    "Dance_and_house": ("Non_classic", ["Contemporary_dance_pop", "Dance_pop"]),
    "Indie": ("Non_classic", ["Classic_indie_pop", "Chamber_cabaret_and_art_pop"]),
    "Soul_or_RnB": ("Non_classic", ["Soul_or_RnB"]),
    "Rock": ("Non_classic", [
        "Adult_alternative_rock", "Uplifting_anthemic_rock", "Soft_rock", "Acoustic_pop",
    ]),
}

# Older revisions of the CCMusic loading script spell some classes differently.
CLASS_ALIASES = {"Soul_or_r_and_b": "Soul_or_RnB"}

#: Genre-folder names that count as Classic when a folder source derives ``fst_level_label``.
CLASSIC_FOLDER_NAMES = (
    "classic", "classical", "symphony", "opera", "solo", "chamber", "baroque", "orchestral",
)


class DataSourceError(RuntimeError):
    """A data source could not be loaded, or has no usable audio or labels."""


@dataclass
class Item:
    """One clip to prepare: where it comes from, its labels, and how to get its audio.

    ``kind`` is ``"path"`` (``payload`` = a file path), ``"bytes"`` (the encoded file),
    ``"demo"`` (``(style, seed)``) or ``"skip"`` (``payload`` = why it cannot be prepared;
    reported in ``skipped.csv``). ``stamp`` identifies the version of the source (e.g. a
    file's size and mtime): a clip prepared from another version is prepared again.
    """

    source: str
    labels: dict
    kind: str
    payload: object = None
    stamp: str = ""


class _Items:
    """A lazy sequence of Items: labels, sources and stamps are known up front, audio is read
    on demand (keeps a Hugging Face dataset's audio bytes out of memory until needed)."""

    def __init__(self, labels: list[dict], sources: list[str], get: Callable[[int], Item], *,
                 stamps: list[str] | None = None, problems: list[str | None] | None = None):
        self.labels, self.sources, self._get = labels, sources, get
        self.stamps = stamps if stamps is not None else [""] * len(labels)
        self.problems = problems if problems is not None else [None] * len(labels)

    @classmethod
    def from_list(cls, items: list[Item]) -> _Items:
        return cls([it.labels for it in items], [it.source for it in items],
                   items.__getitem__, stamps=[it.stamp for it in items],
                   problems=[str(it.payload) if it.kind == "skip" else None for it in items])

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> Item:
        return self._get(int(i))

    def subset(self, idx: list[int]) -> _Items:
        return _Items([self.labels[i] for i in idx], [self.sources[i] for i in idx],
                      lambda j: self._get(idx[j]), stamps=[self.stamps[i] for i in idx],
                      problems=[self.problems[i] for i in idx])

    @staticmethod
    def concat(parts: list[_Items]) -> _Items:
        owners = [(p, j) for p in parts for j in range(len(p))]
        return _Items([lab for p in parts for lab in p.labels],
                      [s for p in parts for s in p.sources],
                      lambda i: owners[i][0][owners[i][1]],
                      stamps=[s for p in parts for s in p.stamps],
                      problems=[s for p in parts for s in p.problems])


# ---------------------------------------------------------------------------------------------
# Folder sources

_NUMBER_PREFIX = re.compile(r"^\d+[_\-. ]+(?=\S)")


def strip_number_prefix(name: str) -> str:
    """A folder name without its numeric prefix: ``"3_Symphony"`` -> ``"Symphony"``.

    Strips digits followed by ``_``, ``-``, ``.`` or spaces (``"01 - Rock"`` -> ``"Rock"``),
    as nested genre folders (and CCMusic's ``audio.zip``) number their classes; a name that
    is only a number stays as it is.

    Explained in ``notebooks/1-data-preparation.ipynb`` (section 1, a folder source).
    """
    stripped = _NUMBER_PREFIX.sub("", name)
    return stripped or name


def level_names(levels: int | Sequence[str]) -> list[str]:
    """The label column of each depth of a nested folder.

    Parameters
    ----------
    levels : int or sequence of str
        A depth (``3`` -> ``level_1, level_2, level_3``) or the names, coarse to fine (e.g.
        :data:`LEVELS`; a comma-separated string is split).

    Returns
    -------
    names : list of str

    Raises
    ------
    ValueError
        On a depth below 1, an empty or repeated name, or ``audio_file`` / ``source``.
    """
    if isinstance(levels, str):
        levels = [p.strip() for p in levels.split(",")] if not levels.strip().isdigit() \
            else int(levels)
    if isinstance(levels, int):
        if levels < 1:
            raise ValueError(f"levels must be at least 1, got {levels}")
        return [f"level_{k}" for k in range(1, levels + 1)]
    names = [str(n) for n in levels]
    if not names or any(not n for n in names):
        raise ValueError(f"levels needs one non-empty name per depth, got {names}")
    if len(set(names)) != len(names):
        raise ValueError(f"levels names a column twice: {names}")
    bad = [n for n in names if n in ("audio_file", "source", "source_stamp", "segment")]
    if bad:
        raise ValueError(f"{bad} cannot be label columns")
    return names


def _visible(p: Path, root: Path) -> bool:
    return not any(part.startswith(".") for part in p.relative_to(root).parts)


def _files_below(folder: Path, root: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and _visible(p, root))


def _path_item(p: Path, root: Path, labels: dict) -> Item:
    return Item(source=str(p.relative_to(root)), labels=labels, kind="path",
                payload=os.path.abspath(p), stamp=file_stamp(p))


def list_folder_items(
    root: str | os.PathLike,
    *,
    classic: Iterable[str] | None = None,
    levels: int | Sequence[str] | None = None,
    label_column: str | None = None,
    aliases: dict[str, str] | None = None,
    notes: list[str] | None = None,
) -> list[Item]:
    """List the clips of a folder of genre subfolders, flat or nested.

    **Flat** (``levels=None``), ``ROOT/<genre>/<file>``: every non-hidden file below a genre
    folder (also in deeper subfolders, e.g. albums) is an item with ``label`` (or
    ``label_column``) = the genre folder's name. When the genres include Classic ones
    (``classic``, or by default folders named like ``classical``, ``symphony``,
    ``opera``...) and others, a ``fst_level_label`` column (``Classic`` / ``Non_classic``) is
    added, matching CCMusic's first level.

    **Nested** (``levels`` given), ``ROOT/<level-1>/.../<level-D>/<file>``: one label column
    per depth, named by ``levels``, with numeric prefixes stripped (``3_Symphony`` ->
    ``Symphony``). Files deeper than ``D`` folders (album folders) take the labels of their
    first ``D`` folders. A branch that stops early (``1_Classic/3_Symphony/x.mp3`` with three
    levels) reuses its deepest name for the missing levels, as CCMusic's classical classes do
    (Symphony / Symphony). Files that sit beside subfolders above depth ``D`` are reported as
    skipped (their depth is ambiguous); empty folders are named in ``notes``. Files directly in
    ``ROOT`` are ignored in both layouts (e.g. a ``manifest.csv``).

    Files that turn out not to be audio are skipped and reported by ``prepare``.

    Explained in ``notebooks/1-data-preparation.ipynb`` (section 1, a folder source).

    Parameters
    ----------
    root : path-like
        The folder whose subfolders are the genres.
    classic : iterable of str, optional
        Flat layout: genre folder names that are Classic. Default:
        :data:`CLASSIC_FOLDER_NAMES`.
    levels : int or sequence of str, optional
        Nested layout: the depth, or the label column of each depth (see
        :func:`level_names`), e.g. ``("fst_level_label", "sec_level_label",
        "thr_level_label")``.
    label_column : str, optional
        Flat layout: the name of the genre column (default ``label``).
    aliases : dict, optional
        Nested layout: class names to rename after stripping prefixes (e.g. CCMusic's old
        spelling ``Soul_or_r_and_b`` -> ``Soul_or_RnB``).
    notes : list, optional
        Receives one line per empty folder that was ignored.

    Returns
    -------
    items : list of Item
        Sorted by path, so the order (and so the output names) is reproducible.

    Raises
    ------
    DataSourceError
        When ``root`` is not a folder, has no genre subfolders, they hold no files, or the
        options do not fit the layout.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataSourceError(f"{root}: no such folder" if not root.exists()
                              else f"{root}: not a folder")
    genres = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not genres:
        raise DataSourceError(
            f"{root}: no genre subfolders found (expected ROOT/<genre>/<audio files>)")
    if levels is not None:
        if classic is not None:
            raise DataSourceError("classic= applies to flat genre folders; with levels= the "
                                  "first level names the coarse classes itself")
        if label_column is not None:
            raise DataSourceError("label_column= names the genre column of flat genre "
                                  "folders; with levels= name each depth in levels=")
        try:
            names = level_names(levels)
        except ValueError as exc:
            raise DataSourceError(str(exc)) from None
        items = _nested_items(root, names, aliases or {}, notes)
        if not any(it.kind == "path" for it in items):
            raise DataSourceError(f"{root}: the genre folders hold no files")
        return items

    column = label_column or "label"
    if column == "fst_level_label" or column in ("audio_file", "source", "source_stamp"):
        raise DataSourceError(f"label_column {column!r} is reserved; choose another name")
    classic_set = {c.lower() for c in classic} if classic is not None else None
    is_classic = {g.name: (g.name.lower() in classic_set) if classic_set is not None
                  else g.name.lower() in CLASSIC_FOLDER_NAMES for g in genres}
    add_fst = any(is_classic.values()) and not all(is_classic.values())
    items = []
    for g in genres:
        for p in _files_below(g, root):
            labels = {column: g.name}
            if add_fst:
                labels["fst_level_label"] = "Classic" if is_classic[g.name] else "Non_classic"
            items.append(_path_item(p, root, labels))
    if not items:
        raise DataSourceError(f"{root}: the genre folders hold no files")
    return items


def _nested_items(root: Path, names: list[str], aliases: dict, notes: list | None) -> list[Item]:
    depth = len(names)

    def labels_of(parts: Sequence[str]) -> dict:
        classes = [aliases.get(strip_number_prefix(p), strip_number_prefix(p)) for p in parts]
        classes += [classes[-1]] * (depth - len(classes))  # a branch that stops early
        return dict(zip(names, classes[:depth], strict=True))

    items: list[Item] = []

    def note(msg: str) -> None:
        if notes is not None:
            notes.append(msg)

    def walk(folder: Path, parts: tuple[str, ...]) -> None:
        if len(parts) == depth:
            files = _files_below(folder, root)
            if not files:
                note(f"ignored {folder.relative_to(root)}/: an empty genre folder")
            items.extend(_path_item(p, root, labels_of(parts)) for p in files)
            return
        entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
        subdirs = [p for p in entries if p.is_dir()]
        files = [p for p in entries if p.is_file()]
        if subdirs and files:
            where = f"{folder.relative_to(root)}/"
            for p in files:
                items.append(Item(
                    source=str(p.relative_to(root)), labels=labels_of(parts), kind="skip",
                    payload=f"sits beside the subfolders of {where}: a genre folder above the "
                            f"last of the {depth} levels ({', '.join(names)}) holds either "
                            f"files or subfolders; move it into one of them",
                    stamp=file_stamp(p)))
        elif files:  # a branch that stops early
            items.extend(_path_item(p, root, labels_of(parts)) for p in files)
        elif not subdirs:
            note(f"ignored {folder.relative_to(root)}/: an empty genre folder")
        for d in subdirs:
            walk(d, (*parts, d.name))

    for g in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        walk(g, (g.name,))
    order = {id(it): Path(it.source).parts for it in items}
    return sorted(items, key=lambda it: order[id(it)])
