"""Folder sources and CCMusic's label vocabulary: the code lives in
:mod:`bag_of_songs.data.sources` (:mod:`~bag_of_songs.data.sources.folder`, the items in
:mod:`~bag_of_songs.data.sources.base`) and :mod:`bag_of_songs.data.labels`.

This module re-exports their names under the name other modules and tests have imported so
far (``from bag_of_songs.sources import list_folder_items``); prefer
``from bag_of_songs.data import ...``. Private helpers are not re-exported: patch them in
their new homes.

Explained in ``notebooks/1-data-preparation.ipynb`` (section 1, a folder source).
"""

from __future__ import annotations

from .data.labels import CCMUSIC_CLASSES, CCMUSIC_HIERARCHY, CLASS_ALIASES, LEVELS
from .data.sources.base import Item
from .data.sources.folder import (
    CLASSIC_FOLDER_NAMES,
    level_names,
    list_folder_items,
    strip_number_prefix,
)
from .errors import DataSourceError

__all__ = [
    "LEVELS",
    "CCMUSIC_CLASSES",
    "CCMUSIC_HIERARCHY",
    "CLASS_ALIASES",
    "CLASSIC_FOLDER_NAMES",
    "DataSourceError",
    "Item",
    "list_folder_items",
    "strip_number_prefix",
    "level_names",
]
