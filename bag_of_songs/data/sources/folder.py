"""Folder sources: the clips of a folder of genre subfolders, flat or nested, as items.

Two layouts:

- flat, ``ROOT/<genre>/<file>``: ``label`` = the genre folder (plus ``fst_level_label``,
  Classic / Non_classic, when some genres are Classic);
- nested, ``ROOT/<level-1>/<level-2>/.../<file>``: one label column per depth (``levels``),
  numeric prefixes such as ``3_`` stripped, so CCMusic's extracted ``audio.zip``
  (``1_Classic/3_Symphony/...``) and the way many people sort their music both read as a
  label hierarchy.

Re-exported by :mod:`bag_of_songs.data` (and, for old imports, by :mod:`bag_of_songs.sources`).

Explained in ``notebooks/1-data-preparation.ipynb`` (section 1, a folder source).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..._constants import ID_COLUMNS
from ...errors import DataSourceError
from ...files import file_stamp
from .base import Item

__all__ = [
    "CLASSIC_FOLDER_NAMES",
    "list_folder_items",
    "strip_number_prefix",
    "level_names",
]

#: Genre-folder names that count as Classic when a folder source derives ``fst_level_label``.
CLASSIC_FOLDER_NAMES = (
    "classic", "classical", "symphony", "opera", "solo", "chamber", "baroque", "orchestral",
)


_NUMBER_PREFIX = re.compile(r"^\d+[_\-. ]+(?=\S)")


def strip_number_prefix(name: str) -> str:
    """A folder name without its numeric prefix: ``"3_Symphony"`` -> ``"Symphony"``.

    Strips digits followed by ``_``, ``-``, ``.`` or spaces (``"01 - Rock"`` -> ``"Rock"``),
    as nested genre folders (and CCMusic's ``audio.zip``) number their classes; a name that
    is only a number stays as it is.

    Explained in ``notebooks/1-data-preparation.ipynb`` (section 1, a folder source).

    Examples
    --------
    >>> strip_number_prefix("3_Symphony"), strip_number_prefix("01 - Rock")
    ('Symphony', 'Rock')
    >>> strip_number_prefix("1999")
    '1999'
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

    Examples
    --------
    >>> level_names(2)
    ['level_1', 'level_2']
    >>> level_names("genre, style")
    ['genre', 'style']
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
    bad = [n for n in names if n in ID_COLUMNS]
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
