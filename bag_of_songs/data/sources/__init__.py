"""The sources :func:`bag_of_songs.data.prepare` reads, each turned into items to prepare.

- :mod:`.base`: :class:`Item`, one clip to prepare, and the lazy list of them;
- :mod:`.folder`: a folder of genre subfolders, flat or nested (:func:`list_folder_items`);
- :mod:`.hub`: any Hugging Face audio dataset, hub id or local folder
  (:func:`load_hf_dataset`), and whether the hub answers (:func:`probe_hub`);
- :mod:`.ccmusic`: the study's corpus, CCMusic (:func:`load_ccmusic`,
  :func:`list_ccmusic_folder`);
- :mod:`.demo`: the synthetic demo corpus (:func:`synthesize_demo_clip`);
- :mod:`.open`: which of them reads a SOURCE given to ``prepare``.

Explained in ``notebooks/1-data-preparation.ipynb`` (section 1, the sources).
"""

from __future__ import annotations

from .base import Item
from .ccmusic import CCMUSIC_ID, CCMUSIC_REVISIONS, list_ccmusic_folder, load_ccmusic
from .demo import DEMO_STYLES, DEMO_VERSION, list_demo_items, synthesize_demo_clip
from .folder import CLASSIC_FOLDER_NAMES, level_names, list_folder_items, strip_number_prefix
from .hub import (
    HUB_ENDPOINT,
    HubStatus,
    hf_items,
    load_hf_dataset,
    looks_like_hf_folder,
    probe_hub,
)

__all__ = [
    "Item",
    "CLASSIC_FOLDER_NAMES",
    "list_folder_items",
    "level_names",
    "strip_number_prefix",
    "HUB_ENDPOINT",
    "HubStatus",
    "probe_hub",
    "load_hf_dataset",
    "looks_like_hf_folder",
    "hf_items",
    "CCMUSIC_ID",
    "CCMUSIC_REVISIONS",
    "load_ccmusic",
    "list_ccmusic_folder",
    "DEMO_VERSION",
    "DEMO_STYLES",
    "synthesize_demo_clip",
    "list_demo_items",
]
