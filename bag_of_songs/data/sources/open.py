"""From a SOURCE to its items: ``"demo"``, ``"ccmusic"``, a folder of genre subfolders, a
local Hugging Face dataset folder, or a hub id (``owner/name``).

:func:`_open_source` decides which of the source modules beside this one reads the SOURCE,
refuses options that do not apply to it, and says what ``prepare.json`` records about it.

Explained in ``notebooks/1-data-preparation.ipynb`` (section 1, the sources).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import DataSourceError
from .base import Item, _Items
from .ccmusic import _load_ccmusic, list_ccmusic_folder
from .demo import DEMO_VERSION, list_demo_items
from .folder import list_folder_items
from .hub import hf_items, load_hf_dataset, looks_like_hf_folder


def _looks_like_path(src: str) -> bool:
    """A SOURCE meant as a folder rather than a hub id (``owner/name``)."""
    return (src.startswith((".", "~", "/")) or "\\" in src or src.count("/") > 1
            or src.endswith("/") or (os.sep != "/" and os.sep in src))


def _select_level(items: list[Item], label_column: str, what: str) -> list[Item]:
    """``items`` with only the label column ``label_column`` (refused when they lack it)."""
    present = list(items[0].labels) if items else []
    if label_column not in present:
        raise DataSourceError(f"{what} has no label column {label_column!r}; its label "
                              f"columns: {present}")
    return [Item(it.source, {label_column: it.labels[label_column]}, it.kind, it.payload,
                 it.stamp) for it in items]


@dataclass
class _Source:
    """An opened SOURCE: its items, grouped by its own splits or in one pool, and its record."""

    grouped: dict | None = None  # a dataset's own splits: split -> _Items
    flat: _Items | None = None  # or one pool of items, split here
    folder_root: Path | None = None  # a folder source (for the manifest of groups)
    record: dict = field(default_factory=dict)  # what prepare.json says about the source


def _open_source(src: str, *, label_column, levels, revision, dataset_path, config,
                 trust_remote_code, demo_size, classic, notes) -> _Source:
    """Open ``src`` with the options of :func:`bag_of_songs.data.prepare`; ``notes`` receives
    what is worth saying about it (e.g. empty genre folders that were ignored)."""
    folder_only = {"levels": levels, "classic": classic}
    if src == "demo":
        given = [k for k, v in folder_only.items() if v is not None]
        if given:
            raise DataSourceError(f"{', '.join(given)} apply to folder sources, not to demo")
        items = list_demo_items(demo_size)
        if label_column is not None:
            items = _select_level(items, label_column, "the demo corpus")
        return _Source(flat=_Items.from_list(items),
                       record={"demo_size": demo_size, "demo_version": DEMO_VERSION})
    if src == "ccmusic":
        if levels is not None or classic is not None:
            raise DataSourceError("levels and classic apply to folder sources; ccmusic has its "
                                  "three levels")
        dp = Path(dataset_path).expanduser() if dataset_path is not None else None
        if dp is not None and not dp.exists():
            raise DataSourceError(f"{dataset_path}: no such folder (--dataset-path)")
        if dp is not None and (dp.suffix.lower() == ".zip" or (dp.is_dir()
                                                                and not looks_like_hf_folder(dp))):
            items = list_ccmusic_folder(dp, notes=notes)
            if label_column is not None:
                items = _select_level(items, label_column, f"{dp}")
            return _Source(flat=_Items.from_list(items), folder_root=dp,
                           record={"dataset_path": str(dp.absolute()), "layout": "audio.zip"})
        dsdict, loaded = _load_ccmusic(revision=revision, path=dp)
        return _Source(grouped=hf_items(dsdict, label_column=label_column,
                                        source_name="ccmusic"),
                       record={"revision": loaded, "dataset_path":
                               str(dp.absolute()) if dp is not None else None})
    p = Path(src).expanduser()
    if p.is_dir() and not looks_like_hf_folder(p):
        items = list_folder_items(p, classic=classic, levels=levels, label_column=label_column,
                                  notes=notes)
        return _Source(flat=_Items.from_list(items), folder_root=p,
                       record={"source_path": str(p.absolute())})
    if p.is_file():
        raise DataSourceError(f"{src}: a file, not a folder of genre subfolders or a dataset")
    if not p.exists() and _looks_like_path(src):
        raise DataSourceError(f"{src}: no such folder")
    given = [k for k, v in folder_only.items() if v is not None]
    if given:
        raise DataSourceError(f"{', '.join(given)} apply to folder sources; {src} is a "
                              f"Hugging Face dataset")
    name = p.name if p.exists() else src
    dsdict = load_hf_dataset(p if p.exists() else src, name=config, revision=revision,
                             trust_remote_code=trust_remote_code)
    return _Source(grouped=hf_items(dsdict, label_column=label_column, source_name=name),
                   record={"source_path": str(p.absolute()) if p.exists() else None})
